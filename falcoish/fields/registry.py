"""The field registry: field name (+ argument) -> typed extractor and renderer.

Pipeline step: binding, done by the compiler (step 4) for every field of a condition and by the
output formatter (step 8) for every `%field`.  Why bind once: extractors run per event and per
rule, so everything that depends only on the field text (the argument, the event-type table,
glob compilation) is decided here and closed over; an extractor is a small closure that reads
the event's record sections and returns the value, or None when the value is absent.

Field modules (`evt`, `proc`, `fd`, `user`, `container`, ...) register their fields with
`simple()` (no argument: the extractor itself) or `family()` (a maker that receives the parsed
argument and returns the extractor, or a `Binding` when the argument changes type or
multiplicity, e.g. `proc.aname[2]` is a scalar while bare `proc.aname` is "any"; `fd.ip`-like
fields that match either end of a connection are "ends": like "any", except that `!=` means
neither end matches).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Union

from ..errors import RuleError, did_you_mean
from ..events.event import Event
from ..events.fieldtypes import FType
from ..syntax.nodes import FieldRef
from .render import renderer

__all__ = ["FieldSpec", "BoundField", "Binding", "bind", "catalogue", "is_field_name", "simple",
           "family", "Extract", "Render"]

Extract = Callable[[Event], Any]
Render = Callable[[Any], str]
ArgValue = Union[int, str, None]


@dataclass(frozen=True)
class FieldSpec:
    """What `falcoish fields` lists and what the compiler checks.  `arg` is none / index /
    key / index_or_key / optional_index / required; `arg_optional` says whether a keyed field
    may also be used bare (`proc.env`)."""

    name: str
    ftype: FType
    desc: str
    arg: str = "none"
    multi: str | None = None
    filter_only: bool = False
    no_rhs: bool = False
    no_transformer: bool = False
    available: bool = True
    check_constant: Callable[[str], None] | None = None
    arg_optional: bool = False


@dataclass(frozen=True)
class BoundField:
    key: str
    spec: FieldSpec
    ftype: FType
    multi: str | None
    extract: Extract
    render: Render


class Binding(NamedTuple):
    """A maker's answer when the argument changes more than the extractor."""

    extract: Extract
    ftype: FType | None = None
    scalar: bool = False
    render: Render | None = None


Maker = Callable[[ArgValue], Union[Extract, Binding]]


@dataclass(frozen=True)
class _Entry:
    spec: FieldSpec
    make: Maker
    render: Render | None
    dotted: str          # "": brackets only; "also": NAME.KEY too; "only": NAME.KEY only


_REGISTRY: dict[str, _Entry] = {}
_DOTTED: list[tuple[str, _Entry]] = []   # (prefix with trailing dot, entry), longest first
#: the start of Falco's message for a field name that does not exist
_NONEXISTENT = "filter_check called with nonexistent field"


def _add(spec: FieldSpec, make: Maker, render: Render | None, dotted: str) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"field {spec.name} registered twice")
    entry = _Entry(spec, make, render, dotted)
    _REGISTRY[spec.name] = entry
    if dotted:
        _DOTTED.append((spec.name + ".", entry))
        _DOTTED.sort(key=lambda item: -len(item[0]))


def simple(name: str, ftype: FType, desc: str, extract: Extract, *, render: Render | None = None,
           **flags: Any) -> None:
    """Register a field without argument; `extract` is shared by every binding."""
    _add(FieldSpec(name, ftype, desc, **flags), lambda _arg: extract, render, "")


def family(name: str, ftype: FType, desc: str, make: Maker, *, arg: str, dotted: str = "",
           render: Render | None = None, **flags: Any) -> None:
    """Register a field that takes an argument: `make(parsed_arg)` runs once per binding."""
    _add(FieldSpec(name, ftype, desc, arg=arg, **flags), make, render, dotted)


def _parse_arg(spec: FieldSpec, arg: str | None) -> ArgValue:
    name, kind = spec.name, spec.arg
    if arg is None:
        if kind in ("none", "optional_index") or spec.arg_optional:
            return None
        raise RuleError(f"field '{name}' requires an argument")
    if kind == "none":
        raise RuleError(f"field '{name}' does not take an argument")
    if kind in ("index", "optional_index"):
        if not arg.isdigit() or not arg.isascii():
            raise RuleError(f"field '{name}' argument must be a number")
        return int(arg)
    if arg == "":
        raise RuleError(f"field '{name}' requires a non-empty argument")
    if kind == "index_or_key" and arg.isascii() and arg.isdigit():
        return int(arg)
    return arg


def _lookup(ref: FieldRef) -> tuple[_Entry, ArgValue, str]:
    """The entry, the parsed argument and the canonical key of a field reference."""
    entry = _REGISTRY.get(ref.name)
    if entry is not None and entry.dotted != "only":
        value = _parse_arg(entry.spec, ref.arg)
        key = ref.name if ref.arg is None else f"{ref.name}[{ref.arg}]"
        return entry, value, key
    for prefix, dentry in _DOTTED:
        if ref.name.startswith(prefix) and len(ref.name) > len(prefix):
            if ref.arg is not None:
                raise RuleError(f"field '{ref.name}' does not take an argument")
            return dentry, ref.name[len(prefix):], ref.name
    if entry is not None:  # a dotted-only family used bare
        raise RuleError(f"field '{ref.name}' requires an argument")
    raise RuleError(f"{_NONEXISTENT} {ref.name}")


def bind(ref: FieldRef) -> BoundField:
    """Bind a field reference to its extractor and renderer (RuleError if it cannot be)."""
    try:
        return _bind(ref.name, ref.arg)
    except RuleError as err:
        reason = err.reason
        if reason.startswith(_NONEXISTENT):
            reason += did_you_mean(ref.name, field_names())
        raise RuleError(reason, ref.pos if err.offset < 0 else err.offset) from None


def field_names() -> list[str]:
    """Every field name a condition may use (dotted families as `prefix.`): what an unknown
    field is compared with to suggest the one that was meant."""
    return [name for name, entry in _REGISTRY.items() if entry.dotted != "only"] + [p for p, _ in _DOTTED]


@functools.lru_cache(maxsize=4096)
def _bind(name: str, arg: str | None) -> BoundField:
    """Binding depends on the field's name and argument only, and a rule set names the same
    few hundred fields thousands of times (every rule, every replanned decision tree): each
    is bound once.  Failures are not cached (lru_cache does not keep exceptions)."""
    entry, value, key = _lookup(FieldRef(name, arg))
    made = entry.make(value)
    spec = entry.spec
    ftype, multi, render = spec.ftype, spec.multi, entry.render
    if isinstance(made, Binding):
        extract = made.extract
        ftype = made.ftype or ftype
        multi = None if made.scalar else multi
        render = made.render or (render if made.ftype is None else None)
    else:
        extract = made
    return BoundField(key, spec, ftype, multi, extract, render or renderer(ftype, multi))


def catalogue() -> list[FieldSpec]:
    """Every registered field, in registration order."""
    return [entry.spec for entry in _REGISTRY.values()]


@functools.lru_cache(maxsize=8192)
def is_field_name(text: str) -> bool:
    """True if `text` (optionally `name[arg]`) binds as a field: used for the compiler's
    "may be a valid field misused as a const string value" warning.  Cached: list items
    recur in every rule that uses the list, and a failed binding costs an exception."""
    if "." not in text:
        return False
    name, arg = text, None
    if text.endswith("]") and "[" in text:
        name, _, arg = text[:-1].partition("[")
    try:
        _bind(name, arg)        # not bind(): no suggestion is wanted for a mere check
    except RuleError:
        return False
    return True
