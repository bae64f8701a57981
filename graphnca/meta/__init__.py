"""Meta-training: the outer loop that trains a local rule by backprop through growth.

Nothing here is needed to grow, evaluate or load a rule (:mod:`graphnca.grow`, :mod:`graphnca.pretrained`):
the trainer (:class:`MetaTrainer`), where each meta-step's networks start (:mod:`.curriculum`, :mod:`.pool`),
named recipes (:mod:`.presets`), data-parallel runs (:mod:`.distributed`) and two optional research losses
(:mod:`.align`, :mod:`.probe`).
"""
from .presets import PRESETS, preset
from .trainer import MetaTrainer

__all__ = ["MetaTrainer", "PRESETS", "preset"]
