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


def timing_flags(ap) -> None:
    """The flags every timing study shares: ``--repeats --device --seed --out``."""
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")


def run_flags(ap) -> None:
    """``--seed --threads --out``, which every study takes (``--threads`` is applied by :func:`parse_run_args`)."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results")


def growth_flags(ap, arch: str, samples: int, steps: str | None) -> None:
    """The flags every study that grows networks with a trained rule shares (``--threads`` is applied by
    :func:`parse_run_args`); ``steps=None`` for a study that sets its growth lengths another way."""
    ap.add_argument("--rule", required=True)
    ap.add_argument("--task", default=None, help="task to grow on (default: the rule's own)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--arch", default=arch)
    ap.add_argument("--samples", type=int, default=samples)
    if steps is not None:
        ap.add_argument("--steps", default=steps, help="growth lengths at which to evaluate")
    ap.add_argument("--grow-batch", type=int, default=None, help="examples per growth step (default: the rule's)")
    run_flags(ap)


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
