"""``graphnca`` command line: demo, train, grow, heatmap, stability, robustness, export.

Every command runs in the same order: parse (a bad flag is one line, exit 2), check everything that can be checked
before work (:mod:`.checks`), make ``--out`` ready (writable, locked against a second run, an earlier run's files
set aside under ``--force`` and put back if this run fails), run, then print one rounded summary table and the
files written. Errors are one line on stderr with exit code 2; a run stopped by SIGINT / SIGTERM saves and exits
130 / 143.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import torch

from ..runinfo import OutputLock, SetAside, check_writable, claim_output, reuse_freed_memory
from .checks import check_growing, check_train, resume_position
from .parser import build_parser, config_from_args

# what each command writes into --out: (sub-folder, result stem, extra file patterns)
_OUTPUTS = {"train": [("", "train", ("checkpoint.pt",))], "grow": [("", "grow", ("net_*.pt",))],
            "heatmap": [("", "heatmap", ())], "stability": [("", "stability", ())],
            "robustness": [("", "robustness", ())],
            "demo": [(d, "train", ("checkpoint.pt",)) for d in ("pool", "no_pool", "damage")]
            + [("grid", "heatmap", ()), ("stability", "stability", ()), ("robustness", "robustness", ()),
               ("", "demo", ())]}


def _prepare(args):
    """Every check that needs no output folder; returns the training config for ``train``."""
    if args.command == "train":
        base = None
        if args.preset:
            from ..meta.presets import preset
            base = preset(args.preset)
        cfg = config_from_args(args, base)
        check_train(cfg, args)
        if args.resume:
            step = resume_position(args, cfg)
            if step == cfg.train.steps:
                return cfg, f"graphnca train: {args.out}/checkpoint.pt is already at meta-step {step} of " \
                            f"{cfg.train.steps}: nothing to resume (pass a larger --steps to continue it)"
        return cfg, None
    if args.command in ("grow", "heatmap", "stability", "robustness"):
        check_growing(args)
    if args.command == "demo" and args.data_root is not None:
        from ..data import check_data_root
        check_data_root("mnist", args.data_root, ("test",))
    return None, None


def _set_aside(args) -> SetAside | None:
    """The earlier run's files in ``--out``: refused without ``--force``, set aside with it."""
    if args.command == "train" and args.resume:
        return None
    plans = [(Path(args.out) / sub, stem, pats) for sub, stem, pats in _OUTPUTS[args.command]]
    old = []
    for out, stem, pats in plans:                # every folder checked before any file is touched
        try:
            old += claim_output(out, [stem], args.force, pats)
        except ValueError as e:
            raise ValueError(f"{e} (or --resume to continue it)" if args.command == "train" else str(e)) from None
    return SetAside(old, Path(args.out)) if old else None


def _run(args, cfg):
    if args.command == "train":
        from ..experiments.train_cmd import train_command
        return train_command(cfg, args.out, resume=args.resume, time_limit=args.time_limit)
    if args.command == "demo":
        from ..experiments.demo import demo
        return demo(args.out, seed=args.seed, steps=args.steps, updates=args.updates,
                    hidden=args.hidden, grid_samples=args.grid_samples, data_root=args.data_root)
    if args.command == "grow":
        from ..experiments.export import grow_command
        return grow_command(args.rule, args.arch, args.out, samples=args.samples, steps=args.steps,
                            task=args.task, data_root=args.data_root, seed=args.seed, baseline=args.baseline,
                            grow_batch=args.grow_batch, step_scale=args.step_scale,
                            hidden_step_scale=args.hidden_step_scale, hidden_state_scale=args.hidden_state_scale,
                            device=args.device, step_schedule=args.step_schedule,
                            max_bytes=None if args.max_memory is None else int(args.max_memory * 2 ** 30))
    if args.command == "heatmap":
        from ..experiments.heatmap import heatmap
        return heatmap(args.rule, args.hidden, args.out, samples=args.samples, steps=args.steps,
                       baseline=args.baseline, epochs=args.epochs, data_root=args.data_root, seed=args.seed,
                       device=args.device, third=args.third, step_scale=args.step_scale,
                       hidden_step_scale=args.hidden_step_scale, hidden_state_scale=args.hidden_state_scale,
                       step_schedule=args.step_schedule, adam_lrs=args.adam_lrs)
    if args.command == "stability":
        from ..experiments.stability import stability
        return stability(args.rule, args.out, updates=args.updates, samples=args.samples, data_root=args.data_root,
                         seed=args.seed, device=args.device, arch=args.arch, loss_examples=args.loss_examples)
    from ..experiments.robustness import robustness
    return robustness(args.rule, args.out, steps=args.steps, after=args.after, p=args.p, samples=args.samples,
                      data_root=args.data_root, seed=args.seed, device=args.device, arch=args.arch)


def _export(args) -> int:
    from ..checkpoint import export_rule, load_checkpoint
    pre = None
    if not load_checkpoint(args.rule).get("preprocessing"):    # a checkpoint older than the field
        from ..config import preprocessing
        from ..experiments.common import load_rule, task_data
        pre = preprocessing(task_data(load_rule(args.rule)[1], data_root=args.data_root))
    check_writable(Path(args.out).resolve().parent)
    ck = export_rule(args.rule, args.out, pre, force=args.force)
    print(f"graphnca export: rule of {args.rule} (step {ck['step']}) written to {args.out} "
          f"({os.path.getsize(args.out) / 1024:.0f} KiB)")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    reuse_freed_memory()      # the autograd step frees and re-takes the same large blocks every meta-step
    start, aside = time.time(), None
    try:
        if args.command == "export":
            return _export(args)
        cfg, nothing_to_do = _prepare(args)
        if nothing_to_do:
            print(nothing_to_do)
            return 0
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file, not a folder")
        check_writable(out)
        with ExitStack() as stack:
            if int(os.environ.get("RANK", "0")) == 0:
                stack.enter_context(OutputLock(out))
            aside = _set_aside(args)
            summary = _run(args, cfg)
        if aside is not None:
            aside.discard()
    except (ValueError, FileNotFoundError, OSError) as e:
        if aside is not None:
            aside.restore()
        text = str(e) if not isinstance(e, OSError) or isinstance(e, FileNotFoundError) else \
            f"could not write ({e.strerror or type(e).__name__}: {e.filename or ''}); the last good files stay"
        print(f"graphnca {args.command}: error: {text}", file=sys.stderr)
        return 2
    except BaseException:
        if aside is not None:
            aside.restore()
        raise
    finally:
        from ..meta.distributed import cleanup
        cleanup()
    if int(os.environ.get("RANK", "0")) == 0:
        from ..experiments.summary import format_summary
        print(format_summary(args.command, summary))
        print(_written(args.out, start))
    stopped = summary.get("interrupted") if isinstance(summary, dict) else None
    return 128 + signal.Signals[stopped].value if stopped else 0


def _written(out, since: float) -> str:
    out = Path(out)
    files = [] if not out.exists() else sorted(
        str(p.relative_to(out)) for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime >= since - 1)
    pngs = [f for f in files if f.endswith(".png")]
    shown = ", ".join(files[:8]) + (f", ... ({len(files)} files)" if len(files) > 8 else "")
    text = f"wrote {out}: {shown or 'nothing'}"
    return text + (f"\nfigures: {', '.join(str(out / f) for f in pngs)}" if pngs else "")
