"""Shared by the benchmark tests: import a script as a module, run one, make a tiny rule."""
import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def bench_module(name, monkeypatch):
    """Import ``benchmarks/NAME.py`` as a module (benchmarks import their sibling ``_util``, hence the path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script, *args, out):
    subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=300)


def tiny_data_rule(tmp_path, steps: int = 1):
    """A ``steps``-meta-step data-conditioned rule on fake MNIST IDX files in ``tmp_path/mnist`` (``tmp_path/rule``)."""
    from graphnca.cli import main
    from graphnca.testing import write_fake_idx
    write_fake_idx(tmp_path / "mnist", 40, 20)
    assert main(["train", "--task", "mnist", "--data-root", str(tmp_path / "mnist"), "--condition", "data",
                 "--deadzone", "0", "--arch", "784,6,10", "--steps", str(steps), "--batch-per-arch", "2",
                 "--pool-size", "0", "--schedule", "fixed:2", "--experimental", "eval_every=0", "--experimental", f"checkpoint_every={steps}",
                 "--out", str(tmp_path / "rule")]) == 0
