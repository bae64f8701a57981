"""Data-parallel meta-training with ``torch.distributed`` (launched by ``torchrun``).

Each rank grows its own share of the batch (its own pool, fresh states, fire masks and data batch, seeded by
rank); rule gradients are averaged with ``all_reduce``; every rank then takes the same optimiser step, so the
rules stay identical without broadcasting weights. Rank 0 alone writes checkpoints, logs and plots.

Effective batch: ``world_size * batch_per_arch`` networks per architecture, and ``world_size * data_batch``
examples. With the default per-parameter gradient normalisation the step size does not scale with the batch, so
keep ``lr``; with ``--experimental grad_mode=clip`` the usual linear-scaling rule (lr * world_size) is a starting point.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

from ..runinfo import resolve_device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def setup(device: str, timeout_s: float = 600.0) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes in the environment (no-op for a single process).

    Returns ``(rank, world_size, device)``; CUDA ranks use NCCL on ``cuda:LOCAL_RANK``, CPU ranks gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1:
        return 0, 1, dev
    if not is_distributed():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return dist.get_rank(), dist.get_world_size(), dev


def mean_scalar(value: float, device) -> float:
    """The mean of a Python float over all ranks (the value itself when not distributed)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def all_true(flag: bool, device) -> bool:
    """True on every rank iff ``flag`` is true on every rank (a collective roll-back decision)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def average_gradients(params) -> None:
    """Replace every gradient by its mean over ranks; ranks without a gradient contribute zeros."""
    if not is_distributed():
        return
    world = dist.get_world_size()
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad.div_(world)


def gather(obj) -> list | None:
    """``obj`` from every rank, as a list on rank 0 (``None`` elsewhere); ``[obj]`` when not distributed."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def cleanup() -> None:
    """Leave the process group together: a rank that exits while a peer still talks to it makes gloo abort."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
