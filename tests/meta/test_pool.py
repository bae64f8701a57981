import pytest
import torch

from graphnca.meta.pool import SamplePool


def test_sample_is_distinct_and_worst_first():
    pool = SamplePool(torch.zeros(10, 4, 3))
    pool.loss = torch.arange(10.0)
    idx = pool.sample(5, torch.Generator().manual_seed(0))
    assert len(set(idx.tolist())) == 5
    assert pool.loss[idx].tolist() == sorted(pool.loss[idx].tolist(), reverse=True)


def test_commit_replaces_only_the_picked_samples():
    pool = SamplePool(torch.zeros(6, 4, 3))
    idx = torch.tensor([4, 1])
    pool.commit(idx, torch.ones(2, 4, 3), torch.tensor([0.5, 0.25]))
    assert pool.states[[1, 4]].eq(1).all() and pool.states[[0, 2, 3, 5]].eq(0).all()
    assert pool.loss[4].item() == 0.5 and pool.loss[1].item() == 0.25 and torch.isinf(pool.loss[0])


def test_pool_errors():
    with pytest.raises(ValueError, match=r"\[P, E, 1 \+ H\]"):
        SamplePool(torch.zeros(3, 4))
    pool = SamplePool(torch.zeros(3, 4, 2))
    with pytest.raises(ValueError, match="cannot sample"):
        pool.sample(4)
    assert pool.sample(0).numel() == 0
    with pytest.raises(ValueError, match="does not fit"):
        pool.commit(torch.tensor([0]), torch.zeros(1, 5, 2), torch.zeros(1))


def test_victim_is_the_worst_or_the_oldest():
    pool = SamplePool(torch.zeros(4, 2, 3))
    pool.loss = torch.tensor([0.1, 0.9, 0.5, 0.2])
    pool.born = torch.tensor([7, 3, 9, 1])
    assert pool.victim("worst").tolist() == [1]
    assert pool.victim("oldest").tolist() == [3]
    pool.replace(torch.tensor([3]), torch.ones(1, 2, 3), torch.tensor([2.0]), step=12)
    assert pool.born.tolist() == [7, 3, 9, 12] and pool.victim("oldest").tolist() == [1]
    assert pool.states[3].eq(1).all() and pool.loss[3].item() == 2.0
    with pytest.raises(ValueError, match="'worst' or 'oldest'"):
        pool.victim("newest")


def test_state_dict_round_trip_keeps_ages_and_reads_files_without_them():
    pool = SamplePool(torch.zeros(3, 2, 2))
    pool.replace(torch.tensor([1]), torch.ones(1, 2, 2), torch.tensor([0.5]), step=4)
    other = SamplePool(torch.zeros(3, 2, 2))
    other.load_state_dict(pool.state_dict())
    assert other.born.tolist() == [0, 4, 0] and other.states.equal(pool.states)
    old = {k: v for k, v in pool.state_dict().items() if k != "born"}     # a checkpoint from before ages
    other.load_state_dict(old)
    assert other.born.tolist() == [0, 0, 0]
