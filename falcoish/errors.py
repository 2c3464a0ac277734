"""Locations, problems and the exceptions every pipeline step raises.

Why this module exists: a person fixing a rules file needs the file, line, column and item
name of every problem at once, not just the first one.  Each loader stage therefore writes
`Problem`s to a `Problems` sink and carries on; only the facade decides whether to raise.
Codes are Falco's (LOAD_ERR_*, LOAD_UNUSED_MACRO, ...) so users can look them up.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Iterable, Iterator


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    """Where something was written: 1-based line and column, plus the rules item it belongs to."""

    file: str = ""
    line: int = 0
    column: int = 0
    item_kind: str = ""
    item_name: str = ""

    def shifted(self, line_delta: int, column: int) -> "Location":
        """The location of a point inside this one (e.g. a column inside a condition)."""
        return replace(self, line=self.line + line_delta, column=column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    code: str
    severity: Severity
    message: str
    location: Location = field(default_factory=Location)

    def to_json(self) -> dict[str, Any]:
        loc = self.location
        return {
            "code": self.code,
            "message": self.message,
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "item": loc.item_name,
            "item_kind": loc.item_kind,
        }

    def __str__(self) -> str:
        loc = self.location
        item = f" ({loc.item_kind} '{loc.item_name}')" if loc.item_name else ""
        return f"{loc}: {self.severity.value} {self.code}: {self.message}{item}"


class Problems:
    """An ordered sink of problems; stages append and move on."""

    def __init__(self) -> None:
        self._items: list[Problem] = []

    def error(self, code: str, message: str, location: Location) -> None:
        self._items.append(Problem(code, Severity.ERROR, message, location))

    def warning(self, code: str, message: str, location: Location) -> None:
        self._items.append(Problem(code, Severity.WARNING, message, location))

    def extend(self, problems: "Problems") -> None:
        self._items.extend(problems._items)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self._items if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self._items if p.severity is Severity.WARNING]

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class FalcoishError(Exception):
    """Base of every error falcoish raises on purpose."""


class ConditionSyntaxError(FalcoishError):
    """A condition that does not parse.  `line`/`column` are 1-based inside the condition text;
    `offset` is 0-based."""

    def __init__(self, message: str, text: str, offset: int) -> None:
        self.reason = message
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        before = text[: self.offset]
        self.line = before.count("\n") + 1
        self.column = self.offset - (before.rfind("\n") + 1) + 1
        super().__init__(f"{message} at line {self.line}, column {self.column}")


class RuleError(FalcoishError):
    """A condition that parses but cannot be compiled: unknown field, macro or event type,
    operator not valid for the field's type, bad constant, reference loop...
    `offset` points into the condition text when known (else -1)."""

    def __init__(self, message: str, offset: int = -1, code: str = "LOAD_ERR_COMPILE_CONDITION") -> None:
        self.reason = message
        self.offset = offset
        self.code = code
        super().__init__(message)


class RulesLoadError(FalcoishError):
    """Raised by the facade when a rules load produced errors; carries all of them."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        errors = problems.errors
        head = "\n".join(str(p) for p in errors[:20])
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} error(s) loading rules:\n{head}{more}")


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` candidates one or two typos away from `name`, closest first.

    Why a ratio cutoff and not a fixed edit distance: a typo in a long name (`proc.nmae`,
    `shell_binaires`) keeps most of it, while a short unrelated name must not be offered;
    difflib's similarity ratio scales with length.  Case is ignored when comparing."""
    pool = {c.lower(): c for c in candidates if c and c != name}
    found = difflib.get_close_matches(name.lower(), list(pool), n=n, cutoff=0.8)
    if not found:
        return []
    # only those about as close as the best: `proc.name` for `proc.nmae`, not `proc.sname` too
    best = difflib.SequenceMatcher(None, name.lower(), found[0]).ratio()
    return [pool[f] for f in found
            if difflib.SequenceMatcher(None, name.lower(), f).ratio() >= best - 0.03]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the names close to `name`, or "" when none is close: one
    helper so every error that names an unknown thing suggests the same way."""
    found = closest(name, candidates)
    if not found:
        return ""
    return " (did you mean " + " or ".join(f"'{f}'" for f in found) + "?)"
