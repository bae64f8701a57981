"""Where each meta-step's task networks start and where their grown states go: fresh inits, the sample pool (with
its optional age curriculum) and zero-out damage. Owns the pools; the rule is only read, never trained here."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..damage import zero_out
from ..graph import WeightGraph, batch
from ..grow import fresh_states
from .pool import SamplePool
from ..rollout import rollout
from ..state import InitConfig, State

from ..config import TrainConfig

if TYPE_CHECKING:
    from ..nn.metanca_conv import MetaNCAConv


class Curriculum:
    """Draws the ``[sum E, 1 + H]`` start states of one meta-step and commits grown states back.

    Per architecture a meta-step's ``batch_per_arch`` networks are, in this order: ``pool_fresh`` fresh states,
    ``n_pooled`` pooled states (aged ``U{0..pool_age}`` updates when ``pool_age``) and ``n_grown`` fresh states grown
    ``damage_grow`` updates (the robustness protocol); zero-out hits the last ``damage`` of them. Only the pooled
    ones (damaged or not) are written back, and every ``pool_replace_every`` steps the worst pooled state gives way
    to the first fresh one's grown state.
    """

    def __init__(self, train: TrainConfig, hidden_size: int, init: InitConfig, conv: MetaNCAConv,
                 graphs: list[WeightGraph], stream, generator: torch.Generator, device):
        self.t, self.hidden_size, self.init = train, hidden_size, init
        self.conv, self.graphs, self.stream, self.gen, self.device = conv, graphs, stream, generator, device
        t = train                                                                  # short name, as in train.py
        self.n_grown = t.damage - t.damage_from_pool if t.damage_grow else 0
        self.n_pooled = t.batch_per_arch - t.pool_fresh - self.n_grown
        self.pools = [SamplePool(self.fresh(g, t.pool_size)) for g in graphs] if t.pool_size else None
        self.damage_graphs = [batch([g] * t.damage) for g in graphs] if t.damage else None
        self.grown_graphs = [batch([g] * self.n_grown) for g in graphs] if self.n_grown else None
        self.age_graphs = [batch([g] * self.n_pooled) for g in graphs] if t.pool_size and t.pool_age else None

    def fresh(self, graph: WeightGraph, n: int) -> torch.Tensor:
        return fresh_states(graph, n, self.hidden_size, self.init, self.gen).to(self.device)

    def draw(self) -> tuple[torch.Tensor, list]:
        """``[sum E, 1 + H]`` start states of this meta-step and the pool indices they came from."""
        t, xs, picks = self.t, [], []
        for a, g in enumerate(self.graphs):
            if self.pools is None:
                xs.append(self.fresh(g, t.batch_per_arch)), picks.append(None)
                continue
            # pooled states live on (and age) until they are the worst at a replacement step: the rule is
            # trained on states thousands of updates old, which is what keeps grown networks stable
            idx = self.pools[a].sample(self.n_pooled, self.gen)
            pooled = self.pools[a].states[idx].to(self.device)                   # [K, E, 1 + H]
            if t.pool_age:
                pooled = self.age(a, pooled)
            parts = [self.fresh(g, t.pool_fresh), pooled]
            if self.n_grown:                           # the robustness protocol: grow fresh, then damage
                parts.append(self.grown(a))
            x = torch.cat(parts)                                                 # [B, E, 1 + H]
            if t.damage:               # the last `damage`: the best pooled states (sample() sorts them last), then
                                       # the protocol-grown ones that follow them
                hurt = x[-t.damage:]
                flat = hurt.reshape(-1, hurt.shape[-1])
                flat[:, 0] = zero_out(self.damage_graphs[a], flat[:, 0], t.damage_p, self.gen)
                x[-t.damage:] = flat.view_as(hurt)
            xs.append(x), picks.append(idx)
        return torch.cat([x.reshape(-1, x.shape[-1]) for x in xs]), picks

    @torch.no_grad()
    def age(self, a: int, pooled: torch.Tensor) -> torch.Tensor:
        """Advance pooled states of architecture ``a`` by ``U{0..pool_age}`` updates, without gradient."""
        n = int(torch.randint(self.t.pool_age + 1, (), generator=self.gen))
        st = rollout(self.conv, self.age_graphs[a], State.unpack(pooled.reshape(-1, pooled.shape[-1])), n,
                     generator=self.gen, data=self.stream)
        return st.pack().view_as(pooled)

    @torch.no_grad()
    def grown(self, a: int) -> torch.Tensor:
        """``[n_grown, E, 1 + H]`` fresh states of architecture ``a`` grown ``damage_grow`` updates, no gradient."""
        x = self.fresh(self.graphs[a], self.n_grown)
        st = rollout(self.conv, self.grown_graphs[a], State.unpack(x.reshape(-1, x.shape[-1])), self.t.damage_grow,
                     generator=self.gen, data=self.stream)
        return st.pack().view_as(x)

    def commit(self, x: torch.Tensor, per_net: torch.Tensor, picks: list, step: int) -> None:
        """Write the pooled samples' grown states ``x`` (``[sum E, 1 + H]``) and losses ``per_net`` (``[B]``) back."""
        t = self.t
        blocks = torch.split(x, [t.batch_per_arch * g.num_weights for g in self.graphs])  # arch a: B nets
        losses = per_net.view(len(self.graphs), -1)
        for pool, xa, la, idx in zip(self.pools, blocks, losses, picks):
            xa = xa.view(t.batch_per_arch, -1, xa.shape[-1])
            keep = slice(t.pool_fresh, t.pool_fresh + self.n_pooled)
            pool.commit(idx, xa[keep], la[keep])
            if t.pool_fresh and (step + 1) % t.pool_replace_every == 0:
                worst = torch.argmax(pool.loss).view(1)
                pool.commit(worst, xa[:1], la[:1])
