"""Peak memory and time of one meta-step (rollout + task loss + backward into the rule), with and without
per-step gradient checkpointing. Each configuration runs in a fresh subprocess so its peak is its own (CPU: peak
RSS growth over the set-up, with glibc told to return freed memory at once; CUDA:
``torch.cuda.max_memory_allocated``).

Usage: ``python benchmarks/memory.py [--arch 784,100,100,10] [--batch 8] [--steps 64] [--plain-steps 2,4,8]``.
Plain BPTT at 64 steps does not fit a 24 GB machine; it is measured at ``--plain-steps`` and extrapolated
linearly (its memory is linear in the number of steps).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from _util import check_new, out_flags, report, table


def child(arch, batch, steps, checkpoint, device) -> dict:
    import graphnca
    g = graphnca.repeat(graphnca.WeightGraph.from_sizes(arch), batch).to(device)
    conv = graphnca.MetaNCAConv().to(device)
    torch.nn.init.normal_(conv.rule.rest[-1].weight, std=0.01)
    state = graphnca.init_state(g, conv.hidden_size)
    x = torch.randn(128, arch[0], device=device)
    y = torch.randint(0, arch[-1], (128,), device=device)
    if device != "cpu":     # one untimed step first: CUDA context, cuBLAS handles and kernels load lazily
        graphnca.rollout(conv, g, state, 1, checkpoint=checkpoint).w.sum().backward()
        conv.zero_grad(set_to_none=True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t = time.perf_counter()
    final = graphnca.rollout(conv, g, state, steps, checkpoint=checkpoint)
    logits = graphnca.task_forward(g, final.w, x)
    torch.nn.functional.cross_entropy(logits.reshape(-1, arch[-1]), y.repeat(batch)).backward()
    if device != "cpu":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_gib": (peak - base) / 2**30, "seconds": time.perf_counter() - t}


def run(arch, batch, steps, checkpoint, device) -> dict:
    cmd = [sys.executable, __file__, "--child", "--arch", ",".join(map(str, arch)), "--batch", str(batch),
           "--steps", str(steps), "--device", device] + (["--checkpoint"] if checkpoint else [])
    # glibc keeps freed blocks mapped, so RSS would count allocator retention (measured 1.29 vs 0.38 GiB for
    # 32 checkpointed steps); returning freed memory at once makes peak RSS track live tensors
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_ARENA_MAX": "2"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"steps": steps, "checkpoint": checkpoint, **res}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="784,100,100,10")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--plain-steps", default="2,4,8", help="plain-BPTT step counts actually run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--checkpoint", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    out_flags(ap)
    a = ap.parse_args(argv)
    arch = [int(v) for v in a.arch.split(",")]
    if a.child:
        print(json.dumps(child(arch, a.batch, a.steps, a.checkpoint, a.device)))
        return
    check_new(a.out, "memory", a.force)
    plain = [run(arch, a.batch, int(s), False, a.device) for s in a.plain_steps.split(",")]
    ck = [run(arch, a.batch, int(s), True, a.device) for s in a.plain_steps.split(",")]
    if a.steps not in [r["steps"] for r in ck]:
        ck.append(run(arch, a.batch, a.steps, True, a.device))
    at = next(r for r in ck if r["steps"] == a.steps)
    # plain BPTT memory is linear in steps: fit the slope on the measured points and extrapolate
    s0, s1 = plain[0], plain[-1]
    slope = (s1["peak_gib"] - s0["peak_gib"]) / max(1, s1["steps"] - s0["steps"])
    plain_at = s1["peak_gib"] + slope * (a.steps - s1["steps"])   # = the measured value when --steps was run
    same = {r["steps"]: r for r in ck}
    time_cost = [c["seconds"] / p["seconds"] for p in plain for c in [same[p["steps"]]]]
    summary = {"checkpoint_peak_gib_at_steps": at["peak_gib"], "plain_peak_gib_extrapolated": plain_at,
               "plain_gib_per_step": slope, "checkpoint_time_factor": time_cost[-1],
               "checkpoint_seconds_at_steps": at["seconds"]}
    print(table(plain + ck, ["steps", "checkpoint", "peak_gib", "seconds"]))
    print(json.dumps(summary, indent=2))

    def plot(d, plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        for flag, label in ((False, "plain BPTT"), (True, "checkpoint per step")):
            rows = [r for r in d["rows"] if r["checkpoint"] == flag]
            ax.plot([r["steps"] for r in rows], [r["peak_gib"] for r in rows], marker="o", label=label)
        ax.plot([d["config"]["steps"]], [d["summary"]["plain_peak_gib_extrapolated"]], "x", label="plain (extrap.)")
        ax.set(xlabel="rollout steps", ylabel="peak memory (GiB)", title=f"one meta-step, {d['config']['arch']} "
               f"x{d['config']['batch']}")
        ax.legend()
        return fig
    report(Path(a.out), "memory", {"config": vars(a), "rows": plain + ck, "summary": summary}, plot, a.device)


if __name__ == "__main__":
    main()
