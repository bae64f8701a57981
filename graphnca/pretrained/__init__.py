"""Pretrained rules by name, as torchvision ships weights: ``graphnca.load_rule("mnist").grow([784, 64, 10])``.

A pretrained rule file is an exported checkpoint (``graphnca export``): the rule's weights, its full training
configuration and the preprocessing of its task's inputs. Growing imports nothing of meta-training; the grown
networks come back as plain ``nn.Sequential`` models on raw inputs (MNIST: ``ToTensor()`` pixels in [0, 1],
flattened to ``[B, 784]``), the input standardisation and the mean-field gains folded into their weights.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoint import load_checkpoint
from ..config import Config, grow_steps
from ..convert import to_sequential
from ..graph import WeightGraph
from ..grow import grow, network_generators, seeded_states
from ..nn.metanca_conv import MetaNCAConv
from ..runinfo import resolve_device
from ..state import State

#: name -> file in this folder
RULES = {"mnist": "mnist.pt", "mnist-relu": "mnist-relu.pt", "mnist-robust": "mnist-robust.pt",
         "fashion-mnist": "fashion-mnist.pt"}


class PretrainedRule:
    """A trained local rule with everything needed to grow networks for its task.

    Attributes:
        config: the rule's :class:`~graphnca.RuleConfig` (``condition="none"``: it grows without data).
        init: how fresh networks start (:class:`~graphnca.InitConfig`).
        steps: growth steps it was meta-trained to grow in.
        task: the task it was meta-trained on (e.g. ``"mnist"``); ``inputs``, ``classes``: its networks' first
            and last layer sizes.
        train_archs: the architectures it was meta-trained on (every other one is held out).
        conv: the rule as a :class:`~graphnca.MetaNCAConv` layer.
        provenance: how the rule was made (``made_by``: ``"meta-trained"`` or ``"distilled"``, with details).
    """

    def __init__(self, ck: dict, source: str):
        try:
            cfg = Config.from_dict(ck["config"])
            self.config, self.init = cfg.rule, cfg.init
            self.steps = grow_steps(cfg)
            self.task, self.activation, self.mean_field = cfg.task.task, cfg.task.activation, cfg.task.mean_field
            self.train_archs = [tuple(a) for a in cfg.task.archs]
            self.inputs, self.classes = self.train_archs[0][0], self.train_archs[0][-1]
            self.conv = MetaNCAConv.from_config(self.config)
            self.conv.load_state_dict(ck["rule"])
        except (KeyError, TypeError, RuntimeError, ValueError, IndexError) as e:
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
        return WeightGraph.from_sizes(self.check_sizes(sizes), activation=self.activation,
                                      mean_field=self.mean_field)

    def check_sizes(self, sizes) -> list[int]:
        """``sizes`` as a list of ints, or one ``ValueError``: at least two positive whole layer sizes, the first
        the task's inputs and the last its classes."""
        try:
            out = [int(s) for s in sizes]
            whole = all(float(s) == int(s) for s in sizes)
        except (TypeError, ValueError):
            raise ValueError(f"sizes must be a list of layer sizes such as [{self.inputs}, 100, {self.classes}], "
                             f"got {sizes!r}") from None
        if len(out) < 2 or not whole or any(s < 1 for s in out):
            raise ValueError(f"sizes must list at least two positive whole layer sizes, got {list(sizes)}")
        if out[0] != self.inputs or out[-1] != self.classes:
            raise ValueError(f"architecture {out} does not fit {self.task}: it needs {self.inputs} inputs and "
                             f"{self.classes} outputs")
        return out

    def grow_states(self, sizes, n: int = 4, seed: int = 0, steps: int | None = None,
                    device=None) -> tuple[WeightGraph, State]:
        """``(graph, state)``: ``n`` networks of ``sizes`` grown side by side as one batched graph. Network ``i``
        depends on ``seed`` and ``i`` alone, not on ``n``; the rule itself stays where it is."""
        graph = self.graph(sizes)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number >= 1, got {n!r}")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be a whole number, got {seed!r}")
        dev = resolve_device(device or "cpu")
        steps = self.steps if steps is None else steps
        graph = graph.to(dev)
        conv = self.conv if dev.type == "cpu" else copy.deepcopy(self.conv).to(dev)   # never moved in place
        gens = network_generators(seed, n)
        state = seeded_states(graph, conv.hidden_size, self.init, gens)
        return grow(conv, graph, n, steps, self.init, gens, state=state)

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

    def standardise(self, x: Tensor) -> Tensor:
        """Raw inputs as the rule's grown graphs read them (``(x - mean) / std``; exported models need none)."""
        return x if self.mean is None else (x - torch.as_tensor(self.mean)) / torch.as_tensor(self.std)


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
