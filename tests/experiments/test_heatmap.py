import pytest
import torch

from graphnca.data import load_iris
from graphnca.experiments.heatmap import train_adam


@pytest.mark.parametrize("max_batches", [1, 5, 9])
def test_train_adam_takes_exactly_max_batches_across_epochs(monkeypatch, max_batches):
    # iris has 120 training rows: with batch 32 one epoch is 4 batches, so 5 and 9 batches need 2 and 3 epochs
    steps = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (steps.append(1), step(self, *a, **k))[1])
    data = load_iris(seed=0)
    assert len(data.x_train) == 120
    acc = train_adam([4, 8, 3], data, None, seed=0, batch=32, max_batches=max_batches)
    assert len(steps) == max_batches
    assert 0.0 <= acc <= 1.0


def test_train_adam_needs_a_length():
    with pytest.raises(ValueError, match="epochs or max_batches"):
        train_adam([4, 8, 3], load_iris(seed=0), None, seed=0)
