"""Syntax trees -> resolved trees: list names and macro references replaced, on the tree.

Step 3 of the pipeline.  Why on the tree and not on the text (as Falco does): textual
substitution breaks escaping and shifts every column after it.  The visible behaviour is
kept: a list name used as a bare list element, as the bare operand of `in`, or as a
one-item scalar value is replaced by its items (quoted words are never list names); nested
lists expand; a macro body sees only macros first defined before its latest definition or
append, while rules see every macro; undefined names and reference loops are errors.
Every macro is resolved once and its tree shared (trees are immutable).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .collector import RuleBook
from .decls import MacroDecl
from .errors import ConditionSyntaxError, RuleError
from .nodes import (And, Compare, IdentOperand, ListOperand, MacroRef, MacroUse, Node, Not, Or,
                    TransformerArg,
                    StrConst)

Parse = Callable[[str], Node]


class MacroError(RuleError):
    """An error inside a macro's own condition: reported once, against the macro."""

    def __init__(self, macro: str, error: RuleError | ConditionSyntaxError) -> None:
        offset = error.offset
        super().__init__(error.reason, offset, getattr(error, "code", "LOAD_ERR_COMPILE_CONDITION"))
        self.macro = macro
        self.error = error


class Resolver:
    """Resolves conditions against one RuleBook; remembers which lists and macros were used."""

    def __init__(self, book: RuleBook, parse: Parse) -> None:
        self.book = book
        self.parse = parse
        self.used_lists: set[str] = set()
        self.used_macros: set[str] = set()
        self._macro_trees: dict[str, Node] = {}
        self._macro_errors: dict[str, MacroError] = {}
        self._in_progress: list[str] = []
        self._list_cache: dict[str, tuple[StrConst, ...]] = {}

    # -- public ---------------------------------------------------------------------------

    def resolve(self, text: str, visible: Callable[[MacroDecl], bool] = lambda m: True) -> Node:
        """Parse `text` and resolve it; raise ConditionSyntaxError, RuleError or MacroError."""
        tree = self.parse(text)
        return self._resolve(tree, text, visible)

    def macro(self, name: str) -> Node:
        """The resolved tree of a macro (raises MacroError for a broken macro)."""
        if name in self._macro_errors:
            raise self._macro_errors[name]
        if name in self._macro_trees:
            return self._macro_trees[name]
        decl = self.book.macros[name]
        if name in self._in_progress:
            raise RuleError(f"reference loop in macro '{name}'", code="LOAD_ERR_VALIDATE")
        self._in_progress.append(name)
        try:
            text = decl.condition.text
            tree = self.resolve(text, lambda other: other.order < decl.last)
        except MacroError:
            raise                       # the error belongs to a macro this one uses
        except (RuleError, ConditionSyntaxError) as err:
            wrapped = MacroError(name, err)
            if "reference loop" not in err.reason:
                self._macro_errors[name] = wrapped
            raise wrapped from None
        finally:
            self._in_progress.pop()
        self._macro_trees[name] = tree
        return tree

    # -- tree walk ------------------------------------------------------------------------

    def _resolve(self, node: Node, text: str, visible: Callable[[MacroDecl], bool]) -> Node:
        if isinstance(node, (And, Or)):
            return replace(node, children=tuple(self._resolve(c, text, visible) for c in node.children))
        if isinstance(node, Not):
            return replace(node, child=self._resolve(node.child, text, visible))
        if isinstance(node, MacroRef):
            decl = self.book.macros.get(node.name)
            if decl is None or not visible(decl):
                raise RuleError(f"Undefined macro '{node.name}' used in filter.", node.pos, "LOAD_ERR_VALIDATE")
            self.used_macros.add(node.name)
            return MacroUse(node.name, self.macro(node.name), node.pos)
        if isinstance(node, Compare):
            return self._lists_in_compare(node, text)
        return node

    def _lists_in_compare(self, node: Compare, text: str) -> Compare:
        rhs = node.rhs
        if isinstance(rhs, ListOperand):
            items: list[TransformerArg] = []
            changed = False
            for item in rhs.items:
                if isinstance(item, StrConst) and self._is_list_name(item, text):
                    items.extend(self._list_items(item.value))
                    changed = True
                else:
                    items.append(item)
            return replace(node, rhs=ListOperand(tuple(items), rhs.pos)) if changed else node
        if isinstance(rhs, IdentOperand) and rhs.name in self.book.lists:
            return replace(node, rhs=ListOperand(self._list_items(rhs.name), rhs.pos))
        if isinstance(rhs, StrConst) and self._is_list_name(rhs, text):
            values = self._list_items(rhs.value)
            if len(values) != 1:
                raise RuleError(f"list '{rhs.value}' has {len(values)} items and cannot be used as "
                                f"a single value with '{node.op}'; write '{node.lhs.render()} in "
                                f"({rhs.value})'", rhs.pos)
            return replace(node, rhs=replace(values[0], pos=rhs.pos))
        return node

    def _is_list_name(self, const: StrConst, text: str) -> bool:
        if const.value not in self.book.lists:
            return False
        quoted = 0 <= const.pos < len(text) and text[const.pos] in "\"'"
        return not quoted

    def _list_items(self, name: str, seen: tuple[str, ...] = ()) -> tuple[StrConst, ...]:
        """A list's items as constants, nested list names expanded."""
        self.used_lists.add(name)
        cached = self._list_cache.get(name)
        if cached is not None:
            return cached
        out: list[StrConst] = []
        for raw in self.book.lists[name].items:
            if raw in self.book.lists and raw not in seen and raw != name:
                out.extend(self._list_items(raw, seen + (name,)))
            else:
                out.append(StrConst(self._item_value(raw)))
        result = tuple(out)
        self._list_cache[name] = result
        return result

    def _item_value(self, raw: str) -> str:
        """A list item as Falco reads it: a quoted item is unescaped, anything else verbatim."""
        if len(raw) >= 2 and raw[0] in "\"'" and raw[-1] == raw[0]:
            try:
                tree = self.parse(f"a.b = {raw}")
            except ConditionSyntaxError:
                return raw
            if isinstance(tree, Compare) and isinstance(tree.rhs, StrConst):
                return tree.rhs.value
        return raw
