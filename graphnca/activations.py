"""Element-wise activations as small JSON-safe specs, so architectures live in checkpoints without pickling.

A spec is ``"name"`` or ``"name:key=value,key=value"`` for non-default constructor arguments, e.g.
``"leaky_relu:negative_slope=0.2"`` or ``"gelu:approximate=tanh"``.
"""
from __future__ import annotations

from torch import nn

# name -> (module class, constructor arguments that change the function and so must survive a round trip)
_REGISTRY: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
    "identity": (nn.Identity, ()),
    "relu": (nn.ReLU, ()),
    "relu6": (nn.ReLU6, ()),
    "tanh": (nn.Tanh, ()),
    "sigmoid": (nn.Sigmoid, ()),
    "gelu": (nn.GELU, ("approximate",)),
    "silu": (nn.SiLU, ()),
    "mish": (nn.Mish, ()),
    "selu": (nn.SELU, ()),
    "elu": (nn.ELU, ("alpha",)),
    "celu": (nn.CELU, ("alpha",)),
    "leaky_relu": (nn.LeakyReLU, ("negative_slope",)),
    "softplus": (nn.Softplus, ("beta", "threshold")),
    "softsign": (nn.Softsign, ()),
    "hardtanh": (nn.Hardtanh, ("min_val", "max_val")),
    "hardswish": (nn.Hardswish, ()),
    "hardsigmoid": (nn.Hardsigmoid, ()),
    "tanhshrink": (nn.Tanhshrink, ()),
}
_BY_CLASS = {cls: name for name, (cls, _) in _REGISTRY.items()}


def is_activation(module: nn.Module) -> bool:
    return type(module) in _BY_CLASS


def to_spec(module: nn.Module) -> str:
    """The spec of an element-wise activation module; ``ValueError`` for anything else."""
    name = _BY_CLASS.get(type(module))
    if name is None:
        raise ValueError(f"unsupported activation module {type(module).__name__}")
    cls, keys = _REGISTRY[name]
    default = cls()
    args = [f"{k}={getattr(module, k)!r}" for k in keys if getattr(module, k) != getattr(default, k)]
    return name + (":" + ",".join(args) if args else "")


def from_spec(spec: str) -> nn.Module:
    """Build the module a spec names; ``ValueError`` names an unknown activation."""
    name, _, rest = spec.partition(":")
    if name not in _REGISTRY:
        raise ValueError(f"unknown activation {spec!r}; known: {sorted(_REGISTRY)}")
    cls, keys = _REGISTRY[name]
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in keys:
            raise ValueError(f"activation {name!r} takes no argument {key!r}")
        kwargs[key] = _parse(value)
    return cls(**kwargs)


def _parse(value: str):
    if value[:1] in "'\"":
        return value[1:-1]
    return float(value)
