"""The Python API for embedding falcoish and for rule tooling.

Why: rule authors want to test a condition against a handful of field values without
writing an event or a rules file.  `compile_condition` runs the same parser, resolver and
compiler as a full load, with macros and lists given as plain dicts.
"""

from __future__ import annotations

from typing import Any, Mapping

from .rulefiles.collector import RuleBook
from .condition.compiler import Compiler, Predicate, bind_event_field, bind_mapping_field
from .rulefiles.decls import CondText, Fragment, ListDecl, MacroDecl
from .errors import Location
from .syntax.nodes import Node
from .syntax.parser import parse_condition
from .rulefiles.resolve import Resolver


class CompiledCondition:
    """A condition compiled twice over the same resolved tree: against plain mappings
    (`evaluate`) and against events (`matches`)."""

    def __init__(self, tree: Node) -> None:
        self.tree = tree
        self._on_mapping: Predicate = Compiler(bind_mapping_field).compile(tree)
        self._on_event: Predicate | None = None

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        """True if the condition holds for these field values (field text -> value, e.g.
        {"proc.name": "bash", "proc.aname[2]": "sshd"}); a missing key is an absent field."""
        return bool(self._on_mapping(fields))

    def matches(self, event: Any) -> bool:
        """True if the condition holds for an Event."""
        if self._on_event is None:
            self._on_event = Compiler(bind_event_field).compile(self.tree)
        return bool(self._on_event(event))

    def render(self) -> str:
        """The resolved condition in Falco's canonical text."""
        return self.tree.render()


def compile_condition(text: str, macros: Mapping[str, str] | None = None,
                      lists: Mapping[str, list[str]] | None = None) -> CompiledCondition:
    """Parse, resolve and compile a condition.

    Raises ConditionSyntaxError for text that does not parse and RuleError for unknown
    fields, macros or event types, operator/type mismatches and reference loops."""
    book = RuleBook()
    where = Location("<api>")
    for i, (name, items) in enumerate((lists or {}).items()):
        book.lists[name] = ListDecl(name, tuple(str(x) for x in items), where, i, i)
    for i, (name, body) in enumerate((macros or {}).items()):
        cond = CondText((Fragment(body, where),))
        book.macros[name] = MacroDecl(name, cond, where, i, 1 << 62)
    tree = Resolver(book, parse_condition).resolve(text)
    return CompiledCondition(tree)
