"""A rule's `exceptions:` -> extra `and not (...)` condition text.

Why text and not tree: Falco builds exception clauses as condition text before lists and
macros are resolved, so exception values may name lists and transformers
(`values: [[toupper(proc.pname)]]` becomes a transformer).  Reproducing that rule keeps
existing rule files meaning what they meant under Falco.
"""

from __future__ import annotations

from .decls import CondText, ExceptionDecl, Fragment
from ..errors import RuleError

LIST_COMPS = {"in", "pmatch", "intersects"}
MODIFIERS = {"oneof", "anyof", "allof"}
COMPARISON_OPERATORS = {"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains",
                        "startswith", "bstartswith", "endswith", "glob", "iglob", "regex",
                        "pmatch", "in", "intersects", "exists"}
_STRING_OPS = {"=", "==", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith",
               "endswith", "glob", "iglob", "regex"}


def _valid_comp(comp: str) -> bool:
    parts = comp.split()
    if len(parts) == 1:
        return parts[0] in COMPARISON_OPERATORS
    return len(parts) == 2 and parts[0] in _STRING_OPS and parts[1] in MODIFIERS


def _takes_list(comp: str) -> bool:
    parts = comp.split()
    return parts[0] in LIST_COMPS or (len(parts) == 2 and parts[1] in MODIFIERS)


def _quote(value: str) -> str:
    """Falco's only escaping: a value with a blank that does not start with a quote is quoted."""
    return f'"{value}"' if " " in value and not value.startswith(("'", '"')) else value


def _element(value: object, comp: str) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_quote(str(v)) for v in value) + ")"
    text = _quote(str(value))
    if _takes_list(comp) and not text.startswith("("):
        return f"({text})"
    return text


def exception_clause(exc: ExceptionDecl) -> str:
    """The clause for one exception ("" when it has no values). Raises RuleError on a
    malformed exception, with Falco's messages."""
    if exc.fields == () or exc.fields == "":
        raise RuleError("Item has no mapping for key 'fields'", code="LOAD_ERR_YAML_VALIDATE")
    if isinstance(exc.fields, str):
        comp = (exc.comps if isinstance(exc.comps, str) else "in").strip()
        if isinstance(exc.comps, tuple) or not (comp in LIST_COMPS or _takes_list(comp) and _valid_comp(comp)):
            raise RuleError("When fields is a single value, comps must be one of (in, pmatch, "
                            "intersects) or a modifier operator", code="LOAD_ERR_YAML_VALIDATE")
        if not exc.values:
            return ""
        if any(isinstance(v, tuple) for v in exc.values):
            raise RuleError("Expected values array to contain a list of strings", code="LOAD_ERR_YAML_VALIDATE")
        return f"({exc.fields} {comp} (" + ", ".join(_quote(str(v)) for v in exc.values) + "))"
    fields = exc.fields
    comps = tuple(c.strip() for c in exc.comps) if isinstance(exc.comps, tuple) else ("=",) * len(fields)
    if isinstance(exc.comps, str):
        raise RuleError("Fields and comps lists must have equal length", code="LOAD_ERR_YAML_VALIDATE")
    if len(comps) != len(fields):
        raise RuleError("Fields and comps lists must have equal length", code="LOAD_ERR_YAML_VALIDATE")
    for comp in comps:
        if not _valid_comp(comp):
            raise RuleError(f"'{comp}' is not a supported comparison operator", code="LOAD_ERR_YAML_VALIDATE")
    tuples = []
    for values in exc.values:
        if not isinstance(values, tuple) or len(values) != len(fields):
            raise RuleError("Fields and values lists must have equal length", code="LOAD_ERR_YAML_VALIDATE")
        checks = [f"{f} {c} {_element(v, c)}" for f, c, v in zip(fields, comps, values)]
        tuples.append("(" + " and ".join(checks) + ")")
    return "(" + " or ".join(tuples) + ")" if tuples else ""


def with_exceptions(condition: CondText, exceptions: tuple[ExceptionDecl, ...]) -> CondText:
    """`(cond) and not clause1 and not clause2 ...`, each clause located at its exception."""
    clauses = []
    for exc in exceptions:
        try:
            text = exception_clause(exc)
        except RuleError as err:
            raise ExceptionError(err.reason, exc) from None
        if text:
            clauses.append(Fragment(f"and not {text}", exc.location))
    if not clauses:
        return condition
    first_loc = condition.fragments[0].location
    return CondText((Fragment("(", first_loc), *condition.fragments, Fragment(")", first_loc), *clauses))


class ExceptionError(RuleError):
    """A malformed exception; `exception` locates it."""

    def __init__(self, message: str, exception: ExceptionDecl) -> None:
        super().__init__(message, code="LOAD_ERR_YAML_VALIDATE")
        self.exception = exception
