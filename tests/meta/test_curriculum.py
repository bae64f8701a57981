"""The meta-training curriculum: fresh, pooled and damaged start states, and what goes back to the pool."""
import pytest
import torch

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


@pytest.mark.parametrize("rule", ["worst", "oldest"])
def test_replacement_step_takes_the_worst_or_the_oldest_slot(tmp_path, rule):
    tr = MetaTrainer(tiny(steps=1, pool_fresh=1, pool_replace_every=1, pool_replace=rule), tmp_path)
    for pool in tr.pools:           # slot 0 the worst and youngest, the last slot the best and oldest
        pool.loss = torch.linspace(9, 1, len(pool))
        pool.born = torch.arange(len(pool), 0, -1) + 10
    x0, _ = tr.curriculum.draw()
    picks = [torch.tensor([1, 2, 3])] * len(tr.pools)           # pooled slots that are neither candidate
    tr.curriculum.commit(x0, torch.full((tr.batch_graph.num_graphs,), 0.5), picks, step=0)
    target = 0 if rule == "worst" else len(tr.pools[0]) - 1
    for pool in tr.pools:           # the fresh network's grown state took the target slot, born at step 1
        assert (pool.born == 1).nonzero().flatten().tolist() == [target]
        assert pool.loss[target].item() == 0.5 and pool.loss[[1, 2, 3]].eq(0.5).all()


def test_damage_hits_the_best_pooled_states(tmp_path):
    cfg = tiny(damage=2, pool_fresh=1)
    tr = MetaTrainer(cfg, tmp_path)
    cur, n = tr.curriculum, tr.graphs[0].num_weights
    for pool in tr.pools:                            # recognisable pool states, worst first: slot k has loss -k
        pool.states[..., 0] = 5.0
        pool.loss = -torch.arange(len(pool), dtype=torch.float)
    x0, picks = cur.draw()
    nets = x0[:4 * n].view(4, n, -1)[:, :, 0]                                    # [B, E] weights of arch 0
    zeroed = (nets == 0).float().mean(1)
    assert zeroed[:2].max() < 0.3 and zeroed[2:].min() >= 0.3                     # damage hits the last two only
    assert set(nets[1].unique().tolist()) == {5.0} and set(nets[2].unique().tolist()) == {0.0, 5.0}
    assert [len(i) for i in picks] == [3, 3]
    losses = tr.pools[0].loss[picks[0]].tolist()
    assert losses == sorted(losses, reverse=True)                                 # the damaged ones are the best
    tr.meta_step()                    # the pooled samples, damaged ones too, are written back with their losses
    for pool in tr.pools:             # (no replacement step yet: the untouched slots keep loss -k <= 0)
        assert int((pool.loss > 0).sum()) == 3 and int((pool.states[..., 0] == 0).any(1).sum()) == 2


def test_damage_needs_a_pool(tmp_path):
    with pytest.raises(ValueError, match="damage=1 hits pooled states"):
        MetaTrainer(tiny(damage=1, pool_size=0), tmp_path)
