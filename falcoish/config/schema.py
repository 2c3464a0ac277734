"""The table of falcoish.yaml keys: type, default, check and one line of documentation each.

Why a module of its own: config.py merges and checks settings against this table, docs/outputs.md
is checked against it, and the table grows with every feature -- one place to add a key.
"""

from __future__ import annotations

from types import MappingProxyType

from .values import (Check, Key, _address, _append_output, _bool, _choice, _command, _float, _int, _port,
                     _priority, _str, _str_list, _str_map, _template, _url)

# -- the schema -----------------------------------------------------------------------------

SCHEMA: dict[str, Key] = {
    "rules_files": Key("list of paths", (), _str_list,
                       "rules files and folders, loaded in order; empty = falcoish's default rules"),
    "priority": Key("priority", "Debug", _priority,
                    "minimum rule priority to load (emergency ... debug)"),
    "rule_matching": Key("first | all", "first", _choice("first", "all"),
                         "fire only the first matching rule per event, or all"),
    "watch_config_files": Key("bool", True, _bool,
                              "reload the rules when a rules file, rules folder or the config file "
                              "changes (SIGHUP always reloads)"),
    "append_output": Key("list of entries", ({"match": {"source": "", "rule": "", "tags": []},
                                               "extra_output": "", "suggested_output": True,
                                               "extra_fields": []},),
                         _append_output, "Falco's append_output: extra output / suggested fields "
                         "added to the outputs of matching rules"),
    "json_output": Key("bool", False, _bool, "alerts as Falco JSON objects instead of text lines"),
    "json_include_output_property": Key("bool", True, _bool, "JSON alerts carry `output`"),
    "json_include_tags_property": Key("bool", True, _bool, "JSON alerts carry `tags`"),
    "json_include_output_fields_property": Key("bool", True, _bool,
                                               "JSON alerts carry `output_fields`"),
    "json_include_message_property": Key("bool", False, _bool,
                                         "JSON alerts carry `message` (output without time/priority)"),
    "time_format_iso_8601": Key("bool", False, _bool, "ISO 8601 times in text alert lines"),
    "buffered_outputs": Key("bool", False, _bool,
                            "let stdout/file/program writes buffer instead of flushing per alert"),
    "output_timeout": Key("int (ms)", 2000, _int(1),
                          "how long a per-alert program_output process may run before it is "
                          "left to finish on its own (and logged)"),
    "outputs_queue.capacity": Key("int", 10000, _int(0),
                                  "alerts queued per channel before overflowing to its spool; 0 = unbounded"),
    "outputs.rate": Key("number (alerts/s)", 0.0, _float(0),
                        "token-bucket refill rate; 0 = no rate limit"),
    "outputs.max_burst": Key("int", 1000, _int(1), "token-bucket size (alerts allowed in a burst)"),
    "outputs.summary_interval": Key("number (s)", 60.0, _float(0, above=True),
                                    "how often suppressed-alert summaries are emitted"),
    "outputs.suppressed_file": Key("path", "", _str,
                                   "also append rate-limited alerts to this file (JSON lines); "
                                   "empty = only count them"),
    "outputs.spool_dir": Key("path", "", _str,
                             "spool folder; empty = /var/lib/falcoish/spool as root, "
                             "else $XDG_STATE_HOME/falcoish/spool"),
    "outputs.fsync_interval": Key("number (s)", 0.1, _float(0),
                                  "how often spool and journal writes are fsynced; 0 = after every write"),
    "outputs.retry_attempts": Key("int", 3, _int(1), "delivery attempts before an alert is spooled"),
    "outputs.retry_backoff": Key("number (s)", 0.5, _float(0, above=True),
                                 "first retry delay; doubles per attempt"),
    "outputs.retry_max_backoff": Key("number (s)", 30.0, _float(0, above=True),
                                     "cap of the retry delay and of the spool re-send interval"),
    "stdout_output.enabled": Key("bool", True, _bool, "print alerts on standard output"),
    "file_output.enabled": Key("bool", False, _bool, "append alerts to a file"),
    "file_output.filename": Key("path", "", _str, "the alerts file"),
    "file_output.keep_alive": Key("bool", False, _bool,
                                  "keep the file open (else reopen per alert)"),
    "program_output.enabled": Key("bool", False, _bool, "pipe alerts to a program's stdin"),
    "program_output.program": Key("command", "", _command,
                                  "program and arguments, split like a shell would but run without one"),
    "program_output.shell": Key("bool", False, _bool,
                                "run program with /bin/sh -c, as Falco does (pipelines, variables)"),
    "program_output.keep_alive": Key("bool", False, _bool,
                                     "one long-lived process (else one process per alert)"),
    "http_output.enabled": Key("bool", False, _bool, "POST alerts to a webhook"),
    "http_output.url": Key("URL", "", _url, "webhook URL (http:// or https://)"),
    "http_output.headers": Key("map of strings", MappingProxyType({}), _str_map,
                               "extra request headers"),
    "http_output.template": Key("template", "", _template, "request body template (docs/outputs.md)"),
    "http_output.template_file": Key("path", "", _str, "read the body template from this file"),
    "http_output.content_type": Key("string", "", _str,
                                    "Content-Type; empty = application/json with json_output or a "
                                    "template, else text/plain"),
    "http_output.user_agent": Key("string", "falcoish/0.1.0", _str, "User-Agent header"),
    "http_output.insecure": Key("bool", False, _bool, "skip TLS certificate verification"),
    "http_output.ca_cert": Key("path", "", _str, "CA bundle to verify the server with"),
    "http_output.timeout": Key("number (s)", 5.0, _float(0, above=True), "per-request timeout"),
    "syslog_output.enabled": Key("bool", False, _bool, "send alerts to syslog (LOG_USER)"),
    "kernel_filter.enabled": Key("bool", True, _bool,
                                 "live: drop in the kernel the events no enabled rule could match "
                                 "(`falcoish events --kernel-filter` shows the filter)"),
    "syscall_flood.threshold": Key("int (events/s)", 50000, _int(0),
                                   "live: a process sending more captured events per second than "
                                   "this raises an internal alert; 0 = off"),
    "syscall_flood.duration": Key("int (s)", 2, _int(1), "seconds in a row above the threshold"),
    "syscall_flood.rate_limit": Key("number (s)", 60.0, _float(0),
                                    "at most one flood alert per process in this many seconds"),
    "syscall_tamper.priority": Key("priority", "Critical", _priority,
                                   "live: priority of the internal alert raised when a process's "
                                   "memory changed a syscall argument while the kernel read it"),
    "rules_reload.allow_shrink": Key("bool", False, _bool,
                                     "let a reload go through that would leave fewer than half of the "
                                     "enabled rules, or none (refused by default; = --allow-rules-shrink)"),
    "metrics.listen_port": Key("port", 0, _port, "serve Prometheus metrics on this TCP port; 0 = off "
                               "(= --metrics-port)"),
    "metrics.listen_address": Key("address", "127.0.0.1", _address,
                                  "address the metrics endpoint listens on; 0.0.0.0 or :: = every "
                                  "interface (= --metrics-address)"),
    "replay.max_line_bytes": Key("int (bytes)", 16 << 20, _int(1024),
                                 "longest replay line read; a longer one is a bad record, never read whole"),
    "replay.max_shared_sections": Key("int", 16384, _int(16),
                                      "shared sections kept while replaying; the least recently defined "
                                      "are dropped beyond it"),
    "replay.max_shared_bytes": Key("int (bytes)", 256 << 20, _int(1024),
                                   "total length of the shared-section definition lines kept"),
}

SECTIONS = frozenset(key.split(".", 1)[0] for key in SCHEMA if "." in key)
_MAP_KEYS = frozenset(key for key, spec in SCHEMA.items() if spec.check is _str_map)
_LIST_KEYS = frozenset(key for key, spec in SCHEMA.items() if spec.check is _str_list)
_TEXT_CHECKS: tuple[Check, ...] = (_str, _url, _command, _template, _address)
