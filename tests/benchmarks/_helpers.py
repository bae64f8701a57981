"""Shared by the benchmark tests: run one script at tiny sizes."""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script, *args, out):
    subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=300)


def tiny_mnist_rule(tmp_path, n_train: int, hidden: int = 6):
    """A two-meta-step data-free rule on fake MNIST IDX files (``tmp_path/mnist``), exported to
    ``tmp_path/rule.pt`` (``n_train`` > 5000: room for the tuned Adam's validation split)."""
    from graphnca.checkpoint import export_rule
    from graphnca.meta.trainer import Config, MetaTrainer, TaskConfig, TrainConfig
    from graphnca.testing import write_fake_idx
    write_fake_idx(tmp_path / "mnist", n_train, 20)
    cfg = Config(task=TaskConfig(task="mnist", archs=((784, hidden, 10),), data_root=str(tmp_path / "mnist"),
                                 mean_field=4.0, data_batch=16),
                 train=TrainConfig(steps=2, batch_per_arch=2, pool_size=0, schedule="fixed:2", eval_every=0,
                                   checkpoint_every=0))
    tr = MetaTrainer(cfg, tmp_path / "run")
    tr.run(progress=False)
    export_rule(tr.save(), tmp_path / "rule.pt")
    return tmp_path / "rule.pt"
