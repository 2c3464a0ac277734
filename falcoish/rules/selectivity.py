"""What a check costs and how often it holds: what the decision tree orders checks by.

Why: checks have no side effects, so the conjuncts of a rule can run in any order and give
the same answer, but not in the same time.  `proc.name in (...) and fd.name = /etc/shadow`
costs two comparisons for every event when written that way round, and about one when the
rarely-true path test runs first.  For a chain of independent checks the cheapest expected
order runs them by rising cost / (1 - chance of holding).

Two sources of the chance of holding:
  * a guess from the tree's shape (`=` and `in` are usually false, `!=` and `not` usually
    true), used until an event type has seen enough events;
  * the share of a sample of real events on which the check held (`measure`).
Costs are always estimated from the tree (comparisons counted), never timed, so the plan a
given event stream produces does not depend on timer noise.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from ..syntax.nodes import And, Compare, FieldRef, MacroUse, Node, Not, Or, StrConst

__all__ = ["Odds", "cost", "guess", "measure", "rank"]

#: chance of holding by operator, for a comparison with a constant (a guess, see above)
_OPERATOR_ODDS = {"=": 0.2, "==": 0.2, "in": 0.2, "intersects": 0.2, "startswith": 0.2,
                  "bstartswith": 0.2, "endswith": 0.2, "glob": 0.2, "pmatch": 0.2,
                  "contains": 0.3, "icontains": 0.3, "bcontains": 0.3, "regex": 0.2,
                  "!=": 0.9, "exists": 0.9, "<": 0.5, "<=": 0.5, ">": 0.5, ">=": 0.5}

#: fields that walk the ancestors or a list, costing several comparisons each
_WALKING = ("proc.aname", "proc.apid", "proc.aexe", "proc.aexepath", "proc.acmdline",
            "proc.aenv", "proc.env", "proc.args")

Odds = Callable[[Node], float]   # the chance that a check holds, for one event type


@lru_cache(maxsize=1 << 16)   # bounded: hot reloads bring new trees
def cost(node: Node) -> float:
    """About how many comparisons evaluating `node` takes in the worst case."""
    if isinstance(node, (And, Or)):
        return sum(cost(c) for c in node.children)
    if isinstance(node, Not):
        return cost(node.child)
    if isinstance(node, MacroUse):
        return cost(node.body)
    if isinstance(node, Compare) and isinstance(node.lhs, FieldRef) and node.lhs.name in _WALKING:
        return 3.0
    return 1.0


@lru_cache(maxsize=1 << 16)
def guess(node: Node) -> float:
    """A chance that `node` holds, from its shape alone."""
    if isinstance(node, Not):
        return 1.0 - guess(node.child)
    if isinstance(node, MacroUse):
        return guess(node.body)
    if isinstance(node, And):
        product = 1.0
        for child in node.children:
            product *= guess(child)
        return product
    if isinstance(node, Or):
        fails = 1.0
        for child in node.children:
            fails *= 1.0 - guess(child)
        return 1.0 - fails
    if isinstance(node, Compare):
        if node.op in ("=", "==") and isinstance(node.rhs, StrConst) and node.rhs.value in ("true", "false"):
            return 0.5  # a flag: no reason to expect either answer
        return _OPERATOR_ODDS.get(node.op, 0.5)
    return 0.5


def rank(node: Node, odds: Odds) -> float:
    """Sort key for the conjuncts of one rule: lower runs first."""
    return cost(node) / max(1.0 - odds(node), 0.01)


def measure(nodes: Iterable[Node], events: list[Any],
            compile_check: Callable[[Node], Callable[[Any], bool]]) -> Mapping[Node, float]:
    """The share of `events` on which each node holds.

    Each check runs alone on a cleared per-event memo, so one check's cached macro results
    cannot leak into another's answer."""
    shares: dict[Node, float] = {}
    for node in set(nodes):
        check = compile_check(node)
        held = 0
        for event in events:
            event.cache.clear()
            if check(event):
                held += 1
        shares[node] = held / len(events)
    for event in events:
        event.cache.clear()
    return shares
