"""A rule condition, relaxed to what the kernel can test: resolved tree -> DNF of kernel tests.

Why relax rather than translate: most of a rule needs user space (ancestors, containers, user
names), but a necessary condition is enough to drop an event in the kernel: if the relaxed
formula is false, the rule is false.  Negation is pushed down to the comparisons (so `not`
and exceptions flip polarity correctly), and each comparison becomes, through a
`FieldMapper`, a formula the comparison implies *in its polarity*.  A comparison the mapper
cannot express becomes an `Untestable` literal, which is always satisfied: the result is
implied by the rule, never the other way round.
"""

from __future__ import annotations

from typing import Protocol

from ..syntax.nodes import And, Compare, MacroRef, MacroUse, Node, Not, Or
from .ir import DNF, FALSE, TRUE, and_, or_, untestable


class FieldMapper(Protocol):
    """Knows, for one event type, what the probe can test about a comparison."""

    def compare(self, node: Compare, event_type: str, positive: bool) -> DNF | None:
        """A formula implied by `node` evaluating to `positive` on an event of this type, or
        None when the kernel can say nothing about it."""


class Relaxer:
    """Relaxes trees for one event type; shared macro bodies are relaxed once."""

    def __init__(self, mapper: FieldMapper, event_type: str) -> None:
        self.mapper = mapper
        self.event_type = event_type
        self._memo: dict[tuple[Node, bool], DNF] = {}

    def relax(self, node: Node | bool, positive: bool = True) -> DNF:
        if isinstance(node, bool):
            return TRUE if node == positive else FALSE
        key = (node, positive)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._relax(node, positive)
        return found

    def _relax(self, node: Node, positive: bool) -> DNF:
        if isinstance(node, Not):
            return self.relax(node.child, not positive)
        if isinstance(node, MacroUse):
            return self.relax(node.body, positive)
        if isinstance(node, (And, Or)):
            parts = [self.relax(child, positive) for child in node.children]
            conjunction = isinstance(node, And) == positive
            return and_(parts) if conjunction else or_(*parts)
        if isinstance(node, Compare):
            mapped = self.mapper.compare(node, self.event_type, positive)
            if mapped is not None:
                return mapped
            return untestable(_short(node.render() if positive else f"not {node.render()}"))
        if isinstance(node, MacroRef):           # unresolved: cannot happen after resolve
            return untestable(node.name)
        raise TypeError(f"unexpected node {type(node).__name__}")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
