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

import re
from dataclasses import replace
from typing import Callable

from .collector import RuleBook
from .decls import MacroDecl
from ..errors import ConditionSyntaxError, RuleError, did_you_mean
from ..syntax.nodes import (And, Compare, IdentOperand, ListOperand, MacroRef, MacroUse, Node, Not, Or,
                            TransformerArg, StrConst)

Parse = Callable[[str], Node]
#: what may be a macro or list name inside condition text (lists allow more than identifiers)
_WORD = re.compile(r"[^\s()\"',=<>!]+")


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
        #: condition text -> (message, offset) of bare words in a value list that are not
        #: list names but are one typo away from one (see _near_list_name)
        self.near_misses: dict[str, list[tuple[str, int]]] = {}

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

    def mark_referenced(self, text: str) -> None:
        """Count the macros and lists named in the text of an item that failed as used.

        Why: an item that fails stops being resolved at its first error, so the macros and
        lists it (and they) name were never reached; reporting them as unused would add
        knock-on warnings to the one real error.  Text, not tree: the item may not even
        parse.  A word that only looks like a name merely silences a warning."""
        for word in _WORD.findall(text):
            if word in self.book.macros and word not in self.used_macros:
                self.used_macros.add(word)
                self.mark_referenced(self.book.macros[word].condition.text)
            elif word in self.book.lists and word not in self.used_lists:
                self.used_lists.add(word)
                self.mark_referenced(" ".join(self.book.lists[word].items))

    # -- tree walk ------------------------------------------------------------------------

    def _resolve(self, node: Node, text: str, visible: Callable[[MacroDecl], bool]) -> Node:
        if isinstance(node, (And, Or)):
            return replace(node, children=tuple(self._resolve(c, text, visible) for c in node.children))
        if isinstance(node, Not):
            return replace(node, child=self._resolve(node.child, text, visible))
        if isinstance(node, MacroRef):
            decl = self.book.macros.get(node.name)
            if decl is None or not visible(decl):
                hint = did_you_mean(node.name, (m.name for m in self.book.macros.values() if visible(m)))
                raise RuleError(f"Undefined macro '{node.name}' used in filter{hint}.", node.pos,
                                "LOAD_ERR_VALIDATE")
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
                    self._near_list_name(item, text)
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

    def _near_list_name(self, item: TransformerArg, text: str) -> None:
        """Remember a bare word in a value list that is a typo of a list name.

        Why: `proc.name in (shell_binaires)` is valid and silently compares with the word
        itself, so the rule never fires; Falco says nothing.  Only a warning: the meaning
        is kept (the word may be meant), and quoted words are never list names anyway."""
        if not isinstance(item, StrConst) or not 0 <= item.pos < len(text) or text[item.pos] in "\"'":
            return
        hint = did_you_mean(item.value, self.book.lists)
        found = (f"'{item.value}' is not a list name and is compared as a plain value{hint}", item.pos)
        if hint and found not in self.near_misses.setdefault(text, []):
            self.near_misses[text].append(found)

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
