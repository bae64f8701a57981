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

``condition="feedback"`` adds per-example credit, carried back through the rule's own state. Each weight
:math:`e = (i \to k)` holds a message weight :math:`b_e`, the last channel of its hidden state (random at a
``hidden_init="random"`` start; the rule may rewrite it). Every hidden neuron receives, per example, the
fan-out-normalised sum of the messages of its outgoing weights, times its own slope:

.. math::
    \delta_k^n = \varepsilon_k^n \ \text{at outputs}, \qquad
    \delta_i^n = \frac{s_i^n}{\sqrt{|N_f(i)|}} \textstyle\sum_{k \in N_f(i)} b_{ik}\, \delta_k^n,

and a weight :math:`e = (i \to j)` sees two more numbers, :math:`\big[\ \bar\delta_j,\
\tfrac1B \textstyle\sum_n a_i^n \delta_j^n\ \big]` (at output weights they repeat the error terms). No
weight reads another's forward value: with :math:`b_e = w_e` this is backprop, with fixed random :math:`b_e`
feedback alignment. It costs one more ``[B, out] @ [out, in]`` product per layer,
O(E * B) like the forward pass. This is a per-example backward pass the library computes (:func:`backward_credit`,
which :mod:`graphnca.baselines` learners use too), so a ``"feedback"`` rule is not local and is reported with the
baselines.

The features are observations: computed under ``torch.no_grad()`` from the current weights, so growth never runs
autograd through a task network, and meta-training backpropagates through the rule's use of the features but not
through how the features would change with the weights. Cost per step: one forward pass of every network on the
batch (O(E * B)), neuron statistics (O(B * N)) and one ``[out, B] @ [B, in]`` product per layer for the Hebbian
terms (two at the output layer, plus the credit term for ``"feedback"``), which are written straight into the
``[E, F]`` feature rows: nothing of size ``E * B`` is stored.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .forward import layer_outputs, layer_params

CONDITIONS = ("none", "data", "feedback")
_NUM_FEATURES = {"none": 0, "data": 7, "feedback": 9}
_COLUMNS = {"data": (3, 2), "feedback": (4, 3)}   # (neuron, pair) statistics each mode fills


def num_features(condition: str) -> int:
    """Extra per-weight inputs of the rule for a conditioning mode."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {CONDITIONS}")
    return _NUM_FEATURES[condition]


def backward_credit(arch, fb: Tensor, err: Tensor, slopes: list[Tensor], normalise: bool = False) -> list[Tensor]:
    r"""Per layer ``l``, the per-example credit ``[k, B, sizes[l + 1]]`` of its target neurons: the output error
    ``err [k, B, C]`` passed back through feedback weights ``fb [k, E_a]`` (laid out as the forward weights),
    :math:`\delta_l = (\delta_{l+1} B_{l+1}) \odot f'(z_l)`. With ``fb = w`` this is backprop's credit.
    ``normalise`` divides each neuron's sum by the square root of its fan-out (width-independent scale).
    The one per-example backward pass of the library: ``condition="feedback"`` and :mod:`graphnca.baselines`."""
    back = layer_params(arch, fb)                                      # per layer (B [k, out, in], bias part)
    credit = [err]
    for l in range(arch.num_layers - 1, 0, -1):
        step = credit[0] @ back[l][0]                                  # [k, B, sizes[l]]
        if normalise:
            mask = arch.mask(l)
            fan = torch.full((arch.sizes[l],), float(arch.sizes[l + 1])) if mask is None else mask.sum(0).float()
            step = step * fan.clamp_min(1.0).rsqrt().to(err.device)
        credit.insert(0, step * slopes[l - 1])
    return credit


@torch.no_grad()
def data_features(graph, w: Tensor, x: Tensor, y: Tensor, condition: str = "data",
                  feedback: Tensor | None = None) -> Tensor:
    """Per-weight data features ``[E, F]`` (see the module docstring) of every network in ``graph``: ``F = 7``
    for ``condition="data"``, 9 for ``"feedback"`` (the seven, then the target's mean credit and the
    credit-Hebbian term).

    Args:
        graph: a :class:`~graphnca.WeightGraph` (one network or a batch of any architectures).
        w: ``[E]`` current weights. x: ``[B, in]`` inputs. y: ``[B]`` integer labels.
        feedback: ``[E]`` message weights :math:`b_e` (``condition="feedback"`` only).
    """
    if num_features(condition) == 0:
        raise ValueError("condition 'none' has no data features")
    if w.shape != (graph.num_weights,):
        raise ValueError(f"w must have shape [{graph.num_weights}], got {list(w.shape)}")
    if (condition == "feedback") != (feedback is not None):
        raise ValueError("condition 'feedback' needs feedback= (one message weight per weight); other conditions "
                         "take none")
    if feedback is not None and feedback.shape != w.shape:
        raise ValueError(f"feedback must have shape [{graph.num_weights}], got {list(feedback.shape)}")
    if x.dim() != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"data must be x: [B, in] and y: [B] with B >= 1, got {list(x.shape)} and {list(y.shape)}")
    n_in = {a.sizes[0] for a in graph.archs}
    if n_in != {x.shape[1]}:
        raise ValueError(f"data has {x.shape[1]} features but the networks take {sorted(n_in)}")
    n_cls = {a.sizes[-1] for a in graph.archs}
    if int(y.max()) >= min(n_cls) or int(y.min()) < 0:
        raise ValueError(f"labels must lie in [0, {min(n_cls)}) for networks with {sorted(n_cls)} outputs")
    n_neuron, n_pair = _COLUMNS[condition]
    neuron = w.new_zeros(graph.num_neurons, n_neuron)  # [N, 3+]: mean, std, mean error, then the mode's own
    pair = w.new_zeros(graph.num_weights, n_pair)      # [E, 2+]: Hebbian, error-Hebbian, then the mode's own
    runs, _ = graph.dense_runs
    member = 0
    for w0, n0, k, e_a, n_a, _ in runs:                # runs: consecutive members of one architecture
        arch = graph.archs[member]
        member += k
        fb = None if feedback is None else feedback[w0:w0 + k * e_a].view(k, e_a)
        _run_features(arch, w[w0:w0 + k * e_a].view(k, e_a), x, y,
                      neuron[n0:n0 + k * n_a].view(k, n_a, n_neuron), pair[w0:w0 + k * e_a].view(k, e_a, n_pair), fb)
    cols = [neuron[graph.src, :2], neuron[graph.dst, :3], pair[:, :2]]
    if condition == "feedback":
        cols += [neuron[graph.dst, 3:], pair[:, 2:]]
    return torch.cat(cols, dim=1)


def _run_features(arch, w: Tensor, x: Tensor, y: Tensor, neuron: Tensor, pair: Tensor, fb: Tensor | None) -> None:
    """Fill ``neuron [k, N_a, 3+]`` and ``pair [k, E_a, 2+]`` for ``k`` networks of one architecture."""
    sizes, B, k = arch.sizes, x.shape[0], w.shape[0]
    outs, slopes = layer_outputs(arch, w, x, slopes=True) if fb is not None else (layer_outputs(arch, w, x), None)
    probs = torch.softmax(outs[-1], dim=-1)
    err = probs - torch.nn.functional.one_hot(y, sizes[-1]).to(probs.dtype)  # [k, B, C]
    acts = [x.expand(k, -1, -1), *outs[:-1], probs]                    # every layer's neuron outputs
    base = 0
    for a in acts:
        neuron[:, base:base + a.shape[-1], 0] = a.mean(1)
        neuron[:, base:base + a.shape[-1], 1] = a.std(1, unbiased=False)
        base += a.shape[-1]
    neuron[:, base - sizes[-1]:base, 2] = err.mean(1)
    if arch.bias:
        neuron[:, base:, 0] = 1.0                                      # bias units: constant output 1
    # the per-example backward pass the library computes for "feedback" (graphnca.baselines): not local
    credit = None if fb is None else backward_credit(arch, fb, err, slopes, normalise=True)
    if credit is not None:
        for l, c in enumerate(credit):                                  # targets of layer l: after its sources
            start = sum(sizes[:l + 1])
            neuron[:, start:start + sizes[l + 1], 3] = c.mean(1)
    off = 0
    for l, (n_w, n_b) in enumerate(arch.layer_counts()):
        src, dst = acts[l], acts[l + 1]
        last = l == arch.num_layers - 1
        terms = [(0, src, dst), (1, src, err if last else None)]        # (column, source signal, target signal)
        if credit is not None:
            terms.append((2, src, credit[l]))
        mask = arch.mask(l)
        keep = None if mask is None else mask.flatten().to(w.device)
        for col, a, b in terms:
            if b is not None:
                flat = (torch.matmul(b.transpose(1, 2), a) / B).flatten(1)  # [k, out * in]
                pair[:, off:off + n_w, col] = flat if keep is None else flat[:, keep]
        off += n_w
        if n_b:                                                        # the bias unit: a = 1, s = 0
            pair[:, off:off + n_b, 0] = dst.mean(1)
            if last:
                pair[:, off:off + n_b, 1] = err.mean(1)
            if credit is not None:
                pair[:, off:off + n_b, 2] = credit[l].mean(1)
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
        if not torch.isfinite(x).all():       # one NaN in a batch would turn every grown weight NaN
            bad = (~torch.isfinite(x)).any(1).nonzero().flatten()
            raise ValueError(f"x holds NaN/Inf values in {len(bad)} examples (first: {bad[0].item()})")
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.generator = generator

    def __call__(self) -> tuple[Tensor, Tensor]:
        if self.batch_size >= len(self.x):
            return self.x, self.y
        idx = torch.randint(len(self.x), (self.batch_size,), generator=self.generator).to(self.x.device)
        return self.x[idx], self.y[idx]
