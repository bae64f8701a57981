"""The meta-training curriculum: fresh, pooled, aged and damaged start states, and what goes back to the pool."""
import pytest
import torch

from graphnca.graph import batch
from graphnca.grow import fresh_states
from graphnca.rollout import rollout
from graphnca.state import State
from graphnca.meta.trainer import MetaTrainer

from .test_train import tiny


def test_pool_commit_after_a_step(tmp_path):
    cfg = tiny(steps=1, pool_fresh=1, pool_replace_every=2)
    cfg.rule.deadzone = 0.0     # a barely trained rule's updates would all fall in the dead zone: nothing moves
    tr = MetaTrainer(cfg, tmp_path)
    assert torch.isinf(tr.pools[0].loss).all()
    tr.meta_step()            # 3 pooled samples per architecture grown and written back, no replacement yet
    assert [int(torch.isfinite(p.loss).sum()) for p in tr.pools] == [3, 3]
    before = tr.pools[0].states.clone()
    tr.meta_step()            # step 2 is a replacement step: one more slot gets a freshly grown state
    assert [int(torch.isfinite(p.loss).sum()) for p in tr.pools] in ([4, 4], [5, 5], [6, 6], [7, 7])
    changed = (tr.pools[0].states != before).flatten(1).any(1)
    assert int(changed.sum()) == 4     # 3 pooled samples + the replaced worst one


def test_pool_age_runs_pooled_states_on_without_gradient(tmp_path):
    tr = MetaTrainer(tiny(pool_age=4), tmp_path)
    for p in tr.conv.parameters():                   # an untrained rule never moves a state: nothing to see
        torch.nn.init.normal_(p, std=0.3)
    pooled = tr.pools[0].states[:2].clone()          # [K, E, 1 + H]: K = batch_per_arch - pool_fresh = 2
    graph = batch([tr.graphs[0]] * 2)
    with torch.no_grad():
        after = [rollout(tr.conv, graph, State.unpack(pooled.reshape(-1, pooled.shape[-1])), n).pack()
                 for n in range(5)]
    seen = set()
    for _ in range(12):
        aged = tr.curriculum.age(0, pooled)
        assert not aged.requires_grad and torch.equal(tr.pools[0].states[:2], pooled)   # the pool is untouched
        match = [n for n, a in enumerate(after) if torch.allclose(aged.reshape(a.shape), a, atol=1e-6)]
        assert len(match) == 1
        seen |= set(match)
    assert len(seen) >= 3                            # U{0..4} updates: several ages drawn
    with pytest.raises(ValueError, match="pool_age >= 0"):
        MetaTrainer(tiny(pool_age=-1), tmp_path)


def test_damage_grow_damages_freshly_grown_networks(tmp_path):
    cfg = tiny(damage=1, damage_grow=3, pool_fresh=1)
    cfg.rule.deadzone = 0.0
    tr = MetaTrainer(cfg, tmp_path)
    cur = tr.curriculum
    for p in tr.conv.parameters():                   # an untrained rule never moves a state: nothing to see
        torch.nn.init.normal_(p, std=0.3)
    assert (cur.n_pooled, cur.n_grown) == (2, 1)     # 4 per architecture: 1 fresh, 2 pooled, 1 grown + damaged
    # grown() is fresh_states + a 3-update rollout drawn from the run's generator, without gradient
    gen = torch.Generator().set_state(tr.gen.get_state())
    x = fresh_states(tr.graphs[0], 1, cfg.rule.hidden_size, cfg.init, gen)
    with torch.no_grad():
        want = rollout(tr.conv, cur.grown_graphs[0], State.unpack(x.reshape(-1, x.shape[-1])), 3, generator=gen)
    got = cur.grown(0)
    assert not got.requires_grad and not torch.equal(got, x)
    assert torch.equal(got.reshape(-1, got.shape[-1]), want.pack())
    # the damaged samples (last of each architecture) are those grown states with zero-out applied
    cur.grown = lambda a: torch.full((1, tr.graphs[a].num_weights, 1 + cfg.rule.hidden_size), 7.0)
    x0, picks = cur.draw()
    last = x0[:4 * tr.graphs[0].num_weights].view(4, tr.graphs[0].num_weights, -1)[-1]
    assert (last[:, 1:] == 7).all() and set(last[:, 0].unique().tolist()) == {0.0, 7.0}
    assert [len(i) for i in picks] == [2, 2]
    del cur.grown
    tr.meta_step()                                   # only the 2 pooled samples per architecture are written back
    assert [int(torch.isfinite(p.loss).sum()) for p in tr.pools] == [2, 2]
    with pytest.raises(ValueError, match="damage_grow=3 needs damage > 0"):
        MetaTrainer(tiny(damage_grow=3), tmp_path)


def test_damage_from_pool_mixes_pooled_and_grown_damage(tmp_path):
    cfg = tiny(damage=2, damage_grow=3, damage_from_pool=1, pool_fresh=1)
    tr = MetaTrainer(cfg, tmp_path)
    cur, n = tr.curriculum, tr.graphs[0].num_weights
    assert (cur.n_pooled, cur.n_grown) == (2, 1)     # 1 fresh, 2 pooled (the best one damaged), 1 grown + damaged
    for a, pool in enumerate(tr.pools):              # recognisable pool states, worst first: slot k has loss -k
        pool.states[..., 0] = 5.0
        pool.loss = -torch.arange(len(pool), dtype=torch.float)
    cur.grown = lambda a: torch.full((1, tr.graphs[a].num_weights, 1 + cfg.rule.hidden_size), 7.0)
    x0, picks = cur.draw()
    nets = x0[:4 * n].view(4, n, -1)[:, :, 0]                                    # [B, E] weights of arch 0
    zeroed = (nets == 0).float().mean(1)
    assert zeroed[:2].max() < 0.3 and zeroed[2:].min() >= 0.3                     # damage hits the last two only
    assert set(nets[1].unique().tolist()) == {5.0} and set(nets[2].unique().tolist()) == {0.0, 5.0}
    assert set(nets[3].unique().tolist()) == {0.0, 7.0}
    assert [len(i) for i in picks] == [2, 2] and tr.pools[0].loss[picks[0]].tolist() == sorted(
        tr.pools[0].loss[picks[0]].tolist(), reverse=True)                       # the damaged pooled one is the best
    del cur.grown
    tr.meta_step()                    # both pooled samples, the damaged one too, are written back with their losses
    for pool in tr.pools:             # (a 6-step run: no replacement step; the untouched slots keep loss -k <= 0)
        assert int((pool.loss > 0).sum()) == 2 and int((pool.states[..., 0] == 0).any(1).sum()) == 1
    for bad in (dict(damage=2, damage_from_pool=1), dict(damage=2, damage_grow=3, damage_from_pool=2),
                dict(damage=1, damage_grow=3, damage_from_pool=-1)):
        with pytest.raises(ValueError, match="damage_from_pool=-?[12] needs damage_grow > 0"):
            MetaTrainer(tiny(pool_fresh=1, **bad), tmp_path)
