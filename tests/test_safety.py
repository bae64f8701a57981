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
    ("text", lambda p: p.write_text("hello\n" * 20), "truncated, corrupt or not a checkpoint"),
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


BAD_FLAGS = [
    (["stability", "--rule", "R", "--updates", "0"], "argument --updates: must be >= 1"),
    (["grow", "--rule", "R", "--arch", "4,5,3", "--threads", "-2"], "argument --threads: must be >= 1"),
    (["train", "--steps", "-5"], "argument --steps: must be >= 1"),
    (["grow", "--rule", "R", "--arch", "4,5,3", "--samples", "0"], "argument --samples: must be >= 1"),
    (["robustness", "--rule", "R", "--p", "-0.5"], "argument --p: must be >= 0.0"),
    (["train", "--experimental", "no_such_field=1"], "no config field 'no_such_field'"),
]


@pytest.mark.parametrize("args, message", BAD_FLAGS)
def test_numeric_flags_are_checked_at_parse_time(tmp_path, capsys, rule, args, message):
    args = [str(rule) if a == "R" else a for a in args] + ["--out", str(tmp_path / "o")]
    rc, err = run(capsys, args)
    assert rc == 2 and message in err
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


def test_sigterm_during_train_saves_and_exits_cleanly(tmp_path):
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
    assert proc.returncode == 0, log.read_text()
    ck = load_checkpoint(out / "checkpoint.pt")
    summary = json.loads((out / "train.json").read_text())["summary"]
    assert summary["interrupted"] == "SIGTERM" and 0 < ck["step"] < 100000 == ck["config"]["train"]["steps"]
