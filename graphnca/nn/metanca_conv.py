"""MetaNCAConv: one local update of every weight of a task network, as a PyG message-passing layer."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from ..conditioning import data_features, num_features
from ..graph import WeightGraph
from ..line_graph import check_neighbourhood
from ..perception import edge_gather, neighbour_inputs, neuron_means
from ..rule import LocalRule, RuleConfig

_D = RuleConfig()     # one set of defaults: a bare layer behaves as a default-configured rule


class MetaNCAConv(MessagePassing):
    r"""One Meta-NCA update of the weight states :math:`x_e = [w_e, h_e]`:

    .. math::
        x_e' = x_e + m_e \odot R\Big(\big[\, x_e,\ \tfrac{1}{|N_f(e)|}\textstyle\sum_{k \in N_f(e)} x_k,\
        \tfrac{1}{|N_b(e)|}\sum_{k \in N_b(e)} x_k \,\big]\Big),
        \qquad m_e \sim \mathrm{Bernoulli}(\rho)

    where :math:`R` is the shared :class:`~graphnca.LocalRule`, :math:`N_f, N_b` the forward / backward
    neighbourhoods and :math:`\rho` the fire rate (training only; in eval every weight updates, :math:`m_e = 1`).
    With ``condition="data"`` the rule's input also holds the weight's data features
    :math:`f_e` (:mod:`graphnca.conditioning`: its two neurons' activity on a mini-batch, their co-activity and,
    at output neurons, the error; ``"feedback"`` adds per-example credit passed back through message weights held
    in the last hidden channel, a backward pass the library computes), computed without autograd from
    ``data=(x, y)`` or passed precomputed as ``features``.

    Called with line-graph ``edge_index_f, edge_index_b`` it is a plain PyG layer (mean aggregation over the given
    edges). Called with ``graph=WeightGraph`` it takes the O(E) hub path: neuron-level sums (dense blocks reduced
    in place) gathered back to weights. The rule's first layer is applied to the ``N`` neuron means before they
    reach the weights (the means are linear, so this is exact) and dense layers receive them by broadcast, so the
    ``[E, 3(1+H)]`` perception is never built, with or without autograd.

    Args:
        hidden_size, widths, step_size, fire_rate, neighbourhood, aggregation, condition, deadzone: see
            :class:`~graphnca.RuleConfig`, whose defaults they share.
        rule: an existing :class:`~graphnca.LocalRule` to share (its sizes win over ``hidden_size``/``widths``).

    Shapes:
        - **input:** states :math:`(E, 1+H)`, line-graph edges :math:`(2, M_f)`, :math:`(2, M_b)` or a
          :class:`~graphnca.WeightGraph` with :math:`E` weights, optional fire mask :math:`(E, 1)`; conditioned:
          ``data`` :math:`((B, d_{in}), (B,))` (needs ``graph``) or ``features`` :math:`(E, F)`
        - **output:** updated states :math:`(E, 1+H)`
    """

    def __init__(self, hidden_size: int = _D.hidden_size, widths=_D.widths, step_size: float = _D.step_size,
                 fire_rate: float = _D.fire_rate, neighbourhood: str = _D.neighbourhood,
                 condition: str = _D.condition, rule: LocalRule | None = None, deadzone: float = _D.deadzone,
                 aggregation: str = _D.aggregation):
        super().__init__(aggr="mean", node_dim=0)
        check_neighbourhood(neighbourhood)
        if not 0.0 < fire_rate <= 1.0:
            raise ValueError(f"fire_rate must be in (0, 1], got {fire_rate}")
        n_feat = num_features(condition)
        self.rule = rule if rule is not None else LocalRule(hidden_size, widths, step_size, n_feat, deadzone,
                                                            aggregation)
        if self.rule.extra_inputs != n_feat:
            raise ValueError(f"condition {condition!r} needs a rule with {n_feat} extra inputs, the given rule has "
                             f"{self.rule.extra_inputs}")
        if condition == "feedback" and self.rule.hidden_size < 1:
            raise ValueError("condition 'feedback' keeps its message weights in the last hidden channel: it needs "
                             "hidden_size >= 1")
        self.fire_rate, self.neighbourhood, self.condition = float(fire_rate), neighbourhood, condition

    @classmethod
    def from_config(cls, cfg: RuleConfig) -> "MetaNCAConv":
        return cls(fire_rate=cfg.fire_rate, neighbourhood=cfg.neighbourhood, condition=cfg.condition,
                   rule=LocalRule.from_config(cfg))

    @property
    def hidden_size(self) -> int:
        return self.rule.hidden_size

    def sample_fire_mask(self, num_weights: int, device=None, generator: torch.Generator | list | None = None
                         ) -> Tensor:
        """``[E, 1]`` float mask of the weights that update this step (all ones in eval or at rate 1).
        ``generator`` may be a list, one per network of equal size: each draws its own network's mask."""
        if not self.training or self.fire_rate >= 1.0:
            return torch.ones(num_weights, 1, device=device)
        if isinstance(generator, (list, tuple)):
            if num_weights % len(generator):
                raise ValueError(f"{len(generator)} generators cannot split {num_weights} weights into equal networks")
            per = num_weights // len(generator)
            draws = [torch.rand(per, 1, generator=g) for g in generator]
            return (torch.cat(draws) < self.fire_rate).float().to(device)
        # draw where the generator lives (a CPU generator keeps runs reproducible across devices), then move
        where = generator.device if generator is not None else device
        return (torch.rand(num_weights, 1, device=where, generator=generator) < self.fire_rate).float().to(device)

    def features(self, graph: WeightGraph, x: Tensor, data: tuple[Tensor, Tensor]) -> Tensor:
        """``[E, F]`` data features of states ``x`` on ``data = (inputs, labels)`` (no autograd)."""
        fb = x[:, -1].detach() if self.condition == "feedback" else None     # messages: the last hidden channel
        return data_features(graph, x[:, 0].detach(), *data, condition=self.condition, feedback=fb)

    def _check_features(self, x: Tensor, graph, data, features) -> Tensor | None:
        f = self.rule.extra_inputs
        if not f:
            if data is not None or features is not None:
                raise ValueError("this rule is not data-conditioned (condition='none'); it takes no data/features")
            return None
        if features is None:
            if data is None or graph is None:
                raise ValueError("a data-conditioned rule needs data=(x, y) with graph=WeightGraph, or features")
            features = self.features(graph, x, data)
        if features.shape != (x.shape[0], f):
            raise ValueError(f"features must be [E, F] = [{x.shape[0]}, {f}], got {list(features.shape)}")
        return features

    def forward(self, x: Tensor, edge_index_f: Tensor | None = None, edge_index_b: Tensor | None = None, *,
                graph: WeightGraph | None = None, fire_mask: Tensor | None = None,
                data: tuple[Tensor, Tensor] | None = None, features: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.rule.state_dim:
            raise ValueError(f"state must be [E, 1 + H] with H = {self.hidden_size} (the rule's hidden size), "
                             f"got {list(x.shape)}")
        if graph is not None and x.shape[0] != graph.num_weights:
            raise ValueError(f"state has {x.shape[0]} rows but the graph has {graph.num_weights} weights")
        feats = self._check_features(x, graph, data, features)                 # [E, F] or None
        if graph is not None:
            delta = self._hub_update(graph, x, feats)
        elif edge_index_f is not None and edge_index_b is not None:
            xn = neighbour_inputs(x, self.rule.aggregation)  # [E, k(1 + H)]
            m_f = self.propagate(edge_index_f, x=xn)  # [E, k(1 + H)] mean over N_f(e)
            m_b = self.propagate(edge_index_b, x=xn)
            delta = self.rule(torch.cat([x, m_f, m_b] + ([feats] if feats is not None else []), dim=1))
        else:
            raise ValueError("MetaNCAConv needs either (edge_index_f, edge_index_b) or graph=WeightGraph")
        if fire_mask is None:
            fire_mask = self.sample_fire_mask(x.shape[0], x.device)
        return x + fire_mask * delta

    def _hub_update(self, graph: WeightGraph, x: Tensor, feats: Tensor | None) -> Tensor:
        """The rule's first layer acts on the N neuron means before they reach the E weights (the means are
        linear, so this is exact), then dense blocks receive them by broadcast: the [E, 3(1+H)] perception is
        never built, with or without autograd (neuron sums and edge gathers are each other's adjoints)."""
        rule = self.rule
        d, k = rule.state_dim, rule.neighbour_dim
        a, b, c, f = rule.first.weight.split([d, k, k, rule.extra_inputs], dim=1)  # [W, D], [W, kD] x2, [W, F]
        m_f, m_b = neuron_means(graph, neighbour_inputs(x, rule.aggregation), self.neighbourhood)   # [N, kD]
        if m_f is m_b:                                          # incident: one neuron table serves both
            zf, zb = (m_f @ torch.cat([b, c]).T).split(a.shape[0], dim=1)  # [N, W] each
        else:
            zf, zb = m_f @ b.T, m_b @ c.T
        # the bias rides on the [N, W] table, not on E rows; the GEMMs then accumulate into the gathered rows
        # (beta = 1), so the [E, W] tensor is written once and read back once per GEMM
        z = edge_gather(graph, zf + rule.first.bias, zb)        # [E, W]
        z = z.addmm_(x, a.T)
        if feats is not None:
            z = z.addmm_(feats, f.T)
        return rule.head(z)

    def __repr__(self) -> str:
        r = self.rule
        return (f"{self.__class__.__name__}(hidden_size={r.hidden_size}, widths={r.widths}, "
                f"fire_rate={self.fire_rate}, neighbourhood={self.neighbourhood!r}, aggregation={r.aggregation!r}, "
                f"condition={self.condition!r}, deadzone={r.deadzone})")
