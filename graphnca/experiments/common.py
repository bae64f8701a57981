"""Shared pieces of the experiments: loading a trained rule, data, and writing JSON + PNG."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint
from ..data import TaskData, load_task, load_test_set
from ..grow import growth_data
from ..nn.metanca_conv import MetaNCAConv
from ..runinfo import file_sha256, run_metadata, save_figure, write_json
from ..schedules import StepSchedule
from ..config import Config, grow_steps


def rule_provenance(path) -> dict:
    """Which rule file a result came from: its name as given, the file, its sha256 and its meta-step."""
    from ..pretrained import rule_path
    file = rule_path(path)
    ck = load_checkpoint(file)
    return {"rule": str(path), "file": str(Path(file).resolve()), "sha256": file_sha256(file),
            "meta_step": ck.get("step"), "made_by": (ck.get("provenance") or {}).get("made_by", "meta-trained")}


def load_rule(path) -> tuple[MetaNCAConv, Config]:
    """The trained rule and the configuration it was trained with, from a checkpoint or a pretrained rule's name."""
    from ..pretrained import rule_path
    ck = load_checkpoint(rule_path(path))
    try:
        cfg = Config.from_dict(ck["config"])
        conv = MetaNCAConv.from_config(cfg.rule)
        conv.load_state_dict(ck["rule"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise ValueError(f"checkpoint {path} does not hold a valid rule for its configuration: "
                         f"{str(e).splitlines()[0][:200]}") from None
    conv.train(conv.fire_rate < 1.0)  # grow with the dynamics it was trained with (see graphnca.grow.grow)
    return conv, cfg


def rule_and_task(path, data_root=None, device="cpu", arch=None, test_only: bool = False):
    """``(conv, cfg, data, graph)``: a trained rule, its task data and ``arch`` (default: its first meta-training
    architecture), all on ``device`` (a resolved :class:`torch.device`). ``test_only``: a data-free rule's scoring
    data alone (:func:`scoring_data`)."""
    conv, cfg = load_rule(path)
    only = test_only and conv.rule.extra_inputs == 0
    data = (scoring_data(path, cfg, data_root) if only else task_data(cfg, data_root=data_root)).to(device)
    arch = tuple(arch or cfg.task.archs[0])
    if len(arch) < 2 or arch[0] != data.num_features or arch[-1] != data.num_classes:
        raise ValueError(f"architecture {list(arch)} does not fit {data.name} ({data.num_features} inputs, "
                         f"{data.num_classes} classes)")
    graph = cfg.task.graph(arch).to(device)
    return conv.to(device), cfg, data, graph


def rule_label(cfg: Config, path) -> str:
    t = cfg.train
    bits = ["pool" if t.pool_size else "no pool"] + (["damage"] if t.damage else [])
    path = Path(path)    # a run's checkpoint.pt is named by its folder, an exported rule by its own file name
    name = path.parent.name if path.name == "checkpoint.pt" and path.parent.name else path.stem
    return f"{name} ({', '.join(bits)})"


def task_data(cfg: Config, task: str | None = None, data_root: str | None = None) -> TaskData:
    """The data a command evaluates (and a conditioned rule grows) on: ``data_root``, else torchvision's download.
    A rule's own training folder is never used: its path belongs to the machine it was trained on."""
    return load_task(task or cfg.task.task, data_root, seed=cfg.train.seed)


def scoring_data(path, cfg: Config, data_root: str | None = None) -> TaskData:
    """Only the test split of the rule's image task, standardised as the rule was trained (its stored
    preprocessing), with no training split: enough to score a data-free rule's networks, and offline for MNIST
    (:func:`graphnca.data.load_test_set` falls back to the copy that ships with the package)."""
    from ..pretrained import rule_path
    pre = load_checkpoint(rule_path(path)).get("preprocessing") or {}
    if cfg.task.task not in ("mnist", "fashion-mnist") or pre.get("mean") is None:
        return task_data(cfg, data_root=data_root)
    x, y = load_test_set(cfg.task.task, data_root)
    x = (x - pre["mean"]) / pre["std"]
    return TaskData(cfg.task.task, x[:0], y[:0], x, y, 10, (28, 28), pre["mean"], pre["std"])


def check_step_scales(step_scale: float, hidden_state_scale: float | None) -> None:
    """The checks :func:`~graphnca.grow.layer_scale` leaves to the commands: the output layer must move (> 0)."""
    if not (math.isfinite(step_scale) and step_scale > 0):
        raise ValueError(f"step_scale must be a finite number > 0, got {step_scale}")
    if hidden_state_scale is not None and not (math.isfinite(hidden_state_scale) and hidden_state_scale >= 0):
        raise ValueError(f"hidden_state_scale must be a finite number >= 0, got {hidden_state_scale}")


def default_steps(cfg: Config, steps: int | None) -> int:
    return steps if steps is not None else grow_steps(cfg)


def scheduled_steps(cfg: Config, steps: int | None, schedule: str | StepSchedule | None) -> StepSchedule:
    """The growth as a :class:`~graphnca.schedules.StepSchedule`: ``schedule`` (parsed; ``steps``, if given, must
    be its total) or ``steps`` updates at the rule's own step."""
    if schedule is None:
        return StepSchedule(((1.0, default_steps(cfg, steps)),))
    schedule = schedule if isinstance(schedule, StepSchedule) else StepSchedule.parse(schedule)
    if steps is not None and steps != schedule.steps:
        raise ValueError(f"steps={steps} does not match the step schedule {schedule}, which grows {schedule.steps}")
    return schedule


def finish(out, name: str, record: dict, plot, device=None) -> dict:
    """Write ``OUT/NAME.json`` (with run metadata for ``device``), then draw ``OUT/NAME.png`` from that file alone."""
    out = Path(out)
    path = out / f"{name}.json"
    write_json(path, {**record, "meta": run_metadata(device)})
    with open(path) as f:
        data = json.load(f)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plot(data, plt)
    save_figure(fig, out / f"{name}.png")
    plt.close(fig)
    return data


def growth_stream(conv: MetaNCAConv, cfg: Config, data: TaskData, gen: torch.Generator):
    """Training mini-batches for a data-conditioned rule (``None`` for a data-free one)."""
    return growth_data(conv, data.x_train, data.y_train, cfg.task.grow_batch, gen)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Progress:
    """Progress inside a phase: a tqdm bar, or with a callable ``progress(done, total)`` a report to someone
    else's bar (the demo's parent process shows every worker's)."""

    def __init__(self, progress, total: int, desc: str, offset: int = 0, grand_total: int | None = None):
        self.tell = progress if callable(progress) else None
        self.bar = tqdm(total=total, desc=desc, disable=not progress or self.tell is not None, leave=False)
        self.done, self.offset, self.grand = 0, offset, grand_total or total

    def update(self, n: int = 1) -> None:
        self.bar.update(n)
        self.done += n
        if self.tell is not None:
            self.tell(self.offset + self.done, self.grand)

    def close(self) -> None:
        self.bar.close()

