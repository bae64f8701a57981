"""The ``graphnca`` argument parser: every command's flags, each with its help text, checked at parse time where
a flag alone can be judged (types, ranges, empty lists); a bad flag is one line and exit code 2."""
from __future__ import annotations

import argparse
import dataclasses

from .. import __version__
from ..config import Config, TaskConfig, TrainConfig
from ..experiments.stability import HORIZON, LOSS_EXAMPLES
from ..rule import RuleConfig
from ..state import InitConfig


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and a hint instead of the usage block (exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _ints(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not out:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return out


def _floats(text: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not out or not all(0 < v < float("inf") for v in out):
        raise argparse.ArgumentTypeError(f"expected positive finite numbers, got {text!r}")
    return out


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not 0.0 <= v <= 1.0:                                      # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1], got {text}")
    return v


def _at_least(kind, low):
    """An argparse type: ``kind`` values >= ``low``, refused at parse time with one line."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if not v >= low:                                         # also refuses NaN
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return v
    parse.__name__ = kind.__name__                              # argparse names the type in its messages
    return parse


_POS, _NONNEG = _at_least(int, 1), _at_least(int, 0)


def _optional_type(annotation: str):
    """The parser of an ``X | None`` field (annotations are strings here): float, int or str."""
    return float if "float" in annotation else int if "int" in annotation else str


def _scale_flags(p: argparse.ArgumentParser) -> None:
    """Growth step multipliers, shared by ``grow`` and ``heatmap``."""
    p.add_argument("--step-scale", type=float, default=1.0,
                   help="multiply the rule's step size during growth (choose it on validation data, never on "
                        "the test set)")
    p.add_argument("--hidden-step-scale", type=float, default=None,
                   help="the same for the weights before the output layer (default: --step-scale; 0 freezes them "
                        "and grows the readout alone)")
    p.add_argument("--hidden-state-scale", type=float, default=None,
                   help="the same for those weights' hidden states (default: --hidden-step-scale); e.g. "
                        "--hidden-step-scale 0 --hidden-state-scale 0.2 freezes them but lets their states evolve")
    p.add_argument("--step-schedule", default=None,
                   help="grow in segments SCALExSTEPS multiplying the step multiples above, e.g. 1x2000,0.3x1000 "
                        "(a learning-rate decay; choose it on validation data)")


# the train flags, by group: (config section, field, help); every other field is set with --experimental
_TRAIN_FLAGS = {
    "task": [("task", "task", "iris | xor | mnist | fashion-mnist"),
             ("task", "archs", "layer sizes of a meta-training architecture, e.g. 784,50,50,10 (repeat the flag)"),
             ("task", "data_root", "folder with the task's IDX files (default: torchvision downloads them)"),
             ("task", "data_batch", "training examples per meta-step (0: the whole training set)"),
             ("task", "mean_field", "weights out of a hidden layer of width n act times C / n (width invariance)")],
    "rule": [("rule", "hidden_size", "per-weight hidden state size H"),
             ("rule", "widths", "hidden layers of the rule MLP, comma-separated"),
             ("rule", "step_size", "bound on each update (tanh output times this)"),
             ("rule", "fire_rate", "probability a weight updates per step"),
             ("rule", "neighbourhood", "incident | consecutive (the source's: forward Out(j), backward In(i)) | "
                                       "siblings"),
             ("rule", "aggregation", "mean | mean+product (neighbour means also of w * [w, h])"),
             ("rule", "deadzone", "rule outputs with |z| <= this give no update (exact fixed points)"),
             ("rule", "condition", "none (data-free) | data | feedback (the library computes a backward pass: "
                                   "not local)")],
    "growth": [("init", "hidden_init", "positional (relative-position codes) | random | zeros"),
               ("train", "schedule", "rollout length per meta-step: fixed:T | uniform:LO,HI | growing:LO,HI,OVER"),
               ("train", "grow_steps", "growth steps at evaluation (0: the schedule's maximum)")],
    "meta-training": [("train", "steps", "meta-steps in all (the LR cosine spans them)"),
                      ("train", "lr", "peak learning rate (AdamW)"),
                      ("train", "batch_per_arch", "task networks per architecture per meta-step"),
                      ("train", "pool_size", "sample pool per architecture (0: fresh states only)"),
                      ("train", "damage", "pooled networks per architecture zeroed out each meta-step"),
                      ("train", "init_from", "start from this checkpoint's (or pretrained rule's) weights")],
}
_RUN_FIELDS = [("train", "seed", ""), ("train", "device", "")]     # config fields among the run flags
_SECTIONS = {"rule": RuleConfig, "init": InitConfig, "task": TaskConfig, "train": TrainConfig}


def _field_type(cls, name: str):
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(default, bool):
        return "bool", default
    if isinstance(default, tuple) or name == "input_shape":
        return _ints, default
    kind = type(default) if default is not None else _optional_type(f.type)
    if kind is int:                                          # counts: never negative; a run needs a step
        kind = _POS if name == "steps" else _NONNEG
    return kind, default


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """The grouped train flags; defaults come from the dataclasses (or the preset)."""
    for title, flags in _TRAIN_FLAGS.items():
        group = p.add_argument_group(title)
        for section, name, text in flags:
            kind, default = _field_type(_SECTIONS[section], name)
            shown = ['-'.join(map(str, a)) for a in default] if name == "archs" else default
            if name == "archs":
                group.add_argument("--arch", dest="archs", type=_ints, action="append", default=None,
                                   help=f"{text}; default {shown}")
            elif kind == "bool":
                group.add_argument("--" + name.replace("_", "-"), action=argparse.BooleanOptionalAction,
                                   default=None, help=f"{text}; default {shown}")
            else:
                group.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                                   help=f"{text}; default {shown}")


def _experimental(text: str) -> tuple[str, str, object]:
    """``FIELD=VALUE`` for any other config field (research options), parsed by the field's type."""
    name, eq, value = text.partition("=")
    name = name.strip().replace("-", "_")
    for section, cls in _SECTIONS.items():
        if name in {f.name for f in dataclasses.fields(cls)}:
            break
    else:
        raise argparse.ArgumentTypeError(f"no config field {name!r}")
    if not eq:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    kind, _ = _field_type(cls, name)
    if kind == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise argparse.ArgumentTypeError(f"{name} takes true or false, got {value!r}")
        return section, name, value.lower() in ("true", "1")
    if value.lower() == "none":
        return section, name, None
    return section, name, kind(value)


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    preset, base = base, base or Config()
    given: dict[str, dict] = {name: {} for name in _SECTIONS}
    for section, name, value in getattr(args, "experimental", None) or []:
        given[section][name] = value
    for section, name, _ in [f for flags in _TRAIN_FLAGS.values() for f in flags] + _RUN_FIELDS:
        if getattr(args, name, None) is not None:
            given[section][name] = getattr(args, name)
    cfg = Config(**{name: dataclasses.replace(getattr(base, name), **given[name]) for name in _SECTIONS})
    cfg.task.archs = tuple(tuple(a) for a in cfg.task.archs)
    if cfg.task.task in ("mnist", "fashion-mnist") and args.archs is None and preset is None:
        cfg.task.archs = ((784, 50, 50, 10),)
    return cfg


_RULE_HELP = ("a pretrained rule's name (mnist, mnist-relu, mnist-robust, fashion-mnist) or a rule file: a training "
              "checkpoint or a `graphnca export` file")
_DATA_HELP = ("folder with the task's four IDX files, gzipped or not (default: torchvision downloads them; the "
              "MNIST test set ships with the package for offline evaluation)")


def _common(p: argparse.ArgumentParser, out: str, seed: bool = True) -> None:
    p.add_argument("--out", default=out, help=f"output folder (default {out}); a folder holding another run's "
                                              f"results is refused unless --force")
    p.add_argument("--force", action="store_true", help="replace the results of an earlier run in --out (they are "
                                                        "set aside first and put back if this run fails)")
    p.add_argument("--threads", type=_POS, default=None, help="torch CPU threads (default: torch's choice)")
    if seed:
        p.add_argument("--seed", type=_NONNEG, default=0, help="seed of the initial networks, batches and damage")


def _device(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--device", default="cpu", help=f"cpu or cuda: {text}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="graphnca", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"graphnca {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="the source's three results offline: the MNIST grid of a shipped rule, "
                                    "stability with and without a sample pool, regrowth after zero-out")
    _common(p, "runs/demo")
    p.add_argument("--steps", type=_POS, default=None, help="meta-steps per iris rule (default: the demo's own)")
    p.add_argument("--grid-samples", type=_POS, default=4, help="MNIST networks grown per grid cell")
    p.add_argument("--hidden", type=_ints, default=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
                   help="the MNIST grid's hidden widths X, Y (comma-separated)")
    p.add_argument("--updates", type=_POS, default=HORIZON, help="stability horizon (updates)")
    p.add_argument("--data-root", default=None, help=_DATA_HELP)

    p = sub.add_parser("train", help="meta-train a local rule")
    _add_config_flags(p)
    run = p.add_argument_group("run")
    run.add_argument("--preset", default=None, help="start from a named recipe (mnist, mnist-relu, mnist-robust, "
                                                    "fashion-mnist); the flags above override its fields")
    run.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    run.add_argument("--force", action="store_true", help="replace an earlier run's checkpoint and results there "
                                                          "(set aside first and put back if this run fails)")
    run.add_argument("--resume", action="store_true",
                     help="continue OUT/checkpoint.pt exactly; a new --steps re-spreads the LR cosine over the new "
                          "total from there")
    run.add_argument("--time-limit", type=_at_least(float, 0.0), default=None,
                     help="stop after the meta-step that ends past this many seconds, with checkpoint and JSON "
                          "written (--resume continues)")
    run.add_argument("--max-memory", type=_at_least(float, 0.001), default=None,
                     help="GiB a meta-step may use; refused before allocating when the estimate is larger "
                          "(default: half of this machine's memory)")
    run.add_argument("--seed", type=_NONNEG, default=None, help="seed of the rule, inits, batches and masks")
    run.add_argument("--device", default=None, help="cpu or cuda")
    run.add_argument("--threads", type=_POS, default=None, help="torch CPU threads (default: torch's choice)")
    run.add_argument("--experimental", action="append", type=_experimental, default=None, metavar="FIELD=VALUE",
                     help="set any other config field (graphnca/config.py, e.g. eval_every=100, "
                          "stationary_weight=0.5, activation=relu)")

    p = sub.add_parser("grow", help="grow networks with a trained rule (no backprop) and export them")
    _common(p, "runs/grow")
    p.add_argument("--rule", required=True, help=_RULE_HELP)
    p.add_argument("--arch", type=_ints, required=True, help="layer sizes of the networks, e.g. 784,100,100,10")
    p.add_argument("--samples", type=_POS, default=10, help="networks to grow (one batched graph)")
    p.add_argument("--steps", type=_NONNEG, default=None, help="growth steps (default: the rule's training length)")
    p.add_argument("--max-memory", type=_at_least(float, 0.001), default=None,
                   help="GiB growth may use; refused before allocating when the estimate is larger (default: half "
                        "of this machine's memory)")
    p.add_argument("--task", default=None, help="grow for / evaluate on this task (default: the rule's)")
    p.add_argument("--data-root", default=None, help=_DATA_HELP)
    p.add_argument("--baseline", choices=["none", "adam"], default="none",
                   help="adam: also train with Adam on as many mini-batches as growth steps")
    p.add_argument("--grow-batch", type=_POS, default=None,
                   help="examples per growth step of a data-conditioned rule (default: the rule's training value)")
    _scale_flags(p)
    _device(p, "grow and evaluate there; exports stay on the CPU")

    p = sub.add_parser("heatmap", help="accuracy of grown [in, X, Y, out] networks over a grid of hidden sizes")
    _common(p, "runs/heatmap")
    p.add_argument("--rule", required=True, help=_RULE_HELP)
    p.add_argument("--hidden", type=_ints, default=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
                   help="hidden widths X and Y of the grid (comma-separated)")
    p.add_argument("--samples", type=_POS, default=100, help="networks grown per cell")
    p.add_argument("--steps", type=_NONNEG, default=None, help="growth steps (default: the rule's training length)")
    p.add_argument("--baseline", choices=["none", "adam"], default="none",
                   help="adam: also train every cell with Adam (batch 128, lr 1e-3) for --epochs")
    p.add_argument("--epochs", type=_POS, default=1, help="Adam baseline epochs")
    p.add_argument("--adam-lrs", type=_floats, default=(1e-3,),
                   help="Adam's learning rate, or several (comma-separated): one chosen per cell on a validation "
                        "split of the last 5,000 training examples")
    p.add_argument("--data-root", default=None, help=_DATA_HELP)
    _device(p, "grow and evaluate there; Adam stays on the CPU")
    p.add_argument("--third", type=_POS, default=None,
                   help="a third hidden layer of this many units: the grid of [in, X, Y, THIRD, out] networks")
    _scale_flags(p)

    p = sub.add_parser("export", help="write a trained rule alone (no optimiser or pools) to a small checkpoint")
    p.add_argument("--rule", required=True, help="a training checkpoint (OUT/checkpoint.pt of graphnca train)")
    p.add_argument("--out", required=True, help="file to write (atomically; never a resumable checkpoint)")
    p.add_argument("--force", action="store_true", help="replace an existing exported rule file")
    p.add_argument("--data-root", default=None, help="the task's data (for a checkpoint that lacks its inputs' "
                                                    "preprocessing)")

    for name, text in (("stability", "apply the rule far past its training length; loss against updates"),
                       ("robustness", "grow, zero out a layer + a fraction of weights, keep updating")):
        p = sub.add_parser(name, help=text)
        _common(p, f"runs/{name}")
        p.add_argument("--rule", action="append", required=True, help=_RULE_HELP + " (repeat to compare rules)")
        p.add_argument("--samples", type=_POS, default=20, help="networks grown per rule")
        p.add_argument("--data-root", default=None, help=_DATA_HELP)
        p.add_argument("--arch", type=_ints, default=None,
                       help="architecture to grow, e.g. 784,100,100,10 (default: each rule's first meta-training one)")
        if name == "stability":
            p.add_argument("--updates", type=_POS, default=HORIZON, help="updates to apply")
            p.add_argument("--loss-examples", type=_POS, default=LOSS_EXAMPLES,
                           help="first training examples the loss after each update is measured on")
        else:
            p.add_argument("--steps", type=_NONNEG, default=None, help="growth steps before damage (default: rule's)")
            p.add_argument("--after", type=_NONNEG, default=None, help="updates after damage (default: 2x steps)")
            p.add_argument("--p", type=_fraction, default=0.3, help="fraction of the other weights zeroed (0..1)")
        _device(p, "grow and evaluate there")
    return parser
