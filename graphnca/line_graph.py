"""Explicit line-graph edges for PyG message passing (the reference engine; quadratic in neuron degree).

For ``e = (i -> j)``, with ``In(n)`` / ``Out(n)`` the weights entering / leaving neuron ``n``:

================  ========================  ========================
neighbourhood     forward ``N_f(e)``        backward ``N_b(e)``
================  ========================  ========================
``incident``      ``In(j) ∪ Out(j)``        ``In(i) ∪ Out(i)``
``consecutive``   ``Out(j)``                ``In(i)``
``siblings``      ``In(j)``                 ``Out(i)``
================  ========================  ========================
"""
from __future__ import annotations

import torch
from torch import Tensor

# neighbourhood -> ((centre, list) forward, (centre, list) backward); list "in" = In(n), "out" = Out(n), "inc" = both
_SPEC = {
    "incident": (("dst", "inc"), ("src", "inc")),
    "consecutive": (("dst", "out"), ("src", "in")),
    "siblings": (("dst", "in"), ("src", "out")),
}


# the source's neighbourhood, and every layer's default: with it one rule grows the same accuracy at widths 100 to
# 1000 and the most at an unseen depth (RESULTS.md, design study); "incident" mixes In and Out in proportions
# that change with the widths, so a rule trained on narrow layers drifts on wide ones
DEFAULT_NEIGHBOURHOOD = "consecutive"


def check_neighbourhood(neighbourhood: str) -> None:
    if neighbourhood not in _SPEC:
        raise ValueError(f"unknown neighbourhood {neighbourhood!r}; choose one of {sorted(_SPEC)}")


def _degree(graph, kind: str) -> Tensor:
    return {"in": graph.in_degree, "out": graph.out_degree, "inc": graph.in_degree + graph.out_degree}[kind]


def num_line_graph_edges(graph, neighbourhood: str = DEFAULT_NEIGHBOURHOOD) -> tuple[int, int]:
    """Edge counts ``(M_f, M_b)`` of the explicit line graph, computed in O(E) without building it."""
    check_neighbourhood(neighbourhood)
    counts = []
    for centre, kind in _SPEC[neighbourhood]:
        c = graph.dst if centre == "dst" else graph.src
        counts.append(int(_degree(graph, kind)[c].sum()))
    return counts[0], counts[1]


def _lists(graph, kind: str) -> tuple[Tensor, Tensor]:
    """CSR of per-neuron weight lists: (ptr [N + 1], items sorted by neuron)."""
    e = torch.arange(graph.num_weights, device=graph.device)
    if kind == "in":
        keys, items = graph.dst, e
    elif kind == "out":
        keys, items = graph.src, e
    else:
        keys, items = torch.cat([graph.dst, graph.src]), torch.cat([e, e])
    order = torch.argsort(keys, stable=True)
    deg = torch.bincount(keys, minlength=graph.num_neurons)
    ptr = torch.zeros(graph.num_neurons + 1, dtype=torch.long, device=graph.device)
    ptr[1:] = torch.cumsum(deg, 0)
    return ptr, items[order]


def _edges(graph, centre: str, kind: str) -> Tensor:
    c = graph.dst if centre == "dst" else graph.src            # [E] neuron whose list forms e's neighbourhood
    ptr, items = _lists(graph, kind)
    count = ptr[c + 1] - ptr[c]                               # [E]
    target = torch.repeat_interleave(torch.arange(graph.num_weights, device=graph.device), count)  # [M]
    first = torch.cumsum(count, 0) - count                    # [E] where e's block starts among the M edges
    pos = torch.arange(target.numel(), device=graph.device) - first[target]
    return torch.stack([items[ptr[c[target]] + pos], target])  # [2, M]: (neighbour k, node e)


def line_graph(graph, neighbourhood: str = DEFAULT_NEIGHBOURHOOD, max_bytes: float = 2 ** 30) -> tuple[Tensor, Tensor]:
    m_f, m_b = num_line_graph_edges(graph, neighbourhood)
    need = 2 * 8 * (m_f + m_b)  # two int64 rows per edge
    if need > max_bytes:
        raise ValueError(
            f"explicit line graph would have {m_f + m_b:,} edges ({need / 2**30:.2f} GiB of indices), over the "
            f"memory budget of {max_bytes / 2**30:.2f} GiB; use the hub engine (graphnca.perceive) instead")
    (cf, kf), (cb, kb) = _SPEC[neighbourhood]
    return _edges(graph, cf, kf), _edges(graph, cb, kb)
