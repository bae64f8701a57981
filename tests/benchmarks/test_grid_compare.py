"""benchmarks/grid_compare.py: cell-by-cell comparison of two heatmap JSONs."""
import json

import pytest

from ._helpers import bench_module


def _heatmap(path, grown, adam=None, hidden=(10, 20), third=None, samples=1, steps=5, step_schedule=None):
    path.write_text(json.dumps({"task": "mnist", "hidden": list(hidden), "third": third, "steps": steps,
                                "step_schedule": step_schedule, "samples": samples, "grown_mean": grown,
                                "adam": adam}))
    return str(path)


def test_grid_compare_counts_cells_and_reads_the_adam_grid(tmp_path, monkeypatch):
    gc = bench_module("grid_compare", monkeypatch)
    a = _heatmap(tmp_path / "a.json", [[0.90, 0.95], [0.97, 0.99]])
    b = _heatmap(tmp_path / "b.json", [[0.0, 0.0], [0.0, 0.0]], adam=[[0.91, 0.94], [0.96, 0.95]])
    s = gc.main([a, b + ":adam", "--big", "20", "--at", "0.96,0.98", "--out", str(tmp_path / "out")])
    assert s["cells_a_ge_b"] == 3 and s["cells"] == 4
    assert s["closest"]["cell"] == "10-10" and s["closest"]["diff"] == pytest.approx(-0.01)
    assert s["farthest"]["cell"] == "20-20" and s["farthest"]["diff"] == pytest.approx(0.04)
    assert s["diff_mean"] == pytest.approx((-0.01 + 0.01 + 0.01 + 0.04) / 4)
    assert s["a_mean"] == pytest.approx(0.9525) and s["b_mean"] == pytest.approx(0.94)
    assert s["a_big_mean"] == pytest.approx(0.99) and s["a_row_means"] == pytest.approx([0.925, 0.98])
    assert s["a_cells_at"] == {"0.96": 2, "0.98": 1}
    written = json.loads((tmp_path / "out" / "grid_compare.json").read_text())
    assert written["summary"]["cells_a_ge_b"] == 3 and (tmp_path / "out" / "grid_compare.png").exists()
    assert gc.main([a, b, "--out", str(tmp_path / "out")])["cells_a_ge_b"] == 4      # plain FILE: the grown grid


def test_grid_compare_averages_seeds_by_their_networks(tmp_path, monkeypatch):
    """``A+B``: each cell's mean over both runs' networks (a 3-network run counts three times a 1-network one)."""
    gc = bench_module("grid_compare", monkeypatch)
    a = _heatmap(tmp_path / "a.json", [[0.90, 0.94], [0.96, 0.98]], samples=3)
    b = _heatmap(tmp_path / "b.json", [[0.94, 0.90], [0.96, 0.94]])
    record, grid = gc.load_grid(f"{a}+{b}")
    assert grid == [pytest.approx(r) for r in ([0.91, 0.93], [0.96, 0.97])] and record["samples"] == 4
    ref = _heatmap(tmp_path / "r.json", [[0.905, 0.935], [0.955, 0.975]])
    s = gc.main([f"{a}+{b}", ref, "--out", str(tmp_path / "out")])
    assert s["cells_a_ge_b"] == 2 and s["closest"]["cell"] in ("10-20", "20-20")
    assert json.loads((tmp_path / "out" / "grid_compare.json").read_text())["a_samples"] == 4
    with pytest.raises(ValueError, match="cannot average grids that differ in steps"):
        gc.main([f"{a}+{_heatmap(tmp_path / 'c.json', [[0.9, 0.9], [0.9, 0.9]], steps=9)}", ref,
                 "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="cannot average grids that differ in step_schedule"):
        gc.main([f"{a}+{_heatmap(tmp_path / 'd.json', [[0.9, 0.9], [0.9, 0.9]], step_schedule='1x4,0.5x1')}", ref,
                 "--out", str(tmp_path)])


def test_grid_compare_refuses_grids_that_do_not_match(tmp_path, monkeypatch):
    gc = bench_module("grid_compare", monkeypatch)
    a = _heatmap(tmp_path / "a.json", [[0.9, 0.9], [0.9, 0.9]])
    with pytest.raises(ValueError, match="grids differ in hidden"):
        gc.main([a, _heatmap(tmp_path / "b.json", [[0.9, 0.9], [0.9, 0.9]], hidden=(10, 30)), "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="grids differ in third"):
        gc.main([a, _heatmap(tmp_path / "c.json", [[0.9, 0.9], [0.9, 0.9]], third=50), "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="has no 'adam' grid"):
        gc.main([a, a + ":adam", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="unknown grid 'best'"):
        gc.main([a, a + ":best", "--out", str(tmp_path)])
    (tmp_path / "x.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="not a graphnca heatmap JSON"):
        gc.main([a, str(tmp_path / "x.json"), "--out", str(tmp_path)])
    assert not list(tmp_path.glob("grid_compare.*"))                                   # nothing half-written
