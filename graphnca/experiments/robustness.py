"""``graphnca robustness``: grow, zero out one layer plus a fraction of the weights, keep updating (Figure 3)."""
from __future__ import annotations

import warnings

import torch

from ..damage import zero_out
from ..graph import repeat
from ..grow import accuracy, fresh_states
from ..grow import rollout
from ..runinfo import resolve_device
from ..state import State
from .common import (Progress, default_steps, finish, generator, growth_stream, rule_and_task, rule_label,
                     rule_provenance)


@torch.no_grad()
def damage_curve(conv, graph, cfg, data, steps: int, after: int, p: float, samples: int, seed: int,
                 progress=False, offset: int = 0, grand_total: int | None = None) -> dict:
    gen = generator(seed)
    big = repeat(graph, samples)
    # initial states and damage masks come from CPU generators: one seed damages the same weights on every device
    state = State.unpack(fresh_states(graph, samples, conv.hidden_size, cfg.init, gen).view(big.num_weights, -1)
                         .to(graph.device))
    stream = growth_stream(conv, cfg, data, generator(seed + 1))
    accs = []
    bar = Progress(progress, steps + after, "robustness", offset, grand_total)

    def record(t, s):
        accs.append(accuracy(big, s.w, data.x_test, data.y_test).mean().item())
        bar.update(1)
    state = rollout(conv, big, state, steps, callback=record, data=stream)
    before = accs[-1]
    damaged = State(zero_out(big, state.w, p, gen), state.h)
    right_after = accuracy(big, damaged.w, data.x_test, data.y_test).mean().item()
    accs.append(right_after)
    rollout(conv, big, damaged, after, callback=record, data=stream)
    bar.close()
    regrow = accs[steps + 1:]
    target = 0.99 * before
    hit = next((i + 1 for i, a in enumerate(regrow) if a >= target), None)
    return {"accuracy": accs, "damage_at": steps, "before": before, "right_after": right_after,
            "after_growth_steps": regrow[min(steps, len(regrow)) - 1] if regrow else right_after,
            "final": accs[-1], "updates_to_99pct": hit, "recovered_within_growth_steps": hit is not None
            and hit <= steps}


def robustness(rules, out, steps=None, after=None, p: float = 0.3, samples: int = 20, data_root=None,
               seed: int = 0, progress=True, device: str = "cpu", arch=None) -> dict:
    """Damage curves of ``samples`` networks of ``arch`` (default: each rule's first meta-training one)."""
    device = resolve_device(device)
    results = []
    for k, path in enumerate(rules):
        conv, cfg, data, graph = rule_and_task(path, data_root, device, arch, test_only=True)
        n = default_steps(cfg, steps)
        m = after if after is not None else 2 * n
        res = damage_curve(conv, graph, cfg, data, n, m, p, samples, seed, progress, k * (n + m),
                           len(rules) * (n + m))
        results.append({"rule": str(path), "rule_file": rule_provenance(path), "label": rule_label(cfg, path),
                        "arch": list(graph.archs[0].sizes), **res})
    counts = sorted({r["damage_at"] for r in results})
    if len(counts) > 1:      # each rule grew for its own schedule's maximum: their curves are not comparable
        warnings.warn(f"the rules grew for different step counts before damage ({counts}); pass --steps N to "
                      "compare them at one count", stacklevel=2)
    record = {"p": p, "samples": samples, "seed": seed, "results": results,
              "summary": [{k: r[k] for k in ("label", "before", "right_after", "after_growth_steps", "final",
                                             "updates_to_99pct", "recovered_within_growth_steps")} for r in results]}

    def plot(d, plt):
        """The source's Figure 3: accuracy against updates, the damage marked, the 99 % target dashed."""
        fig, ax = plt.subplots(figsize=(7, 4))
        for k, r in enumerate(d["results"]):
            line, = ax.plot(range(1, len(r["accuracy"]) + 1), r["accuracy"], lw=1.2, marker=".", ms=3,
                            label=f"{r['label']} {'-'.join(map(str, r['arch']))}: back to 99 % after "
                                  f"{r['updates_to_99pct'] or 'no'} updates")
            ax.axhline(0.99 * r["before"], color=line.get_color(), ls="--", lw=0.7)
        for at in sorted({r["damage_at"] for r in d["results"]}):
            ax.axvline(at + 0.5, color="red", ls=":", lw=1.2,
                       label=f"damage after update {at}: one layer + {d['p']:.0%} of the other weights zeroed")
        ax.set(xlabel="updates (growth, then regrowth)", ylabel=f"mean test accuracy ({d['samples']} networks)",
               ylim=(0, 1), title=f"zero-out and regrowth: {', '.join(r['label'] for r in d['results'])}\n"
                                  f"(dashed: 99 % of the accuracy before damage)")
        ax.legend(fontsize=6, loc="lower right")
        return fig
    return finish(out, "robustness", record, plot, device)["summary"]
