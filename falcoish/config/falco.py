"""The keys of Falco's `falco.yaml` that falcoish does not have, and what it does instead.

Why a table: a Falco user points `-c` at the `falco.yaml` they already run.  Its keys fall in
three groups -- the ones falcoish implements (config.SCHEMA), the ones Falco has and falcoish
does not (this table: warned about once each and ignored, so the file loads), and keys that are
neither (a typo: an error).  Keeping Falco's keys in one table lets the loader tell the second
group from the third, and docs/outputs.md ("Falco keys falcoish ignores") is checked against it.

An entry names a whole top-level section (`engine`: every key under it) or one key inside a
section falcoish implements (`http_output.mtls`).  Also here: Falco's stock rule paths
(`/etc/falco/...`), which falcoish maps to its own when they do not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

_LIVE = "falcoish captures live with its own eBPF probe (falcoish run), or replays recordings (-e)"
_TLS = "the webhook verifies TLS with http_output.ca_cert (a CA bundle) or the system store"

#: key -> what falcoish does instead (the text shown after "ignored: falcoish does not support KEY;")
FALCO_ONLY: dict[str, str] = {
    "config_files": "put every setting in this one file, or give -o key=value",
    "engine": _LIVE,
    "capture": "falcoish run --record FILE records the events it sees as JSON lines",
    "load_plugins": "falcoish has no plugins; its event sources are built in",
    "plugins": "falcoish has no plugins; container fields come from /proc (cgroups), built in",
    "plugins_hostinfo": "evt.hostname and the host's details are always available",
    "buffer_format_base64": "buffer fields (evt.buffer) are printed escaped, as falcoish's "
                            "text output always does",
    "webserver": "metrics.listen_port serves Prometheus metrics; nothing else listens",
    "log_stderr": "falcoish always logs to stderr",
    "log_syslog": "falcoish logs to stderr only; alerts can go to syslog_output",
    "log_level": "falcoish logs warnings and errors on stderr",
    "libs_logger": "falcoish has no libs logger; capture problems are logged on stderr",
    "syscall_event_timeouts": "a quiet host is not an error; no event timeout",
    "syscall_event_drops": "dropped events are counted in the run summary and in metrics",
    "base_syscalls": "the kernel filter captures exactly the syscalls the enabled rules need "
                     "(kernel_filter.enabled)",
    "falco_libs": "the process table is sized and purged automatically",
    "http_output.ca_bundle": _TLS,
    "http_output.ca_path": _TLS,
    "http_output.mtls": "no client certificates; authenticate with http_output.headers",
    "http_output.client_cert": "no client certificates; authenticate with http_output.headers",
    "http_output.client_key": "no client certificates; authenticate with http_output.headers",
    "http_output.echo": "the webhook's reply is not printed; failed deliveries are logged",
    "http_output.compress_uploads": "request bodies are sent uncompressed",
    "http_output.keep_alive": "each alert is one request",
    "http_output.max_consecutive_timeouts": "failed requests are retried (outputs.retry_*) "
                                            "and then spooled, never dropped",
    "metrics.enabled": "metrics are served when metrics.listen_port is set",
    "metrics.interval": "metrics are read on demand from metrics.listen_port",
    "metrics.output_rule": "metrics are served on metrics.listen_port, not as alerts",
    "metrics.output_file": "metrics are served on metrics.listen_port, not written to a file",
    "metrics.rules_counters_enabled": "every metric is always served",
    "metrics.resource_utilization_enabled": "every metric is always served",
    "metrics.state_counters_enabled": "every metric is always served",
    "metrics.kernel_event_counters_enabled": "every metric is always served",
    "metrics.kernel_event_counters_per_cpu_enabled": "every metric is always served",
    "metrics.libbpf_stats_enabled": "every metric is always served",
    "metrics.plugins_metrics_enabled": "every metric is always served",
    "metrics.kernel_iter_event_counters_enabled": "every metric is always served",
    "metrics.jemalloc_stats_enabled": "every metric is always served",
    "metrics.convert_memory_to_mb": "memory is reported in bytes",
    "metrics.include_empty_values": "every metric is always served",
}


def falco_only(key: str) -> str | None:
    """The table entry covering dotted `key` (itself or its section), if any."""
    if key in FALCO_ONLY:
        return key
    section = key.split(".", 1)[0]
    return section if section in FALCO_ONLY and "." not in section else None


def ignored_warnings(found: list[tuple[str, str]]) -> list[str]:
    """One warning per ignored key met, as (origin, table key) in the order met; keys of one
    section that share the same "instead" are named on one line (at the first one's origin),
    so Falco's fifteen `metrics.*_enabled` switches are not fifteen lines."""
    groups: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for origin, key in found:
        group = groups.setdefault((key.split(".", 1)[0], FALCO_ONLY[key]), (origin, []))
        group[1].append(key)
    return [f"{origin}: ignored: falcoish does not support {', '.join(keys)}; {instead}"
            for (_, instead), (origin, keys) in groups.items()]


# -- Falco's stock rule paths ------------------------------------------------------------------

def falcoish_default_rules() -> str:
    """falcoish's own rules ($FALCOISH_DEFAULT_RULES or the `default_rules/` folder)."""
    return (os.environ.get("FALCOISH_DEFAULT_RULES")
            or str(Path(__file__).resolve().parent.parent.parent / "default_rules"))


def _stock_counterparts() -> dict[str, str]:
    return {"/etc/falco/falco_rules.yaml": falcoish_default_rules(),
            "/etc/falco/falco_rules.local.yaml": "/etc/falcoish/falco_rules.local.yaml",
            "/etc/falco/rules.d": "/etc/falcoish/rules.d"}


def map_stock_rules(paths: tuple[str, ...], origin: str) -> tuple[tuple[str, ...], list[str]]:
    """`rules_files` with each of Falco's stock paths that does not exist on this host replaced
    by falcoish's counterpart (its default rules, its local file and folder), and a warning for
    each.  Why: a stock `falco.yaml` names /etc/falco/..., which a host without Falco lacks;
    loading nothing there would silently drop every rule, and an error would make the stock
    file unusable.  Any other missing path is left alone: the loader reports it as an error."""
    counterparts = _stock_counterparts()
    out: list[str] = []
    warnings: list[str] = []
    for path in paths:
        other = counterparts.get(os.path.normpath(path)) if path.startswith("/") else None
        if other is None or os.path.exists(path):
            out.append(path)
            continue
        if os.path.exists(other):
            out.append(other)
            warnings.append(f"{origin}: rules_files: {path} (Falco's stock path) does not exist; "
                            f"loading falcoish's {other} in its place")
        else:
            warnings.append(f"{origin}: rules_files: {path} (Falco's stock path) does not exist, "
                            f"nor does falcoish's {other}: nothing loaded in its place")
    return tuple(out), warnings
