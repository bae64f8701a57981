"""Checkpoints: plain tensors and containers only, written atomically, loaded with ``weights_only=True``."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from .runinfo import write_torch

FORMAT = "graphnca-checkpoint"
VERSION = 1


def save_checkpoint(path, payload: dict) -> None:
    write_torch(path, {"format": FORMAT, "version": VERSION, **payload})


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a graphnca checkpoint; one ``ValueError`` for a missing, corrupt or foreign file. Never runs code."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError, AttributeError,
            ValueError) as e:
        raise ValueError(f"checkpoint {path} is corrupt or not a plain-tensor file "
                         f"(loading with weights_only=True failed: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a graphnca checkpoint (foreign file)")
    if obj.get("version") != VERSION:
        raise ValueError(f"checkpoint {path} has format version {obj.get('version')}, this graphnca reads {VERSION}")
    return obj


def export_rule(src, dst) -> dict:
    """Write the rule alone (weights, configuration, history; no optimiser, pools) from checkpoint ``src`` to
    ``dst``: a small file that grows, evaluates and warm-starts (``--init-from``) but does not resume training."""
    ck = load_checkpoint(src)
    if "rule" not in ck or "config" not in ck:
        raise ValueError(f"checkpoint {src} holds no rule and configuration to export")
    out = {"config": ck["config"], "rule": ck["rule"], "step": ck.get("step"), "history": ck.get("history", []),
           "rule_only": True}    # the history (per-step loss, evals) is small and is the run's only log
    save_checkpoint(dst, out)
    return out
