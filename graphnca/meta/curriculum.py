"""Where each meta-step's task networks start and where their grown states go: fresh inits, the sample pool and
zero-out damage. Owns the pools; the rule is never read or trained here."""
from __future__ import annotations

import torch

from ..config import TrainConfig
from ..damage import zero_out
from ..graph import WeightGraph, batch
from ..grow import fresh_states
from ..state import InitConfig
from .pool import SamplePool


class Curriculum:
    """Draws the ``[sum E, 1 + H]`` start states of one meta-step and commits grown states back.

    Per architecture a meta-step's ``batch_per_arch`` networks are ``pool_fresh`` fresh states, then pooled ones;
    zero-out damage hits the last ``damage`` of them (the best pooled states: a rule learns to regrow what it had
    grown well). Pooled states (damaged or not) are written back, and every ``pool_replace_every`` steps one
    pooled state (the worst or the oldest, ``pool_replace``) gives way to the first fresh one's grown state.
    Without a pool every network starts fresh.
    """

    def __init__(self, train: TrainConfig, hidden_size: int, init: InitConfig, graphs: list[WeightGraph],
                 generator: torch.Generator, device):
        self.t, self.hidden_size, self.init = train, hidden_size, init
        self.graphs, self.gen, self.device = graphs, generator, device
        t = train
        self.n_pooled = t.batch_per_arch - t.pool_fresh
        self.pools = [SamplePool(self.fresh(g, t.pool_size)) for g in graphs] if t.pool_size else None
        self.damage_graphs = [batch([g] * t.damage) for g in graphs] if t.damage else None

    def fresh(self, graph: WeightGraph, n: int) -> torch.Tensor:
        return fresh_states(graph, n, self.hidden_size, self.init, self.gen).to(self.device)

    def draw(self) -> tuple[torch.Tensor, list]:
        """``[sum E, 1 + H]`` start states of this meta-step and the pool indices they came from."""
        t, xs, picks = self.t, [], []
        for a, g in enumerate(self.graphs):
            if self.pools is None:
                xs.append(self.fresh(g, t.batch_per_arch)), picks.append(None)
                continue
            # pooled states live on (and age) until they are replaced: the rule is trained on states that have
            # been updated many times, which is what keeps grown networks stable
            idx = self.pools[a].sample(self.n_pooled, self.gen)
            pooled = self.pools[a].states[idx].to(self.device)                   # [K, E, 1 + H]
            x = torch.cat([self.fresh(g, t.pool_fresh), pooled])                 # [B, E, 1 + H]
            if t.damage:                                     # sample() sorts the best pooled states last
                hurt = x[-t.damage:]
                flat = hurt.reshape(-1, hurt.shape[-1])
                flat[:, 0] = zero_out(self.damage_graphs[a], flat[:, 0], t.damage_p, self.gen)
                x[-t.damage:] = flat.view_as(hurt)
            xs.append(x), picks.append(idx)
        return torch.cat([x.reshape(-1, x.shape[-1]) for x in xs]), picks

    def commit(self, x: torch.Tensor, per_net: torch.Tensor, picks: list, step: int) -> None:
        """Write the pooled samples' grown states ``x`` (``[sum E, 1 + H]``) and losses ``per_net`` (``[B]``) back."""
        t = self.t
        blocks = torch.split(x, [t.batch_per_arch * g.num_weights for g in self.graphs])  # arch a: B nets
        losses = per_net.view(len(self.graphs), -1)
        for pool, xa, la, idx in zip(self.pools, blocks, losses, picks):
            xa = xa.view(t.batch_per_arch, -1, xa.shape[-1])
            keep = slice(t.pool_fresh, t.batch_per_arch)
            pool.commit(idx, xa[keep], la[keep])
            if t.pool_fresh and (step + 1) % t.pool_replace_every == 0:
                pool.replace(pool.victim(t.pool_replace), xa[:1], la[:1], step + 1)
