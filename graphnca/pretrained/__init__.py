"""Pretrained rules by name, as torchvision ships weights: ``graphnca.load_rule("mnist").grow([784, 64, 10])``.

A pretrained rule file is an exported checkpoint (``graphnca export``): the rule's weights, its full training
configuration and the preprocessing of its task's inputs. Growing imports nothing of meta-training; the grown
networks come back as plain ``nn.Sequential`` models on raw inputs (MNIST: ``ToTensor()`` pixels in [0, 1],
flattened to ``[B, 784]``), the input standardisation and the mean-field gains folded into their weights.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoint import load_checkpoint
from ..convert import to_sequential
from ..graph import WeightGraph
from ..grow import grow
from ..nn.metanca_conv import MetaNCAConv
from ..rule import RuleConfig
from ..schedules import parse_schedule
from ..state import InitConfig, State

#: name -> file in this folder
RULES = {"mnist": "mnist.pt", "fashion-mnist": "fashion-mnist.pt"}


class PretrainedRule:
    """A trained local rule with everything needed to grow networks for its task.

    Attributes:
        config: the rule's :class:`~graphnca.RuleConfig` (``condition="none"``: it grows without data).
        init: how fresh networks start (:class:`~graphnca.InitConfig`).
        steps: growth steps it was meta-trained to grow in.
        task: the task it was meta-trained on (e.g. ``"mnist"``).
        conv: the rule as a :class:`~graphnca.MetaNCAConv` layer.
        provenance: how the rule was made (``made_by``: ``"meta-trained"`` or ``"distilled"``, with details).
    """

    def __init__(self, ck: dict, source: str):
        try:
            cfg = ck["config"]
            rule, init, task, train = cfg["rule"], cfg["init"], cfg["task"], cfg["train"]
            self.config = RuleConfig(**{**rule, "widths": tuple(rule["widths"])})
            shape = init.get("input_shape")
            self.init = InitConfig(**{**init, "input_shape": None if shape is None else tuple(shape)})
            self.steps = int(train.get("grow_steps") or parse_schedule(train["schedule"]).max)
            self.task, self.activation = str(task["task"]), str(task["activation"])
            self.mean_field = task.get("mean_field")
            self.conv = MetaNCAConv.from_config(self.config)
            self.conv.load_state_dict(ck["rule"])
        except (KeyError, TypeError, RuntimeError) as e:
            raise ValueError(f"{source} does not hold a valid rule for its configuration: "
                             f"{str(e).splitlines()[0][:200]}") from None
        pre = ck.get("preprocessing") or {}
        self.mean, self.std = pre.get("mean"), pre.get("std")
        self.source = source
        self.provenance = ck.get("provenance")     # how it was made (meta-trained, or distilled from a teacher)
        self.conv.eval()

    def __repr__(self) -> str:
        return (f"PretrainedRule({self.source!r}, task={self.task!r}, steps={self.steps}, "
                f"hidden_size={self.config.hidden_size}, widths={self.config.widths})")

    def graph(self, sizes) -> WeightGraph:
        """The task network of layer ``sizes`` this rule grows (its activation and mean-field gain)."""
        return WeightGraph.from_sizes(sizes, activation=self.activation, mean_field=self.mean_field)

    def grow_states(self, sizes, n: int = 4, seed: int = 0, steps: int | None = None,
                    device=None) -> tuple[WeightGraph, State]:
        """``(graph, state)``: ``n`` networks of ``sizes`` grown side by side as one batched graph."""
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive layer sizes, got {sizes}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        steps = self.steps if steps is None else int(steps)
        graph = self.graph(sizes).to(device or "cpu")
        gen = torch.Generator().manual_seed(seed)
        return grow(self.conv.to(graph.device), graph, n, steps, self.init, gen)

    def grow(self, sizes, n: int = 4, seed: int = 0, steps: int | None = None, device=None) -> list[nn.Sequential]:
        """``n`` grown networks of ``sizes`` as plain ``nn.Sequential`` models on raw inputs (CPU)."""
        big, state = self.grow_states(sizes, n, seed, steps, device)
        return [self.export(g, w) for g, w in zip(big.unbatch(), big.split(state.w))]

    def export(self, graph: WeightGraph, w: Tensor) -> nn.Sequential:
        """One grown network as ``nn.Sequential`` on raw inputs: the standardisation folds into the first layer."""
        model = to_sequential(graph.to("cpu"), w.detach().cpu())
        if self.mean is not None:
            fold_standardisation(model[0], torch.as_tensor(self.mean), torch.as_tensor(self.std))
        return model


@torch.no_grad()
def fold_standardisation(first: nn.Linear, mean: Tensor, std: Tensor) -> None:
    r"""Make ``first`` act on raw inputs: :math:`W (x - m)/s + b = (W/s) x + (b - (W/s) m)`."""
    mean = mean.to(first.weight).expand(first.in_features)
    std = std.to(first.weight).expand(first.in_features)
    first.weight.div_(std)
    if first.bias is not None:
        first.bias.sub_(first.weight @ mean)


def rule_path(name_or_path) -> Path:
    """The file of a pretrained rule by name, or ``name_or_path`` itself; ``ValueError`` if neither exists."""
    key = str(name_or_path)
    if key in RULES:
        path = Path(__file__).with_name(RULES[key])
        if not path.is_file():
            raise ValueError(f"pretrained rule {key!r} is not installed ({path} is missing)")
        return path
    path = Path(key)
    if not path.is_file():
        raise ValueError(f"no pretrained rule named {key!r} (choose one of {sorted(RULES)}) and no file {path}")
    return path


def load_rule(name_or_path) -> PretrainedRule:
    """A pretrained rule by name (``"mnist"``, ``"fashion-mnist"``) or from a rule file (``graphnca export``)."""
    return PretrainedRule(load_checkpoint(rule_path(name_or_path)), str(name_or_path))
