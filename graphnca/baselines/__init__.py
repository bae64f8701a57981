"""Baselines: hand-written learners that run on the same weight graphs, mini-batches and step counts as growth.

These are *not* MetaNCA. Each computes credit for every weight from a per-example backward pass through the task
network that the library carries out (autograd for backprop; feedback weights for sign symmetry and feedback
alignment), which a local rule never does. They are references a grown network is compared with, and the
teachers of *distilled baselines*: rules regressed onto one of these learners (``benchmarks/credit_fit.py``),
shipped in ``benchmarks/results/rules/mnist_sign*_fit.pt`` and labelled as such wherever they are quoted.

* :func:`backward_credit`: the one per-example backward pass, through any feedback weights (used here and by
  ``condition="feedback"``, which therefore is not local either).
* :func:`direction`: a learner's update direction on one mini-batch (``"backprop"``, ``"sign"``,
  ``"feedback"``).
* :func:`train_local`: ``steps`` SGD updates of ``n`` networks with one learner, one mini-batch per step.
"""
from .learners import LEARNERS, backward_credit, direction, feedback_direction, init_scale, loss_gradient, train_local

__all__ = ["LEARNERS", "backward_credit", "direction", "feedback_direction", "init_scale", "loss_gradient",
           "train_local"]
