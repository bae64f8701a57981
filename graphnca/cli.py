"""``graphnca`` command line: demo, train, grow, heatmap, stability, robustness, export."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import torch

from .distributed import cleanup
from .experiments.stability import HORIZON
from .rule import RuleConfig
from .state import InitConfig
from .train import Config, TaskConfig, TrainConfig


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _scale_flags(p: argparse.ArgumentParser) -> None:
    """Growth step multipliers, shared by ``grow`` and ``heatmap``."""
    p.add_argument("--step-scale", type=float, default=1.0,
                   help="multiply the rule's step size during growth (choose it on validation data: "
                        "benchmarks/step_scale.py)")
    p.add_argument("--hidden-step-scale", type=float, default=None,
                   help="the same for the weights before the output layer (default: --step-scale; 0 freezes them "
                        "and grows the readout alone)")
    p.add_argument("--hidden-state-scale", type=float, default=None,
                   help="the same for those weights' hidden states (default: --hidden-step-scale); e.g. "
                        "--hidden-step-scale 0 --hidden-state-scale 0.2 freezes them but lets their states evolve")
    p.add_argument("--step-schedule", default=None,
                   help="grow in segments SCALExSTEPS multiplying the step multiples above, e.g. 1x2000,0.3x1000 "
                        "(a learning-rate decay; choose it on validation data: benchmarks/growth_schedule.py)")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per config field (``--hidden-size``, ``--pool-size``, ...); defaults come from the dataclasses."""
    for cls in (RuleConfig, InitConfig, TaskConfig, TrainConfig):
        group = p.add_argument_group(cls.__name__, cls.__doc__)
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if f.name == "archs":
                group.add_argument("--arch", dest="archs", type=_ints, action="append", default=None,
                                   help="layer sizes of a meta-training architecture, e.g. 784,50,50,10 "
                                        f"(repeat for several; default {['-'.join(map(str, a)) for a in default]})")
            elif isinstance(default, bool):
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"default {default}")
            elif isinstance(default, tuple) or f.name == "input_shape":
                group.add_argument(flag, type=_ints, default=None, help=f"comma-separated, default {default}")
            else:
                kind = type(default) if default is not None else str
                group.add_argument(flag, type=kind, default=None, help=f"default {default}")


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    base = base or Config()
    parts = {}
    for name, cls in (("rule", RuleConfig), ("init", InitConfig), ("task", TaskConfig), ("train", TrainConfig)):
        current = getattr(base, name)
        given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                 if getattr(args, f.name, None) is not None}
        parts[name] = dataclasses.replace(current, **given)
    cfg = Config(**parts)
    cfg.task.archs = tuple(tuple(a) for a in cfg.task.archs)
    if cfg.task.task in ("mnist", "fashion-mnist") and args.archs is None:
        cfg.task.archs = ((784, 50, 50, 10),)
    return cfg


def _common(p: argparse.ArgumentParser, out: str) -> None:
    p.add_argument("--out", default=out, help=f"output folder (default {out}); existing files are never wiped")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphnca", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="meta-train on iris (with and without pool), grow 100 networks, test stability")
    _common(p, "runs/demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="meta-steps per rule (default: the demo's own)")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--updates", type=int, default=HORIZON, help="stability horizon")

    p = sub.add_parser("train", help="meta-train a local rule")
    _common(p, "runs/train")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--time-limit", type=float, default=None,
                   help="stop after the meta-step that ends past this many seconds, with checkpoint and JSON "
                        "written (--resume continues); for a lent machine's budget")
    _add_config_flags(p)

    p = sub.add_parser("grow", help="grow networks with a trained rule (no backprop) and export them")
    _common(p, "runs/grow")
    p.add_argument("--rule", required=True)
    p.add_argument("--arch", type=_ints, required=True)
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--steps", type=int, default=None, help="growth steps (default: the rule's training length)")
    p.add_argument("--task", default=None, help="grow for / evaluate on this task (default: the rule's)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", choices=["none", "adam"], default="none",
                   help="adam: also train with Adam on as many mini-batches as growth steps")
    p.add_argument("--grow-batch", type=int, default=None,
                   help="examples per growth step of a data-conditioned rule (default: the rule's training value)")
    _scale_flags(p)
    p.add_argument("--device", default="cpu", help="grow and evaluate there (e.g. cuda); exports stay on the CPU")

    p = sub.add_parser("heatmap", help="accuracy of grown [in, X, Y, out] networks over a grid of hidden sizes")
    _common(p, "runs/heatmap")
    p.add_argument("--rule", required=True)
    p.add_argument("--hidden", type=_ints, default=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--baseline", choices=["none", "adam"], default="none")
    p.add_argument("--epochs", type=int, default=1, help="Adam baseline epochs (batch 128, lr 1e-3)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="grow and evaluate there (e.g. cuda); Adam stays on the CPU")
    p.add_argument("--third", type=int, default=None,
                   help="a third hidden layer of this many units: the grid of [in, X, Y, THIRD, out] networks")
    _scale_flags(p)

    p = sub.add_parser("export", help="write a trained rule alone (no optimiser or pools) to a small checkpoint")
    p.add_argument("--rule", required=True)
    p.add_argument("--out", required=True, help="file to write (atomically)")

    for name, text in (("stability", "apply the rule far past its training length; loss against updates"),
                       ("robustness", "grow, zero out a layer + a fraction of weights, keep updating")):
        p = sub.add_parser(name, help=text)
        _common(p, f"runs/{name}")
        p.add_argument("--rule", action="append", required=True, help="checkpoint (repeat to compare rules)")
        p.add_argument("--samples", type=int, default=20)
        p.add_argument("--data-root", default=None)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--arch", type=_ints, default=None,
                       help="architecture to grow, e.g. 784,100,100,10 (default: each rule's first meta-training one)")
        if name == "stability":
            p.add_argument("--updates", type=int, default=HORIZON)
        else:
            p.add_argument("--steps", type=int, default=None, help="growth steps before damage (default: rule's)")
            p.add_argument("--after", type=int, default=None, help="updates after damage (default: 2x steps)")
            p.add_argument("--p", type=float, default=0.3, help="fraction of the other weights zeroed")
        p.add_argument("--device", default="cpu", help="grow and evaluate there (e.g. cuda)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    from . import experiments as ex
    try:
        if args.command == "export":
            from .checkpoint import export_rule
            ck = export_rule(args.rule, args.out)
            print(f"graphnca export: rule of {args.rule} (step {ck['step']}) written to {args.out} "
                  f"({os.path.getsize(args.out) / 1024:.0f} KiB)")
            return 0
        if args.command == "train":
            summary = ex.train_command(config_from_args(args), args.out, resume=args.resume,
                                       time_limit=args.time_limit)
        elif args.command == "demo":
            summary = ex.demo(args.out, seed=args.seed, steps=args.steps, samples=args.samples, updates=args.updates)
        elif args.command == "grow":
            summary = ex.grow_command(args.rule, args.arch, args.out, samples=args.samples, steps=args.steps,
                                      task=args.task, data_root=args.data_root, seed=args.seed,
                                      baseline=args.baseline, grow_batch=args.grow_batch,
                                      step_scale=args.step_scale,
                                      hidden_step_scale=args.hidden_step_scale,
                                      hidden_state_scale=args.hidden_state_scale, device=args.device,
                                      step_schedule=args.step_schedule)
        elif args.command == "heatmap":
            summary = ex.heatmap(args.rule, args.hidden, args.out, samples=args.samples, steps=args.steps,
                                 baseline=args.baseline, epochs=args.epochs, data_root=args.data_root, seed=args.seed,
                                 device=args.device, third=args.third, step_scale=args.step_scale,
                                 hidden_step_scale=args.hidden_step_scale,
                                 hidden_state_scale=args.hidden_state_scale, step_schedule=args.step_schedule)
        elif args.command == "stability":
            summary = ex.stability(args.rule, args.out, updates=args.updates, samples=args.samples,
                                   data_root=args.data_root, seed=args.seed, device=args.device, arch=args.arch)
        else:
            summary = ex.robustness(args.rule, args.out, steps=args.steps, after=args.after, p=args.p,
                                    samples=args.samples, data_root=args.data_root, seed=args.seed,
                                    device=args.device, arch=args.arch)
    except (ValueError, FileNotFoundError) as e:
        print(f"graphnca {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        cleanup()
    if int(os.environ.get("RANK", "0")) == 0:
        print(ex.format_summary(args.command, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
