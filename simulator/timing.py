"""Realistic timing: per-operation duration variance and Event Grid delivery latency, both seeded.

Azure's operations do not take one fixed time, and Event Grid delivers ARM events late
(seconds to minutes; see docs/simulator.md, "Conformance: refusals and timing"). A product
wait tuned to one duration, or one that needs the event to arrive at once, shows up here.

``AVD_SIM_SEED`` (an integer) turns duration variance on and seeds it; without it durations
are exactly the table's. ``AVD_SIM_EVENT_LATENCY`` is ``"LO-HI"`` seconds (default
``"10-120"``) or ``"0"`` for delivery at once.
"""

from __future__ import annotations

import math
import os
import random

DEFAULT_EVENT_LATENCY = (10.0, 120.0)
SPREAD = 0.3  # sigma of the log-normal duration factor: most operations within about x0.75-x1.35
LOWEST, HIGHEST = 0.5, 2.0  # the factor never leaves x0.5-x2.0


def seed_from_env() -> int | None:
    """The seed in ``AVD_SIM_SEED``, or None when it is unset or empty."""
    text = os.environ.get("AVD_SIM_SEED", "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"AVD_SIM_SEED must be an integer, got {text!r}") from None


def latency_from_env() -> tuple[float, float]:
    """``AVD_SIM_EVENT_LATENCY`` as (lo, hi) seconds; the default when unset."""
    text = os.environ.get("AVD_SIM_EVENT_LATENCY", "").strip()
    if not text:
        return DEFAULT_EVENT_LATENCY
    return parse_latency(text)


def parse_latency(text: str) -> tuple[float, float]:
    """``"10-120"`` -> (10, 120); ``"0"`` -> (0, 0)."""
    try:
        parts = [float(p) for p in text.split("-", 1)]
    except ValueError:
        raise ValueError(f"event latency must be 'LO-HI' seconds or '0', got {text!r}") from None
    lo, hi = (parts[0], parts[-1])
    if lo < 0 or hi < lo:
        raise ValueError(f"event latency must satisfy 0 <= LO <= HI, got {text!r}")
    return lo, hi


class Variance:
    """Multiplies durations by a seeded log-normal factor, a new one per operation."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._rng = random.Random(seed) if seed is not None else None  # noqa: S311 - reproducible timing, not secrets

    @property
    def on(self) -> bool:
        return self._rng is not None

    def factor(self) -> float:
        if self._rng is None:
            return 1.0
        return min(HIGHEST, max(LOWEST, math.exp(self._rng.gauss(0.0, SPREAD))))

    def apply(self, seconds: float) -> float:
        return seconds * self.factor()

    def table(self, durations: dict[str, float]) -> dict[str, float]:
        """A copy of ``durations`` with one factor per entry (a guest's device encryption at first boot)."""
        return {key: self.apply(value) for key, value in durations.items()}


class Latency:
    """Seconds between an event and its delivery, uniform in [lo, hi], seeded."""

    def __init__(self, bounds: tuple[float, float], seed: int | None) -> None:
        self.lo, self.hi = bounds
        self._rng = random.Random(seed if seed is not None else 0)  # noqa: S311 - reproducible timing

    def next(self) -> float:
        if self.hi <= 0:
            return 0.0
        return self._rng.uniform(self.lo, self.hi)
