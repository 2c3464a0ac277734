"""The `pmatch` operator: is a path below one of a set of path prefixes (libsinsp's
`path_prefix_search`), matched component by component through a trie.

Why its own module: the trie is a data structure of its own; operators.py builds one
`PathPrefixSet` per rule constant list.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .glob_match import compile_glob

Predicate = Callable[[Any], bool]


_TERMINAL = None  # a trie entry that ends a search path
_MISSING: Any = object()


class _PathNode:
    __slots__ = ("dirs", "globs")

    def __init__(self) -> None:
        self.dirs: dict[str, _PathNode | None] = {}
        self.globs: dict[str, tuple[Predicate, _PathNode | None]] = {}


class PathPrefixSet:
    """Falco's `pmatch`: does any search path equal a leading run of the value's components?

    Paths are split on `/` with empty components dropped; a search-path component containing
    `*`, `?` or `[` is fnmatch'ed against exactly one value component.  The search path `/`
    matches every value.  Adding a path shorter than an existing one replaces it (the longer
    one could never add a match), as libsinsp's path_prefix_map does.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self.root = _PathNode()
        self.match_all = False
        self.has_globs = False
        for path in paths:
            self.add(path)

    def add(self, path: str) -> None:
        comps = [c for c in path.split("/") if c]
        if not comps:
            self.match_all = True
            return
        node = self.root
        for index, comp in enumerate(comps):
            last = index == len(comps) - 1
            is_glob = any(ch in comp for ch in "*?[")
            if is_glob:
                self.has_globs = True
                entry = node.globs.get(comp)
                existing = entry[1] if entry is not None else _TERMINAL
                present = entry is not None
            else:
                present = comp in node.dirs
                existing = node.dirs.get(comp)
            if present and existing is _TERMINAL:
                return  # a shorter search path already covers this one
            if last:
                child: _PathNode | None = _TERMINAL
            elif present:
                child = existing
            else:
                child = _PathNode()
            if is_glob:
                node.globs[comp] = (compile_glob(comp), child)
            else:
                node.dirs[comp] = child
            if child is _TERMINAL:
                return
            node = child

    def match(self, value: Any) -> bool:
        return self.match_all or self._walk(self.root, value.split("/"), 0)

    def _walk(self, node: _PathNode, comps: list[str], index: int) -> bool:
        count = len(comps)
        while index < count:
            comp = comps[index]
            index += 1
            if not comp:
                continue  # leading, trailing and doubled slashes
            child = node.dirs.get(comp, _MISSING)
            if not node.globs:
                if child is _MISSING:
                    return False
                if child is _TERMINAL:
                    return True
                node = child
                continue
            # direct entry first, then every glob entry matching this component
            if child is not _MISSING and (child is _TERMINAL or self._walk(child, comps, index)):
                return True
            for matcher, gchild in node.globs.values():
                if matcher(comp) and (gchild is _TERMINAL or self._walk(gchild, comps, index)):
                    return True
            return False
        return False
