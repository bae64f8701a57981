"""Schedules as small objects: rollout lengths (a meta-step -> the number of growth steps) and growth-time step
multiples (:class:`StepSchedule`, the rule's step decayed during growth like an optimiser's learning rate)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FixedLength:
    steps: int

    def __call__(self, step: int, generator: torch.Generator | None = None) -> int:
        return self.steps

    @property
    def max(self) -> int:
        return self.steps


@dataclass(frozen=True)
class UniformLength:
    """A length drawn uniformly from ``[low, high]`` each meta-step (GNCA's 64..96 trick against overfitting to
    one horizon)."""

    low: int
    high: int

    def __call__(self, step: int, generator: torch.Generator | None = None) -> int:
        return int(torch.randint(self.low, self.high + 1, (1,), generator=generator))

    @property
    def max(self) -> int:
        return self.high


@dataclass(frozen=True)
class GrowingLength:
    """Uniform in ``[low, cap]`` where ``cap`` rises linearly from ``low`` to ``high`` over ``over`` meta-steps:
    short, cheap rollouts first, long ones once the rule is stable."""

    low: int
    high: int
    over: int

    def __call__(self, step: int, generator: torch.Generator | None = None) -> int:
        cap = self.low + (self.high - self.low) * min(1.0, step / max(1, self.over))
        return int(torch.randint(self.low, int(round(cap)) + 1, (1,), generator=generator))

    @property
    def max(self) -> int:
        return self.high


def parse_schedule(spec: str):
    """``"fixed:T"``, ``"uniform:LOW,HIGH"`` or ``"growing:LOW,HIGH,OVER"``."""
    kind, _, args = spec.partition(":")
    try:
        nums = [int(a) for a in args.split(",")]
        sched = {"fixed": FixedLength, "uniform": UniformLength, "growing": GrowingLength}[kind](*nums)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"bad rollout schedule {spec!r}; use fixed:T, uniform:LOW,HIGH or growing:LOW,HIGH,OVER")
    if min(nums) < 1 or (len(nums) >= 2 and nums[0] > nums[1]):
        raise ValueError(f"bad rollout schedule {spec!r}: lengths must be positive and LOW <= HIGH")
    return sched


@dataclass(frozen=True)
class StepSchedule:
    """Growth in segments: ``segments = ((k, n), ...)`` grows ``n`` updates at ``k`` times the rule's step (on top
    of any per-layer multiples), each segment from where the last stopped. ``"1x2000,0.3x1000"``: 2000 updates at
    the rule's own step, then 1000 at 0.3 of it."""

    segments: tuple[tuple[float, int], ...]

    def __post_init__(self):
        if not self.segments:
            raise ValueError("a step schedule needs at least one SCALExSTEPS segment")
        for k, n in self.segments:
            if not (math.isfinite(k) and k > 0 and n >= 0):       # 0 steps: the initial networks, as `--steps 0`
                raise ValueError(f"step schedule segment {k}x{n} needs a finite scale > 0 and steps >= 0")

    @property
    def steps(self) -> int:
        return sum(n for _, n in self.segments)

    @classmethod
    def parse(cls, text: str) -> StepSchedule:
        """``"0.3x40,0.1x160"`` -> ``StepSchedule(((0.3, 40), (0.1, 160)))``."""
        segs = []
        for part in text.split(","):
            try:
                k, n = part.strip().split("x")
                segs.append((float(k), int(n)))
            except ValueError:
                raise ValueError(f"step schedule segment {part!r} is not SCALExSTEPS (e.g. 0.1x200)") from None
        return cls(tuple(segs))

    def __str__(self) -> str:
        return ",".join(f"{k:g}x{n}" for k, n in self.segments)
