"""Baselines: hand-written learners that run on the same weight graphs, mini-batches and step counts as growth.

These are *not* MetaNCA. Each computes credit for every weight from a per-example backward pass through the task
network that the library carries out (autograd for backprop; feedback weights for sign symmetry and feedback
alignment), which a local rule never does. They are references a grown network is compared with.

* :func:`backward_credit`: the one per-example backward pass, through any feedback weights (it lives in
  :mod:`graphnca.conditioning`, which ``condition="feedback"`` uses, so that growing never imports this package).
* :func:`direction`: a learner's update direction on one mini-batch (``"backprop"``, ``"sign"``,
  ``"feedback"``).
* :func:`train_local`: ``steps`` SGD updates of ``n`` networks with one learner, one mini-batch per step.
"""
from ..conditioning import backward_credit
from .learners import LEARNERS, direction, feedback_direction, init_scale, loss_gradient, train_local

__all__ = ["LEARNERS", "backward_credit", "direction", "feedback_direction", "init_scale", "loss_gradient",
           "train_local"]
