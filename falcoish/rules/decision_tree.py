"""The rules of one event type as a decision tree of shared, ordered checks.

Step 6b of the pipeline (indexed -> planned).  Why a tree and not a list of rules: the
rules of one event type repeat each other's checks (`open_write` starts dozens of them) and
most of them fail on one cheap, rarely true check.  The tree checks a selective shared
condition once and skips every rule behind it when it fails; it files rules by the
constants they test a field against (equality, prefix, suffix, path component) in lookup
tables; and it orders each rule's remaining checks so the cheap, rarely true ones run first
(selectivity.py).  The same compiled closures run
in every branch; only their order and sharing change, never what a rule means.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .. import fields as field_registry
from ..condition.constants import parse_constant
from ..errors import RuleError
from ..events.fieldtypes import Kind
from ..syntax.nodes import And, Compare, FieldRef, ListOperand, MacroUse, Node, Or, StrConst
from .selectivity import Odds, cost, rank
from .specialize import macro_uses

if TYPE_CHECKING:
    from .compiled import CompiledRule

Predicate = Callable[[Any], bool]
Matcher = Callable[[Any, "list[CompiledRule]"], None]
Item = tuple["CompiledRule", tuple[Node, ...]]
CompileTree = Callable[[Node, frozenset[str]], Predicate]

#: a shared check becomes a guard only if it fails on at least this share of events: a check
#: that nearly always holds prunes nothing, so it is better run last, inside each rule
GUARD_MIN_FAILS = 0.5
DISPATCH_MIN_RULES = 3
_HASHABLE_KINDS = (Kind.STRING, Kind.INT, Kind.PORT, Kind.BOOL)


def conjuncts(tree: Node) -> tuple[Node, ...]:
    """Top-level `and` operands, looking through macros (`open_write and x` -> the
    operands of open_write's body, then x)."""
    if isinstance(tree, And):
        return tuple(c for child in tree.children for c in conjuncts(child))
    if isinstance(tree, MacroUse) and isinstance(tree.body, And):
        return conjuncts(tree.body)
    return (tree,)


Part = tuple[FieldRef, str, tuple[Any, ...]]   # (field, kind, keys)
Filing = tuple[tuple[Part, ...], bool]           # (parts, decides)
_GLOB_SPECIAL = frozenset("*?[\\")


def _filing(node: Node) -> Filing | None:
    """How a conjunct can be filed in lookup tables: (parts, decides).

    A part (field, kind, keys) says when the conjunct can hold: kind "eq", the field's value
    is one of `keys` (`F = c`, `F in (c1, c2)`); "prefix"/"suffix", it starts/ends with one
    (`startswith`, `endswith`, the literal start of a `glob`); "head", its first path
    component is one (`pmatch`).  The conjunct can only hold if one of its parts does (an
    `or` has a part per branch, possibly on several fields); `decides` says that a part
    holding is also enough, so the conjunct need not be checked again.  Only single-valued
    fields whose values compare exactly (strings, integers, booleans) are filed; anything
    else gives None."""
    if isinstance(node, MacroUse):
        inner = _filing(node.body)
        return None if inner is None else (inner[0], False)
    if isinstance(node, Or):
        branches = [_filing(c) for c in node.children]
        if any(b is None for b in branches):
            return None
        return tuple(p for b in branches if b is not None for p in b[0]), False
    part = _compare_part(node)
    return None if part is None else ((part[0],), part[1])


def _compare_part(node: Node) -> tuple[Part, bool] | None:
    if not (isinstance(node, Compare) and isinstance(node.lhs, FieldRef) and node.modifier is None):
        return None
    rhs, op, ref = node.rhs, node.op, node.lhs
    if isinstance(rhs, StrConst):
        texts: tuple[str, ...] = (rhs.value,)
    elif isinstance(rhs, ListOperand) and rhs.items and all(isinstance(i, StrConst) for i in rhs.items):
        texts = tuple(i.value for i in rhs.items if isinstance(i, StrConst))
    else:
        return None
    try:
        bound = field_registry.bind(ref)
        if bound.multi is not None or bound.ftype.kind not in _HASHABLE_KINDS:
            return None
        if op in ("=", "==", "in") and (op == "in" or len(texts) == 1):
            return (ref, "eq", tuple(parse_constant(bound.ftype, t) for t in texts)), True
    except (RuleError, ValueError):
        return None
    if bound.ftype.kind is not Kind.STRING or (not isinstance(rhs, StrConst) and op != "pmatch"):
        return None
    if op in ("startswith", "endswith") and texts[0]:
        return (ref, "prefix" if op == "startswith" else "suffix", texts), True
    if op == "glob":
        literal = texts[0]
        cut = min((i for i, ch in enumerate(literal) if ch in _GLOB_SPECIAL), default=len(literal))
        if cut == len(literal):
            return (ref, "eq", texts), False
        return ((ref, "prefix", (literal[:cut],)), False) if cut else None
    if op == "pmatch":
        heads = [next((c for c in t.split("/") if c), "") for t in texts]
        if all(h and not any(ch in _GLOB_SPECIAL for ch in h) for h in heads):
            return (ref, "head", tuple(heads)), False
    return None


def _first_component(path: str) -> str:
    path = path.lstrip("/")
    cut = path.find("/")
    return path if cut < 0 else path[:cut]


class _FieldTables:
    """The lookup tables of one field: key -> indices of the rules filed under it."""

    def __init__(self, ref: FieldRef) -> None:
        self.get = field_registry.bind(ref).extract
        self.tables: dict[str, dict[Any, list[int]]] = {}

    def file(self, kind: str, keys: Iterable[Any], index: int) -> None:
        table = self.tables.setdefault(kind, {})
        for key in keys:
            members = table.setdefault(key, [])
            if index not in members:
                members.append(index)

    def finder(self) -> Callable[[Any], list[int]]:
        """`find(event)`: the indices filed under the keys the event's value has."""
        get = self.get
        equal = {k: tuple(v) for k, v in self.tables.get("eq", {}).items()}
        heads = {k: tuple(v) for k, v in self.tables.get("head", {}).items()}
        prefixes = _AffixTable(self.tables.get("prefix", {}), at_start=True)
        suffixes = _AffixTable(self.tables.get("suffix", {}), at_start=False)

        def find(e: Any) -> list[int]:
            found: list[int] = []
            value = get(e)
            if value is None:
                return found
            if equal:
                hit = equal.get(value)
                if hit is not None:
                    found.extend(hit)
            if heads:
                hit = heads.get(_first_component(value))
                if hit is not None:
                    found.extend(hit)
            if prefixes.keys:
                prefixes.collect(value, found)
            if suffixes.keys:
                suffixes.collect(value, found)
            return found
        return find


class _AffixTable:
    """Prefix (or suffix) keys grouped by their first (last) two characters: a value only
    tries the key lengths of its own group, so `/tmp/x` costs one lookup however many `/etc`
    and `/root` prefixes there are."""

    def __init__(self, table: dict[str, list[int]], at_start: bool) -> None:
        self.keys = {k: tuple(v) for k, v in table.items()}
        self.at_start = at_start
        groups: dict[str, set[int]] = {}
        for key in self.keys:
            if len(key) >= 2:
                groups.setdefault(key[:2] if at_start else key[-2:], set()).add(len(key))
        self.groups = {edge: tuple(sorted(lengths, reverse=True)) for edge, lengths in groups.items()}
        self.short = tuple((k, v) for k, v in self.keys.items() if len(k) < 2)

    def collect(self, value: str, found: list[int]) -> None:
        size = len(value)
        keys = self.keys
        if self.at_start:
            for key, hit in self.short:
                if value.startswith(key):
                    found.extend(hit)
            lengths = self.groups.get(value[:2])
            if lengths:
                for n in lengths:
                    if n <= size:
                        got = keys.get(value[:n])
                        if got is not None:
                            found.extend(got)
        else:
            for key, hit in self.short:
                if value.endswith(key):
                    found.extend(hit)
            lengths = self.groups.get(value[-2:])
            if lengths:
                for n in lengths:
                    if n <= size:
                        got = keys.get(value[size - n:])
                        if got is not None:
                            found.extend(got)


Check = tuple["CompiledRule", Predicate | None, Predicate | None]   # rule, first check, rest


def _indexed(finders: list[Callable[[Any], list[int]]], checks: tuple[Check, ...], others: Matcher) -> Matcher:
    """Run the checks of the rules the lookups found (each once, in rule order), then the
    unfiled rules."""
    gather = finders[0] if len(finders) == 1 else (lambda e: [i for find in finders for i in find(e)])

    def lookup(e: Any, out: list[CompiledRule]) -> None:
        found = gather(e)
        if found:
            if len(found) > 1:
                found = sorted(set(found))
            for index in found:
                rule, first, rest = checks[index]
                if first is None or (first(e) and (rest is None or rest(e))):
                    out.append(rule)
        others(e, out)
    return lookup


def nothing(event: Any, out: list[CompiledRule]) -> None:
    return None


class TreeBuilder:
    """Turns the rules of one event type into a decision tree.

    Rules are lists of conjuncts.  At each node the shared conjunct with the best pruning
    for its price (rules behind it x chance it fails / cost) becomes a guard checked once:
    the rules that contain it continue below it (without it), the others beside it.  Where
    no shared conjunct prunes enough, rules are filed in per-field lookup tables by the
    constants they test (`_dispatch`), and what is left is checked rule by rule, each
    rule's conjuncts cheapest-and-most-selective first.  `odds` gives each conjunct's chance
    of holding (a guess or a measurement, see selectivity.py)."""

    def __init__(self, compile_tree: CompileTree, odds: Odds) -> None:
        self.compile_tree = compile_tree
        self.odds = odds
        self.memo: frozenset[str] = frozenset()

    def build(self, items: list[Item]) -> Matcher:
        shared = Counter(n for _, conj in items for c in conj for n in set(macro_uses(c)))
        self.memo = frozenset(name for name, uses in shared.items() if uses > 1)
        return self._node(items)

    def _guard(self, items: list[Item]) -> Node | None:
        """The shared check that spares the most rule checks for its price."""
        popularity = Counter(c for _, conj in items for c in set(conj))
        best, best_score = None, 0.0
        for node, uses in popularity.items():
            fails = 1.0 - self.odds(node)
            if uses < 2 or fails < GUARD_MIN_FAILS:
                continue
            score = uses * fails / cost(node)
            if score > best_score:
                best, best_score = node, score
        return best

    def _node(self, items: list[Item]) -> Matcher:
        if not items:
            return nothing
        guard = self._guard(items)
        if guard is None:
            plan = self._dispatch_plan(items)
            return self._leaves(items) if plan is None else self._dispatch(items, plan)
        inside = [(rule, tuple(c for c in conj if c != guard)) for rule, conj in items if guard in conj]
        beside = [item for item in items if guard not in item[1]]
        check = self.compile_tree(guard, self.memo)
        below, other = self._node(inside), self._node(beside)
        if other is nothing:
            def guarded(e: Any, out: list[CompiledRule]) -> None:
                if check(e):
                    below(e, out)
            return guarded

        def guarded_and_other(e: Any, out: list[CompiledRule]) -> None:
            if check(e):
                below(e, out)
            other(e, out)
        return guarded_and_other

    def _dispatch_plan(self, items: list[Item]) -> tuple[float, FieldRef, dict[int, tuple[Node, Filing]]] | None:
        """Rules that test a field against constants (`F = v`, `F in (v1, v2)`,
        `F startswith p`, `F pmatch (...)`, `F glob /x/*`, an `or` of those...) are filed
        in lookup tables by those constants: each field is extracted once per event and
        only the rules filed under a key the value has are checked further.  Keeps many
        rules on one field (`fd.name startswith /etc/app1`, `proc.name = tool2`...) from
        costing one check each per event.  Each rule is filed by its most selective filable
        conjunct; the field that spares the most checks decides which rules go in.

        Returns (rule checks spared per event, that field, each rule's filing) or None."""
        chosen: dict[int, tuple[Node, Filing]] = {}
        for index, (_, conj) in enumerate(items):
            for c in sorted(conj, key=self.odds):
                found = _filing(c)
                if found is not None:
                    chosen[index] = (c, found)
                    break
        saved: dict[FieldRef, float] = {}
        count: Counter[FieldRef] = Counter()
        for c, (parts, _) in chosen.values():
            for ref in {part[0] for part in parts}:
                saved[ref] = saved.get(ref, 0.0) + 1.0 - self.odds(c)
                count[ref] += 1
        # a table pays when it sends most events past most of the rules filed in it
        worth = [(gain, ref) for ref, gain in saved.items()
                 if count[ref] >= DISPATCH_MIN_RULES and gain >= DISPATCH_MIN_RULES / 2]
        if not worth:
            return None
        gain, best = max(worth, key=lambda gr: gr[0])
        return gain, best, chosen

    def _dispatch(self, items: list[Item], plan: tuple[float, FieldRef, dict[int, tuple[Node, Filing]]]) -> Matcher:
        _, best, chosen = plan
        members = sorted(i for i, (_, (parts, _)) in chosen.items() if any(p[0] == best for p in parts))
        tables: dict[FieldRef, _FieldTables] = {}
        checks: list[Check] = []
        for position, index in enumerate(members):
            rule, conj = items[index]
            conjunct, (parts, decides) = chosen[index]
            for ref, kind, keys in parts:
                tables.setdefault(ref, _FieldTables(ref)).file(kind, keys, position)
            rest = tuple(c for c in conj if c is not conjunct) if decides else conj
            checks.append((rule, *self._split(rest)) if rest else (rule, None, None))
        filed = set(members)
        others = self._node([item for i, item in enumerate(items) if i not in filed])
        return _indexed([t.finder() for t in tables.values()], tuple(checks), others)

    def _leaves(self, items: list[Item]) -> Matcher:
        always = tuple(rule for rule, conj in items if not conj)
        checks = tuple((rule, *self._split(conj)) for rule, conj in items if conj)

        def leaves(e: Any, out: list[CompiledRule]) -> None:
            if always:
                out.extend(always)
            for rule, first, rest in checks:
                if first(e) and (rest is None or rest(e)):
                    out.append(rule)
        return leaves

    def _split(self, conj: tuple[Node, ...]) -> tuple[Predicate, Predicate | None]:
        """A rule's checks in order, as (first check, the rest or None): the loop calls the
        first check itself, which is where nearly every rule stops."""
        ordered = sorted(conj, key=lambda c: rank(c, self.odds))
        rest = ordered[1:]
        first = self.compile_tree(ordered[0], self.memo)
        if not rest:
            return first, None
        return first, self.compile_tree(rest[0] if len(rest) == 1 else And(tuple(rest)), self.memo)
