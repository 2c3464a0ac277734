"""Rules file text -> items, with the file position of every key and value.

Step 1 of the pipeline.  Why composed YAML nodes and not `yaml.safe_load`: Falco reads every
scalar as its source text (yaml-cpp), so `priority: 5` is the string "5" and `items: [0777]`
the string "0777"; and a person needs the line and column of every bad value.  Composed nodes
give both: raw text and marks.  Shape checks are driven by one table per item kind; problems
go to the sink and the reader moves on to the next item, so one pass reports them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from ..errors import Location, Problems, did_you_mean

try:  # the C loader is several times faster on large rules files
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

YAML_PARSE = "LOAD_ERR_YAML_PARSE"
YAML_VALIDATE = "LOAD_ERR_YAML_VALIDATE"
UNKNOWN_KEY = "LOAD_UNKNOWN_KEY"
UNKNOWN_ITEM = "LOAD_UNKNOWN_ITEM"

_NULL_TAG = "tag:yaml.org,2002:null"
_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


class _Invalid(Exception):
    """A value of the wrong shape; carries the node to point at."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.node = node


@dataclass
class RawItem:
    """One top-level mapping of a rules file, decoded but not yet interpreted."""

    kind: str                               # list | macro | rule | required_engine_version | required_plugin_versions
    name: str
    location: Location                      # where the item starts
    values: dict[str, Any] = field(default_factory=dict)
    key_locations: dict[str, Location] = field(default_factory=dict)
    raw_text: dict[str, str] = field(default_factory=dict)   # YAML source of condition values


def _loc(node: yaml.Node, path: str, kind: str = "", name: str = "") -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1, kind, name)


# -- scalar decoders (yaml-cpp semantics) -----------------------------------------------

def _is_null(node: yaml.Node) -> bool:
    """A YAML null (`key:`, `~`, `null`), as opposed to a quoted empty string."""
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG and not node.style


def _scalar(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        if _is_null(node):
            raise _Invalid("Mapping for key is empty", node)
        return str(node.value)
    raise _Invalid("Value is not a scalar value", node)


def _string(node: yaml.Node) -> str:
    return _scalar(node)


def _nonempty(node: yaml.Node) -> str:
    value = _scalar(node)
    if not value.strip():
        raise _Invalid("Value must be non-empty", node)
    return value


def _boolean(node: yaml.Node) -> bool:
    value = _scalar(node).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Invalid(f"Can't decode YAML scalar value '{node.value}' as a boolean", node)


def _scalar_seq(node: yaml.Node) -> tuple[str, ...]:
    if _is_null(node):
        raise _Invalid("Value is not a sequence", node)
    if not isinstance(node, yaml.SequenceNode):
        raise _Invalid("Value is not a sequence", node)
    out = []
    for child in node.value:
        if not isinstance(child, yaml.ScalarNode):
            raise _Invalid("sequence value is not scalar", child)
        out.append(str(child.value))
    return tuple(out)


def _str_or_seq(node: yaml.Node) -> str | tuple[str, ...]:
    return _scalar_seq(node) if isinstance(node, yaml.SequenceNode) else _scalar(node)


def _override(node: yaml.Node) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        raise _Invalid("Value is not a mapping", node)
    return {_scalar(k): _scalar(v).strip() for k, v in node.value}


def _exception_values(node: yaml.Node) -> tuple[object, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _Invalid("Value is not a sequence", node)
    out: list[object] = []
    for entry in node.value:
        if isinstance(entry, yaml.SequenceNode):
            out.append(tuple(_scalar_seq(v) if isinstance(v, yaml.SequenceNode) else _scalar(v)
                             for v in entry.value))
        else:
            out.append(_scalar(entry))
    return tuple(out)


def _exceptions(node: yaml.Node) -> tuple[dict[str, Any], ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _Invalid("Value is not a sequence", node)
    out = []
    for entry in node.value:
        if not isinstance(entry, yaml.MappingNode):
            raise _Invalid("Each exception must be a mapping with name, fields, comps, values", entry)
        exc: dict[str, Any] = {"_node": entry}
        for k, v in entry.value:
            key = _scalar(k)
            decoder = _EXCEPTION_KEYS.get(key)
            if decoder is None:
                raise _Invalid(f"Unexpected key '{key}' in exception{did_you_mean(key, _EXCEPTION_KEYS)} "
                               "(expected name, fields, comps, values)", k)
            exc[key] = decoder(v)
        if "name" not in exc:
            raise _Invalid("Item has no mapping for key 'name'", entry)
        out.append(exc)
    return tuple(out)


_EXCEPTION_KEYS: dict[str, Callable[[yaml.Node], Any]] = {
    "name": _nonempty, "fields": _str_or_seq, "comps": _str_or_seq, "values": _exception_values,
}

_COMMON: dict[str, Callable[[yaml.Node], Any]] = {"append": _boolean, "override": _override}

# key -> decoder, per item kind (one table drives all shape checks)
ITEM_KEYS: dict[str, dict[str, Callable[[yaml.Node], Any]]] = {
    "list": {"list": _nonempty, "items": _scalar_seq, **_COMMON},
    "macro": {"macro": _nonempty, "condition": _nonempty, **_COMMON},
    "rule": {
        "rule": _nonempty, "condition": _nonempty, "output": _string, "desc": _nonempty,
        "priority": _nonempty, "source": _string, "enabled": _boolean, "tags": _scalar_seq,
        "exceptions": _exceptions, "warn_evttypes": _boolean, "skip-if-unknown-filter": _boolean,
        "capture": _boolean, "capture_duration": _nonempty, **_COMMON,
    },
}
_KIND_ORDER = ("required_engine_version", "required_plugin_versions", "list", "macro", "rule")


def read_rules_text(text: str, path: str, problems: Problems,
                    dropped: list[RawItem] | None = None) -> list[RawItem]:
    """Decode every item of a rules file; shape problems are reported and the item skipped
    (and put in `dropped`, so that what it names is not then reported as unused)."""
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        # Point at the construct that is left open (context) when there is one: that is the
        # line a person must fix; the problem position is often just the end of the file.
        mark = exc.context_mark or exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        detail = exc.problem or str(exc)
        if exc.context and exc.problem_mark:
            detail += f" ({exc.context}; noticed at line {exc.problem_mark.line + 1})"
        problems.error(YAML_PARSE, f"Invalid YAML: {detail}", Location(path, line, col))
        return []
    except yaml.YAMLError as exc:
        problems.error(YAML_PARSE, f"Invalid YAML: {exc}", Location(path, 1, 1))
        return []
    items: list[RawItem] = []
    for doc in documents:
        if doc is None or _is_null(doc):
            continue
        if not isinstance(doc, yaml.SequenceNode):
            problems.error(YAML_VALIDATE, "Rules content is not yaml array of objects", _loc(doc, path))
            continue
        for node in doc.value:
            if _is_null(node):
                continue
            if not isinstance(node, yaml.MappingNode):
                problems.error(YAML_VALIDATE, "Unexpected element type. Each element should be a yaml "
                               "associative array.", _loc(node, path))
                continue
            item, ok = _read_item(node, text, path, problems)
            if item is not None and ok:
                items.append(item)
            elif item is not None and dropped is not None:
                dropped.append(item)
    return items


def _read_item(node: yaml.MappingNode, text: str, path: str, problems: Problems) -> tuple[RawItem | None, bool]:
    keys = {_key_text(k): (k, v) for k, v in node.value}
    kind = next((k for k in _KIND_ORDER if k in keys), None)
    if kind is None:
        hint = next((h for h in (did_you_mean(k, _KIND_ORDER) for k in keys) if h), "")
        problems.warning(UNKNOWN_ITEM, f"Unknown top level item{hint}", _loc(node, path))
        return None, False
    if kind in ("required_engine_version", "required_plugin_versions"):
        _, value_node = keys[kind]
        return RawItem(kind, kind, _loc(node, path, kind, ""), {kind: value_node},
                       {kind: _loc(value_node, path)}), True
    name_node = keys[kind][1]
    name = str(name_node.value) if isinstance(name_node, yaml.ScalarNode) else ""
    item = RawItem(kind, name, _loc(node, path, kind, name))
    ok = True
    for key, (key_node, value_node) in keys.items():
        where = _loc(value_node, path, kind, name)
        decoder = ITEM_KEYS[kind].get(key)
        if decoder is None:
            hint = did_you_mean(key, ITEM_KEYS[kind])
            problems.warning(UNKNOWN_KEY, f"Unknown key '{key}'{hint}. The key will be ignored.",
                             _loc(key_node, path, kind, name))
            continue
        try:
            item.values[key] = decoder(value_node)
        except _Invalid as exc:
            message = str(exc)
            if message == "Mapping for key is empty":
                message = f"Mapping for key '{key}' is empty"
            problems.error(YAML_VALIDATE, f"{message} (key '{key}')" if "'" + key + "'" not in message
                           else message, _loc(exc.node, path, kind, name))
            ok = False
            continue
        item.key_locations[key] = where
        if key == "condition":
            item.raw_text[key] = text[value_node.start_mark.index:value_node.end_mark.index]
        if key == "exceptions":
            for exc_value in item.values[key]:
                exc_node = exc_value.pop("_node")
                exc_value["_location"] = _loc(exc_node, path, kind, name)
    return item, ok


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def read_rules_file(path: str, problems: Problems, dropped: list[RawItem] | None = None) -> list[RawItem]:
    """Read and decode one rules file; an unreadable file is one error."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        problems.error("LOAD_ERR_FILE_READ", f"Could not read rules file: {exc.strerror}", Location(path))
        return []
    except UnicodeDecodeError as exc:
        problems.error(YAML_PARSE, f"Rules file is not UTF-8: {exc.reason}", Location(path, 1, 1))
        return []
    return read_rules_text(text, path, problems, dropped)
