"""Data-parallel meta-training throughput against the number of processes (torchrun, gloo on CPU / NCCL on GPU).

Each process grows ``--batch`` networks per meta-step, so N processes grow N times as many; the scaling
efficiency is (networks per second with N processes) / (N x networks per second with 1).
Usage: ``python benchmarks/distributed.py [--procs 1,2] [--steps 20] [--arch 4,8,8,3] [--threads 1]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import report, table


def run(n: int, a) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m",
               "graphnca", "train", "--out", out, "--task", a.task, "--arch", a.arch, "--steps", str(a.steps),
               "--batch-per-arch", str(a.batch), "--schedule", f"fixed:{a.rollout}", "--experimental", "eval_every=0",
               "--experimental", "checkpoint_every=0", "--threads", str(a.threads), "--device", a.device]
        if a.data_root:
            cmd += ["--data-root", a.data_root]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        summary = json.loads((Path(out) / "train.json").read_text())["summary"]
    steps_per_s = summary["steps"] / summary["wall_s"]
    return {"procs": n, "meta_steps_per_s": steps_per_s, "networks_per_s": steps_per_s * n * a.batch}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--task", default="iris")
    ap.add_argument("--arch", default="4,8,8,3")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rollout", type=int, default=15)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args(argv)
    rows = [run(int(n), a) for n in a.procs.split(",")]
    for r in rows:
        r["efficiency"] = r["networks_per_s"] / (r["procs"] * rows[0]["networks_per_s"] / rows[0]["procs"])
    print(table(rows, ["procs", "meta_steps_per_s", "networks_per_s", "efficiency"]))

    def plot(d, plt):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([r["procs"] for r in d["rows"]], [r["networks_per_s"] for r in d["rows"]], marker="o")
        ax.set(xlabel="processes", ylabel="networks grown per second (meta-training)",
               title=f"{d['config']['arch']} x{d['config']['batch']} per process")
        return fig
    report(Path(a.out), "distributed", {"config": vars(a), "rows": rows}, plot, a.device)


if __name__ == "__main__":
    main()
