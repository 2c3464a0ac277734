"""A histogram of event ages (now - event time at evaluation) with bounded memory.

Why log buckets: ages span microseconds to tens of seconds under a flood; 16 buckets per
power of two keep every percentile within ~4.5 % of the true value in constant memory,
whatever the run length, and recording is one dict increment.
"""

from __future__ import annotations

import math

_SUB = 16


class AgeHistogram:
    """Counts of ages in nanoseconds; `percentile` and `max` in seconds."""

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.max_ns = 0

    def record(self, age_ns: int) -> None:
        if age_ns < 1:
            age_ns = 1
        key = int(math.log2(age_ns) * _SUB)
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        if age_ns > self.max_ns:
            self.max_ns = age_ns

    def percentile(self, p: float) -> float:
        """The age (seconds) below which `p` percent of the recorded ages fall (0 if none)."""
        if not self.count:
            return 0.0
        rank = p / 100 * self.count
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(2 ** ((key + 1) / _SUB), self.max_ns) / 1e9
        return self.max_ns / 1e9

    @property
    def max(self) -> float:
        return self.max_ns / 1e9

    def summary(self) -> dict[str, float]:
        return {"p50_s": self.percentile(50), "p99_s": self.percentile(99), "max_s": self.max,
                "events": float(self.count)}
