"""Webhook body templates: a small, Go-template-looking language for one alert.

Part of step 9 of the pipeline (delivered): `http_output.template` shapes the request body
the way tracee-rules' `--webhook-template` does, so falcoish can feed receivers that want
their own JSON (chat hooks, SIEM collectors).  Why our own tiny engine: the receivers' docs
are written for Go's `{{ .Field }}` syntax; a full Go template engine is not needed for one
flat object, and a closed set of fields and functions lets a typo be a config error at load
time instead of a broken body at 3 a.m.

Syntax (docs/outputs.md has the reference):
    {{ .Rule }}                          a field of the alert
    {{ .Output | json }}                 a pipeline: the value is the last argument of `json`
    {{ index .OutputFields "proc.name" }}  a function call with arguments
    {{- ... -}}                          trim the whitespace before / after the action
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import orjson

#: The fields a template may use (the dispatcher fills them for each alert).
FIELDS = ("Rule", "Priority", "Output", "Message", "Source", "Hostname", "Time", "TimeNs",
          "Tags", "OutputFields", "JSON")


class TemplateError(ValueError):
    """A template that does not compile; `offset` is 0-based in the template text."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(f"{message} (at offset {offset})")


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _index(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, (list, tuple)) and isinstance(key, int) and -len(container) <= key < len(container):
        return container[key]
    return None


def _upper(value: Any) -> str:
    return text_of(value).upper()


def _lower(value: Any) -> str:
    return text_of(value).lower()


#: name -> (function, number of arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "json": (_json, 1),
    "index": (_index, 2),
    "upper": (_upper, 1),
    "lower": (_lower, 1),
}


def text_of(value: Any) -> str:
    """How a value prints in a body: strings as they are, absent as empty, lists joined by
    commas, maps as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(text_of(item) for item in value)
    if isinstance(value, Mapping):
        return _json(dict(value))
    return str(value)


# -- compiled form --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    name: str

    def value(self, data: Mapping[str, Any]) -> Any:
        return data.get(self.name)


@dataclass(frozen=True)
class _Literal:
    value_: Any

    def value(self, data: Mapping[str, Any]) -> Any:
        return self.value_


@dataclass(frozen=True)
class _Call:
    function: Callable[..., Any]
    args: tuple[_Field | _Literal | _Call, ...]

    def value(self, data: Mapping[str, Any]) -> Any:
        return self.function(*(arg.value(data) for arg in self.args))


_Term = _Field | _Literal | _Call


class Template:
    """A compiled template: `render(data)` joins literal text and evaluated actions."""

    def __init__(self, text: str, pieces: list[str | _Term]) -> None:
        self.text = text
        self._pieces = pieces

    def render(self, data: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else text_of(p.value(data)) for p in self._pieces)


_TOKEN = re.compile(r"""\s*(?:
      (?P<field>\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<pipe>\|)
    | (?P<other>\S)
    )""", re.VERBOSE)


def compile_template(text: str) -> Template:
    pieces: list[str | _Term] = []
    pos = 0
    trim_next = False
    while True:
        start = text.find("{{", pos)
        literal = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            literal = literal.lstrip()
        if start < 0:
            pieces.append(literal)
            break
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError("unclosed action: '{{' without '}}'", start)
        inner_start, inner_end = start + 2, end
        if text.startswith("-", inner_start) and text[inner_start + 1:inner_start + 2].isspace():
            literal = literal.rstrip()
            inner_start += 1
        trim_next = text[inner_end - 1:inner_end] == "-" and text[inner_end - 2:inner_end - 1].isspace()
        if trim_next:
            inner_end -= 1
        pieces.append(literal)
        pieces.append(_parse_action(text, inner_start, inner_end))
        pos = end + 2
    return Template(text, [p for p in pieces if p != ""])


def _tokens(text: str, start: int, end: int) -> list[tuple[str, str, int]]:
    out = []
    pos = start
    while pos < end:
        match = _TOKEN.match(text, pos, end)
        if match is None or match.lastgroup is None:
            break
        kind = match.lastgroup
        out.append((kind, match[kind], match.start(kind)))
        pos = match.end()
    return out


def _parse_action(text: str, start: int, end: int) -> _Term:
    tokens = _tokens(text, start, end)
    if not tokens:
        raise TemplateError("empty action '{{ }}'", start)
    commands: list[list[tuple[str, str, int]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            commands.append([])
        elif token[0] == "other":
            raise TemplateError(f"unexpected {token[1]!r} in action", token[2])
        else:
            commands[-1].append(token)
    term: _Term | None = None
    for number, command in enumerate(commands):
        if not command:
            raise TemplateError("empty command in pipeline", start)
        term = _command(command, term if number else None)
    assert term is not None
    return term


def _command(command: list[tuple[str, str, int]], piped: _Term | None) -> _Term:
    kind, value, offset = command[0]
    if kind != "ident":
        if len(command) > 1 or piped is not None:
            raise TemplateError(f"{value!r} is not a function", offset)
        return _argument(command[0])
    if value not in FUNCTIONS:
        raise TemplateError(f"unknown function {value!r} (known: {', '.join(sorted(FUNCTIONS))})", offset)
    function, arity = FUNCTIONS[value]
    args: list[_Term] = [_argument(token) for token in command[1:]]
    if piped is not None:
        args.append(piped)
    if len(args) != arity:
        raise TemplateError(f"{value} takes {arity} argument(s), got {len(args)}", offset)
    return _Call(function, tuple(args))


def _argument(token: tuple[str, str, int]) -> _Field | _Literal:
    kind, value, offset = token
    if kind == "field":
        name = value[1:]
        if "." in name:
            raise TemplateError(f"no nested field {value!r}: use index, e.g. "
                                f"{{{{ index .OutputFields \"proc.name\" }}}}", offset)
        if name not in FIELDS:
            raise TemplateError(f"unknown field {value!r} (known: "
                                + ", ".join("." + f for f in FIELDS) + ")", offset)
        return _Field(name)
    if kind == "string":
        return _Literal(json.loads(value))
    if kind == "number":
        return _Literal(int(value))
    raise TemplateError(f"{value!r} is a function name, not a value", offset)
