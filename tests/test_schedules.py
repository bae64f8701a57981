import pytest
import torch

from graphnca.schedules import FixedLength, GrowingLength, StepSchedule, UniformLength, parse_schedule


def test_parse_and_ranges():
    g = torch.Generator().manual_seed(0)
    assert parse_schedule("fixed:7") == FixedLength(7)
    u = parse_schedule("uniform:3,5")
    assert u == UniformLength(3, 5) and {u(0, g) for _ in range(50)} == {3, 4, 5} and u.max == 5
    grow = parse_schedule("growing:2,10,100")
    assert grow == GrowingLength(2, 10, 100)
    assert max(grow(0, g) for _ in range(30)) == 2
    assert max(grow(100, g) for _ in range(200)) == 10


@pytest.mark.parametrize("spec", ["fixed", "fixed:0", "uniform:5,3", "cosine:3", "uniform:a,b", "growing:1,2"])
def test_bad_specs(spec):
    with pytest.raises(ValueError, match="rollout schedule"):
        parse_schedule(spec)


def test_step_schedule_parse_and_total():
    s = StepSchedule.parse("1x2000, 0.3x1000")
    assert s.segments == ((1.0, 2000), (0.3, 1000)) and s.steps == 3000 and str(s) == "1x2000,0.3x1000"
    assert StepSchedule.parse(str(s)) == s


@pytest.mark.parametrize("text", ["0.1", "0.1x", "ax10", "0x10", "0.1x-1", "infx5", "-1x3", "1x2,", "1x2.5"])
def test_bad_step_schedules(text):
    with pytest.raises(ValueError, match="step schedule segment"):
        StepSchedule.parse(text)
