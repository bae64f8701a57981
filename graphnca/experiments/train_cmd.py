"""``graphnca train``: meta-train a rule, checkpoint it, log JSON and plot the learning curve."""
from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..meta.trainer import MetaTrainer
from .common import finish


def plot_training(data: dict, plt):
    hist = data["history"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot([r["step"] for r in hist], [r["loss"] for r in hist], lw=0.6)
    a.set(xlabel="meta-step", ylabel="task loss (train batch)", yscale="log", title="meta-training loss")
    ev = [r for r in hist if r.get("eval")]
    for arch in (ev[0]["eval"] if ev else {}):
        b.plot([r["step"] for r in ev], [r["eval"][arch]["mean"] for r in ev], marker=".", label=arch)
    b.set(xlabel="meta-step", ylabel="test accuracy of grown nets", title="grown networks (fresh)")
    if ev:
        b.legend(fontsize=7)
    task = data["config"]["task"]
    fig.suptitle(f"rule {data.get('name', '')}: meta-trained on {task['task']} "
                 f"({', '.join('-'.join(map(str, a)) for a in task['archs'])}), {data['summary']['steps']} meta-steps",
                 fontsize=9)
    fig.tight_layout()
    return fig


def train_command(cfg: Config, out, resume: bool = False, progress: bool = True,
                  time_limit: float | None = None, on_step=None) -> dict:
    """Meta-train (or with ``resume`` continue) a rule into ``out``; ``on_step(step, total)`` after each meta-step."""
    if time_limit is not None and not time_limit >= 0:
        raise ValueError(f"time limit must be a number of seconds >= 0, got {time_limit}")
    out = Path(out)
    trainer = MetaTrainer(cfg, out)
    ckpt = out / "checkpoint.pt"
    if resume:
        if not ckpt.exists():
            raise ValueError(f"--resume given but {ckpt} does not exist")
        trainer.load(ckpt)
    elif ckpt.exists():
        raise ValueError(f"{ckpt} exists; pass --resume to continue it or choose another --out")
    summary = trainer.run(progress=progress, time_limit=time_limit, on_step=on_step)
    summary["checkpoint"] = str(trainer.save())
    if trainer.rank != 0:                    # under torchrun only rank 0 evaluates and writes
        return summary
    summary["final_eval"] = trainer.evaluate(samples=max(cfg.train.eval_samples, 1))
    data = finish(out, "train", {"name": out.resolve().name, "config": cfg, "seed": cfg.train.seed, "summary": summary,
                                 "history": trainer.history}, plot_training, trainer.device)
    return data["summary"]
