"""Which event types can a condition match?  Drives the rule index and `falcoish events`.

Step 5 of the pipeline.  Why: an event should only meet the rules that can match it.  The
set is derived from `evt.type` checks the way Falco does, with negation pushed down
(De Morgan), so `not (evt.type = open and proc.name = x)` correctly yields *every* type
while `not evt.type in (open, close)` yields every type but those two.  A check on any
other field says nothing about the type, so it stands for every type in both polarities.
"""

from __future__ import annotations

from ..syntax.nodes import And, Compare, IdentOperand, ListOperand, MacroUse, Node, Not, Or, StrConst


def event_types(node: Node, universe: frozenset[str]) -> frozenset[str]:
    """The event types `node` can match, as a subset of `universe`."""
    return _types(node, False, universe)


def _types(node: Node, negated: bool, universe: frozenset[str]) -> frozenset[str]:
    if isinstance(node, Not):
        return _types(node.child, not negated, universe)
    if isinstance(node, MacroUse):
        return _types(node.body, negated, universe)
    if isinstance(node, (And, Or)):
        sets = [_types(c, negated, universe) for c in node.children]
        intersect = isinstance(node, And) != negated
        result = sets[0]
        for s in sets[1:]:
            result = result & s if intersect else result | s
        return frozenset(result)
    if isinstance(node, Compare):
        named = evttype_values(node)
        if named is None:
            return universe
        positive = named if node.op in ("=", "==", "in", "intersects") else universe - named
        return universe - positive if negated else positive
    return universe                 # an unresolved macro reference says nothing about the type


def evttype_values(node: Compare) -> frozenset[str] | None:
    """The names an `evt.type` equality/inequality/list check mentions, else None."""
    if node.lhs.render() != "evt.type" or node.op not in ("=", "==", "!=", "in", "intersects"):
        return None
    if node.modifier is not None:
        return None
    rhs = node.rhs
    if isinstance(rhs, StrConst):
        return frozenset((rhs.value,))
    if isinstance(rhs, ListOperand):
        return frozenset(i.value for i in rhs.items if isinstance(i, StrConst))
    if isinstance(rhs, IdentOperand):
        return frozenset((rhs.name,))
    return None
