r"""Data conditioning: what a weight may see of the task data while it grows (``RuleConfig.condition="data"``).

At every growth step the task networks run forward, as they are at that step, on one mini-batch
:math:`(x_n, y_n)_{n=1}^{B}`. Write :math:`a_i^n` for the output of neuron :math:`i` on example :math:`n`: the
input value for an input neuron, :math:`\sigma(\text{pre-activation})` for a hidden neuron, the softmax probability
:math:`p_k^n` for an output neuron and 1 for a bias unit. At output neurons only there is an error
:math:`\varepsilon_k^n = p_k^n - [y_n = k]`; it is 0 everywhere else. A weight :math:`e = (i \to j)` then sees
the seven numbers

.. math::
    f_e = \big[\ \mu_i,\ \sigma_i,\ \mu_j,\ \sigma_j,\ \bar\varepsilon_j,\
          \tfrac1B \textstyle\sum_n a_i^n a_j^n,\ \tfrac1B \sum_n a_i^n \varepsilon_j^n \ \big]

(:math:`\mu, \sigma`: mean and standard deviation over the batch, :math:`\bar\varepsilon_j` the mean error) — the
activity of its own two neurons, their co-activity (Hebbian term) and, for a weight into an output neuron, the
co-activity of its source with that output's error. Nothing else: no weight sees another neuron's activity, and no
error is propagated backwards through the task network. A hidden weight learns about the error only through the
local rule — the weights next to the outputs turn what they see into hidden state, and the neighbourhood means of
the next updates carry it one layer further back per step.

The features are observations: computed under ``torch.no_grad()`` from the current weights, so growth never runs
autograd through a task network, and meta-training backpropagates through the rule's use of the features but not
through how the features would change with the weights. Cost per step: one forward pass of every network on the
batch (O(E * B)), neuron statistics (O(B * N)) and one ``[out, B] @ [B, in]`` product per layer for the Hebbian
terms, which are written straight into the ``[E, 7]`` feature rows: nothing of size ``E * B`` is stored.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .forward import layer_outputs

CONDITIONS = ("none", "data")
NUM_DATA_FEATURES = 7


def num_features(condition: str) -> int:
    """Extra per-weight inputs of the rule for a conditioning mode."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {CONDITIONS}")
    return NUM_DATA_FEATURES if condition == "data" else 0


@torch.no_grad()
def data_features(graph, w: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Per-weight data features ``[E, 7]`` (see the module docstring) of every network in ``graph``.

    Args:
        graph: a :class:`~graphnca.WeightGraph` (one network or a batch of any architectures).
        w: ``[E]`` current weights. x: ``[B, in]`` inputs. y: ``[B]`` integer labels.
    """
    if w.shape != (graph.num_weights,):
        raise ValueError(f"w must have shape [{graph.num_weights}], got {list(w.shape)}")
    if x.dim() != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"data must be x: [B, in] and y: [B] with B >= 1, got {list(x.shape)} and {list(y.shape)}")
    n_in = {a.sizes[0] for a in graph.archs}
    if n_in != {x.shape[1]}:
        raise ValueError(f"data has {x.shape[1]} features but the networks take {sorted(n_in)}")
    n_cls = {a.sizes[-1] for a in graph.archs}
    if int(y.max()) >= min(n_cls) or int(y.min()) < 0:
        raise ValueError(f"labels must lie in [0, {min(n_cls)}) for networks with {sorted(n_cls)} outputs")
    neuron = w.new_zeros(graph.num_neurons, 3)       # [N, 3]: mean, std, mean error of every neuron's output
    pair = w.new_zeros(graph.num_weights, 2)         # [E, 2]: Hebbian and error-Hebbian terms of every weight
    runs, _ = graph.dense_runs
    member = 0
    for w0, n0, k, e_a, n_a, _ in runs:              # runs: consecutive members of one architecture
        arch = graph.archs[member]
        member += k
        _run_features(arch, w[w0:w0 + k * e_a].view(k, e_a), x, y,
                      neuron[n0:n0 + k * n_a].view(k, n_a, 3), pair[w0:w0 + k * e_a].view(k, e_a, 2))
    return torch.cat([neuron[graph.src, :2], neuron[graph.dst], pair], dim=1)


def _run_features(arch, w: Tensor, x: Tensor, y: Tensor, neuron: Tensor, pair: Tensor) -> None:
    """Fill ``neuron [k, N_a, 3]`` and ``pair [k, E_a, 2]`` for ``k`` networks of one architecture."""
    sizes, B = arch.sizes, x.shape[0]
    outs = layer_outputs(arch, w, x)                                   # L x [k, B, size]
    probs = torch.softmax(outs[-1], dim=-1)
    err = probs - torch.nn.functional.one_hot(y, sizes[-1]).to(probs.dtype)  # [k, B, C]
    acts = [x.expand(w.shape[0], -1, -1), *outs[:-1], probs]           # every layer's neuron outputs
    base = 0
    for a in acts:
        neuron[:, base:base + a.shape[-1], 0] = a.mean(1)
        neuron[:, base:base + a.shape[-1], 1] = a.std(1, unbiased=False)
        base += a.shape[-1]
    neuron[:, base - sizes[-1]:base, 2] = err.mean(1)
    if arch.bias:
        neuron[:, base:, 0] = 1.0                                      # bias units: constant output 1
    off = 0
    for l, (n_w, n_b) in enumerate(arch.layer_counts()):
        src, dst = acts[l], acts[l + 1]
        hebb = torch.matmul(dst.transpose(1, 2), src) / B              # [k, out, in]
        eh = torch.matmul(err.transpose(1, 2), src) / B if l == arch.num_layers - 1 else None
        mask = arch.mask(l)
        keep = None if mask is None else mask.flatten().to(w.device)
        for col, t in ((0, hebb), (1, eh)):
            if t is not None:
                flat = t.flatten(1)
                pair[:, off:off + n_w, col] = flat if keep is None else flat[:, keep]
        off += n_w
        if n_b:
            pair[:, off:off + n_b, 0] = dst.mean(1)
            if l == arch.num_layers - 1:
                pair[:, off:off + n_b, 1] = err.mean(1)
            off += n_b


class DataStream:
    """Seeded random mini-batches ``(x [B, in], y [B])`` of a training set: the data a conditioned rule sees,
    one batch per growth step."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, generator: torch.Generator | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"x and y must hold the same (non-zero) number of examples, got {x.shape[0]} and "
                             f"{y.shape[0]}")
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.generator = generator

    def __call__(self) -> tuple[Tensor, Tensor]:
        if self.batch_size >= len(self.x):
            return self.x, self.y
        idx = torch.randint(len(self.x), (self.batch_size,), generator=self.generator).to(self.x.device)
        return self.x[idx], self.y[idx]
