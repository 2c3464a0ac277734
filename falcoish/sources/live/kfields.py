"""What the probe can test of a rule comparison: falcoish fields -> kernel views of a record.

The kernel filter (falcoish/kernel_filter) relaxes rules through this mapper.  Why a table
per event type: the same field means different things per type (`fd.name` of an `openat` is
the path the call carried, of a `close` it is a descriptor only user space knows), and only
a few fields equal something the probe holds at syscall exit.  Each entry is *exact* (the
view equals the field whenever the probe marks the view known, so both polarities can be
tested) or *implied* (only the positive polarity gives a necessary condition).  Anything
else is untestable.  tests/test_kernel_filter.py checks every entry against the real field
extractors on records decoded by the real capture code.

String views of a record (slot i = i-th string slot of the spec.py layout):
  raw{i}  the string as read          known when read whole (not cut at the size limit)
  abs{i}  same bytes                  known when whole and absolute
  path{i} same bytes                  known when whole, absolute and already normal
  rawc{i} same bytes                  known when whole and free of `//`
  dir{i}  dirname of path{i}          known when path{i} is
  base{i} basename of path{i}         known when path{i} is
  pay{i}  an I/O payload's raw bytes    known when at least as long as the prefix tested (kpayload.py)
  comm    the name the thread had at its last exec (or fork), kept by the probe
Integer operands: a{i}:{kind} (scalar argument decoded as spec.py does), res, fdnum (res, or
-1 on failure).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

from ...events.table import EVENTS, PKind
from ...fields.flags import render_flags
from ...fields.names import ERRNO_NAMES
from ...kernel_filter.ir import DNF, FALSE, TRUE, IntTest, StrTest, and_, literal, or_
from ...condition.constants import parse_constant
from ...errors import RuleError
from ...fields.registry import bind
from ...syntax.nodes import Compare, FieldRef, IdentOperand, ListOperand, StrConst
from . import spec
from .kpayload import PAYLOAD_FIELDS, payload_test

#: longest string the probe's prefix tries can hold (their key is 256 bytes with 3 of header)
KEY_MAX = 253
#: longest needle of a `contains` test
NEEDLE_MAX = 32
OPEN_TYPES = frozenset(("open", "openat", "openat2", "creat"))
O_DIRECTORY, O_CREAT, O_TMPFILE_BIT = 0o200000, 0o100, 0o20000000
CREAT_FLAGS = 0o1101

Handler = Callable[[str, Sequence[str], bool], "DNF | None"]


class ProbeFields:
    """`FieldMapper` for events of the live probe."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Handler]] = {}

    def compare(self, node: Compare, event_type: str, positive: bool) -> DNF | None:
        lhs = node.lhs
        if node.modifier is not None or not isinstance(lhs, FieldRef) or lhs.arg is not None:
            return None
        values = _constants(node)
        if values is None:
            return None
        table = self._tables.get(event_type)
        if table is None:
            table = self._tables[event_type] = _table(event_type)
        handler = table.get(lhs.name)
        return None if handler is None else handler(node.op, values, positive)


# -- per-type tables ---------------------------------------------------------------------------

def _table(event_type: str) -> dict[str, Handler]:
    sc = spec.SYSCALLS.get(event_type)
    info = EVENTS.get(event_type)
    table: dict[str, Handler] = {"proc.name": _string("comm", "proc.name", exact=True)}
    if sc is None or info is None:
        return table
    table["evt.rawres"] = _integer("res", "evt.rawres")
    table["evt.failed"] = _boolean(lambda truth: literal(_res_lt0(), truth))
    table["evt.res"] = _res_text
    for f in sc.fields:
        param = info.by_name.get(f.name)
        if param is None or f.name.startswith("_"):
            continue
        where, idx = sc.positions[f.name]
        if where == "s" and f.kind == "str":
            view = f"abs{idx}" if param.kind in (PKind.PATH, PKind.RELPATH) else f"raw{idx}"
            if param.kind in (PKind.PATH, PKind.RELPATH, PKind.STR):
                table[f"evt.arg.{f.name}"] = _string(view, f"evt.arg.{f.name}", exact=True)
        elif where == "s" and f.kind == "buf":
            for name in PAYLOAD_FIELDS:
                table[name] = _payload(f"pay{idx}", name)
        elif where == "a":
            operand = f"a{idx}:{f.kind}"
            table[f"evt.rawarg.{f.name}"] = _integer(operand, f"evt.rawarg.{f.name}")
            if param.kind is PKind.FLAGS and param.ref:
                table[f"evt.arg.{f.name}"] = _flags(operand, f"evt.arg.{f.name}", param.ref)
    if event_type in OPEN_TYPES:
        _open_fields(table, sc, event_type)
    _fs_path_fields(table, sc, event_type)
    return table


def _open_fields(table: dict[str, Handler], sc: spec.Syscall, event_type: str) -> None:
    slot = sc.positions["name"][1]
    flags = f"a{sc.positions['flags'][1]}:{_kind(sc, 'flags')}" if "flags" in sc.positions else None
    mode = f"a{sc.positions['mode'][1]}:{_kind(sc, 'mode')}"
    # fd.name is the path the probe walked from the opened struct file (kpath.c), never the
    # caller's spelling: an alias (/proc/self/root/..., a symlinked directory) must not let
    # the filter drop the open.  Its view is unknown (the event passes) when the walk did not
    # finish or the call failed; fd.nameraw is the caller's spelling.
    kslot = spec.KPATH_SLOT
    table["fd.name"] = _string(f"path{kslot}", "fd.name", exact=True)
    table["fd.nameraw"] = _string(f"rawc{slot}", "fd.nameraw", exact=True)
    table["fd.directory"] = _directory(kslot)
    table["fd.filename"] = _filename(kslot)
    table["fd.num"] = _integer("fdnum", "fd.num")

    def is_dir(truth: bool) -> DNF:
        if flags is None:                       # creat: always a regular file
            return TRUE if not truth else FALSE
        if truth:
            return literal(IntTest(flags, "any", (), O_DIRECTORY, "fd.type = directory"))
        return literal(IntTest(flags, "in", (0,), O_DIRECTORY, "fd.type = file"))

    table["fd.typechar"] = _choice({"f": False, "d": True}, is_dir)
    table["fd.type"] = _choice({"file": False, "directory": True}, is_dir)

    def access(modes: tuple[int, ...], label: str) -> Handler:
        def test(truth: bool) -> DNF:
            if flags is None:                   # creat records carry no flags argument
                return FALSE if truth else TRUE
            return literal(IntTest(flags, "in", modes, 3, label), truth)
        return _boolean(test)

    table["evt.is_open_read"] = access((0, 2), "evt.is_open_read")
    table["evt.is_open_write"] = access((1, 2), "evt.is_open_write")

    def is_exec(truth: bool) -> DNF | None:
        if not truth:
            return None
        has_x = literal(IntTest(mode, "any", (), 0o111, "evt.arg.mode has an execute bit"))
        if flags is None:
            return has_x
        creates = literal(IntTest(flags, "any", (), O_CREAT | O_TMPFILE_BIT, "evt.arg.flags has O_CREAT or O_TMPFILE"))
        return and_([has_x, creates])

    table["evt.is_open_exec"] = _boolean(is_exec)


def _fs_path_fields(table: dict[str, Handler], sc: spec.Syscall, event_type: str) -> None:
    """`fs.path.*` of file events: the resolved (normal) and raw path arguments."""
    info = EVENTS[event_type]
    if info.category != "file":
        return
    paths = [p for p in info.params if p.kind in (PKind.PATH, PKind.RELPATH) and p.name in sc.positions]
    if len(paths) == 1 and "target" not in info.by_name:
        slot = sc.positions[paths[0].name][1]
        table["fs.path.name"] = _string(f"path{slot}", "fs.path.name", exact=True)
        table["fs.path.nameraw"] = _string(f"raw{slot}", "fs.path.nameraw", exact=True)
    elif "target" in info.by_name and paths and "target" in sc.positions:
        table["fs.path.sourceraw"] = _string(f"raw{sc.positions['target'][1]}", "fs.path.sourceraw", exact=True)
        table["fs.path.source"] = table["fs.path.sourceraw"]
        table["fs.path.target"] = _string(f"path{sc.positions[paths[0].name][1]}", "fs.path.target", exact=True)
        table["fs.path.targetraw"] = _string(f"raw{sc.positions[paths[0].name][1]}", "fs.path.targetraw", exact=True)
    elif len(paths) == 2:
        for index, which in enumerate(("source", "target")):
            slot = sc.positions[paths[index].name][1]
            table[f"fs.path.{which}"] = _string(f"path{slot}", f"fs.path.{which}", exact=True)
            table[f"fs.path.{which}raw"] = _string(f"raw{slot}", f"fs.path.{which}raw", exact=True)


def _kind(sc: spec.Syscall, name: str) -> str:
    return next(f.kind for f in sc.fields if f.name == name)


# -- handler makers ----------------------------------------------------------------------------

Implied = tuple["DNF | None", "DNF | None"]     # (if the comparison is true, if it is false)


def _string(view: str, label: str, exact: bool) -> Handler:
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        made = string_test(view, label, op, values)
        if made is None:
            return None
        if positive:
            return made[0]
        return made[1] if exact else None
    return handle


def string_test(view: str, label: str, op: str, values: Sequence[str]) -> Implied | None:
    """What `<view> <op> values` implies when true, and when false (None: nothing testable).
    For an exact view, the second is the negation of the first when the test is exact."""
    if any("\0" in v or "\ufffd" in v for v in values):
        return None
    limit = NEEDLE_MAX if op == "contains" else KEY_MAX
    if op not in ("glob", "pmatch") and any(len(v.encode()) > limit for v in values):
        return None
    vals = frozenset(values)
    if not vals:
        return (FALSE, TRUE) if op in ("in", "intersects", "pmatch") else None
    test: StrTest | None = None
    if op in ("=", "==", "!=") and len(values) == 1:
        test = StrTest(view, eq=vals, label=label)
        if op == "!=":
            return literal(test, False), literal(test, True)
    elif op in ("in", "intersects"):
        test = StrTest(view, eq=vals, label=label)
    elif op == "startswith":
        test = StrTest(view, prefix=vals, label=label)
    elif op == "endswith":
        test = StrTest(view, suffix=vals, label=label)
    elif op == "contains":
        test = StrTest(view, contains=vals, label=label)
    elif op == "pmatch":
        return _pmatch(view, label, values)
    elif op == "glob" and len(values) == 1:
        return _glob(view, label, values[0])
    if test is None:
        return None
    return literal(test, True), literal(test, False)


def _pmatch(view: str, label: str, values: Sequence[str]) -> Implied | None:
    """pmatch on a normal absolute path: equal to an entry or below it.  An entry with a glob
    component contributes its literal leading components as a prefix (true case only)."""
    eq: set[str] = set()
    prefix: set[str] = set()
    implied: set[str] = set()
    for value in values:
        comps = [c for c in value.split("/") if c]
        plain = []
        for comp in comps:
            if any(ch in comp for ch in "*?["):
                break
            plain.append(comp)
        base = "/" + "/".join(plain)
        if len(base.encode()) + 1 > KEY_MAX:
            return None
        if len(plain) < len(comps):
            implied.add(base if base == "/" else base + "/")
        elif comps:
            eq.add(base)
            prefix.add(base + "/")
        else:
            prefix.add("")                       # pmatch (/) matches every path
    exact = StrTest(view, eq=frozenset(eq), prefix=frozenset(prefix), label=label)
    if not implied:
        return literal(exact, True), literal(exact, False)
    wide = StrTest(view, eq=frozenset(eq), prefix=frozenset(prefix | implied), label=label)
    return literal(wide, True), (literal(exact, False) if eq or prefix else None)


def _glob(view: str, label: str, pattern: str) -> Implied | None:
    """glob (fnmatch, `*` crosses `/`): its literal start, end and middle pieces (true case);
    a pattern without special characters is an equality."""
    specials = [i for i, ch in enumerate(pattern) if ch in "*?[\\"]
    if not specials:
        if len(pattern.encode()) > KEY_MAX:
            return None
        test = StrTest(view, eq=frozenset((pattern,)), label=label)
        return literal(test, True), literal(test, False)
    parts: list[DNF] = []
    head, tail = pattern[: specials[0]], pattern[specials[-1] + 1:]
    if head and len(head.encode()) <= KEY_MAX:
        parts.append(literal(StrTest(view, prefix=frozenset((head,)), label=label)))
    if tail and pattern[specials[-1]] in "*?" and len(tail.encode()) <= KEY_MAX:
        parts.append(literal(StrTest(view, suffix=frozenset((tail,)), label=label)))
    for start, end in zip(specials, specials[1:]):
        piece = pattern[start + 1: end]
        if piece and pattern[start] in "*?" and len(piece.encode()) <= NEEDLE_MAX:
            parts.append(literal(StrTest(view, contains=frozenset((piece,)), label=label)))
    return (and_(parts) if parts else TRUE), None


def _payload(view: str, label: str) -> Handler:
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        return payload_test(view, label, op, values, positive)
    return handle


def _directory(slot: int) -> Handler:
    """fd.directory: the dirname of a file's path, the path itself for a directory.  Every
    true comparison implies one on the path (or on its dirname); false ones imply nothing."""
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        if not positive:
            return None
        if op in ("=", "==", "in", "intersects") and (op not in ("=", "==") or len(values) == 1):
            on_dir = string_test(f"dir{slot}", "fd.directory", "in", values)
            on_path = string_test(f"path{slot}", "fd.name", "in", values)
            if on_dir is None or on_path is None or on_dir[0] is None or on_path[0] is None:
                return None
            return or_(on_dir[0], on_path[0])
        if op in ("startswith", "contains", "pmatch"):
            made = string_test(f"path{slot}", "fd.name", op, values)
            return None if made is None else made[0]
        return None
    return handle


def _filename(slot: int) -> Handler:
    """fd.filename: the last component of a regular file's path (absent for a directory)."""
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        if not positive:
            return None
        if op in ("=", "==", "in", "intersects") and (op not in ("=", "==") or len(values) == 1):
            made = string_test(f"base{slot}", "fd.filename", "in", values)
        elif op in ("endswith", "contains"):
            made = string_test(f"path{slot}", "fd.name", op, values)
        elif op == "startswith":
            made = string_test(f"path{slot}", "fd.name", "contains", ["/" + v for v in values])
        else:
            return None
        return None if made is None else made[0]
    return handle


def _integer(operand: str, label: str) -> Handler:
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        nums = _ints(label, values)
        if nums is None:
            return None
        if op in ("=", "==", "!=") and len(nums) == 1:
            return literal(IntTest(operand, "in", nums, -1, label), positive == (op != "!="))
        if op in ("in", "intersects"):
            return literal(IntTest(operand, "in", nums, -1, label), positive)
        direct = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
        opposite = {"<": "ge", "<=": "gt", ">": "le", ">=": "lt"}
        if op in direct and len(nums) == 1:
            return literal(IntTest(operand, direct[op] if positive else opposite[op], nums, -1, label))
        return None
    return handle


def _ints(label: str, values: Sequence[str]) -> tuple[int, ...] | None:
    """Constants parsed as the compiler parses them for this field (its own type)."""
    try:
        ftype = bind(FieldRef(label)).ftype
        parsed = [parse_constant(ftype, v) for v in values]
    except (RuleError, ValueError):
        return None
    if not parsed or any(type(v) is not int for v in parsed):
        return None
    return tuple(sorted(set(parsed)))


def _boolean(test: Callable[[bool], "DNF | None"]) -> Handler:
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        if op not in ("=", "==", "!=") or len(values) != 1 or values[0] not in ("true", "false"):
            return None
        truth = ((values[0] == "true") == (op != "!=")) == positive
        return test(truth)
    return handle


def _choice(values_: dict[str, bool], is_dir: Callable[[bool], DNF]) -> Handler:
    """fd.type / fd.typechar of an open*: file or directory, decided by O_DIRECTORY."""
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        if op in ("=", "==", "!=") and len(values) == 1:
            wanted = {values[0]}
            truth = (op != "!=") == positive
        elif op in ("in", "intersects"):
            wanted, truth = set(values), positive
        else:
            return None
        hits = {values_[w] for w in wanted if w in values_}
        # the field is true for dir=True when 'd' is wanted, for dir=False when 'f' is
        if truth:
            return or_(*(is_dir(d) for d in hits)) if hits else FALSE
        misses = {d for d in (False, True) if d not in hits}
        return or_(*(is_dir(d) for d in misses)) if misses else FALSE
    return handle


def _flags(operand: str, label: str, table: str) -> Handler:
    """`evt.arg.flags contains NAME`: the text lists NAME exactly when its bits are set (checked
    against the renderer for every combination of the table's bits before being trusted)."""
    def handle(op: str, values: Sequence[str], positive: bool) -> DNF | None:
        if op != "contains" or len(values) != 1:
            return None
        bits = flag_bits(table, values[0])
        if bits is None:
            return None
        return literal(IntTest(operand, "in", (bits,), bits, f"{label} contains {values[0]}"), positive)
    return handle


@lru_cache(maxsize=256)
def flag_bits(table: str, name: str) -> int | None:
    """The bits whose all being set is equivalent to `name` appearing in the rendered flags."""
    from ...fields.flags import TABLES, render_open_flags
    if table in ("open_flags", "file_flags"):
        from ...fields.flags import _OPEN_AFTER, _OPEN_BEFORE
        entries = list(_OPEN_BEFORE) + list(_OPEN_AFTER) + [("O_WRONLY", 1), ("O_RDWR", 2)]
        render: Callable[[int], str] = lambda v: render_open_flags(v, table == "open_flags")  # noqa: E731
    elif table in TABLES and TABLES[table].kind == "flags":
        entries = list(TABLES[table].entries)
        render = lambda v: render_flags(table, v)  # noqa: E731
    else:
        return None
    match = [value for n, value in entries if n == name]
    if len(match) != 1 or match[0] == 0:
        return None
    bits = match[0]
    universe = 0
    for _, value in entries:
        universe |= value
    singles = sorted({1 << b for b in range(64) if universe >> b & 1})
    if len(singles) > 16:
        return None
    for combo in range(1 << len(singles)):
        value = 0
        for i, bit in enumerate(singles):
            if combo >> i & 1:
                value |= bit
        if (name in render(value)) != (value & bits == bits):
            return None
    return bits


def _res_lt0() -> IntTest:
    return IntTest("res", "lt", (0,), -1, "evt.res")


def _res_text(op: str, values: Sequence[str], positive: bool) -> DNF | None:
    """evt.res: SUCCESS for a non-negative return value, else the errno name (or the number)."""
    if op == "startswith" and list(values) == ["E"]:
        return literal(_res_lt0()) if positive else None
    if op in ("=", "==", "!=") and len(values) == 1:
        truth = (op != "!=") == positive
        if values[0] == "SUCCESS":
            return literal(_res_lt0(), not truth)
        errno = next((n for n, name in ERRNO_NAMES.items() if name == values[0]), None)
        if errno is not None:
            return literal(IntTest("res", "in", (-errno,), -1, "evt.res"), truth)
    return None


def _constants(node: Compare) -> list[str] | None:
    rhs = node.rhs
    if isinstance(rhs, StrConst):
        return [rhs.value]
    if isinstance(rhs, IdentOperand):
        return [rhs.name]
    if isinstance(rhs, ListOperand) and all(isinstance(i, StrConst) for i in rhs.items):
        return [i.value for i in rhs.items if isinstance(i, StrConst)]
    return None


__all__ = ["ProbeFields", "string_test", "flag_bits", "OPEN_TYPES", "KEY_MAX", "NEEDLE_MAX"]
