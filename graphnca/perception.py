"""Perception: what each weight sees of its neighbourhood.

For ``w: [E]`` and ``h: [E, H]`` the perception of weight ``e`` is the row

.. math::
    p_e = \\big[\\, w_e,\\ h_e,\\ \\overline{w}_{N_f(e)},\\ \\overline{h}_{N_f(e)},\\
          \\overline{w}_{N_b(e)},\\ \\overline{h}_{N_b(e)} \\,\\big] \\in \\mathbb{R}^{3(1+H)}

with means over the forward / backward neighbourhoods of :mod:`graphnca.line_graph` (a mean over an empty set is 0).
With ``aggregation="mean+product"`` the means are taken of :math:`[x_k,\\ w_k x_k]` instead of :math:`x_k`, so the
row is :math:`5(1+H)` long: a plain mean of the neighbours' states cannot tell which way a neuron's weights point
(the mean of its outgoing weights' class codes is the same for every hidden unit), a weight-weighted mean can.

Two engines compute it:

* ``"hub"`` (default): every neighbourhood is one or two neurons' weight lists, so the means are neuron-level
  sums (one ``index_add_`` by target and one by source) divided by degrees, gathered back to weights. O(E + N)
  time and memory; the line graph is never built.
* ``"explicit"``: PyG mean aggregation over :meth:`WeightGraph.line_graph` edges. Quadratic in neuron degree;
  the reference the hub engine is tested against.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from .line_graph import DEFAULT_NEIGHBOURHOOD, check_neighbourhood

AGGREGATIONS = {"mean": 1, "mean+product": 2}     # aggregation -> neighbour channels per state channel


def check_aggregation(aggregation: str) -> None:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {sorted(AGGREGATIONS)}")


def neighbour_inputs(x: Tensor, aggregation: str = "mean") -> Tensor:
    """What the neighbour means are taken of: the packed states ``x = [w, h]: [E, D]`` themselves, or with
    ``"mean+product"`` also each state times its own weight, ``[E, 2D]``."""
    check_aggregation(aggregation)
    return x if aggregation == "mean" else torch.cat([x, x[:, :1] * x], dim=1)


def _check(graph, w: Tensor, h: Tensor) -> None:
    if w.dim() != 1 or w.shape[0] != graph.num_weights:
        raise ValueError(f"w must have shape [E] = [{graph.num_weights}], got {list(w.shape)}")
    if h.dim() != 2 or h.shape[0] != graph.num_weights:
        raise ValueError(f"h must have shape [E, H] = [{graph.num_weights}, H], got {list(h.shape)}")


def _block_sums(graph, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(S_in, S_out)``: plain reductions over dense blocks, ``index_add_`` for masked layers (no autograd)."""
    n, d = graph.num_neurons, x.shape[1]
    s_in, s_out = x.new_zeros(n, d), x.new_zeros(n, d)
    runs, sparse = graph.dense_runs
    for w0, n0, k, e_a, n_a, blocks in runs:
        xr = x[w0:w0 + k * e_a].view(k, e_a, d)
        in_r, out_r = s_in[n0:n0 + k * n_a].view(k, n_a, d), s_out[n0:n0 + k * n_a].view(k, n_a, d)
        for start, n_out, n_in, src0, dst0 in blocks:
            blk = xr[:, start:start + n_out * n_in].view(k, n_out, n_in, d)   # [k, out, in, D]
            in_r[:, dst0:dst0 + n_out] += blk.sum(2)
            out_r[:, src0:src0 + n_in] += blk.sum(1)
    if sparse.numel():
        xs = x[sparse]
        s_in.index_add_(0, graph.dst[sparse], xs)
        s_out.index_add_(0, graph.src[sparse], xs)
    return s_in, s_out


def _block_gather(graph, t_dst: Tensor | None, t_src: Tensor | None) -> Tensor:
    """``out[e] = t_dst[dst[e]] + t_src[src[e]]`` (a missing table adds nothing): broadcast writes into dense
    blocks, gathers for masked layers (no autograd)."""
    ref = t_dst if t_dst is not None else t_src
    d = ref.shape[1]
    out = ref.new_empty(graph.num_weights, d)                   # every row is written exactly once below
    runs, sparse = graph.dense_runs
    for w0, n0, k, e_a, n_a, blocks in runs:
        o = out[w0:w0 + k * e_a].view(k, e_a, d)
        fr = None if t_dst is None else t_dst[n0:n0 + k * n_a].view(k, n_a, d)
        br = None if t_src is None else t_src[n0:n0 + k * n_a].view(k, n_a, d)
        for start, n_out, n_in, src0, dst0 in blocks:
            blk = o[:, start:start + n_out * n_in].view(k, n_out, n_in, d)
            if br is None:
                blk.copy_(fr[:, dst0:dst0 + n_out].unsqueeze(2).expand_as(blk))
            elif fr is None:
                blk.copy_(br[:, src0:src0 + n_in].unsqueeze(1).expand_as(blk))
            else:
                torch.add(fr[:, dst0:dst0 + n_out].unsqueeze(2), br[:, src0:src0 + n_in].unsqueeze(1), out=blk)
    if sparse.numel():
        rows = [t[idx[sparse]] for t, idx in ((t_dst, graph.dst), (t_src, graph.src)) if t is not None]
        out[sparse] = rows[0] if len(rows) == 1 else rows[0] + rows[1]
    return out


# Neuron sums and edge gathers are each other's adjoints: the gradient of a sum over a neuron's weights is that
# neuron's gradient gathered back to every one of them, and vice versa. Written as autograd Functions, neither
# backward pass needs an [E]-long index tensor (no index_add_ over E rows, no gathers to store), so the
# differentiable step costs what the no-grad step does, twice.
class _NeuronSums(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, graph) -> tuple[Tensor, Tensor]:
        ctx.graph = graph
        return _block_sums(graph, x)

    @staticmethod
    def backward(ctx, g_in: Tensor, g_out: Tensor):
        return _EdgeGather.apply(g_in, g_out, ctx.graph), None


class _EdgeGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t_dst: Tensor | None, t_src: Tensor | None, graph) -> Tensor:
        ctx.graph, ctx.has = graph, (t_dst is not None, t_src is not None)
        return _block_gather(graph, t_dst, t_src)

    @staticmethod
    def backward(ctx, g: Tensor):
        s_in, s_out = _NeuronSums.apply(g.contiguous(), ctx.graph)
        return s_in if ctx.has[0] else None, s_out if ctx.has[1] else None, None


def neuron_sums(graph, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(S_in, S_out)``, each ``[N, D]``: sums of ``x: [E, D]`` over the weights entering / leaving each neuron.

    Unmasked layers are dense blocks (see :attr:`WeightGraph.dense_runs`): their sums are plain reductions over
    ``[k, out, in, D]`` views, as fast as a per-layer dense formulation. Masked layers use ``index_add_``
    (measured faster than ``scatter_add_`` and far faster than ``scatter_reduce_(mean)``: benchmarks/scatter.py).
    Differentiable; the backward pass is :func:`edge_gather`.
    """
    return _NeuronSums.apply(x.contiguous(), graph)


def edge_gather(graph, t_dst: Tensor | None, t_src: Tensor | None = None) -> Tensor:
    """``[E, D]`` rows ``t_dst[dst[e]] + t_src[src[e]]`` of neuron tables ``t_dst, t_src: [N, D]`` (either may
    be ``None``: it adds nothing).

    Dense blocks are written by broadcast (no ``[E]`` index is read); masked layers gather. Differentiable; the
    backward pass is :func:`neuron_sums`.
    """
    if t_dst is None and t_src is None:
        raise ValueError("edge_gather needs at least one neuron table")
    return _EdgeGather.apply(*(None if t is None else t.contiguous() for t in (t_dst, t_src)), graph)


def neuron_means(graph, x: Tensor, neighbourhood: str = DEFAULT_NEIGHBOURHOOD) -> tuple[Tensor, Tensor]:
    """Neuron-level means ``(M_f, M_b)``, each ``[N, D]``, of node features ``x: [E, D]``.

    The forward mean of weight ``e`` is ``M_f[dst[e]]``, the backward mean ``M_b[src[e]]``. Because the means are
    linear, any linear map (such as the rule's first layer) can be applied to these ``N`` rows before the gather.
    """
    check_neighbourhood(neighbourhood)
    s_in, s_out = neuron_sums(graph, x)                       # [N, D] sums over In(n) and Out(n)
    c_in = graph.in_degree.to(x.dtype).unsqueeze(1)          # [N, 1]
    c_out = graph.out_degree.to(x.dtype).unsqueeze(1)
    if neighbourhood == "incident":
        m = (s_in + s_out) / (c_in + c_out).clamp(min=1)
        return m, m
    mean_in, mean_out = s_in / c_in.clamp(min=1), s_out / c_out.clamp(min=1)
    if neighbourhood == "consecutive":
        return mean_out, mean_in
    return mean_in, mean_out                                  # siblings


def perceive_hub(graph, x: Tensor, neighbourhood: str = DEFAULT_NEIGHBOURHOOD, aggregation: str = "mean") -> Tensor:
    """Hub-engine perception of packed states ``x = [w, h]: [E, 1 + H]`` -> ``[E, 3(1 + H)]`` (``5(1 + H)`` with
    products; materialised: the rule's own step never builds it, see :class:`~graphnca.MetaNCAConv`)."""
    m_f, m_b = neuron_means(graph, neighbour_inputs(x, aggregation), neighbourhood)
    return torch.cat([x, edge_gather(graph, m_f), edge_gather(graph, None, m_b)], dim=1)


def perceive_explicit(x: Tensor, edge_index_f: Tensor, edge_index_b: Tensor, aggregation: str = "mean") -> Tensor:
    """Explicit-engine perception from line-graph edges (row 0 neighbour, row 1 node)."""
    n, xn = x.shape[0], neighbour_inputs(x, aggregation)
    m_f = scatter(xn[edge_index_f[0]], edge_index_f[1], dim=0, dim_size=n, reduce="mean")
    m_b = scatter(xn[edge_index_b[0]], edge_index_b[1], dim=0, dim_size=n, reduce="mean")
    return torch.cat([x, m_f, m_b], dim=1)


def perceive(graph, w: Tensor, h: Tensor, neighbourhood: str = DEFAULT_NEIGHBOURHOOD, engine: str = "hub",
             max_bytes: float = 2 ** 30, aggregation: str = "mean") -> Tensor:
    """Perception ``[E, 3(1 + H)]`` (``[E, 5(1 + H)]`` with products) of every weight (see the module docstring
    for the row layout).

    Args:
        graph: a :class:`~graphnca.WeightGraph` (a single network or a batch).
        w: ``[E]`` weights. h: ``[E, H]`` hidden states.
        neighbourhood: ``"consecutive"`` (the default), ``"incident"`` or ``"siblings"``.
        engine: ``"hub"`` (O(E)) or ``"explicit"`` (builds the line graph; refused over ``max_bytes``).
        aggregation: ``"mean"`` or ``"mean+product"`` (see the module docstring).
    """
    _check(graph, w, h)
    check_neighbourhood(neighbourhood)
    check_aggregation(aggregation)
    x = torch.cat([w.unsqueeze(1), h], dim=1)                # [E, 1 + H]
    if engine == "hub":
        return perceive_hub(graph, x, neighbourhood, aggregation)
    if engine == "explicit":
        ei_f, ei_b = graph.line_graph(neighbourhood, max_bytes=max_bytes)
        return perceive_explicit(x, ei_f, ei_b, aggregation)
    raise ValueError(f"unknown perception engine {engine!r}; choose 'hub' or 'explicit'")
