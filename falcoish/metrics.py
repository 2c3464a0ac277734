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
        channel = CounterMetricFamily("falcoish_output_alerts", "Alerts per output channel and outcome",
                                      labels=["channel", "outcome"])
        for name, counts in self.channel_stats().items():
            for outcome, n in counts.items():
                channel.add_metric([name, outcome], n)
        yield channel
        yield GaugeMetricFamily("falcoish_rules_enabled", "Enabled rules", value=len(engine.ruleset.enabled))


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
