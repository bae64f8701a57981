import pytest
import torch

import graphnca
from graphnca.damage import zero_out


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_zero_out_hits_one_whole_layer_and_the_requested_fraction(p):
    g = graphnca.batch([graphnca.WeightGraph.from_sizes([6, 5, 4, 3]), graphnca.WeightGraph.from_sizes([6, 7, 3])])
    w = torch.randn(g.num_weights).abs() + 0.1          # no accidental zeros
    out, mask = zero_out(g, w, p, torch.Generator().manual_seed(1), return_mask=True)
    assert torch.equal(out == 0, mask)
    for b, (wb, lb) in enumerate(zip(g.split(mask), g.split(g.layer))):
        whole = [l for l in lb.unique().tolist() if wb[lb == l].all()]
        assert len(whole) >= 1
        # exactly one layer was chosen to be wiped: the others hold round(p * n) zeros in total
        counts = []
        for l in whole:
            rest = lb != l
            counts.append(int(wb[rest].sum()) == round(p * int(rest.sum())))
        assert any(counts), f"network {b}: no layer choice explains the damage"
    assert torch.equal(out[~mask], w[~mask])


def test_zero_out_errors():
    g = graphnca.WeightGraph.from_sizes([3, 2])
    with pytest.raises(ValueError, match="fraction"):
        zero_out(g, torch.ones(8), 1.5)
    with pytest.raises(ValueError, match="shape"):
        zero_out(g, torch.ones(7))
