"""Hypothesis strategies shared by the tests: random MLP architectures, with and without masks."""
import torch
from hypothesis import strategies as st

import graphnca


@st.composite
def graphs(draw, max_layers=4, max_width=7, masked=None):
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1))
    bias = draw(st.booleans())
    use_masks = draw(st.booleans()) if masked is None else masked
    masks = None
    if use_masks:
        seed = draw(st.integers(0, 2**31 - 1))
        g = torch.Generator().manual_seed(seed)
        masks = [torch.rand(o, i, generator=g) < 0.6 for i, o in zip(sizes[:-1], sizes[1:])]
    return graphnca.WeightGraph.from_sizes(sizes, bias=bias, masks=masks)
