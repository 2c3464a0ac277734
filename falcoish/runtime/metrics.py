"""Prometheus metrics (`falcoish run --metrics-port N`, config `metrics.listen_port`).

Why a collector read at scrape time: the per-event path only bumps the plain counters it
keeps anyway; Prometheus objects are built when someone asks, so metrics cost nothing
between scrapes.  Rule evaluation time is a histogram of one event in 128.

Why 127.0.0.1 by default (`metrics.listen_address`): the endpoint has no authentication and
says what falcoish sees and misses; it is exposed beyond this host only when asked.  The
socket is bound before any event is read, so a taken port or a wrong address stops the run
with one line (`MetricsError`), not a traceback after detection has started.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from prometheus_client import Histogram, start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import FalcoishError
from .health import Health


class MetricsError(FalcoishError):
    """The endpoint cannot listen where it was told to (port taken, address not here...)."""


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
    yield CounterMetricFamily("falcoish_tampered_events",
                              "Events whose argument the process's memory misreported (kernel copy used)",
                              value=summary.get("tampered_events", 0))


def serve_metrics(port: int, health: Health,
                  channel_stats: Callable[[], dict[str, dict[str, int]]] = dict,
                  address: str = "127.0.0.1") -> None:
    """Start the /metrics endpoint (a daemon thread) and hook the evaluation-time histogram;
    raise MetricsError when it cannot listen on `address`:`port`."""
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    if not 0 < port < 65536:
        raise MetricsError(f"cannot serve metrics on {where}: the port must be 1-65535")
    try:
        start_http_server(port, addr=address)
    except OSError as exc:   # taken, not an address of this host, privileged port, unknown name
        raise MetricsError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
    REGISTRY.register(_HealthCollector(health, channel_stats))
    histogram = Histogram("falcoish_rule_evaluation_seconds",
                          "Time to evaluate the rules for one event (sampled: 1 event in 128)",
                          buckets=(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2))
    health.engine.on_eval_time = histogram.observe
