"""The event-age histogram: percentiles within a few percent, the maximum exact."""

from __future__ import annotations

import random

from falcoish.runtime.latency import AgeHistogram


def test_percentiles_are_close_and_max_exact() -> None:
    rng = random.Random(3)
    ages = [rng.randint(1_000, 5_000_000_000) for _ in range(50_000)] + [12_345_678_901]
    h = AgeHistogram()
    for a in ages:
        h.record(a)
    ages.sort()
    for p in (50, 90, 99):
        true = ages[int(len(ages) * p / 100) - 1] / 1e9
        assert abs(h.percentile(p) / true - 1) < 0.07, (p, h.percentile(p), true)
    assert h.max == ages[-1] / 1e9 and h.count == len(ages)
    assert h.summary()["p99_s"] <= h.summary()["max_s"]


def test_empty_and_tiny() -> None:
    h = AgeHistogram()
    assert h.percentile(99) == 0.0 and h.summary()["events"] == 0
    h.record(0)
    h.record(-5)          # clock steps: counted as tiny ages, not lost
    assert h.count == 2 and h.percentile(50) <= 64e-9
