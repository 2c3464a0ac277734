"""falcoish.yaml: the settings of a run, checked against one schema table.

Step 0 of the pipeline (configured): before rules are loaded or an event is read, the run's
settings are merged from three layers -- built-in defaults, then the YAML file
(`/etc/falcoish/falcoish.yaml` or `-c PATH`), then each `-o key=value` in command-line order --
and checked against `SCHEMA`.  Why a table: the keys, their types, defaults and checks live in
one place, so an unknown key or a wrong type is an error that names the key and where it was
written (`file:line` or the `-o` text), docs/outputs.md can be checked against it, and the rest
of falcoish reads a frozen `Config` that cannot be half-valid.
"""

from __future__ import annotations

import difflib
import os
import shlex
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import yaml

from .config_values import (Check, Key, _Bad, _address, _append_output, _bool, _choice, _command,
                            _float, _int, _port, _priority, _str, _str_list, _str_map, _template,
                            _url)
from .errors import FalcoishError
from .file_safety import insecure

DEFAULT_PATH = "/etc/falcoish/falcoish.yaml"


class ConfigError(FalcoishError):
    """A bad setting.  `key` is the dotted key (None for file-level problems), `origin` says
    where it was written: `path:line`, `path`, or `-o key=value`."""

    def __init__(self, key: str | None, origin: str, reason: str) -> None:
        self.key = key
        self.origin = origin
        self.reason = reason
        where = f"{origin}: key '{key}'" if key else origin
        super().__init__(f"{where}: {reason}")


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
                                               "extra_output": "", "suggested_output": True},),
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


# -- the frozen result ----------------------------------------------------------------------

class Section:
    """Read-only attribute access to one level of settings (`cfg.http_output.url`)."""

    __slots__ = ("_prefix", "_values")

    def __init__(self, prefix: str, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no config key '{self._prefix}{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("falcoish configuration is read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self._values.items():
            if isinstance(value, Section):
                out[name] = value.to_dict()
            elif isinstance(value, Mapping):
                out[name] = dict(value)
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out


class Config(Section):
    """The merged, checked settings of a run.  `source` is the file read, if any."""

    __slots__ = ("source",)

    def __init__(self, values: dict[str, Any], source: str | None) -> None:
        nested: dict[str, Any] = {}
        for key, value in values.items():
            if "." in key:
                section, name = key.split(".", 1)
                nested.setdefault(section, {})[name] = value
            else:
                nested[key] = value
        for section in SECTIONS:
            nested[section] = Section(section + ".", nested[section])
        super().__init__("", nested)
        object.__setattr__(self, "source", source)

    def get(self, key: str) -> Any:
        """A value by dotted key (`cfg.get("http_output.url")`)."""
        if key not in SCHEMA:
            raise KeyError(key)
        value: Any = self
        for part in key.split("."):
            value = getattr(value, part)
        return value


def defaults() -> Config:
    return Config({key: spec.default for key, spec in SCHEMA.items()}, None)


# -- loading --------------------------------------------------------------------------------

def load_config(path: str | None, overrides: list[str], allow_insecure: bool = False) -> Config:
    """Defaults, then the file (`path`, or DEFAULT_PATH when it exists), then `-o` overrides.
    As root, a config file another user could change is refused unless `allow_insecure`
    (file_safety.py: the config names programs root runs)."""
    values = {key: spec.default for key, spec in SCHEMA.items()}
    origins: dict[str, str] = {}
    source = path
    if source is None and os.path.exists(DEFAULT_PATH):
        source = DEFAULT_PATH
    if source is not None:
        reason = None if allow_insecure else insecure(source, "config file")
        if reason is not None:
            raise ConfigError(None, source, reason)
        _read_file(source, values, origins)
    for item in overrides:
        _apply_override(item, values, origins)
    _check_together(values, origins)
    return Config(values, source)


def _read_file(path: str, values: dict[str, Any], origins: dict[str, str]) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(None, path, f"cannot read config file: {exc.strerror or exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ConfigError(None, path, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(None, _at(path, root), "the file must be a mapping of keys to values")
    for key, key_node, node in _pairs(loader, root, "", path):
        origin = _at(path, key_node)
        if key in SECTIONS:
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue
            if not isinstance(node, yaml.MappingNode):
                raise ConfigError(key, origin, "expected a mapping of settings")
            for sub, sub_key_node, sub_node in _pairs(loader, node, key + ".", path):
                _set(f"{key}.{sub}", _construct(loader, sub_node, path), values, origins,
                     _at(path, sub_key_node))
        else:
            _set(key, _construct(loader, node, path), values, origins, origin)


def _pairs(loader: yaml.SafeLoader, node: yaml.MappingNode, prefix: str,
           path: str) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = _construct(loader, key_node, path)
        if not isinstance(key, str):
            raise ConfigError(f"{prefix}{key}", _at(path, key_node), "keys must be strings")
        if key in seen:
            raise ConfigError(prefix + key, _at(path, key_node), "duplicate key")
        seen.add(key)
        yield key, key_node, value_node


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: str) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(None, _at(path, node), f"not valid YAML: {exc}") from None


def _at(path: str, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _set(key: str, value: Any, values: dict[str, Any], origins: dict[str, str], origin: str) -> None:
    spec = SCHEMA.get(key)
    if spec is None:
        raise ConfigError(key, origin, "unknown key" + _suggest(key))
    try:
        values[key] = spec.check(value)
    except _Bad as exc:
        raise ConfigError(key, origin, str(exc)) from None
    origins[key] = origin


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(SCHEMA) + sorted(SECTIONS), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _apply_override(item: str, values: dict[str, Any], origins: dict[str, str]) -> None:
    origin = f"-o {item}"
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(key or None, origin, "expected -o key=value")
    if key in SECTIONS:
        parsed = _yaml_value(text)
        if not isinstance(parsed, dict):
            raise ConfigError(key, origin, "a section is set with a {key: value, ...} mapping")
        for sub, value in parsed.items():
            _set(f"{key}.{sub}", value, values, origins, origin)
        return
    map_key = next((k for k in _MAP_KEYS if key.startswith(k + ".")), None)
    if map_key is not None:
        entry = key[len(map_key) + 1:]
        merged = dict(values[map_key])
        merged[entry] = text
        _set(map_key, merged, values, origins, origin)
        return
    spec = SCHEMA.get(key)
    if spec is None:
        raise ConfigError(key, origin, "unknown key" + _suggest(key))
    _set(key, _override_value(key, spec, text), values, origins, origin)


def _override_value(key: str, spec: Key, text: str) -> Any:
    stripped = text.strip()
    if spec.check in _TEXT_CHECKS and not stripped.startswith(("'", '"')):
        return text
    if key in _LIST_KEYS and not stripped.startswith("["):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return _yaml_value(text)


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def _check_together(values: dict[str, Any], origins: dict[str, str]) -> None:
    def need(enabled: str, key: str) -> None:
        if values[enabled] and not values[key]:
            raise ConfigError(key, origins.get(enabled, "defaults"),
                              f"required when {enabled} is true")

    need("file_output.enabled", "file_output.filename")
    need("program_output.enabled", "program_output.program")
    need("http_output.enabled", "http_output.url")
    if values["program_output.enabled"] and not shlex.split(values["program_output.program"]):
        raise ConfigError("program_output.program", origins.get("program_output.program", "defaults"),
                          "the command is empty")
    if values["http_output.template"] and values["http_output.template_file"]:
        raise ConfigError("http_output.template_file", origins["http_output.template_file"],
                          "give http_output.template or http_output.template_file, not both")
    if values["http_output.template_file"]:
        _check_template_file(values["http_output.template_file"],
                             origins["http_output.template_file"])
    if values["outputs.retry_max_backoff"] < values["outputs.retry_backoff"]:
        raise ConfigError("outputs.retry_max_backoff",
                          origins.get("outputs.retry_max_backoff", origins.get("outputs.retry_backoff", "defaults")),
                          "must be >= outputs.retry_backoff")


def _check_template_file(path: str, origin: str) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError("http_output.template_file", origin,
                          f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        _template(text)
    except _Bad as exc:
        raise ConfigError("http_output.template_file", origin, f"{path}: {exc}") from None
