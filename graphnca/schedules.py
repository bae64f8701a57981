"""Rollout-length schedules: small objects mapping a meta-step to the number of growth steps."""
from __future__ import annotations

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
