"""Design study of data-free rules: each variant meta-trains for the same wall-clock budget on one thread, then
grows one fixed panel of architectures, so variants compare on what a rule grows per CPU-minute.

Usage::

    python benchmarks/design_study.py consecutive products --budget 1500 --data-root DIR [--parallel 2]
    python benchmarks/design_study.py --list                  # the named variants
    python benchmarks/design_study.py --table --out DIR       # the table of every variant measured in DIR

A variant is a named set of config fields in ``benchmarks/design_variants.json`` (``"from"`` another variant, then
``"set"``: ``{"section.field": value}``), applied with :func:`graphnca.config.with_fields`: no code changes, so a
winner becomes a preset as it stands. The learning rate stays at its peak after warm-up (the run's ``steps`` are
never reached), so a slower variant is not favoured by an earlier decay. Panel: the training architectures, then
held-out ones (MNIST: 784-100-100-10, two wide, one deeper, two off-grid; Fashion-MNIST: four depth-3 nets),
``--samples`` networks each, grown for the rule's 10 steps without data, scored on the test set.

Writes ``OUT/VARIANT/`` (the run's checkpoint and ``train.json``), ``OUT/VARIANT.json`` (config, variant, seed,
metadata, meta-steps, panel accuracies) and ``OUT/table.json`` + ``table.png``; with more than one variant they
run as ``--parallel`` processes of one thread each, logging to ``OUT/VARIANT.log``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _util import report, table

import torch

from graphnca.config import Config, with_fields
from graphnca.data import load_task
from graphnca.grow import accuracy, grow
from graphnca.meta.trainer import MetaTrainer
from graphnca.runinfo import reuse_freed_memory

VARIANTS = Path(__file__).with_name("design_variants.json")
PANELS = {"mnist": [(784, 100, 100, 10), (784, 400, 400, 10), (784, 1000, 1000, 10), (784, 50, 50, 50, 10),
                    (784, 25, 75, 10), (784, 45, 15, 10)],
          "fashion-mnist": [(784, 128, 128, 128, 10), (784, 128, 64, 16, 10), (784, 64, 64, 64, 10),
                            (784, 400, 400, 400, 10)]}
RUN_STEPS = 10 ** 6     # never reached: the budget ends every run


def variants(path: Path | None = None) -> dict:
    return json.loads(Path(path or VARIANTS).read_text())


def resolve(name: str, table_: dict | None = None) -> tuple[Config, dict]:
    """``(config, fields)``: the variant's full config and every field it sets (its chain of ``from`` included)."""
    table_ = variants() if table_ is None else table_
    if name not in table_:
        raise ValueError(f"unknown variant {name!r}; choose one of {sorted(table_)}")
    chain, v = [], name
    while v is not None:
        if v in chain or v not in table_:
            raise ValueError(f"variant {name!r}: its 'from' chain is broken at {v!r}")
        chain.append(v)
        v = table_[v].get("from")
    fields: dict = {}
    for v in reversed(chain):
        fields.update(table_[v]["set"])
    return with_fields(Config(), {**fields, "train.steps": RUN_STEPS}), fields


def panel_accuracy(conv, cfg: Config, arch, data, samples: int, gen, max_weights: int = 4_000_000) -> list[float]:
    """Test accuracies of ``samples`` networks of ``arch`` grown from fresh states (chunks of <= max_weights)."""
    graph = cfg.task.graph(arch)
    per, accs = max(1, max_weights // graph.num_weights), []
    for start in range(0, samples, per):
        big, st = grow(conv, graph, min(per, samples - start), cfg.train.grow_steps, cfg.init, gen)
        accs += accuracy(big, st.w, data.x_test, data.y_test).tolist()
    return accs


def data_root_for(task: str, roots: list[str] | None) -> str | None:
    """``--data-root`` is a folder for every task, or ``TASK=DIR`` per task (repeat the flag)."""
    for r in roots or []:
        t, eq, d = r.partition("=")
        if not eq:
            return r
        if t == task:
            return d
    return None


def run_variant(name: str, budget: float, roots: list[str] | None, out: Path, samples: int, seed: int,
                table_: dict, panel=None) -> dict:
    cfg, fields = resolve(name, table_)
    data_root = data_root_for(cfg.task.task, roots)
    cfg = with_fields(cfg, {"task.data_root": data_root, "train.seed": seed})
    torch.set_num_threads(1)
    reuse_freed_memory()
    data = load_task(cfg.task.task, data_root, seed=seed)
    trainer = MetaTrainer(cfg, out / name, data)
    t0 = time.perf_counter()
    summary = trainer.run(progress=True, time_limit=budget)
    trainer.save()
    train_s = time.perf_counter() - t0
    conv = trainer.conv.train(trainer.conv.fire_rate < 1.0)   # grow as `graphnca grow` does
    gen = torch.Generator().manual_seed(seed + 1)
    rows, trained = [], [tuple(a) for a in cfg.task.archs]
    for arch in trained + (panel or PANELS[cfg.task.task]):
        t = time.perf_counter()
        accs = panel_accuracy(conv, cfg, arch, trainer.data, samples, gen)
        rows.append({"arch": "-".join(map(str, arch)), "trained": arch in trained, "mean": sum(accs) / len(accs),
                     "min": min(accs), "grow_s": time.perf_counter() - t, "accs": accs})
        print(f"{name}: {rows[-1]['arch']} {rows[-1]['mean']:.4f}", flush=True)
    held = [r["mean"] for r in rows if not r["trained"]]
    losses = [r["loss"] for r in trainer.history[-50:]]
    record = {"variant": name, "about": table_[name].get("about", ""), "fields": fields, "config": cfg,
              "seed": seed, "budget_s": budget, "train_s": train_s, "meta_steps": summary["steps"],
              "final_loss": sum(losses) / max(1, len(losses)), "samples": samples,
              "growth_steps": cfg.train.grow_steps, "held_out_mean": sum(held) / len(held), "panel": rows}
    return report(out, name, record, plot_variant)


def plot_variant(d: dict, plt):
    rows = d["panel"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(range(len(rows)), [r["mean"] for r in rows], color=["tab:orange" if r["trained"] else "tab:blue"
                                                                 for r in rows])
    ax.set_xticks(range(len(rows)), [r["arch"] for r in rows], rotation=45, fontsize=7, ha="right")
    ax.set(ylim=(0, 1), ylabel="test accuracy (orange: trained on)",
           title=f"{d['variant']}: {d['meta_steps']} meta-steps in {d['budget_s']:.0f} s, "
                 f"{d['growth_steps']} growth steps, held-out mean {d['held_out_mean']:.3f}")
    return fig


def collect(out: Path) -> list[dict]:
    rows = []
    for p in sorted(out.glob("*.json")):
        if p.name == "table.json":
            continue
        d = json.loads(p.read_text())
        if "variant" not in d:
            continue
        row = {"variant": d["variant"], "task": d["config"]["task"]["task"], "meta_steps": d["meta_steps"],
               "budget_s": d["budget_s"], "final_loss": d["final_loss"], "held_out_mean": d["held_out_mean"]}
        row |= {r["arch"]: r["mean"] for r in d["panel"] if not r["trained"]}
        row["trained_mean"] = sum(r["mean"] for r in d["panel"] if r["trained"]) / max(
            1, sum(r["trained"] for r in d["panel"]))
        rows.append(row)
    return rows


def write_table(out: Path) -> None:
    rows = collect(out)
    if not rows:
        raise SystemExit(f"no variant results in {out}")
    for task in sorted({r["task"] for r in rows}):
        sub = [r for r in rows if r["task"] == task]
        cols = list(dict.fromkeys(k for r in sub for k in r if k != "task"))
        print(f"\n{task}\n" + table(sub, cols))

    def plot(d, plt):
        rs = d["rows"]
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(rs) + 1.5))
        ax.barh(range(len(rs)), [r["held_out_mean"] for r in rs], color="tab:blue")
        ax.set_yticks(range(len(rs)), [f"{r['variant']} ({r['meta_steps']} steps)" for r in rs], fontsize=7)
        ax.set(xlim=(0, 1), xlabel="held-out panel mean accuracy", title="design study: equal wall-clock budgets")
        return fig
    report(out, "table", {"rows": rows}, plot)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*", help="variant names (--list shows them)")
    ap.add_argument("--budget", type=float, default=1500.0, help="meta-training seconds per variant")
    ap.add_argument("--parallel", type=int, default=2, help="variants run at once, one thread each")
    ap.add_argument("--samples", type=int, default=4, help="networks grown per panel architecture")
    ap.add_argument("--data-root", action="append", default=None,
                    help="folder of IDX files for every task, or TASK=DIR (repeat), e.g. fashion-mnist=DIR")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/design_study")
    ap.add_argument("--force", action="store_true", help="replace a variant's earlier results in --out")
    ap.add_argument("--variants-file", default=None, help=f"variants JSON (default {VARIANTS.name})")
    ap.add_argument("--panel", default=None, help="instead of the task's panel: semicolon-separated layer sizes")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", action="store_true", help="only write the table of the results in --out")
    a = ap.parse_args(argv)
    out = Path(a.out)
    table_ = variants(a.variants_file)
    panel = None if a.panel is None else [tuple(int(v) for v in t.split(",")) for t in a.panel.split(";")]
    if a.list:
        for name, v in table_.items():
            print(f"{name:28s} from {v.get('from') or '-':14s} {v.get('about', '')}")
        return
    if a.table:
        return write_table(out)
    if not a.variants or a.budget <= 0 or a.parallel < 1 or a.samples < 1:
        raise SystemExit("name at least one variant, with --budget > 0, --parallel >= 1 and --samples >= 1")
    for name in a.variants:
        try:
            resolve(name, table_)
        except ValueError as e:
            raise SystemExit(str(e))
        old = [p for p in (out / f"{name}.json", out / name / "checkpoint.pt") if p.exists()]
        if old and not a.force:
            raise SystemExit(f"{old[0]} exists: variant {name!r} was measured in {out}; pass --force to redo it")
        for p in old:
            p.unlink()
    if len(a.variants) == 1:
        run_variant(a.variants[0], a.budget, a.data_root, out, a.samples, a.seed, table_, panel)
        return write_table(out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--budget", str(a.budget), "--samples", str(a.samples), "--seed", str(a.seed), "--out", str(out)]
    common += [f for r in a.data_root or [] for f in ("--data-root", r)]
    common += ["--variants-file", a.variants_file] if a.variants_file else []
    common += ["--panel", a.panel] if a.panel else []
    queue, running = list(a.variants), []
    while queue or running:
        while queue and len(running) < a.parallel:
            name = queue.pop(0)
            log = open(out / f"{name}.log", "w")
            running.append((name, subprocess.Popen([sys.executable, __file__, name, *common], stdout=log,
                                                   stderr=subprocess.STDOUT), log))
            print(f"started {name} (log {out / (name + '.log')})", flush=True)
        time.sleep(5)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            item[2].close()
            print(f"{item[0]} finished with exit code {item[1].returncode}", flush=True)
    write_table(out)


if __name__ == "__main__":
    main()
