"""Converters between ``nn.Sequential`` MLPs and weight graphs (exact round trip)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from . import activations as acts
from .forward import layer_params
from .graph import Arch, WeightGraph


def from_sequential(model: nn.Sequential) -> tuple[WeightGraph, Tensor]:
    """``(graph, w)`` for an ``nn.Sequential`` of ``nn.Linear`` and element-wise activations.

    ``w`` is ``parameters_to_vector(model.parameters())`` (detached). A pruned ``Linear``
    (``torch.nn.utils.prune``) becomes a masked layer whose missing connections are not nodes; ``w`` then lists
    the kept weights of each layer in (weight row-major, bias) order. Any other module raises ``ValueError``
    naming it and its index.
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"expected an nn.Sequential, got {type(model).__name__}")
    sizes: list[int] = []
    groups: list[list[str]] = []
    masks: list[Tensor | None] = []
    params: list[Tensor] = []
    bias = None
    for idx, m in enumerate(model):
        if isinstance(m, nn.Linear):
            if sizes and m.in_features != sizes[-1]:
                raise ValueError(f"module {idx} (Linear) takes {m.in_features} features but the previous layer "
                                 f"gives {sizes[-1]}")
            has_bias = m.bias is not None
            if bias is not None and has_bias != bias:
                raise ValueError(f"module {idx} (Linear): all layers must agree on bias=True/False")
            bias = has_bias
            if not sizes:
                sizes.append(m.in_features)
            sizes.append(m.out_features)
            mask = getattr(m, "weight_mask", None)
            mask = None if mask is None else mask.detach().bool().cpu()
            masks.append(mask)
            weight = m.weight.detach().flatten()
            params.append(weight if mask is None else weight[mask.flatten().to(weight.device)])
            if has_bias:
                params.append(m.bias.detach())
            groups.append([])
        elif acts.is_activation(m):
            if not sizes:
                raise ValueError(f"module {idx} ({type(m).__name__}): the model must start with nn.Linear")
            groups[-1].append(acts.to_spec(m))
        else:
            raise ValueError(f"unsupported module {idx} ({type(m).__name__}): only nn.Linear and element-wise "
                             f"activations can be converted")
    if not sizes:
        raise ValueError("the model holds no nn.Linear layer")
    arch = Arch(tuple(sizes), bool(bias), tuple(tuple(g) for g in groups),
                tuple(masks) if any(m is not None for m in masks) else None)
    return WeightGraph.from_arch(arch), torch.cat(params).clone()


def to_sequential(graph: WeightGraph, w: Tensor) -> nn.Sequential:
    """A runnable ``nn.Sequential`` with weights ``w: [E]`` computing the graph's network.

    Masked layers are pruned with ``torch.nn.utils.prune.custom_from_mask``: missing connections are exactly
    zero and stay zero under training.
    """
    if graph.num_graphs != 1:
        raise ValueError(f"graph holds {graph.num_graphs} networks; convert each: "
                         f"[to_sequential(g, x) for g, x in zip(graph.unbatch(), graph.split(w))]")
    if w.shape != (graph.num_weights,):
        raise ValueError(f"w must have shape [{graph.num_weights}], got {list(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("w holds NaN/Inf values")
    arch = graph.archs[0]
    layers: list[nn.Module] = []
    for l, (W, b) in enumerate(layer_params(arch, w.detach())):
        lin = nn.Linear(arch.sizes[l], arch.sizes[l + 1], bias=b is not None, device=w.device, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(W)
            if b is not None:
                lin.bias.copy_(b)
        mask = arch.mask(l)
        if mask is not None:
            prune.custom_from_mask(lin, "weight", mask.to(w.device))
        layers.append(lin)
        layers.extend(acts.from_spec(s) for s in arch.activations[l])
    return nn.Sequential(*layers)


GROWN_FORMAT = "graphnca-grown"


def grown_record(graph: WeightGraph, model: nn.Sequential, **extra) -> dict:
    """What ``graphnca grow`` writes per network (``net_*.pt``): plain tensors and containers, loadable with
    ``weights_only=True`` by :func:`load_grown`."""
    return {"format": GROWN_FORMAT, "arch": graph.archs[0].to_dict(), "state_dict": model.state_dict(), **extra}


def load_grown(path) -> nn.Sequential:
    """The ``nn.Sequential`` of a network ``graphnca grow`` exported (``net_*.pt``), rebuilt with plain PyTorch:
    ``graphnca.load_grown("runs/grow/net_000.pt")(x)``. No code is unpickled; a file of another kind is one
    ``ValueError``."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:             # missing, truncated, foreign or code-carrying files
        raise ValueError(f"{path} cannot be read as a grown network ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:120] if str(e) else 'no detail'})") from None
    if not isinstance(obj, dict) or obj.get("format") != GROWN_FORMAT:
        raise ValueError(f"{path} is not a network exported by graphnca grow")
    arch = Arch.from_dict(obj["arch"])
    model = to_sequential(WeightGraph.from_arch(arch), torch.zeros(arch.num_weights))
    model.load_state_dict(obj["state_dict"])
    return model

