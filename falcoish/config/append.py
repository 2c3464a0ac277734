"""What Falco adds to a rule's output before compiling it: `append_output` and `%container.info`.

Pipeline step: loading (step 3), just before the output is compiled (format.py).  Why here and
not in the formatter: Falco edits the output *text* once per rule -- the extra outputs whose
`match` fits the rule are appended, then every `%container.info` is removed -- and only then
compiles it, so a field named in an extra output is checked like one written in the rule.

`%container.info` is the placeholder of Falco's rule files 1.x-3.x (`... %container.info`
at the end of most outputs).  Falco (0.41 and later) replaces it with nothing and warns that it
is deprecated: the container fields it used to stand for are now part of the suggested output
(`append_output: - suggested_output: true`, on by default), so an old rule file shows them once,
at the end, exactly like a current one.  The deprecated `-p` option of Falco maps to this: `-pc`
/ `-pk` add nothing (the suggested output already carries the container and pod fields) and
`-p FORMAT` appends FORMAT to every rule.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

#: Falco's suggested output fields (the container plugin's): appended when
#: `append_output: - suggested_output: true` (Falco's default) matches the rule.
SUGGESTED_OUTPUT = ("container_id=%container.id container_name=%container.name "
                    "container_image_repository=%container.image.repository "
                    "container_image_tag=%container.image.tag k8s_pod_name=%k8s.pod.name "
                    "k8s_ns_name=%k8s.ns.name")

CONTAINER_INFO = "%container.info"
CONTAINER_INFO_WARNING = ("%container.info is deprecated and no more useful, and will be dropped "
                          "by Falco 1.0.0. The container plugin will automatically add required "
                          "fields to the output message.")
#: the words `-p` takes for "container details" and "Kubernetes details"
_PRINT_KEYWORDS = frozenset({"c", "container", "k", "kubernetes"})


@dataclass(frozen=True)
class AppendOutput:
    """One `append_output` entry: what to add (`extra_output`, the suggested fields) to the
    rules that `match` (every one of the given source, rule name and tags; none = all)."""

    extra_output: str = ""
    suggested_output: bool = False
    source: str = ""
    rule: str = ""
    tags: frozenset[str] = frozenset()
    #: `extra_fields`: (name, format) pairs added to JSON `output_fields` only, not the text
    extra_fields: tuple[tuple[str, str], ...] = ()

    def matches(self, rule: str, source: str, tags: Iterable[str]) -> bool:
        return ((not self.source or self.source == source)
                and (not self.rule or self.rule == rule)
                and self.tags <= frozenset(tags))

    def formats(self, source: str) -> list[str]:
        """The output texts this entry adds, in Falco's order (its own, then the suggested
        fields, which only the syscall source has)."""
        out = [self.extra_output] if self.extra_output else []
        if self.suggested_output and source == "syscall":
            out.append(SUGGESTED_OUTPUT)
        return out


#: Falco's default `append_output` (falco.yaml): the suggested fields for every rule.
DEFAULT_APPEND: tuple[AppendOutput, ...] = (AppendOutput(suggested_output=True),)


def from_print_option(value: str | None) -> tuple[AppendOutput, ...]:
    """Falco's deprecated `-p`: `c`/`container`/`k`/`kubernetes` add nothing (the suggested
    output carries those fields), anything else is a format appended to every rule."""
    if not value or value in _PRINT_KEYWORDS:
        return ()
    return (AppendOutput(extra_output=value),)


def rule_output(text: str, rule: str, source: str, tags: Iterable[str],
                append: Sequence[AppendOutput]) -> tuple[str, bool]:
    """The output Falco compiles for one rule, and whether it used `%container.info` (the
    caller warns LOAD_DEPRECATED_ITEM)."""
    for entry in append:
        if entry.matches(rule, source, tags):
            for extra in entry.formats(source):
                text = f"{text} {extra}"
    if CONTAINER_INFO not in text:
        return text, False
    return text.replace(CONTAINER_INFO, ""), True


def rule_extra_fields(rule: str, source: str, tags: Iterable[str],
                      append: Sequence[AppendOutput]) -> tuple[tuple[str, str], ...]:
    """The `extra_fields` of every entry that matches the rule, in order: (name, format)."""
    tags = tuple(tags)
    return tuple(pair for entry in append if entry.matches(rule, source, tags)
                 for pair in entry.extra_fields)


# -- the `append_output` config key --------------------------------------------------------

_ENTRY_KEYS = frozenset({"match", "extra_output", "extra_fields", "suggested_output"})
#: Falco expands `${VAR}` in extra_fields formats from the environment, once, at load
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MATCH_KEYS = frozenset({"source", "rule", "tags"})


class AppendOutputError(ValueError):
    """A malformed `append_output` value (config_values turns it into a config error)."""


def parse_append_output(value: Any) -> tuple[AppendOutput, ...]:
    """Falco's `append_output` list: entries of `match` (`source`, `rule`, `tags`),
    `extra_output`, `extra_fields` and `suggested_output`."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise AppendOutputError(f"expected a list of entries, got {value!r}")
    return tuple(_entry(item) for item in value)


def _entry(item: Any) -> AppendOutput:
    if isinstance(item, AppendOutput):
        return item
    if not isinstance(item, dict):
        raise AppendOutputError(f"each entry must be a mapping, got {item!r}")
    unknown = sorted(set(map(str, item)) - _ENTRY_KEYS)
    if unknown:
        raise AppendOutputError(f"unsupported entry key {unknown[0]!r} (falcoish supports "
                                "match, extra_output, extra_fields, suggested_output)")
    extra = item.get("extra_output") or ""
    suggested = item.get("suggested_output", False)
    if not isinstance(extra, str):
        raise AppendOutputError(f"extra_output must be a string, got {extra!r}")
    if not isinstance(suggested, bool):
        raise AppendOutputError(f"suggested_output must be true or false, got {suggested!r}")
    match = item.get("match") or {}
    if not isinstance(match, dict) or set(map(str, match)) - _MATCH_KEYS:
        raise AppendOutputError(f"match must be a mapping of source, rule, tags, got {match!r}")
    source, rule, tags = match.get("source") or "", match.get("rule") or "", match.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(source, str) or not isinstance(rule, str) or not isinstance(tags, list) \
            or not all(isinstance(t, str) for t in tags):
        raise AppendOutputError(f"match: source and rule must be strings, tags a list of "
                                f"strings, got {match!r}")
    return AppendOutput(extra, suggested, source, rule, frozenset(tags),
                        _extra_fields(item.get("extra_fields")))


def _extra_fields(value: Any) -> tuple[tuple[str, str], ...]:
    """`extra_fields`: a list of field names (`evt.hostname`: its value under its own name)
    and `{name: format}` maps (a custom name for a format, `${VAR}` taken from the
    environment)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        value = [value]
    out: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append((item.strip(), "%" + item.strip()))
        elif isinstance(item, dict) and all(isinstance(k, str) and k and isinstance(v, str)
                                            for k, v in item.items()):
            out.extend((name, _ENV_VAR.sub(lambda m: os.environ.get(m[1], ""), text))
                       for name, text in item.items())
        else:
            raise AppendOutputError("extra_fields entries must be field names or "
                                    f"{{name: format}} maps, got {item!r}")
    return tuple(out)


def extra_fields_value(pairs: Sequence[tuple[str, str]]) -> list[Any]:
    """`extra_fields` written back in Falco's shape (a field name, or `{name: format}`)."""
    return [name if text == "%" + name else {name: text} for name, text in pairs]
