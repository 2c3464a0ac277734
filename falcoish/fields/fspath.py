"""`evt.abspath*` and `fs.path.*`: the filesystem path(s) a file event operates on.

Pipeline step: field binding/extraction.  Why from the event table: the path parameters of each
event type (PATH, or RELPATH relative to a dirfd) are listed there, so one resolver serves every
file event: relative paths are joined to the thread's cwd or to the dirfd's directory and
normalised, the way libsinsp builds these fields.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.table import EVENTS, Param, PKind
from ..events.fieldtypes import STRING
from .args import resolve_path
from .registry import simple

_PATHS = {n: tuple(p for p in e.params if p.kind in (PKind.PATH, PKind.RELPATH))
          for n, e in EVENTS.items() if e.category == "file"}


def _raw(p: Param) -> Callable[[Event], str | None]:
    return lambda ev: v if type(v := ev.args.get(p.name)) is str and v else None


def _resolved(p: Param) -> Callable[[Event], str | None]:
    return lambda ev: resolve_path(ev, p)


def _field(pick: Callable[[str, tuple[Param, ...]], Param | None],
           view: Callable[[Param], Callable[[Event], Any]]) -> Callable[[Event], Any]:
    table = {n: view(p) for n, ps in _PATHS.items() if (p := pick(n, ps)) is not None}
    get = table.get
    return lambda ev: None if (f := get(ev.type)) is None else f(ev)


def _single(rel_only: bool) -> Callable[[str, tuple[Param, ...]], Param | None]:
    def pick(name: str, ps: tuple[Param, ...]) -> Param | None:
        if rel_only:
            ps = tuple(p for p in ps if p.kind is PKind.RELPATH)
        return ps[0] if len(ps) == 1 and EVENTS[name].by_name.get("target") is None else None
    return pick


def _pair(index: int) -> Callable[[str, tuple[Param, ...]], Param | None]:
    def pick(name: str, ps: tuple[Param, ...]) -> Param | None:
        info = EVENTS[name]
        if "target" in info.by_name and ps:       # symlink*: source = target (raw text)
            return info.by_name["target"] if index == 0 else ps[0]
        return ps[index] if len(ps) == 2 else None
    return pick


def _text_or_resolved(p: Param) -> Callable[[Event], str | None]:
    return _raw(p) if p.kind is PKind.STR else _resolved(p)


simple("evt.abspath", STRING, "absolute path of the dirfd-relative path argument of *at events",
       _field(_single(True), _resolved))
simple("evt.abspath.src", STRING, "absolute source path of renameat/linkat/symlinkat",
       _field(lambda n, ps: _pair(0)(n, ps) if any(p.kind is PKind.RELPATH for p in ps) else None,
              _text_or_resolved))
simple("evt.abspath.dst", STRING, "absolute destination path of renameat/linkat/symlinkat",
       _field(lambda n, ps: _pair(1)(n, ps) if any(p.kind is PKind.RELPATH for p in ps) else None,
              _resolved))
simple("fs.path.name", STRING, "resolved path a file event operates on",
       _field(_single(False), _resolved))
simple("fs.path.nameraw", STRING, "path a file event operates on, as passed",
       _field(_single(False), _raw))
simple("fs.path.source", STRING, "resolved source path of rename/link/symlink events",
       _field(_pair(0), _text_or_resolved))
simple("fs.path.sourceraw", STRING, "source path of rename/link/symlink events, as passed",
       _field(_pair(0), _raw))
simple("fs.path.target", STRING, "resolved target path of rename/link/symlink events",
       _field(_pair(1), _resolved))
simple("fs.path.targetraw", STRING, "target path of rename/link/symlink events, as passed",
       _field(_pair(1), _raw))
