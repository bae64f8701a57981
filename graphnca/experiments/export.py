"""``graphnca grow``: grow networks without backprop, evaluate them and export each as an ``nn.Sequential``."""
from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from ..convert import grown_record, to_sequential
from ..grow import accuracy, grow_scheduled, growth_scale
from ..pretrained import fold_standardisation
from ..runinfo import resolve_device, write_torch
from .common import (check_step_scales, finish, generator, growth_stream, load_rule, rule_provenance,
                     scheduled_steps, task_data)
from .heatmap import train_adam


def grow_command(rule, arch, out, samples=10, steps=None, task=None, data_root=None, seed=0,
                 baseline: str = "none", grow_batch: int | None = None, step_scale: float = 1.0,
                 hidden_step_scale: float | None = None, hidden_state_scale: float | None = None,
                 device: str = "cpu", progress: bool = True, step_schedule: str | None = None,
                 max_bytes: int | None = None) -> dict:
    """Grow ``samples`` networks of ``arch`` (on ``task``'s training data if the rule is data-conditioned),
    evaluate them on its test split and export each; ``baseline="adam"`` also trains the same architecture with
    Adam on as many mini-batches of the same size as there were growth steps (up to 10 seeds). ``grow_batch``
    overrides the examples per growth step the rule was trained with (a conditioned rule's features are batch
    means, so a larger batch gives it less noisy statistics). ``step_scale`` multiplies the rule's step size for
    this growth only (a smaller one can keep a rule stable on a task or width it was not meta-trained on);
    ``hidden_step_scale`` (default: ``step_scale``) sets it apart for the weights before the output layer, 0
    freezing them at their initial values (growth then trains the readout of random hidden layers);
    ``hidden_state_scale`` (default: ``hidden_step_scale``) sets the multiple of those weights' hidden states apart
    (e.g. frozen weights whose states still evolve, as the rule's neighbours saw in meta-training). ``device``
    runs growth and evaluation there (fresh states and mini-batch indices are still drawn on the CPU, so a seed
    names the same initial networks and batches on every device); exports and the Adam baseline stay on the CPU.
    ``step_schedule`` (``"1x2000,0.3x1000"``) multiplies the step multiples segment by segment, like an optimiser's
    learning-rate decay (``steps``, if given, must match its total)."""
    check_step_scales(step_scale, hidden_state_scale)
    hidden_step_scale = step_scale if hidden_step_scale is None else hidden_step_scale
    conv, cfg = load_rule(rule)
    device = resolve_device(device)
    conv = conv.to(device)
    if grow_batch is not None:
        if grow_batch < 1:
            raise ValueError(f"grow_batch must be >= 1, got {grow_batch}")
        cfg.task.grow_batch = grow_batch
    data = task_data(cfg, task, data_root)
    schedule = scheduled_steps(cfg, steps, step_schedule)
    steps = schedule.steps
    graph = cfg.task.graph(arch)
    if arch[0] != data.num_features or arch[-1] != data.num_classes:
        raise ValueError(f"architecture {list(arch)} does not fit {data.name} "
                         f"({data.num_features} inputs, {data.num_classes} classes)")
    init = cfg.init
    if data.input_shape is not None:
        init.input_shape = data.input_shape
    gen, on = generator(seed), data.to(device)
    scale = growth_scale(graph, conv.hidden_size, step_scale, hidden_step_scale, hidden_state_scale)
    with tqdm(total=steps, disable=not progress, desc="grow", leave=False) as bar:
        big, state = grow_scheduled(conv, graph.to(device), samples, schedule, init, gen,
                                    data=growth_stream(conv, cfg, on, gen), scale=scale.to(device),
                                    callback=lambda t, s: bar.update(1), max_bytes=max_bytes)
    acc = accuracy(big, state.w, on.x_test, on.y_test).cpu()
    out = Path(out)
    files = []
    for i, w in enumerate(big.split(state.w.cpu())):
        model = to_sequential(graph, w)
        if data.mean is not None:       # exported networks take raw inputs (MNIST: pixels in [0, 1])
            fold_standardisation(model[0], data.mean, data.std)
        path = out / f"net_{i:03d}.pt"
        write_torch(path, grown_record(graph, model, test_accuracy=acc[i].item()))
        files.append(path.name)
    summary = {"mean": acc.mean().item(), "min": acc.min().item(), "max": acc.max().item(),
               "condition": cfg.rule.condition, "trained_on": cfg.task.task}
    adam = None
    if baseline == "adam":                     # Adam seeing as many mini-batches (of the same size) as growth did
        adam = [train_adam(arch, data, None, seed + i, batch=cfg.task.grow_batch, activation=cfg.task.activation,
                           max_batches=steps) for i in range(min(samples, 10))]
        summary |= {"adam_batches": steps, "adam_batch_size": cfg.task.grow_batch,
                    "adam_mean": sum(adam) / len(adam), "adam_min": min(adam)}
    record = {"rule": str(rule), "rule_file": rule_provenance(rule), "arch": list(arch), "task": data.name,
              "samples": samples, "steps": steps,
              "exported_inputs": "raw" if data.mean is not None else "as the task data",
              "step_schedule": None if step_schedule is None else str(schedule),
              "seed": seed, "grow_batch": cfg.task.grow_batch, "step_scale": step_scale,
              "hidden_step_scale": hidden_step_scale,
              "hidden_state_scale": hidden_step_scale if hidden_state_scale is None else hidden_state_scale,
              "accuracy": acc.tolist(),
              "adam_same_batches": adam,
              "files": files,
              "summary": summary}

    def plot(d, plt):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        lo, hi = min(d["accuracy"] + (d.get("adam_same_batches") or [])), max(d["accuracy"] + (
            d.get("adam_same_batches") or []))
        bins = [lo + (hi - lo) * k / 20 for k in range(21)] if hi > lo else [lo - 0.005, hi + 0.005]
        ax.hist(d["accuracy"], bins=bins, label="grown")
        if d.get("adam_same_batches"):
            ax.hist(d["adam_same_batches"], bins=bins, alpha=0.6, label=f"Adam, {d['steps']} batches")
            ax.legend(fontsize=7)
        ax.set(xlabel="test accuracy", ylabel="networks",
               title=f"rule {Path(d['rule']).name}: {len(d['accuracy'])} x {'-'.join(map(str, d['arch']))} grown "
                     f"in {d['steps']} steps ({d['task']}), mean {sum(d['accuracy']) / len(d['accuracy']):.3f}")
        return fig
    return finish(out, "grow", record, plot, device)["summary"]
