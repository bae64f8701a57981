"""Checkpoints: plain tensors and containers only, written atomically, loaded with ``weights_only=True``."""
from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from .runinfo import write_torch

FORMAT = "graphnca-checkpoint"
VERSION = 1


def save_checkpoint(path, payload: dict) -> None:
    write_torch(path, {"format": FORMAT, "version": VERSION, **payload})


def verify_checksums(path) -> None:
    """One ``ValueError`` naming ``path`` unless every entry of the zip archive ``torch.save`` wrote matches the
    CRC-32 checksum stored with it: a flipped bit anywhere in the payload (weights, config, pools) is caught
    before anything is read, as are damaged headers. ``torch.load`` alone does not check them."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise ValueError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:120] if str(e) else 'no detail'})") from None
    except Exception as e:             # zlib errors and the like on damaged compressed members
        raise ValueError(f"checkpoint {path} is corrupt ({type(e).__name__})") from None
    if bad is not None:
        raise ValueError(f"checkpoint {path} is corrupt: the checksum of its member {bad!r} does not match "
                         f"(a damaged copy; restore the file)")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a graphnca checkpoint; one ``ValueError`` for a missing, corrupt or foreign file. Its checksums are
    verified first (:func:`verify_checksums`). Never runs code."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"checkpoint {path} is not a checkpoint (not a torch.save archive: a text file, a foreign "
                         f"format or random bytes)")
    verify_checksums(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        glob = re.search(r"GLOBAL ([\w.]+)", str(e)) or re.search(r"global[s]? ([\w.]+)", str(e))
        if glob:
            raise ValueError(f"checkpoint {path} asks to load the Python object {glob.group(1)}, which is refused: "
                             f"the file may run code (graphnca reads plain tensors and containers only)") from None
        raise ValueError(f"checkpoint {path} is not a checkpoint: weights_only loading cannot read it (a foreign "
                         f"pickle or random bytes; nothing in it was run)") from None
    except zipfile.BadZipFile:
        raise ValueError(f"checkpoint {path} is truncated or corrupt (bad zip archive)") from None
    except Exception as e:             # torch.load raises many kinds on random bytes, text or cut-off files
        raise ValueError(f"checkpoint {path} is truncated, corrupt or not a checkpoint "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'no detail'})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a graphnca checkpoint (foreign file)")
    if obj.get("version") != VERSION:
        raise ValueError(f"checkpoint {path} has format version {obj.get('version')}, this graphnca reads {VERSION}")
    return obj


def _trained_provenance(ck: dict) -> dict:
    init = (ck.get("config") or {}).get("train", {}).get("init_from")
    how = (f"the config's train section, warm-started from {Path(init).name}" if init
           else "the config's train section, from step 0")
    return {"made_by": "meta-trained", "meta_steps": ck.get("step"), "how": how,
            "wall_s": ck.get("wall_s")}


def without_machine_paths(config: dict) -> dict:
    """A stored config fit to ship: no folder of the machine it was trained on (the data folder is dropped, a
    warm start is named by its file name)."""
    config = {k: dict(v) for k, v in config.items()}
    config["task"]["data_root"] = None
    if config["train"].get("init_from"):
        config["train"]["init_from"] = Path(config["train"]["init_from"]).name
    return config


def export_rule(src, dst, preprocessing: dict | None = None, force: bool = False) -> dict:
    """Write the rule alone (weights, configuration, history, input preprocessing; no optimiser, pools) from
    checkpoint ``src`` to ``dst``: a small file that grows, evaluates and warm-starts (``--init-from``) but does
    not resume training; :func:`graphnca.load_rule` loads it. ``preprocessing`` overrides the checkpoint's."""
    ck = load_checkpoint(src)
    if "rule" not in ck or "config" not in ck:
        raise ValueError(f"checkpoint {src} holds no rule and configuration to export")
    dst = Path(dst)
    if dst.exists():
        if dst.is_dir():
            raise ValueError(f"--out {dst} is a folder; name the rule file to write")
        try:
            resumable = not load_checkpoint(dst).get("rule_only")
        except ValueError:
            resumable = False
        if resumable:
            raise ValueError(f"{dst} is a resumable training checkpoint; export never replaces one")
        if not force:
            raise ValueError(f"{dst} exists; pass --force to replace it")
    out = {"config": without_machine_paths(ck["config"]), "rule": ck["rule"], "step": ck.get("step"),
           "history": ck.get("history", []),
           "preprocessing": preprocessing or ck.get("preprocessing"),
           # how the rule was made: a distilled rule keeps its own record, a trained one says so
           "provenance": ck.get("provenance") or _trained_provenance(ck),
           "rule_only": True}    # the history (per-step loss, evals) is small and is the run's only log
    save_checkpoint(dst, out)
    return out
