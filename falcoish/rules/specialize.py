"""A rule's condition, specialised for one event type (partial evaluation on evt.type).

Step 5b of the pipeline.  Why: the index already sends an event only to the rules that can
match its type, so inside those rules every `evt.type` check is known in advance.  Folding
those checks to constants and simplifying (`x and true` -> `x`, `x or false` -> `x`, a
branch for another type disappears) removes work from every event of that type, and a
condition that folds to false drops the rule from that type's bucket altogether.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Union

from ..condition.evttypes import evttype_values
from ..syntax.nodes import And, Compare, MacroUse, Node, Not, Or, walk

Folded = Union[Node, bool]


def specialize(node: Node, event_type: str) -> Folded:
    """`node` with its evt.type checks decided for `event_type`; True/False when the whole
    condition is decided."""
    if isinstance(node, Compare):
        named = evttype_values(node)
        if named is None:
            return node
        inside = event_type in named
        return inside if node.op in ("=", "==", "in", "intersects") else not inside
    if isinstance(node, Not):
        child = specialize(node.child, event_type)
        return (not child) if isinstance(child, bool) else replace(node, child=child)
    if isinstance(node, MacroUse):
        body = specialize(node.body, event_type)
        return body if isinstance(body, bool) else replace(node, body=body)
    if isinstance(node, (And, Or)):
        absorbing = isinstance(node, Or)          # `or` is decided by a true child, `and` by false
        kept: list[Node] = []
        for child in node.children:
            folded = specialize(child, event_type)
            if isinstance(folded, bool):
                if folded is absorbing:
                    return absorbing
                continue
            kept.append(folded)
        if not kept:
            return not absorbing
        return kept[0] if len(kept) == 1 else replace(node, children=tuple(kept))
    return node


def macro_uses(node: Node) -> list[str]:
    """Names of the macros used in a (resolved) tree, once per use."""
    return [n.name for n in walk(node) if isinstance(n, MacroUse)]
