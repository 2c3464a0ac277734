"""Rule tests: YAML files of events with the rules that must and must not fire on them.

Why: people who tune rules need to know that an exception they add silences only what they
meant, and that the attack still fires.  A rule test file reads like this:

    rules: [../falco_rules.yaml]     # optional, relative to this file (default: what `run` loads)
    defaults:                        # optional, merged into every event of the file
      thread: {comm: bash}
    tests:
      - name: cat reads /etc/shadow
        events:                      # records of docs/events.md; omitted keys take defaults
          - type: openat
            res: 3
            args: {fd: 3, dirfd: -100, name: /etc/shadow, flags: 0}
            fd: {num: 3, type: file, name: /etc/shadow}
            thread: {comm: cat}
        fires: [Read credential file by untrusted program]
        not_fires: [Write below a binary folder]

Each case's events run through the rules with every matching rule firing
(rule_matching=all); the case passes when every `fires` rule fired and no `not_fires`
rule did.  Events start from `DEFAULT_EVENT`, so a case states only what matters to it.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import yaml

from .engine import Engine
from ..events.event import BadRecord, Event
from ..rules.loader import LoadResult, load_rules

DEFAULT_TS = 1_732_450_000_000_000_000

#: A harmless process (`cat`, child of an interactive bash) on the host, as root.
DEFAULT_EVENT: dict[str, Any] = {
    "type": "openat", "tid": 4242, "res": 0, "args": {},
    "thread": {"pid": 4242, "tid": 4242, "ppid": 900, "comm": "cat", "exe": "cat",
               "exepath": "/usr/bin/cat", "args": [], "env": [], "cwd": "/root/", "tty": 34816,
               "sid": 900, "pgid": 4242, "vpid": 4242, "vtid": 4242, "vpgid": 4242, "loginuid": 0,
               "uid": 0, "gid": 0, "start_ts": DEFAULT_TS - 1_000_000_000},
    "ancestors": [
        {"pid": 900, "tid": 900, "ppid": 800, "comm": "bash", "exe": "bash", "exepath": "/usr/bin/bash",
         "args": [], "cwd": "/root/", "tty": 34816, "sid": 900, "pgid": 900, "loginuid": 0, "uid": 0},
        {"pid": 800, "tid": 800, "ppid": 1, "comm": "sshd", "exe": "sshd", "exepath": "/usr/sbin/sshd",
         "args": [], "cwd": "/", "tty": 0, "sid": 800, "pgid": 800, "loginuid": -1, "uid": 0},
        {"pid": 1, "tid": 1, "ppid": 0, "comm": "systemd", "exe": "/sbin/init",
         "exepath": "/usr/lib/systemd/systemd", "args": [], "cwd": "/", "tty": 0, "sid": 1, "pgid": 1},
    ],
    "user": {"uid": 0, "name": "root", "homedir": "/root", "shell": "/bin/bash", "loginname": "root"},
    "group": {"gid": 0, "name": "root"},
    "container": {"id": "host"},
}


class RuleTestError(Exception):
    """A test file that cannot be used; the message names the file and line."""


@dataclass
class CaseResult:
    file: str
    line: int
    name: str
    fired: list[str]
    missing: list[str]          # expected to fire, did not
    unexpected: list[str]       # expected not to fire, did
    fires: list[str] = field(default_factory=list)
    not_fires: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected

    def describe(self) -> str:
        if self.passed:
            return f"PASS {self.name}"
        reasons = []
        if self.missing:
            reasons.append("expected to fire: " + ", ".join(self.missing))
        if self.unexpected:
            reasons.append("expected not to fire: " + ", ".join(self.unexpected))
        return (f"FAIL {self.name} ({self.file}:{self.line}): {'; '.join(reasons)}; "
                f"fired: {', '.join(self.fired) or 'nothing'}")


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader that remembers the line of each mapping (for messages)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def find_test_files(paths: Iterable[str]) -> list[str]:
    """Test files among `paths`: files as given; folders searched recursively for YAML files
    whose top level has a `tests:` key."""
    found: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            found.append(path)
            continue
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(root, name)
                if name.endswith((".yaml", ".yml")) and _is_test_file(full):
                    found.append(full)
    return found


def _is_test_file(path: str) -> bool:
    with open(path, encoding="utf-8") as handle:
        head = handle.read()
    return any(line.startswith("tests:") for line in head.splitlines())


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


class RuleTestFile:
    """One parsed test file."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, encoding="utf-8") as handle:
                doc = yaml.load(handle, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
        except (OSError, yaml.YAMLError) as exc:
            raise RuleTestError(f"{path}: cannot read test file: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
            raise RuleTestError(f"{path}:1: a test file is a mapping with a 'tests:' list")
        base = os.path.dirname(os.path.abspath(path))
        rules = doc.get("rules")
        self.rules: list[str] | None = None
        if rules is not None:
            if not isinstance(rules, list):
                raise RuleTestError(f"{path}:{doc['__line__']}: 'rules' must be a list of paths")
            self.rules = [os.path.normpath(os.path.join(base, str(r))) for r in rules]
        self.defaults = _merge(DEFAULT_EVENT, _strip_lines(doc.get("defaults") or {}))
        self.cases = [self._case(c) for c in doc["tests"]]

    def _case(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise RuleTestError(f"{self.path}: each test must be a mapping")
        line = raw.get("__line__", 0)
        where = f"{self.path}:{line}"
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise RuleTestError(f"{where}: test has no 'name'")
        events = raw.get("events")
        if not isinstance(events, list) or not events:
            raise RuleTestError(f"{where}: test '{name}' needs a non-empty 'events' list")
        fires, not_fires = raw.get("fires", []), raw.get("not_fires", [])
        if not isinstance(fires, list) or not isinstance(not_fires, list) or not (fires or not_fires):
            raise RuleTestError(f"{where}: test '{name}' needs 'fires' and/or 'not_fires' lists of rule names")
        built = []
        for i, raw_event in enumerate(events, 1):
            if not isinstance(raw_event, dict):
                raise RuleTestError(f"{where}: test '{name}' event {i} is not a mapping")
            record = _merge(self.defaults, _strip_lines(raw_event))
            record.setdefault("ts", DEFAULT_TS + i * 1000)
            if "tid" not in raw_event and isinstance(record.get("thread"), dict):
                record["tid"] = record["thread"].get("tid", record["tid"])
            try:
                built.append(Event.from_record(record, i))
            except BadRecord as err:
                raise RuleTestError(f"{where}: test '{name}' event {i}: {err.reason}") from None
        return {"name": name, "line": line, "events": built,
                "fires": [str(r) for r in fires], "not_fires": [str(r) for r in not_fires]}


def run_file(test_file: RuleTestFile, loaded: LoadResult) -> list[CaseResult]:
    """Run every case of a file against already loaded rules."""
    engine = Engine.from_load(loaded, rule_matching="all")
    results = []
    for case in test_file.cases:
        fired: list[str] = []
        for event in case["events"]:
            for alert in engine.process(event):
                if alert.rule not in fired:
                    fired.append(alert.rule)
        results.append(CaseResult(
            test_file.path, case["line"], case["name"], fired,
            missing=[r for r in case["fires"] if r not in fired],
            unexpected=[r for r in case["not_fires"] if r in fired],
            fires=case["fires"], not_fires=case["not_fires"]))
    return results


def unknown_rules(test_file: RuleTestFile, loaded: LoadResult) -> list[str]:
    """Rule names the cases mention that the loaded rules do not have (typos)."""
    names = {r.name for r in loaded.ruleset.rules}
    mentioned = {r for c in test_file.cases for r in c["fires"] + c["not_fires"]}
    return sorted(mentioned - names)


def coverage(results: Sequence[CaseResult], rule_names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """rule -> (cases where it must fire, cases where it must not)."""
    out = {name: (0, 0) for name in rule_names}
    for result in results:
        for name in result.fires:
            pos, neg = out.get(name, (0, 0))
            out[name] = (pos + 1, neg)
        for name in result.not_fires:
            pos, neg = out.get(name, (0, 0))
            out[name] = (pos, neg + 1)
    return out


def load_for(test_file: RuleTestFile, fallback: list[str]) -> LoadResult:
    return load_rules(test_file.rules if test_file.rules is not None else fallback)
