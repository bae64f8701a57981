"""Nothing overwritten, nothing silent: every bad file, flag and input gets one clear error and changes nothing."""
import gzip
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

import graphnca
from graphnca.checkpoint import load_checkpoint, save_checkpoint
from graphnca.cli import main
from graphnca.conditioning import DataStream
from graphnca.data import TaskData, read_idx

TINY = ["--steps", "3", "--batch-per-arch", "2", "--pool-size", "0", "--schedule", "fixed:2", "--widths", "8",
        "--hidden-size", "4", "--experimental", "eval_every=0", "--experimental", "checkpoint_every=1"]


def run(capsys, args):
    """``(exit code, stderr)`` of one CLI call; argparse's parse-time exits count too."""
    try:
        rc = main(args)
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def rule(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert main(["train", "--out", str(out), "--arch", "4,5,3", *TINY]) == 0
    return out / "checkpoint.pt"


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _evil(path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))
    import io
    buf = io.BytesIO()
    torch.save({"format": "graphnca-checkpoint", "x": Evil()}, buf)
    path.write_bytes(buf.getvalue())


BAD_RULE_FILES = [
    ("empty", lambda p: p.write_bytes(b""), "is empty"),
    ("text", lambda p: p.write_text("hello\n" * 20), "not a torch.save archive"),
    ("random", lambda p: p.write_bytes(bytes(range(256)) * 3), "not a checkpoint"),
    ("global", _evil, "asks to load the Python object"),
]


@pytest.mark.parametrize("command", ["grow", "stability", "robustness", "heatmap"])
@pytest.mark.parametrize("name, write, message", BAD_RULE_FILES, ids=[b[0] for b in BAD_RULE_FILES])
def test_bad_rule_files_give_one_line(tmp_path, capsys, command, name, write, message):
    bad = tmp_path / "bad.pt"
    write(bad)
    extra = ["--arch", "4,5,3"] if command == "grow" else []
    rc, err = run(capsys, [command, "--rule", str(bad), *extra, "--out", str(tmp_path / "o")])
    assert rc == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_refused_global_names_it_and_warns(tmp_path):
    bad = tmp_path / "evil.pt"
    _evil(bad)
    with pytest.raises(ValueError, match=r"Python object \S*print, which is refused: the file may run code"):
        load_checkpoint(bad)


BAD_FLAGS = [      # (arguments, the one line's message): refused before anything is written
    (["stability", "--rule", "R", "--updates", "0"], "argument --updates: must be >= 1"),
    (["grow", "--rule", "R", "--arch", "4,5,3", "--threads", "-2"], "argument --threads: must be >= 1"),
    (["train", "--steps", "-5"], "argument --steps: must be >= 1"),
    (["grow", "--rule", "R", "--arch", "4,5,3", "--samples", "0"], "argument --samples: must be >= 1"),
    (["robustness", "--rule", "R", "--p", "-0.5"], "argument --p: must be a fraction in [0, 1], got -0.5"),
    (["robustness", "--rule", "R", "--p", "2"], "argument --p: must be a fraction in [0, 1], got 2"),
    (["train", "--experimental", "no_such_field=1"], "no config field 'no_such_field'"),
    (["train", "--lr", "inf"], "train.lr must be a finite number in (0, inf), got inf"),
    (["train", "--step-size", "nan"], "rule.step_size must be a finite number in (0, inf), got nan"),
    (["train", "--experimental", "min_lr_ratio=nan"], "train.min_lr_ratio must be a finite number in [0, 1]"),
    (["train", "--experimental", "label_smoothing=2"], "task.label_smoothing must be a finite number in [0, 1)"),
    (["train", "--arch", "4,1000000,3", "--batch-per-arch", "8"], "GiB budget (--max-memory)"),
    (["train", "--arch", "4,5,2"], "architecture [4, 5, 2] does not fit iris (4 inputs, 3 classes)"),
    (["train", "--task", "mnist", "--data-root", "/nonexistent"], "--data-root /nonexistent is not a folder"),
    (["heatmap", "--rule", "R", "--hidden", ""], "argument --hidden: expected at least one integer"),
    (["heatmap", "--rule", "R", "--hidden", "3", "--third", "0"], "argument --third: must be >= 1"),
    (["grow", "--rule", "R", "--arch"], "argument --arch: expected one argument"),
    (["grow", "--rule", "no-such-rule", "--arch", "4,5,3"], "no pretrained rule named 'no-such-rule'"),
    (["stability", "--rule", "R", "--rule", "mnist", "--arch", "4,5,3"], "does not fit mnist"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("args, message", BAD_FLAGS, ids=[" ".join(a[:3]) for a, _ in BAD_FLAGS])
def test_bad_flags_are_one_line_before_any_work(tmp_path, capsys, rule, args, message):
    args = [str(rule) if a == "R" else a for a in args] + ["--out", str(tmp_path / "o")]
    rc, err = run(capsys, args)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1 and "usage:" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command, extra", [("grow", ["--arch", "4,5,3", "--samples", "2"]),
                                            ("stability", ["--updates", "3", "--samples", "2"]),
                                            ("robustness", ["--steps", "2", "--after", "2", "--samples", "2"])])
def test_second_run_into_one_folder_is_refused_unless_forced(tmp_path, capsys, rule, command, extra):
    out = tmp_path / "o"
    assert main([command, "--rule", str(rule), *extra, "--out", str(out)]) == 0
    before = snapshot(out)
    rc, err = run(capsys, [command, "--rule", str(rule), *extra, "--out", str(out)])
    assert rc == 2 and "already holds results of another run" in err and "--force" in err
    assert snapshot(out) == before
    assert main([command, "--rule", str(rule), *extra, "--out", str(out), "--force"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out


def test_forced_grow_leaves_no_stale_net_files(tmp_path, rule):
    out = tmp_path / "g"
    assert main(["grow", "--rule", str(rule), "--arch", "4,8,3", "--samples", "3", "--out", str(out)]) == 0
    assert main(["grow", "--rule", str(rule), "--arch", "4,16,3", "--samples", "2", "--out", str(out),
                 "--force"]) == 0
    nets = sorted(p.name for p in out.glob("net_*.pt"))
    assert nets == ["net_000.pt", "net_001.pt"] == json.loads((out / "grow.json").read_text())["files"]


def test_out_naming_a_file_is_refused_before_any_work(tmp_path, capsys, rule):
    f = tmp_path / "file"
    f.write_text("keep me")
    rc, err = run(capsys, ["grow", "--rule", str(rule), "--arch", "4,5,3", "--out", str(f)])
    assert rc == 2 and "is a file, not a folder" in err and f.read_text() == "keep me"


def test_export_never_replaces_a_resumable_checkpoint(tmp_path, capsys, rule):
    live = tmp_path / "checkpoint.pt"
    live.write_bytes(rule.read_bytes())
    rc, err = run(capsys, ["export", "--rule", str(rule), "--out", str(live), "--force"])
    assert rc == 2 and "resumable training checkpoint" in err and live.read_bytes() == rule.read_bytes()
    exported = tmp_path / "rule.pt"
    assert main(["export", "--rule", str(rule), "--out", str(exported)]) == 0
    rc, err = run(capsys, ["export", "--rule", str(rule), "--out", str(exported)])
    assert rc == 2 and "pass --force" in err
    assert main(["export", "--rule", str(rule), "--out", str(exported), "--force"]) == 0


def test_train_steps_refused_and_nothing_written(tmp_path, capsys):
    rc, err = run(capsys, ["train", "--out", str(tmp_path / "t"), "--steps", "-5"])
    assert rc == 2 and not (tmp_path / "t").exists()


@pytest.mark.parametrize("cut", ["truncated", "not-gzip"])
def test_bad_gz_idx_file(tmp_path, cut):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 50]) + bytes(50))
    path.write_bytes(data[:len(data) // 2] if cut == "truncated" else b"plain bytes, not gzip")
    with pytest.raises(ValueError, match="truncated or not a valid gzip IDX file"):
        read_idx(path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_labels_out_of_range_are_refused_in_both_splits(split):
    x, y, bad = torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 2, 1])
    with pytest.raises(ValueError, match=f"toy {split} labels must lie in \\[0, 2\\), found 0..2"):
        TaskData("toy", x, bad if split == "train" else y, x, bad if split == "test" else y, 2)


def test_nan_in_growth_data_is_refused_at_once():
    x = torch.randn(8, 3)
    x[5, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN/Inf values in 1 examples \(first: 5\)"):
        DataStream(x, torch.zeros(8, dtype=torch.long), 4)


def test_nan_in_the_state_names_the_growth_step():
    g = graphnca.WeightGraph.from_sizes([3, 4, 2])
    conv = graphnca.MetaNCAConv(hidden_size=2, widths=(8,))
    for p in conv.parameters():
        torch.nn.init.normal_(p)
    calls = []

    def poison(t, s):                        # make the rule's input non-finite after step 2
        calls.append(t)
        if t == 2:
            conv.rule.first.bias.data.fill_(float("inf"))
    with torch.no_grad(), pytest.raises(ValueError, match="state after growth step 3 holds NaN/Inf"):
        graphnca.rollout(conv, g, graphnca.init_state(g, 2), 5, callback=poison)
    assert calls == [1, 2]


def test_memory_guard_refuses_before_allocating(tmp_path, capsys, rule):
    with pytest.raises(ValueError, match="GiB budget"):
        graphnca.WeightGraph.from_sizes([10 ** 6, 10 ** 6, 10])
    rc, err = run(capsys, ["grow", "--rule", str(rule), "--arch", "4,5,3", "--samples", "1000",
                           "--max-memory", "0.001", "--out", str(tmp_path / "o")])
    assert rc == 2 and "over the 0.0 GiB budget (--max-memory)" in err


def test_stale_temp_files_are_cleaned_on_the_next_save(tmp_path):
    stale = tmp_path / ".checkpoint.pt.x1y2.tmp"
    stale.write_bytes(b"half a checkpoint")
    save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
    assert not stale.exists() and load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 1


def test_sigterm_during_train_saves_and_exits_143(tmp_path):
    out = tmp_path / "t"
    cmd = [sys.executable, "-m", "graphnca", "train", "--out", str(out), "--arch", "4,5,3",
           *[a if a != "3" else "100000" for a in TINY[:2]], *TINY[2:], "--experimental", "checkpoint_every=0"]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file, text=True)
        deadline = time.time() + 120                 # wait until the loop runs (handlers are installed by then)
        while "meta-train" not in log.read_text() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    assert proc.returncode == 143, log.read_text()[-2000:]        # 128 + SIGTERM, after saving
    ck = load_checkpoint(out / "checkpoint.pt")
    summary = json.loads((out / "train.json").read_text())["summary"]
    assert summary["interrupted"] == "SIGTERM" and 0 < ck["step"] < 100000 == ck["config"]["train"]["steps"]


# ---- an earlier run's files survive every failure of a new one ----------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["grow", "--rule", "no-such-rule", "--arch", "4,5,3"], "no pretrained rule named"),
    (["grow", "--rule", "R", "--arch", "4,5,2"], "does not fit iris"),
    (["grow", "--rule", "R", "--arch", "4,5,3", "--step-schedule", "1x2,0x3"], "needs a finite scale > 0"),
])
def test_force_checks_before_it_touches_the_earlier_run(tmp_path, capsys, rule, args, message):
    out = tmp_path / "g"
    assert main(["grow", "--rule", str(rule), "--arch", "4,5,3", "--samples", "2", "--out", str(out)]) == 0
    before = snapshot(out)
    rc, err = run(capsys, [str(rule) if a == "R" else a for a in args] + ["--out", str(out), "--force"])
    assert rc == 2 and message in err and snapshot(out) == before


def test_forced_train_with_a_bad_arch_keeps_the_finished_run(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--out", str(out), "--arch", "4,5,3", *TINY]) == 0
    before = snapshot(out)
    rc, err = run(capsys, ["train", "--out", str(out), "--arch", "4,5,2", "--force", *TINY])
    assert rc == 2 and "does not fit iris" in err and snapshot(out) == before


def test_a_run_failing_after_set_aside_puts_the_earlier_files_back(tmp_path, capsys, rule, monkeypatch):
    out = tmp_path / "g"
    assert main(["grow", "--rule", str(rule), "--arch", "4,5,3", "--samples", "2", "--out", str(out)]) == 0
    before = snapshot(out)
    import graphnca.experiments.export as export

    def broken(*a, **k):
        raise ValueError("the run failed half-way")
    monkeypatch.setattr(export, "grow_command", broken)
    rc, err = run(capsys, ["grow", "--rule", str(rule), "--arch", "4,6,3", "--out", str(out), "--force"])
    assert rc == 2 and "failed half-way" in err and snapshot(out) == before
    assert not list(out.glob(".replaced-*"))


# ---- checksums ---------------------------------------------------------------------------------------------------

def test_flipped_bytes_never_load_silently_changed(tmp_path, rule):
    import random
    exported = tmp_path / "rule.pt"
    assert main(["export", "--rule", str(rule), "--out", str(exported)]) == 0
    data, ref = bytearray(exported.read_bytes()), load_checkpoint(exported)
    rng, caught = random.Random(0), 0
    for _ in range(60):
        b = bytearray(data)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        (tmp_path / "flip.pt").write_bytes(b)
        try:
            ck = load_checkpoint(tmp_path / "flip.pt")
        except ValueError as e:
            assert "flip.pt" in str(e)
            caught += 1
            continue
        assert all(torch.equal(ck["rule"][k], ref["rule"][k]) for k in ref["rule"]) and ck["config"] == ref["config"]
    assert caught >= 30          # those that load hit bytes nothing reads (the zip's alignment padding)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "mnist-robust"])
def test_shipped_rules_pass_their_checksums(name):
    from graphnca.checkpoint import verify_checksums
    from graphnca.pretrained import rule_path
    verify_checksums(rule_path(name))


# ---- --out: writable, one run at a time, disk errors ------------------------------------------------------------

def test_an_unwritable_out_is_refused_before_any_work(capsys, rule):
    rc, err = run(capsys, ["grow", "--rule", str(rule), "--arch", "4,5,3", "--out", "/proc/graphnca-out"])
    assert rc == 2 and "--out /proc/graphnca-out cannot be written" in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_at_a_later_save_is_one_line_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    import errno
    import graphnca.checkpoint as checkpoint
    real, calls = checkpoint.write_torch, []

    def full_after_first(path, obj):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, obj)
    monkeypatch.setattr(checkpoint, "write_torch", full_after_first)
    out = tmp_path / "t"
    rc, err = run(capsys, ["train", "--out", str(out), "--arch", "4,5,3", *TINY])
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1               # the last good one


def test_a_second_run_into_a_busy_out_is_refused_naming_the_first(tmp_path, capsys, rule):
    out = tmp_path / "g"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".graphnca.lock").write_text(str(other.pid))
        rc, err = run(capsys, ["grow", "--rule", str(rule), "--arch", "4,5,3", "--out", str(out)])
        assert rc == 2 and f"in use by another graphnca run (PID {other.pid})" in err
        assert not (out / "grow.json").exists()
    finally:
        other.kill()
        other.wait()
    # the lock of a process that is gone is taken over, and released at the end
    assert main(["grow", "--rule", str(rule), "--arch", "4,5,3", "--samples", "2", "--out", str(out)]) == 0
    assert (out / "grow.json").exists() and not (out / ".graphnca.lock").exists()


def test_temp_files_of_a_live_writer_are_left_alone(tmp_path):
    import os
    live = tmp_path / f".checkpoint.pt.{os.getppid()}.abc.tmp"
    live.write_bytes(b"being written")
    save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
    assert live.exists()


# ---- data, rolled-back steps, exit codes, messages ------------------------------------------------------------

def test_nan_in_task_data_is_refused_when_loaded():
    x = torch.zeros(4, 2)
    x[2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"toy train inputs hold NaN/Inf values in 1 examples \(first: 2\)"):
        TaskData("toy", x, torch.zeros(4, dtype=torch.long), torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), 2)


def test_a_run_whose_steps_are_all_rolled_back_stops_with_an_error(tmp_path):
    from graphnca.data import load_iris
    from graphnca.meta.trainer import MAX_ROLLED_BACK, MetaTrainer
    from tests.meta.test_train import tiny
    data = load_iris()
    tr = MetaTrainer(tiny(steps=100, pool_size=0), tmp_path, data=data)
    tr.data.x_train[0, 0] = float("nan")          # poisoned after loading: every step's loss is NaN
    with pytest.raises(ValueError, match=f"the last {MAX_ROLLED_BACK} meta-steps were all rolled back"):
        tr.run(progress=False)
    assert tr.step == MAX_ROLLED_BACK


def test_resume_with_nothing_left_says_so(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--out", str(out), "--arch", "4,5,3", *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--arch", "4,5,3", "--resume", *TINY]) == 0
    assert "already at meta-step 3 of 3: nothing to resume" in capsys.readouterr().out
    shorter = [a if a != "3" else "2" for a in TINY[:2]] + TINY[2:]
    rc, err = run(capsys, ["train", "--out", str(out), "--arch", "4,5,3", "--resume", *shorter])
    assert rc == 2 and "is at meta-step 3, past --steps 2" in err


def test_library_guards_name_the_problem():
    g = graphnca.WeightGraph.from_sizes([3, 4, 2])
    with pytest.raises(ValueError, match="hidden_size must be a whole number >= 0, got -1"):
        graphnca.init_state(g, -1)
    with pytest.raises(ValueError, match="GiB of indices, over the"):
        graphnca.repeat(g, 10 ** 8)


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"graphnca {graphnca.__version__}"
