"""Run metadata, process set-up and atomic file writes shared by training, experiments and benchmarks."""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch


def git_revision() -> str | None:
    """``HEAD`` (``-dirty`` if tracked files changed), or ``GRAPHNCA_GIT_REVISION`` when set: a tree copied to
    another machine may carry a stale ``.git`` (or none), so the sender names the revision it copied."""
    if os.environ.get("GRAPHNCA_GIT_REVISION"):
        return os.environ["GRAPHNCA_GIT_REVISION"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        rev = out.stdout.strip()
        if not rev:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


_HEAP_REUSE = False


def reuse_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of handing every large block back to the OS.

    By default glibc serves each allocation over 32 MiB with a fresh ``mmap`` and unmaps it when freed, so every
    ``[E, width]`` tensor of a rule step is page-faulted in anew: on CPU that first touch, not the arithmetic,
    dominated a meta-step (measured 8.5 s -> 2.3 s per meta-step, ``benchmarks/meta_step.py``). Serving large
    blocks from the heap and never trimming it keeps the process's peak footprint resident instead. A
    process-wide setting: the CLI calls it for its commands; library users opt in. Returns whether it applied
    (glibc on Linux only).
    """
    global _HEAP_REUSE
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4                # glibc's mallopt parameter numbers
        ok = bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2 ** 31 - 1))
    except (OSError, AttributeError):
        ok = False
    _HEAP_REUSE = _HEAP_REUSE or ok
    return ok


def memory_budget(fraction: float = 0.5) -> int:
    """``fraction`` of this machine's physical memory in bytes (8 GiB when it cannot be read)."""
    try:
        return int(fraction * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return int(fraction * 16 * 2 ** 30)


def resolve_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device``, or one ``ValueError`` naming it when it is malformed or absent here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use e.g. cpu, cuda or cuda:1") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: only cpu and cuda are supported")
    return dev


def device_name(device: torch.device | str | None = None) -> str:
    device = torch.device(device or "cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cpus, {torch.get_num_threads()} threads)"


def run_metadata(device=None) -> dict:
    import numpy
    import torch_geometric
    from . import __version__
    return {"graphnca": __version__, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
            "numpy": numpy.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "device": device_name(device), "git_revision": git_revision(),
            "allocator": "glibc heap reuse" if _HEAP_REUSE else "default"}


def to_jsonable(obj):
    if is_dataclass(obj):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_writable(out) -> None:
    """Create folder ``out`` if needed and prove it can be written (a file created and removed), before any work:
    one ``ValueError`` naming it otherwise."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"--out {out} cannot be written ({e.strerror or type(e).__name__}); choose another "
                         f"folder") from None


class OutputLock:
    """``OUT/.graphnca.lock`` holding this process's PID while a run writes there: a second run into the same
    folder is refused with one ``ValueError`` naming the first one's PID (a lock left by a process that is gone is
    taken over)."""

    def __init__(self, out):
        self.path = Path(out) / ".graphnca.lock"
        self.held = False

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise ValueError(f"{self.path.parent} is in use by another graphnca run (PID {pid}); wait for "
                                     f"it to finish or choose another --out") from None
                self.path.unlink(missing_ok=True)          # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise ValueError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc):
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


class SetAside:
    """An earlier run's result files in ``--out``, moved into ``OUT/.replaced-PID/`` for a ``--force`` run:
    :meth:`restore` puts them back (the new run failed), :meth:`discard` deletes them (it succeeded). Nothing of
    the earlier run is lost to a run that fails."""

    def __init__(self, files: list[Path], out: Path):
        self.out, self.dir, self.moved = Path(out), Path(out) / f".replaced-{os.getpid()}", []
        for p in files:
            dest = self.dir / p.relative_to(self.out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
            self.moved.append((p, dest))

    def restore(self) -> None:
        for p, dest in self.moved:
            if dest.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
                os.replace(dest, p)
        self._drop_dir()

    def discard(self) -> None:
        for _, dest in self.moved:
            dest.unlink(missing_ok=True)
        self._drop_dir()

    def _drop_dir(self) -> None:
        if self.dir.exists():
            for d in sorted((p for p in self.dir.rglob("*") if p.is_dir()), reverse=True):
                d.rmdir()
            self.dir.rmdir()


def earlier_results(out, stems, patterns=()) -> list[Path]:
    """The files of an earlier run in ``out``: ``STEM.json`` / ``STEM.png`` and files matching ``patterns``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    old = [out / f"{s}{ext}" for s in stems for ext in (".json", ".png")]
    return [p for p in old if p.exists()] + sorted(p for pat in patterns for p in out.glob(pat))


def claim_output(out, stems, force: bool = False, patterns=()) -> list[Path]:
    """The files of an earlier run in ``out`` (:func:`earlier_results`) that a new run there would replace: one
    ``ValueError`` naming them unless ``force``, in which case they are returned for the caller to set aside
    (:class:`SetAside`), so that no stale file of the old run stays beside the new one."""
    out = Path(out)
    old = earlier_results(out, stems, patterns)
    if old and not force:
        names = ", ".join(str(p.relative_to(out)) for p in old[:6]) + (f", ... ({len(old)} files)" if len(old) > 6
                                                                       else "")
        raise ValueError(f"{out} already holds results of another run ({names}); pass --force to replace them "
                         f"or choose another --out")
    return old


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True               # someone else's live process
    return True


def _clean_stale(path: Path) -> None:
    """Remove temporary files an interrupted write of ``path`` left behind: only those of processes that are gone,
    never a file another live process is writing."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; results and checkpoints get the permissions a plain open() would give them
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, data) -> None:
    """Write JSON atomically (a temporary file renamed over the target): readers never see half a file."""
    text = json.dumps(to_jsonable(data), indent=2).encode()
    _atomic(Path(path), lambda f: f.write(text))


def write_torch(path, obj) -> None:
    _atomic(Path(path), lambda f: torch.save(obj, f))


def save_figure(fig, path) -> None:
    _atomic(Path(path), lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
