"""Compare two ``graphnca heatmap`` grids cell by cell: grown against Adam, or one rule / growth length against
another. Nothing is grown or trained; the grids are read from the heatmaps' JSONs.

    python benchmarks/grid_compare.py NEW.json OLD.json:adam --at 0.96,0.964 --out DIR --name NAME

``FILE.json`` takes its grown grid (``grown_mean``), ``FILE.json:adam`` the Adam grid drawn beside it, and
``A.json+B.json`` each cell's mean over the networks of both (e.g. two seeds). The two must share task, hidden sizes
and third layer (averaged runs also steps, step schedule and rule). Prints and writes (``OUT/NAME.json`` +
``.png``, the difference heatmap drawn from the JSON) each grid's mean, row means and mean over the cells with
X, Y >= ``--big``, how many cells of the first grid reach each ``--at`` level, and the per-cell difference: mean,
std, cells where the first >= the second, the closest and farthest cells.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from _util import report, table

GRIDS = ("grown_mean", "adam")


def _load_one(spec: str) -> tuple[dict, str]:
    path, sep, key = spec.rpartition(":")
    if not sep or "/" in key or "." in key:                 # no ":KEY" suffix: the whole spec is the file
        path, key = spec, "grown_mean"
    if key not in GRIDS:
        raise ValueError(f"unknown grid {key!r} in {spec!r}; expected one of {GRIDS}")
    d = json.loads(Path(path).read_text())
    if "hidden" not in d or key not in d:
        raise ValueError(f"{path} is not a graphnca heatmap JSON (no 'hidden' or {key!r})")
    if d[key] is None:
        raise ValueError(f"{path} has no {key!r} grid (was it run with --baseline adam?)")
    return d, key


def load_grid(spec: str) -> tuple[dict, list[list[float]]]:
    """``FILE[:KEY][+FILE[:KEY]...]`` -> (the heatmap record, its KEY grid); KEY defaults to ``grown_mean``. Several
    files joined by ``+`` (runs of one setting with different seeds) give each cell's mean over all their networks
    (grown grids weighted by their ``samples``; an Adam grid is one network per cell)."""
    loaded = [_load_one(part) for part in spec.split("+")]
    first, _ = loaded[0]
    for d, key in loaded[1:]:
        for field in ("task", "hidden", "third", "steps", "step_schedule", "rule"):
            if d.get(field) != first.get(field):
                raise ValueError(f"cannot average grids that differ in {field}: {first.get(field)!r} vs "
                                 f"{d.get(field)!r} in {spec!r}")
    weights = [d.get("samples", 1) if key == "grown_mean" else 1 for d, key in loaded]
    n = len(first["hidden"])
    grid = [[sum(w * d[key][i][j] for w, (d, key) in zip(weights, loaded)) / sum(weights) for j in range(n)]
            for i in range(n)]
    return {**first, "samples": sum(weights)}, grid


def compare(a: dict, ga, b: dict, gb, big: int, at: list[float]) -> dict:
    for field in ("task", "hidden", "third"):
        if a.get(field) != b.get(field):
            raise ValueError(f"grids differ in {field}: {a.get(field)!r} vs {b.get(field)!r}")
    h = a["hidden"]
    cells = [(i, j) for i in range(len(h)) for j in range(len(h))]
    diff = [[ga[i][j] - gb[i][j] for j in range(len(h))] for i in range(len(h))]
    flat = [diff[i][j] for i, j in cells]
    lo, hi = min(cells, key=lambda c: diff[c[0]][c[1]]), max(cells, key=lambda c: diff[c[0]][c[1]])
    mean = lambda g, keep=lambda i, j: True: statistics.fmean(g[i][j] for i, j in cells if keep(i, j))  # noqa: E731
    is_big = lambda i, j: h[i] >= big and h[j] >= big                                                # noqa: E731
    name = lambda c: f"{h[c[0]]}-{h[c[1]]}"                                                           # noqa: E731
    return {"a_mean": mean(ga), "b_mean": mean(gb), "a_min_cell": min(ga[i][j] for i, j in cells),
            "b_min_cell": min(gb[i][j] for i, j in cells),
            "a_big_mean": mean(ga, is_big) if any(is_big(*c) for c in cells) else None,
            "b_big_mean": mean(gb, is_big) if any(is_big(*c) for c in cells) else None,
            "a_row_means": [statistics.fmean(r) for r in ga], "b_row_means": [statistics.fmean(r) for r in gb],
            "a_cells_at": {str(t): sum(ga[i][j] >= t for i, j in cells) for t in at},
            "diff_mean": statistics.fmean(flat), "diff_std": statistics.pstdev(flat),
            "cells_a_ge_b": sum(d >= 0 for d in flat), "cells": len(flat),
            "closest": {"cell": name(lo), "diff": diff[lo[0]][lo[1]]},
            "farthest": {"cell": name(hi), "diff": diff[hi[0]][hi[1]]}, "diff": diff}


def _short(spec: str) -> str:
    return "+".join(Path(part).name for part in spec.split("+"))


def plot(d: dict, plt):
    h, diff = d["hidden"], d["summary"]["diff"]
    fig, ax = plt.subplots(figsize=(5.8, 4.6), layout="constrained")
    m = max(abs(v) for row in diff for v in row) or 1.0
    im = ax.imshow(diff, origin="lower", cmap="RdBu", vmin=-m, vmax=m)
    for i in range(len(h)):
        for j in range(len(h)):
            ax.text(j, i, f"{100 * diff[i][j]:+.1f}", ha="center", va="center", fontsize=6)
    ax.set(xticks=range(len(h)), xticklabels=h, yticks=range(len(h)), yticklabels=h, xlabel="second hidden layer Y",
           ylabel="first hidden layer X", title=f"{_short(d['a'])} minus {_short(d['b'])}\n(points of accuracy)")
    ax.title.set_fontsize(8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="heatmap JSON[:adam] (the grid compared)")
    ap.add_argument("b", help="heatmap JSON[:adam] (the reference)")
    ap.add_argument("--big", type=int, default=50, help="also average the cells with X, Y >= this")
    ap.add_argument("--at", default="0.96", help="count the first grid's cells at or above each of these levels")
    ap.add_argument("--name", default="grid_compare")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    (a, ga), (b, gb) = load_grid(args.a), load_grid(args.b)
    s = compare(a, ga, b, gb, args.big, [float(t) for t in args.at.split(",")])
    record = {"a": args.a, "b": args.b, "task": a["task"], "hidden": a["hidden"], "third": a.get("third"),
              "a_steps": a.get("steps"), "a_step_schedule": a.get("step_schedule"), "a_samples": a.get("samples"),
              "b_steps": b.get("steps"), "b_step_schedule": b.get("step_schedule"), "b_samples": b.get("samples"),
              "big": args.big, "summary": s}
    report(Path(args.out), args.name, record, plot)
    print(table([{"grid": g, "mean": s[f"{k}_mean"], "min cell": s[f"{k}_min_cell"], f"X,Y>={args.big}":
                  s[f"{k}_big_mean"], "rows": " ".join(f"{v:.3f}" for v in s[f"{k}_row_means"])}
                 for g, k in ((args.a, "a"), (args.b, "b"))], ["grid", "mean", "min cell", f"X,Y>={args.big}", "rows"]))
    print(f"difference {s['diff_mean']:+.4f} +- {s['diff_std']:.4f}; cells first >= second: {s['cells_a_ge_b']} of "
          f"{s['cells']}; closest {s['closest']['cell']} ({s['closest']['diff']:+.4f}), farthest "
          f"{s['farthest']['cell']} ({s['farthest']['diff']:+.4f}); first grid's cells at levels: {s['a_cells_at']}")
    return s


if __name__ == "__main__":
    main()
