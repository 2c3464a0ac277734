"""Prometheus metrics (`falcoish run --metrics-port N`).

Why a collector read at scrape time: the per-event path only bumps the plain counters it
keeps anyway; Prometheus objects are built when someone asks, so metrics cost nothing
between scrapes.  Rule evaluation time is a histogram of one event in 128.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from prometheus_client import Histogram, start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .health import Health


class _HealthCollector(Collector):
    def __init__(self, health: Health, channel_stats: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.health = health
        self.channel_stats = channel_stats

    def collect(self) -> Iterator[Metric]:
        engine = self.health.engine
        events = CounterMetricFamily("falcoish_events", "Events evaluated, by event type", labels=["type"])
        for evtype, n in engine.events_by_type.items():
            events.add_metric([evtype], n)
        yield events
        alerts = CounterMetricFamily("falcoish_alerts", "Alerts raised, by rule and priority",
                                     labels=["rule", "priority"])
        priorities = {r.name: r.priority for r in engine.ruleset.rules}
        for rule, n in engine.alerts_by_rule.items():
            alerts.add_metric([rule, priorities.get(rule, "")], n)
        yield alerts
        yield CounterMetricFamily("falcoish_bad_records", "Event records skipped as unreadable",
                                  value=self.health.bad_records)
        summary: dict[str, Any] = self.health.summary()
        drops = CounterMetricFamily("falcoish_dropped_events", "Events lost before evaluation", labels=["where"])
        drops.add_metric(["kernel"], summary.get("kernel_drops", 0))
        drops.add_metric(["userspace"], summary.get("user_drops", 0))
        yield drops
        if self.health.capture is not None:
            yield from _capture_metrics(self.health.capture.stats, summary)
        channel = CounterMetricFamily("falcoish_output_alerts", "Alerts per output channel and outcome",
                                      labels=["channel", "outcome"])
        for name, counts in self.channel_stats().items():
            for outcome, n in counts.items():
                channel.add_metric([name, outcome], n)
        yield channel
        yield GaugeMetricFamily("falcoish_rules_enabled", "Enabled rules", value=len(engine.ruleset.enabled))


def _capture_metrics(stats: dict[str, Any], summary: dict[str, Any]) -> Iterator[Metric]:
    """The probe's own counts per event type and lane, and the age of events at evaluation."""
    kernel = CounterMetricFamily("falcoish_kernel_events",
                                 "Events the probe saw per type: filtered in the kernel, sent or "
                                 "dropped (ring buffer full) per lane", labels=["type", "outcome"])
    for evtype, counts in stats.get("kernel", {}).items():
        for outcome, n in counts.items():
            kernel.add_metric([evtype, outcome], n)
    yield kernel
    lanes = CounterMetricFamily("falcoish_lane_events", "Records sent and dropped per ring buffer lane",
                                labels=["lane", "outcome"])
    for lane, counts in summary.get("lanes", {}).items():
        for outcome, n in counts.items():
            lanes.add_metric([lane, outcome], n)
    yield lanes
    age = GaugeMetricFamily("falcoish_event_age_seconds",
                            "Age of events when evaluated (now - event time), over the run",
                            labels=["quantile"])
    ages = summary.get("event_age", {})
    for label, key in (("0.5", "p50_s"), ("0.99", "p99_s"), ("1", "max_s")):
        age.add_metric([label], ages.get(key, 0.0))
    yield age
    yield CounterMetricFamily("falcoish_flood_alerts", "Syscall flood alerts raised",
                              value=summary.get("flood_alerts", 0))


def serve_metrics(port: int, health: Health,
                  channel_stats: Callable[[], dict[str, dict[str, int]]] = dict,
                  address: str = "0.0.0.0") -> None:
    """Start the /metrics endpoint (a daemon thread) and hook the evaluation-time histogram."""
    REGISTRY.register(_HealthCollector(health, channel_stats))
    histogram = Histogram("falcoish_rule_evaluation_seconds",
                          "Time to evaluate the rules for one event (sampled: 1 event in 128)",
                          buckets=(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2))
    health.engine.on_eval_time = histogram.observe
    start_http_server(port, addr=address)
