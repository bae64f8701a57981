"""torch.distributed meta-training on CPU with gloo: 2 ranks under torchrun."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphnca.meta.trainer import MetaTrainer

from .distributed_worker import PER_RANK, config

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parent.parent


def torchrun(*args, timeout=180):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_two_ranks_equal_one_process_with_twice_the_batch(tmp_path):
    r = torchrun("step", str(tmp_path), "2")
    assert r.returncode == 0, r.stderr[-2000:]
    single = subprocess.run([sys.executable, str(WORKER), "step", str(tmp_path), "1"], capture_output=True,
                            text=True, timeout=180, cwd=ROOT)
    assert single.returncode == 0, single.stderr[-2000:]
    two, one = torch.load(tmp_path / "params_2.pt"), torch.load(tmp_path / "params_1.pt")
    init = MetaTrainer(config(2 * PER_RANK), tmp_path / "fresh").conv  # same seed: the shared starting rule
    moved = sum((a - b).abs().sum().item() for a, b in zip(one, init.parameters()))
    assert moved > 0
    for a, b in zip(two, one):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_two_rank_checkpoint_resumes_in_one_process(tmp_path):
    r = torchrun("train", str(tmp_path), "2")
    assert r.returncode == 0, r.stderr[-2000:]
    tr = MetaTrainer(config(PER_RANK, pool=4, steps=3), tmp_path)
    tr.load(tmp_path / "checkpoint.pt")
    assert tr.step == 2 and torch.isfinite(tr.pools[0].loss).any()
    tr.run(progress=False)
    assert tr.step == 3


def test_a_failing_rank_ends_the_job(tmp_path):
    try:
        r = torchrun("fail", str(tmp_path), "2", timeout=170)
    except subprocess.TimeoutExpired:
        pytest.fail("a failing rank left the job hanging for 170 s instead of ending it")
    assert r.returncode != 0
    assert "rank 1 failed on purpose" in r.stdout + r.stderr
