"""Shared pieces of the experiments: loading a trained rule, data, and writing JSON + PNG."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..data import TaskData, load_task
from ..grow import growth_data
from ..nn.metanca_conv import MetaNCAConv
from ..runinfo import run_metadata, save_figure, write_json
from ..schedules import StepSchedule
from ..config import Config, grow_steps


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


def rule_and_task(path, data_root=None, device="cpu", arch=None):
    """``(conv, cfg, data, graph)``: a trained rule, its task data and ``arch`` (default: its first meta-training
    architecture), all on ``device`` (a resolved :class:`torch.device`)."""
    from ..graph import WeightGraph
    conv, cfg = load_rule(path)
    data = task_data(cfg, data_root=data_root).to(device)
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
    task = task or cfg.task.task
    # the rule's own data folder serves only the rule's own task, and only where it exists (a shipped rule was
    # trained on another machine: without the folder, torchvision downloads the data)
    if data_root is None and task == cfg.task.task and cfg.task.data_root and Path(cfg.task.data_root).is_dir():
        data_root = cfg.task.data_root
    return load_task(task, data_root, seed=cfg.train.seed)


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
