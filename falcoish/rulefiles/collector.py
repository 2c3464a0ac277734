"""Items of all rules files -> one book of declarations, with Falco's define/append/override.

Step 1b of the pipeline.  Why: a rules file rarely stands alone; `falco_rules.local.yaml`
redefines, appends to, overrides and disables items of earlier files by name.  Falco numbers
every definition, append and override in load order (across files) and keeps an item's
*first* number on redefinition: that number is the rule's evaluation order and decides which
macros a macro may see.  The collector reproduces that bookkeeping; it does not parse
conditions (an append is text joined to text, exactly as Falco does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from .decls import CondText, ExceptionDecl, Fragment, ListDecl, MacroDecl, RuleDecl
from ..errors import Location, Problems, did_you_mean
from .rulefile import YAML_VALIDATE, RawItem

ENGINE_VERSION = (0, 63, 0)
#: Plugins whose fields falcoish provides natively (requirements on them are satisfied).
BUILTIN_PLUGINS = {"container": (0, 6, 0)}
KNOWN_SOURCES = {"syscall"}

PRIORITIES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug")
_PRIORITY_ALIASES = {p.lower(): p for p in PRIORITIES} | {"info": "Informational"}

_IDENT = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*\Z")
_LIST_NAME = re.compile(r"[^()\"'\s=,]+\Z")
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")

_OVERRIDABLE_APPEND = {"condition", "output", "desc", "tags", "exceptions"}
_OVERRIDABLE_REPLACE = _OVERRIDABLE_APPEND | {"priority", "enabled", "capture", "capture_duration",
                                              "warn_evttypes", "skip-if-unknown-filter"}


def parse_priority(text: str) -> str | None:
    """Falco priority name for `text` (case-insensitive, `info` alias), or None."""
    return _PRIORITY_ALIASES.get(text.strip().lower())


@dataclass(frozen=True)
class Change:
    """One item of a rules file that changed a list, macro or rule, kept so that a user who
    tuned a rule in `falco_rules.local.yaml` can see where its effective definition came from.
    `action` is define, redefine, append, override (a replace), enable or disable; `fields`
    the keys it appended to or replaced."""

    location: Location
    action: str
    fields: tuple[str, ...] = ()


@dataclass
class RuleBook:
    """Everything collected so far, by name, in first-definition order."""

    lists: dict[str, ListDecl] = field(default_factory=dict)
    macros: dict[str, MacroDecl] = field(default_factory=dict)
    rules: dict[str, RuleDecl] = field(default_factory=dict)
    macro_files: dict[str, int] = field(default_factory=dict)   # macro -> file of first definition
    plugin_requirements: list[tuple[list[tuple[str, str]], Location]] = field(default_factory=list)
    #: (kind, name) -> every item that changed it, in load order ("list" | "macro" | "rule")
    history: dict[tuple[str, str], tuple[Change, ...]] = field(default_factory=dict)


class Collector:
    """Applies items file after file; `book` holds the result."""

    def __init__(self, problems: Problems) -> None:
        self.book = RuleBook()
        self.problems = problems
        self._seq = 0
        self._file_index = -1

    def add_file(self, items: list[RawItem]) -> None:
        self._file_index += 1
        tables: dict[str, dict[str, Any]] = {"list": self.book.lists, "macro": self.book.macros,
                                             "rule": self.book.rules}
        for item in items:
            table = tables.get(item.kind)
            before = table.get(item.name) if table is not None else None
            handler = getattr(self, "_" + item.kind)
            handler(item)
            if table is not None and table.get(item.name) is not before:   # applied, not refused
                key = (item.kind, item.name)
                self.book.history[key] = self.book.history.get(key, ()) + _changes(item, before is None)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _error(self, message: str, item: RawItem, key: str | None = None) -> None:
        where = item.key_locations.get(key, item.location) if key else item.location
        self.problems.error(YAML_VALIDATE, message, where)

    # -- engine and plugin requirements ------------------------------------------------

    def _required_engine_version(self, item: RawItem) -> None:
        node = item.values[item.kind]
        text = str(getattr(node, "value", "")).strip()
        if text.isdigit():
            wanted = (0, int(text), 0)
        else:
            match = _SEMVER.match(text)
            if match is None:
                self._error(f"Unable to parse engine version '{text}' as a semver string. "
                            "Expected \"x.y.z\" semver format.", item, item.kind)
                return
            wanted = (int(match[1]), int(match[2]), int(match[3]))
        if wanted[0] != ENGINE_VERSION[0] or wanted > ENGINE_VERSION:
            self._error(f"Rules require engine version {'.'.join(map(str, wanted))}, but engine "
                        f"version is {'.'.join(map(str, ENGINE_VERSION))}", item, item.kind)

    def _required_plugin_versions(self, item: RawItem) -> None:
        node = item.values[item.kind]
        for entry in getattr(node, "value", []) or []:
            alternatives = [_plugin_pair(entry)]
            for key, value in getattr(entry, "value", []):
                if getattr(key, "value", "") == "alternatives":
                    alternatives += [_plugin_pair(alt) for alt in getattr(value, "value", [])]
            self.book.plugin_requirements.append((alternatives, item.key_locations[item.kind]))

    # -- lists and macros ---------------------------------------------------------------

    def _list(self, item: RawItem) -> None:
        if not _LIST_NAME.match(item.name):
            self.problems.warning("LOAD_INVALID_LIST_NAME", f"List has an invalid name '{item.name}'. "
                                  "List names should match a regular expression: "
                                  "[^()\"'\\s=,]+", item.location)
        self._define_or_append(item, "items", self.book.lists, "List")

    def _macro(self, item: RawItem) -> None:
        if not _IDENT.match(item.name):
            self.problems.warning("LOAD_INVALID_MACRO_NAME", f"Macro has an invalid name '{item.name}'. "
                                  "Macro names should match a regular expression: "
                                  "[a-zA-Z]+[a-zA-Z0-9_]*", item.location)
        self._define_or_append(item, "condition", self.book.macros, "Macro")

    def _define_or_append(self, item: RawItem, body_key: str, table: dict[str, Any], what: str) -> None:
        mode = self._mode(item, {body_key})
        if mode is None:
            return
        if body_key not in item.values:
            self._error(f"Item has no mapping for key '{body_key}'", item)
            return
        body = self._body(item, body_key)
        old = table.get(item.name)
        seq = self._next()
        if mode.get(body_key) == "append":
            if old is None:
                self._error(f"{what} uses 'append' or 'override.{body_key}: append' but no "
                            f"{what.lower()} by that name already exists"
                            f"{did_you_mean(item.name, table)}", item)
                return
            merged = old.items + body if body_key == "items" else old.condition.appended(body)
            table[item.name] = replace(old, **{body_key: merged}, last=seq)
            return
        if old is not None:
            table[item.name] = replace(old, **{body_key: body}, location=item.location, last=seq)
            return
        if what == "Macro":
            self.book.macro_files[item.name] = self._file_index
        cls = ListDecl if what == "List" else MacroDecl
        table[item.name] = cls(item.name, body, item.location, seq, seq)

    def _body(self, item: RawItem, key: str) -> Any:
        if key == "items":
            return tuple(item.values["items"])
        return _cond(item, key)

    def _mode(self, item: RawItem, allowed: set[str], replace_only: frozenset[str] = frozenset()) -> dict[str, str] | None:
        """key -> 'append'|'replace' for this item ({} = plain definition); None on error."""
        override = item.values.get("override")
        if item.values.get("append") and override is not None:
            self._error("Keys 'override' and 'append: true' cannot be used together. Add an "
                        "'append' entry (e.g. 'condition: append') under 'override' instead.", item, "override")
            return None
        if item.values.get("append"):
            self.problems.warning("LOAD_DEPRECATED_ITEM", "The 'append' key is deprecated. Add an "
                                  "'append' entry under 'override' instead.", item.key_locations["append"])
            return {key: "append" for key in allowed}
        if override is None:
            return {}
        for key, op in override.items():
            if op not in ("append", "replace"):
                self._error(f"Invalid override operation for key '{key}': '{op}'. Allowed values "
                            "are: append, replace", item, "override")
                return None
            if key not in allowed:
                self._error(f"Key '{key}' cannot be overridden", item, "override")
                return None
            if op == "append" and key in replace_only:
                self._error(f"Key '{key}' cannot be appended to, use 'replace' instead", item, "override")
                return None
            if key not in item.values:
                self._error(f"An {op} override for '{key}' was specified but '{key}' is not defined",
                            item, "override")
                return None
        for key in allowed:
            if key in item.values and key not in override:
                self._error(f"Unexpected key '{key}': no corresponding entry under 'override' is "
                            "defined.", item, key)
                return None
        return dict(override)

    # -- rules --------------------------------------------------------------------------

    def _rule(self, item: RawItem) -> None:
        values = item.values
        has_override = "override" in values or values.get("append")
        if not has_override and not any(k in values for k in ("condition", "output", "desc", "priority")):
            self._enable_only(item)
            return
        if has_override:
            self._override_rule(item)
            return
        for key in ("condition", "output", "desc", "priority"):
            if key not in values:
                self._error(f"Item has no mapping for key '{key}'", item)
                return
        priority = self._priority(item)
        if priority is None:
            return
        old = self.book.rules.get(item.name)
        source = str(values.get("source") or "syscall")
        if old is not None and values.get("source") and old.source != source:
            self._error("Rule has been re-defined with a different source", item, "source")
            return
        seq = self._next()
        rule = RuleDecl(
            name=item.name, condition=_cond(item, "condition"), output=str(values["output"]).strip(),
            desc=str(values["desc"]), priority=priority, location=item.location,
            order=old.order if old else seq, last=seq, file_index=self._file_index, source=source,
            tags=frozenset(values.get("tags", ())), enabled=values.get("enabled", True),
            exceptions=self._exceptions(item, values.get("exceptions", ())),
            warn_evttypes=values.get("warn_evttypes", True),
            skip_if_unknown_filter=values.get("skip-if-unknown-filter", False),
            output_location=item.key_locations["output"],
        )
        self.book.rules[item.name] = rule

    def _enable_only(self, item: RawItem) -> None:
        if "enabled" not in item.values:
            self._error("Item has no mapping for key 'enabled'", item)
            return
        old = self.book.rules.get(item.name)
        if old is None:
            self._error("Rule has 'enabled' key but no rule by that name already exists"
                        f"{did_you_mean(item.name, self.book.rules)}", item)
            return
        self.problems.warning("LOAD_DEPRECATED_ITEM", "The standalone 'enabled' key usage is "
                              "deprecated. Use 'override: enabled: replace' instead.", item.location)
        self.book.rules[item.name] = replace(old, enabled=item.values["enabled"])

    def _override_rule(self, item: RawItem) -> None:
        values = item.values
        legacy = bool(values.get("append"))
        if legacy and "condition" not in values and "exceptions" not in values:
            self._error("Appended rule must have exceptions or condition property", item)
            return
        allowed = {"condition", "exceptions"} if legacy else _OVERRIDABLE_REPLACE
        mode = self._mode(item, allowed, frozenset(_OVERRIDABLE_REPLACE - _OVERRIDABLE_APPEND))
        if mode is None:
            return
        if legacy:
            mode = {k: "append" for k in ("condition", "exceptions") if k in values}
        old = self.book.rules.get(item.name)
        if old is None:
            key, op = next(iter(mode.items()))
            if op == "append":
                self._error(f"Rule uses 'append' or 'override.{key}: append' but no rule by that "
                            f"name already exists{did_you_mean(item.name, self.book.rules)}", item)
            else:
                self._error(f"An 'override.{key}: replace' to a rule was requested but no rule by "
                            f"that name already exists{did_you_mean(item.name, self.book.rules)}", item)
            return
        if values.get("source") and values["source"] != old.source:
            self._error("Rule has been re-defined with a different source", item, "source")
            return
        changes: dict[str, Any] = {}
        for key, op in sorted(mode.items(), key=lambda kv: kv[1] != "append"):  # appends first
            change = self._rule_change(item, old, key, op, changes)
            if change is None:
                return
            changes.update(change)
        if "condition" in changes or "exceptions" in changes:
            changes["file_index"] = self._file_index
        self.book.rules[item.name] = replace(old, last=self._next(), **changes)

    def _rule_change(self, item: RawItem, old: RuleDecl, key: str, op: str,
                     changes: dict[str, Any]) -> dict[str, Any] | None:
        values = item.values

        def current(attr: str) -> Any:
            return changes.get(attr, getattr(old, attr))
        if key == "condition":
            new = _cond(item, "condition")
            return {"condition": current("condition").appended(new) if op == "append" else new}
        if key in ("output", "desc"):
            text = str(values[key]).strip() if key == "output" else str(values[key])
            change: dict[str, Any] = {key: f"{current(key)} {text}" if op == "append" else text}
            if key == "output":
                change["output_location"] = item.key_locations["output"]
            return change
        if key == "tags":
            tags = frozenset(values["tags"])
            return {"tags": current("tags") | tags if op == "append" else tags}
        if key == "exceptions":
            new_excs = self._exceptions(item, values["exceptions"], appending=op == "append")
            if op == "replace":
                return {"exceptions": new_excs}
            return {"exceptions": _merge_exceptions(current("exceptions"), new_excs)}
        if key == "priority":
            priority = self._priority(item)
            return None if priority is None else {"priority": priority}
        attr = {"skip-if-unknown-filter": "skip_if_unknown_filter"}.get(key, key)
        if attr in ("capture", "capture_duration"):
            return {"extra": {**old.extra, attr: values[key]}}
        return {attr: values[key]}

    def _priority(self, item: RawItem) -> str | None:
        priority = parse_priority(str(item.values["priority"]))
        if priority is None:
            self._error(f"Invalid priority '{item.values['priority']}': must be one of "
                        + ", ".join(p.lower() for p in PRIORITIES), item, "priority")
        return priority

    def _exceptions(self, item: RawItem, raw: tuple[dict[str, Any], ...],
                    appending: bool = False) -> tuple[ExceptionDecl, ...]:
        out = []
        seen: set[str] = set()
        for exc in raw:
            name = exc["name"]
            if name in seen:
                self.problems.warning("LOAD_EXCEPTION_NAME_NOT_UNIQUE", f"Multiple definitions of "
                                      f"exception '{name}' in the same rule", exc["_location"])
            seen.add(name)
            if "values" not in exc and appending:
                self.problems.warning("LOAD_APPEND_NO_VALUES", "Overriding/appending exception with "
                                      "no values", exc["_location"])
            fields = exc.get("fields")
            out.append(ExceptionDecl(name, fields if fields is not None else (), exc.get("comps"),
                                     exc.get("values", ()), exc["_location"]))
        return tuple(out)


def _changes(item: RawItem, first: bool) -> tuple[Change, ...]:
    """How an applied item changed its list, macro or rule, read from the keys it used (one
    Change per operation: an override may append to some keys and replace others)."""
    values, where = item.values, item.location
    override = values.get("override")
    if isinstance(override, dict) and override:
        return tuple(Change(where, action, tuple(sorted(k for k, op in override.items() if op == wanted)))
                     for wanted, action in (("append", "append"), ("replace", "override"))
                     if wanted in override.values())
    body = {"list": ("items",), "macro": ("condition",), "rule": ("condition", "exceptions")}[item.kind]
    if values.get("append"):
        return (Change(where, "append", tuple(k for k in body if k in values)),)
    if item.kind == "rule" and not any(k in values for k in ("condition", "output", "desc", "priority")):
        return (Change(where, "enable" if values.get("enabled") else "disable", ("enabled",)),)
    return (Change(where, "define" if first else "redefine"),)


def _merge_exceptions(old: tuple[ExceptionDecl, ...], new: tuple[ExceptionDecl, ...]) -> tuple[ExceptionDecl, ...]:
    """Per exception name: a new name is added, an existing one gets its values extended."""
    merged = list(old)
    for exc in new:
        for i, existing in enumerate(merged):
            if existing.name == exc.name:
                merged[i] = replace(existing, values=existing.values + exc.values)
                break
        else:
            merged.append(exc)
    return tuple(merged)


def _cond(item: RawItem, key: str) -> CondText:
    return CondText((Fragment(str(item.values[key]), item.key_locations[key], item.raw_text.get(key, "")),))


def _plugin_pair(node: Any) -> tuple[str, str]:
    pairs = {getattr(k, "value", ""): getattr(v, "value", "") for k, v in getattr(node, "value", [])}
    return str(pairs.get("name", "")), str(pairs.get("version", ""))


def check_plugin_requirements(book: RuleBook, problems: Problems) -> None:
    """Falco checks these after all files: one satisfied alternative is enough."""
    for alternatives, where in book.plugin_requirements:
        if any(_plugin_satisfied(name, version) for name, version in alternatives):
            continue
        wanted = ", ".join(f"{n} (>= {v})" for n, v in alternatives)
        problems.error("LOAD_ERR_VALIDATE", f"Plugin requirement not satisfied, must load one of: {wanted}", where)


def _plugin_satisfied(name: str, version: str) -> bool:
    have = BUILTIN_PLUGINS.get(name)
    match = _SEMVER.match(version.strip())
    return have is not None and (match is None or tuple(int(g) for g in match.groups()) <= have)
