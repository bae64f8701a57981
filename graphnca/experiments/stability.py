"""``graphnca stability``: keep applying the rule far past its training length (the abstract's Table 1)."""
from __future__ import annotations

import torch

from ..graph import WeightGraph, repeat
from ..grow import fresh_states, loss_and_accuracy
from ..grow import rollout
from ..runinfo import resolve_device
from ..state import State
from .common import Progress, finish, generator, growth_stream, rule_and_task, rule_label, rule_provenance


HORIZON = 20_000   # updates: twice the 10,000-update target, so "stays within 10 %" is measured, not cut off
LOSS_EXAMPLES = 4096   # the loss curve's fixed training examples (all of iris; a fixed slice of MNIST)


def stability_metrics(loss: list[float], tolerance: float = 0.10) -> dict:
    """``loss[t]`` after ``t + 1`` updates -> updates to reach the minimum, and the length of the contiguous run
    of updates around that minimum during which the loss stays within ``tolerance`` of it."""
    t = torch.tensor(loss)
    best = int(torch.argmin(t))
    m = float(t[best])
    ok = t <= m * (1 + tolerance) if m >= 0 else t <= m * (1 - tolerance)
    lo, hi = best, best
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    while hi + 1 < len(t) and ok[hi + 1]:
        hi += 1
    return {"min_loss": m, "updates_to_min": best + 1, "updates_within_10pct": hi - lo + 1,
            "first_within_10pct": lo + 1, "stays_to_horizon": hi + 1 == len(t), "horizon": len(t)}


@torch.no_grad()
def loss_curve(conv, graph: WeightGraph, cfg, data, updates: int, samples: int, seed: int,
               progress=True, loss_examples: int = LOSS_EXAMPLES, offset: int = 0,
               grand_total: int | None = None) -> tuple[list[float], list[float]]:
    """Mean training loss (the meta-training objective) after every update, on the first ``loss_examples``
    training examples (one fixed set: the whole of MNIST after every update costs more than the growth), and test
    accuracy every 100."""
    x_loss, y_loss = data.x_train[:loss_examples], data.y_train[:loss_examples]
    big = repeat(graph, samples)
    x = fresh_states(graph, samples, conv.hidden_size, cfg.init, generator(seed)).view(big.num_weights, -1)
    x = x.to(graph.device)                        # drawn on the CPU: one seed starts the same on every device
    state, losses, accs = State.unpack(x), [], []
    stream = growth_stream(conv, cfg, data, generator(seed + 1))
    bar = Progress(progress, updates, "stability", offset, grand_total)
    chunk = 100
    for start in range(0, updates, chunk):
        def record(t, s):
            l, _ = loss_and_accuracy(big, s.w, x_loss, y_loss, cfg.task.label_smoothing)
            losses.append(l.mean().item())
        state = rollout(conv, big, state, min(chunk, updates - start), callback=record, data=stream)
        accs.append(loss_and_accuracy(big, state.w, data.x_test, data.y_test)[1].mean().item())
        bar.update(min(chunk, updates - start))
    bar.close()
    return losses, accs


def stability(rules, out, updates: int = HORIZON, samples: int = 20, data_root=None, seed: int = 0,
              progress=True, device: str = "cpu", arch=None, loss_examples: int = LOSS_EXAMPLES) -> dict:
    """Loss of ``samples`` networks of ``arch`` (default: each rule's first meta-training one) over ``updates``."""
    device = resolve_device(device)
    results = []
    for k, path in enumerate(rules):
        conv, cfg, data, graph = rule_and_task(path, data_root, device, arch)
        losses, accs = loss_curve(conv, graph, cfg, data, updates, samples, seed, progress, loss_examples,
                                  k * updates, len(rules) * updates)
        results.append({"rule": str(path), "rule_file": rule_provenance(path), "label": rule_label(cfg, path),
                        "arch": list(graph.archs[0].sizes),
                        "trained_rollout": cfg.train.schedule, "pool_size": cfg.train.pool_size,
                        "loss": losses, "test_accuracy_every_100": accs, **stability_metrics(losses)})
    record = {"updates": updates, "samples": samples, "seed": seed, "loss_examples": loss_examples,
              "results": results,
              "summary": [{k: r[k] for k in ("label", "min_loss", "updates_to_min", "updates_within_10pct",
                                             "stays_to_horizon")}
                          | {"final_test_accuracy": r["test_accuracy_every_100"][-1],
                             "peak_test_accuracy": max(r["test_accuracy_every_100"])} for r in results]}

    def plot(d, plt):
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in d["results"]:
            ax.plot(range(1, len(r["loss"]) + 1), r["loss"], lw=0.8,
                    label=f"{r['label']}: {r['updates_within_10pct']} updates within 10%")
        ax.set(xscale="log", yscale="log", xlabel="updates", ylabel="mean training loss",
               title=f"stability of {', '.join(r['label'] for r in d['results'])}: {d['updates']} updates "
                     f"({d['samples']} networks)")
        ax.legend(fontsize=7)
        return fig
    return finish(out, "stability", record, plot, device)["summary"]
