"""The value checks of falcoish.yaml keys (config.py's schema table uses them).

Why a module of their own: config.py holds the table and the loading; these are the small
functions that say whether one value fits its key, and they grow with every new kind of
value.  Each raises `_Bad` with a message; config.py adds the key and where it was written.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from ..rulefiles.collector import PRIORITIES, parse_priority


class _Bad(ValueError):
    """A value that fails its key's check (the caller adds key and origin)."""


Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Key:
    """One schema entry: `check` validates and normalises a value (raising _Bad), `kind` names
    the type in messages and docs."""

    kind: str
    default: Any
    check: Check
    doc: str


# -- value checks ---------------------------------------------------------------------------

def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Bad(f"expected true or false, got {value!r}")


def _int(minimum: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"expected an integer, got {value!r}")
        if value < minimum:
            raise _Bad(f"must be >= {minimum}, got {value}")
        return value
    return check


def _float(minimum: float, above: bool = False) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(f"expected a number, got {value!r}")
        if value < minimum or (above and value == minimum):
            raise _Bad(f"must be {'>' if above else '>='} {minimum}, got {value}")
        return float(value)
    return check


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    raise _Bad(f"expected a string, got {value!r}")


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise _Bad(f"expected a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise _Bad(f"expected a list of strings, got item {item!r}")
    return tuple(value)


def _str_map(value: Any) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise _Bad(f"expected a mapping of names to strings, got {value!r}")
    out: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or isinstance(item, (dict, list)) or item is None:
            raise _Bad(f"expected a mapping of names to strings, got {name!r}: {item!r}")
        out[name] = item if isinstance(item, str) else _scalar_text(item)
    return MappingProxyType(out)


def _scalar_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _priority(value: Any) -> str:
    priority = parse_priority(value) if isinstance(value, str) else None
    if priority is None:
        raise _Bad(f"unknown priority {value!r}: must be one of "
                   + ", ".join(p.lower() for p in PRIORITIES))
    return priority


def _choice(*options: str) -> Check:
    def check(value: Any) -> str:
        text = value.lower() if isinstance(value, str) else None
        if text not in options:
            raise _Bad(f"must be one of {', '.join(options)}, got {value!r}")
        return text
    return check


def _url(value: Any) -> str:
    text = _str(value)
    if text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Bad(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _command(value: Any) -> str:
    text = _str(value)
    try:
        shlex.split(text)
    except ValueError as exc:
        raise _Bad(f"cannot split {text!r} into arguments: {exc}") from None
    return text


def _template(value: Any) -> str:
    text = _str(value)
    if text:
        from .template import TemplateError, compile_template
        try:
            compile_template(text)
        except TemplateError as exc:
            raise _Bad(f"bad template: {exc}") from None
    return text


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def _address(value: Any) -> str:
    """An address to listen on: an IPv4 or IPv6 address, or a host name."""
    text = _str(value).strip()
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        if not _HOSTNAME.fullmatch(text):
            raise _Bad(f"expected an IP address or a host name, got {value!r}") from None
    return text.strip("[]")


def _port(value: Any) -> int:
    """A TCP port, or 0 for none."""
    port = _int(0)(value)
    if port > 65535:
        raise _Bad(f"must be a TCP port (1-65535) or 0, got {port}")
    return int(port)


def _append_output(value: Any) -> tuple[dict[str, Any], ...]:
    """Falco's `append_output` list, checked, with each entry written out in full (plain
    dicts and lists, so the settings still dump as YAML)."""
    from .append import AppendOutputError, extra_fields_value, parse_append_output
    try:
        entries = parse_append_output(value)
    except AppendOutputError as exc:
        raise _Bad(str(exc)) from None
    return tuple({"match": {"source": e.source, "rule": e.rule, "tags": sorted(e.tags)},
                  "extra_output": e.extra_output, "suggested_output": e.suggested_output,
                  "extra_fields": extra_fields_value(e.extra_fields)}
                 for e in entries)
