"""A histogram of event ages (now - event time at evaluation) with bounded memory.

Why log buckets: ages span microseconds to tens of seconds under a flood; 16 buckets per
power of two keep every percentile within ~6 % of the true value in constant memory,
whatever the run length, and recording is an int.bit_length, two shifts and one dict
increment (it runs once per event).
"""

from __future__ import annotations

_SUB = 16


class AgeHistogram:
    """Counts of ages in nanoseconds; `percentile` and `max` in seconds."""

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.max_ns = 0

    def record(self, age_ns: int) -> None:
        if age_ns < 32:
            age_ns = 32
        bits = age_ns.bit_length()
        key = (bits << 4) | ((age_ns >> (bits - 5)) & 15)    # power of two, then 16 steps
        buckets = self.buckets
        buckets[key] = buckets.get(key, 0) + 1
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
                bits, step = key >> 4, key & 15
                upper = (16 + step + 1) << (bits - 5)     # the bucket's upper bound
                return min(upper, self.max_ns) / 1e9
        return self.max_ns / 1e9

    @property
    def max(self) -> float:
        return self.max_ns / 1e9

    def summary(self) -> dict[str, float]:
        return {"p50_s": self.percentile(50), "p99_s": self.percentile(99), "max_s": self.max,
                "events": float(self.count)}
