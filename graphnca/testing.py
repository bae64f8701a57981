"""Assertion helpers for users' and our own tests (in the spirit of ``e3nn.util.test``)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .convert import from_sequential, to_sequential
from .graph import WeightGraph
from .nn.metanca_conv import MetaNCAConv


def random_hidden_permutation(graph: WeightGraph, generator: torch.Generator | None = None) -> Tensor:
    """``[N]`` neuron relabelling that shuffles the hidden units within each hidden layer (inputs, outputs and
    bias units stay put)."""
    perm = torch.arange(graph.num_neurons)
    nl, ptr = graph.neuron_layer.cpu(), graph.ptr_n.cpu()
    for b, arch in enumerate(graph.archs):
        base = int(ptr[b])
        for l in range(1, arch.num_layers):
            idx = base + sum(arch.sizes[:l]) + torch.arange(arch.sizes[l])
            assert bool((nl[idx] == l).all())
            perm[idx] = idx[torch.randperm(len(idx), generator=generator)]
    return perm


def node_permutation(graph: WeightGraph, neuron_perm: Tensor) -> Tensor:
    """``[E]`` weight-node permutation ``sigma`` induced by relabelling neurons with ``neuron_perm``.

    Node ``e`` of the relabelled network is node ``sigma[e]`` of the original: ``(src, dst)[sigma[e]]`` maps to
    ``(src[e], dst[e])``. ``ValueError`` if the relabelling is not an automorphism of the graph (e.g. it breaks a
    mask).
    """
    n = graph.num_neurons
    src, dst, p = graph.src.cpu(), graph.dst.cpu(), neuron_perm.cpu()
    inv = torch.empty_like(p)
    inv[p] = torch.arange(n)
    key = src * n + dst                                      # [E] identity of each edge
    want = inv[src] * n + inv[dst]                           # edge that moves onto e
    order = torch.argsort(key)
    pos = torch.searchsorted(key[order], want).clamp(max=len(key) - 1)
    sigma = order[pos]
    if not bool((key[sigma] == want).all()):
        raise ValueError("the neuron permutation is not an automorphism of the graph")
    return sigma.to(graph.device)


def assert_permutation_equivariant(conv: MetaNCAConv, graph: WeightGraph, x: Tensor,
                                   generator: torch.Generator | None = None, atol: float = 1e-5,
                                   data: tuple[Tensor, Tensor] | None = None) -> None:
    """Permuting hidden neurons permutes weight nodes and the rule's updates the same way:
    ``conv(x[sigma])  ==  conv(x)[sigma]`` (fire mask off, hub path and explicit path alike). A data-conditioned
    rule also needs the mini-batch ``data = (inputs, labels)``."""
    sigma = node_permutation(graph, random_hidden_permutation(graph, generator))
    was_training = conv.training
    conv.eval()
    try:
        ones = torch.ones(x.shape[0], 1, device=x.device)
        ref = conv(x, graph=graph, fire_mask=ones, data=data)
        out = conv(x[sigma], graph=graph, fire_mask=ones, data=data)
        torch.testing.assert_close(out, ref[sigma], atol=atol, rtol=0)
        ei_f, ei_b = graph.line_graph(conv.neighbourhood)
        feats = conv.features(graph, x[sigma], data) if data is not None else None
        torch.testing.assert_close(conv(x[sigma], ei_f, ei_b, fire_mask=ones, features=feats), ref[sigma],
                                   atol=atol, rtol=0)
    finally:
        conv.train(was_training)


def assert_round_trip(model: nn.Sequential, x: Tensor) -> None:
    """``to_sequential(from_sequential(model))`` has the same parameters and gives bit-identical outputs."""
    graph, w = from_sequential(model)
    back = to_sequential(graph, w)
    graph2, w2 = from_sequential(back)
    assert graph2.archs[0].key() == graph.archs[0].key(), "architecture changed in the round trip"
    assert torch.equal(w, w2), "weights changed in the round trip"
    with torch.no_grad():
        assert torch.equal(model(x), back(x)), "outputs differ after the round trip"


def write_fake_idx(root, n_train: int = 64, n_test: int = 32, gzipped: bool = True, seed: int = 0) -> None:
    """Write a tiny MNIST-shaped data set (four IDX files) under ``root``, for offline tests of the image path.

    Labels are learnable: class ``k`` lights up a 4-pixel-high band at row ``2k`` (noise elsewhere).
    """
    import gzip
    from pathlib import Path

    import numpy as np
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def idx_bytes(arr: "np.ndarray") -> bytes:
        header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
        return header + arr.astype(np.uint8).tobytes()

    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 * k + 2: 2 * k + 6] = 255
        for stem, arr in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            data = idx_bytes(arr)
            if gzipped:
                (root / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (root / stem).write_bytes(data)
