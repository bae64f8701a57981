"""Timing and reporting helpers shared by the benchmark scripts (not part of the library API)."""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphnca.runinfo import run_metadata, save_figure, write_json  # noqa: E402


def out_flags(ap) -> None:
    """``--out --force``: where results go, and whether an earlier result of the same name may be replaced."""
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--force", action="store_true", help="replace an earlier result of the same name in --out")


def timing_flags(ap) -> None:
    """The flags every timing study shares: ``--repeats --device --seed --out --force``."""
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    out_flags(ap)


def run_flags(ap) -> None:
    """``--seed --threads --out --force``, which every study takes (``--threads`` is applied by
    :func:`parse_run_args`)."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    out_flags(ap)


def check_new(out, name: str, force: bool) -> None:
    """Before any work: refuse to replace ``OUT/NAME.json`` of an earlier run unless ``force``."""
    path = Path(out) / f"{name}.json"
    if path.exists() and not force:
        raise SystemExit(f"{path} holds an earlier result; pass --force to replace it or choose another --out")


def parse_run_args(ap, argv):
    """Parse, then apply ``--threads``."""
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    return a


def sync() -> None:
    """Wait for queued CUDA work (a no-op without CUDA), so wall clocks time the work, not its launch."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timeit(fn, repeats: int = 5, warmup: int = 1, min_time: float = 0.0) -> float:
    """Median wall time of ``fn()`` in seconds (synchronising CUDA when used)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start_all = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start_all < min_time:
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def report(out: Path, name: str, record: dict, plot, device=None) -> dict:
    """Write ``OUT/NAME.json`` then draw ``OUT/NAME.png`` from the file alone."""
    path = Path(out) / f"{name}.json"
    write_json(path, {**record, "meta": run_metadata(device)})
    data = json.loads(path.read_text())
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plot(data, plt)
    save_figure(fig, Path(out) / f"{name}.png")
    plt.close(fig)
    return data


def table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return "-" if v is None else str(v)
    width = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols}
    lines = [" | ".join(c.ljust(width[c]) for c in cols), "-+-".join("-" * width[c] for c in cols)]
    lines += [" | ".join(fmt(r.get(c)).ljust(width[c]) for c in cols) for r in rows]
    return "\n".join(lines)
