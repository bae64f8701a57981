"""benchmarks/growth_schedule.py: piecewise growth-time step schedules, chosen on validation data."""
import json

from ._helpers import run, tiny_data_rule


def test_growth_schedule_grows_on_from_each_segment(tmp_path):
    """Every schedule x batch size is reported; a one-segment schedule equals step_scale.py's row at that length,
    and a two-segment schedule's first segment equals the one-segment schedule of that length."""
    tiny_data_rule(tmp_path)
    rule, mnist = str(tmp_path / "rule" / "checkpoint.pt"), str(tmp_path / "mnist")
    run("growth_schedule.py", "--rule", rule, "--data-root", mnist, "--arch", "784,5,10", "--samples", "2",
        "--schedules", "1x2;1x1,0.5x2", "--grow-batches", "4,8", "--val", "10", out=tmp_path)
    data = json.loads((tmp_path / "growth_schedule_mnist_784-5-10.json").read_text())
    rows = data["rows"]
    assert [(r["schedule"], r["grow_batch"], r["steps"]) for r in rows] == [
        ("1x2", 4, 2), ("1x2", 8, 2), ("1x1,0.5x2", 4, 3), ("1x1,0.5x2", 8, 3)]
    assert [len(r["val_after_segment"]) for r in rows] == [1, 1, 2, 2]
    assert data["selected"]["val_mean"] == max(r["val_mean"] for r in rows)
    run("step_scale.py", "--rule", rule, "--data-root", mnist, "--arch", "784,5,10", "--samples", "2",
        "--scales", "1", "--steps", "1,2", "--val", "10", "--grow-batch", "4", out=tmp_path)
    ss = json.loads((tmp_path / "step_scale_mnist_784-5-10.json").read_text())["rows"]
    assert rows[0]["test"] == ss[1]["test"] and rows[0]["val_mean"] == ss[1]["val_mean"]
    assert rows[2]["val_after_segment"][0] == ss[0]["val_mean"]
    assert (tmp_path / "growth_schedule_mnist_784-5-10.png").stat().st_size > 0
