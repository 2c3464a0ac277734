"""Struct member offsets of the *running* kernel, read from its BTF (/sys/kernel/btf/vmlinux).

Why: BCC compiles the probe against whatever kernel headers are installed, and those may be
older than the running kernel, so `offsetof()` from the headers can silently be wrong.  The
kernel describes its own types in BTF; reading that gives the real layout.  There is no bpftool
or pahole here, so this is a small pure-Python reader of the format in the kernel's
include/uapi/linux/btf.h.

Why it is lazy: vmlinux BTF is ~5 MB with ~150k types, but a probe needs a few dozen members.
Loading makes one pass over the type section that records only where each type starts and
which ids are structs/unions/typedefs; their names are sliced out of the string table on the
first lookup, and members are decoded only for the structs that are asked about.

    btf = KernelBTF.load()
    btf.offset("task_struct", "tgid")            # byte offset
    btf.offset("file", "f_path.dentry")          # path through embedded (not pointer) members
    btf.defines({"OFF_TASK_TGID": ("task_struct", "tgid")})   # ["#define OFF_TASK_TGID <n>"]
"""

from __future__ import annotations

import struct
import sys
from array import array
from pathlib import Path
from typing import NamedTuple

VMLINUX = "/sys/kernel/btf/vmlinux"
POINTER_SIZE = 8          # BTF does not record pointer width; every target we support is 64-bit

(INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC,
 FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64) = range(1, 20)
KIND_NAMES = ("void", "int", "ptr", "array", "struct", "union", "enum", "fwd", "typedef",
              "volatile", "const", "restrict", "func", "func_proto", "var", "datasec", "float",
              "decl_tag", "type_tag", "enum64")
# 32-bit words a type occupies, per kind: the 3-word `struct btf_type`, kind-specific fixed
# words, and words per vlen entry.  Kinds 0 and 20..31 are invalid: a step past any blob.
_BAD = 1 << 62
_STEP_WORDS = (_BAD, 4, 3, 6, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3, 4, 3, 3) + (_BAD,) * 12
_VLEN_WORDS = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3) + (0,) * 12
_MODIFIERS = frozenset((TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG))
_SIZED = frozenset((INT, STRUCT, UNION, ENUM, ENUM64, FLOAT))
_COMPOSITE = (STRUCT, UNION)


def _word_typecode() -> str:
    for code in ("I", "L"):
        if array(code).itemsize == 4:
            return code
    raise RuntimeError("no 32-bit array typecode on this platform")


_U32 = _word_typecode()


class Member(NamedTuple):
    """A member as laid out in its outermost struct: offsets are in bits from that struct."""

    bit_offset: int
    bitfield_size: int        # 0 when the member is not a bitfield
    type_id: int


class KernelBTF:
    """Read-only view of one BTF blob; answers layout questions about named structs/unions."""

    def __init__(self, data: bytes) -> None:
        """Parse the header and index the type section (use `load`/`from_bytes`)."""
        if len(data) < 24:
            raise ValueError("BTF blob too short for a header")
        if data[:2] == b"\x9f\xeb":
            order = "<"
        elif data[:2] == b"\xeb\x9f":
            order = ">"
        else:
            # The magic is 0xeB9F in the blob's own byte order, which also tells us that order.
            raise ValueError(f"not BTF: magic bytes {data[:2].hex()} (want 0xeb9f either order)")
        _magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            order + "HBBIIIII", data)
        if version != 1:
            raise ValueError(f"unsupported BTF version {version}")
        t0, s0 = hdr_len + type_off, hdr_len + str_off
        if hdr_len < 24 or t0 + type_len > len(data) or s0 + str_len > len(data) or type_len % 4:
            raise ValueError("BTF header describes sections outside the blob")
        self._strings = data[s0:s0 + str_len]
        words = array(_U32, data[t0:t0 + type_len])
        if (order == "<") != (sys.byteorder == "little"):
            words.byteswap()
        self._w = words
        self._offsets, self._named = self._index(words)
        self._ids_by_name: dict[bytes, list[int]] | None = None
        self._by_name: dict[str, int] = {}
        self._members: dict[int, tuple[dict[str, Member], list[Member]]] = {}

    @classmethod
    def load(cls, path: str = VMLINUX) -> KernelBTF:
        """Read and index the BTF at `path` (the running kernel's by default)."""
        return cls(Path(path).read_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> KernelBTF:
        """Index a BTF blob already in memory (tests, or BTF taken from elsewhere)."""
        return cls(bytes(data))

    @staticmethod
    def _index(w: array[int]) -> tuple[array[int], list[int]]:
        """One pass: word index of every type id (id 0 = void), and the ids findable by name.

        This loop is the whole load cost, so it does as little as possible per type; an
        unknown kind gets a huge step, ending the loop, and is reported after it.
        """
        offsets = array(_U32, [0])
        append = offsets.append
        named: list[int] = []
        add_named = named.append
        step, per_vlen = _STEP_WORDS, _VLEN_WORDS
        i, n = 0, len(w)
        while i < n:
            info = w[i + 1]
            kind = (info >> 24) & 0x1F
            append(i)
            if kind == STRUCT or kind == UNION or kind == TYPEDEF:
                add_named(len(offsets) - 1)
            i += step[kind] + per_vlen[kind] * (info & 0xFFFF)
        if i != n:
            kind = (w[offsets[-1] + 1] >> 24) & 0x1F if len(offsets) > 1 else 0
            raise ValueError(f"BTF type section is corrupt or truncated at type id "
                             f"{len(offsets) - 1} (kind {kind})")
        return offsets, named

    # -- raw access ---------------------------------------------------------------------------

    def _kind(self, tid: int) -> int:
        return 0 if tid == 0 else (self._w[self._offsets[tid] + 1] >> 24) & 0x1F

    def _str(self, off: int) -> str:
        strings = self._strings
        return strings[off:strings.index(b"\0", off)].decode()

    def _strip(self, tid: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type id."""
        for _ in range(64):
            if self._kind(tid) not in _MODIFIERS:
                return tid
            tid = self._w[self._offsets[tid] + 2]
        raise ValueError(f"BTF type chain too long (loop?) at type id {tid}")

    def _type_size(self, tid: int) -> int:
        tid = self._strip(tid)
        kind, pos = self._kind(tid), self._offsets[tid]
        if kind in _SIZED:
            return self._w[pos + 2]
        if kind == PTR:
            return POINTER_SIZE
        if kind == ARRAY:
            return self._w[pos + 5] * self._type_size(self._w[pos + 3])
        raise ValueError(f"BTF type id {tid} ({KIND_NAMES[kind]}) has no size")

    # -- names --------------------------------------------------------------------------------

    def _name_index(self) -> dict[bytes, list[int]]:
        """Undecoded name -> ids (in id order) of structs/unions/typedefs; built on first use.

        Deferred out of the load pass and kept as bytes: ~13k slices cost a few ms, while
        decoding every name in the load loop would cost more than the loop itself.
        """
        index = self._ids_by_name
        if index is None:
            index = {}
            strings, w, offs = self._strings, self._w, self._offsets
            find = strings.find
            for tid in self._named:
                off = w[offs[tid]]
                if off:
                    key = strings[off:find(b"\0", off)]
                    ids = index.get(key)
                    if ids is None:
                        index[key] = [tid]
                    else:
                        ids.append(tid)
            self._ids_by_name = index
        return index

    def _find_type(self, name: str) -> int:
        """Id of the struct/union called `name` ("struct "/"union " prefixes are allowed).

        FWDs never match (they are not indexed).  Among same-named candidates: the first
        struct/union with members, else the first without, else the first typedef that names
        a struct/union (e.g. `atomic_t`, `kernel_cap_t` have no struct tag).
        """
        cached = self._by_name.get(name)
        if cached is not None:
            return cached
        bare = name
        for prefix in ("struct ", "union "):
            bare = bare.removeprefix(prefix)
        ids = self._name_index().get(bare.encode(), [])
        w, offs = self._w, self._offsets
        full = [t for t in ids if self._kind(t) in _COMPOSITE]
        with_members = [t for t in full if w[offs[t] + 1] & 0xFFFF]
        aliased = [self._strip(t) for t in ids if self._kind(t) == TYPEDEF]
        best = with_members or full or [t for t in aliased if self._kind(t) in _COMPOSITE]
        if not best:
            raise KeyError(f"no struct or union named {bare!r} in this BTF")
        self._by_name[name] = best[0]
        return best[0]

    # -- members ------------------------------------------------------------------------------

    def _decode(self, sid: int) -> tuple[dict[str, Member], list[Member]]:
        """Named members and anonymous struct/union members of struct/union `sid` (cached)."""
        got = self._members.get(sid)
        if got is not None:
            return got
        w, pos = self._w, self._offsets[sid]
        info = w[pos + 1]
        vlen, kind_flag = info & 0xFFFF, info >> 31
        named: dict[str, Member] = {}
        anon: list[Member] = []
        for j in range(pos + 3, pos + 3 + 3 * vlen, 3):
            name_off, mtype, moff = w[j], w[j + 1], w[j + 2]
            if kind_flag:
                bits, moff = moff >> 24, moff & 0xFFFFFF
            else:
                bits, moff = self._old_bitfield(mtype, moff)
            if name_off:
                named[self._str(name_off)] = Member(moff, bits, mtype)
            elif self._kind(self._strip(mtype)) in _COMPOSITE:
                anon.append(Member(moff, 0, mtype))
        self._members[sid] = (named, anon)
        return named, anon

    def _old_bitfield(self, mtype: int, moff: int) -> tuple[int, int]:
        """Without kind_flag a bitfield is an INT whose encoding has bit offset/width."""
        if self._kind(mtype) != INT:
            return 0, moff
        pos = self._offsets[mtype]
        enc = self._w[pos + 3]
        int_off, nr_bits = (enc >> 16) & 0xFF, enc & 0xFF
        if int_off == 0 and nr_bits == self._w[pos + 2] * 8:
            return 0, moff
        return nr_bits, moff + int_off

    def _lookup(self, sid: int, name: str) -> Member | None:
        """`name` in `sid`, looking inside anonymous members as C name lookup does."""
        named, anon = self._decode(sid)
        found = named.get(name)
        if found is not None:
            return found
        for a in anon:
            inner = self._lookup(self._strip(a.type_id), name)
            if inner is not None:
                return Member(a.bit_offset + inner.bit_offset, inner.bitfield_size, inner.type_id)
        return None

    def _resolve(self, struct_name: str, member: str) -> Member:
        """The member at dotted path `member`, its bit offset from the start of `struct_name`."""
        sid = self._find_type(struct_name)
        base, parts = 0, member.split(".")
        for depth, part in enumerate(parts):
            m = self._lookup(sid, part)
            owner = ".".join([struct_name, *parts[:depth]])
            if m is None:
                what = f"{KIND_NAMES[self._kind(self._find_type(struct_name))]} {struct_name}"
                inner = f": {owner} has no {part!r}" if depth else ""
                raise KeyError(f"{what} has no member {member!r}{inner}")
            base += m.bit_offset
            if depth + 1 < len(parts):
                sid = self._strip(m.type_id)
                if self._kind(sid) not in _COMPOSITE or m.bitfield_size:
                    kind = KIND_NAMES[self._kind(sid)]
                    raise KeyError(f"{owner}.{part} is a {kind}, not an embedded struct/union, "
                                   f"so {struct_name}.{member} is not at a fixed offset")
        assert m is not None
        return Member(base, m.bitfield_size, m.type_id)

    # -- public API ---------------------------------------------------------------------------

    def _whole_bytes(self, struct: str, member: str) -> Member:
        """The member, refusing bitfields that do not start and end on byte boundaries.

        Such a bitfield cannot be read with a plain load at a byte offset (it would need
        shifting and masking), and the probe never reads one, so this is an error.
        """
        m = self._resolve(struct, member)
        if m.bit_offset % 8 or m.bitfield_size % 8:
            raise ValueError(f"{struct}.{member} is a {m.bitfield_size}-bit bitfield at bit "
                             f"{m.bit_offset}: not byte-aligned")
        return m

    def offset(self, struct: str, member: str) -> int:
        """Byte offset of `member` (dotted path through embedded members) in struct/union `struct`.

        For a byte-aligned bitfield this is the byte where it starts.
        """
        return self._whole_bytes(struct, member).bit_offset // 8

    def member_size(self, struct: str, member: str) -> int:
        """Byte size of the member's type (through typedefs/qualifiers; arrays are whole)."""
        m = self._whole_bytes(struct, member)
        return m.bitfield_size // 8 if m.bitfield_size else self._type_size(m.type_id)

    def size(self, struct: str) -> int:
        """Byte size of struct/union `struct`."""
        return self._w[self._offsets[self._find_type(struct)] + 2]

    def has(self, struct: str, member: str) -> bool:
        """Whether the struct exists and has that member path (bitfields count as present)."""
        try:
            self._resolve(struct, member)
        except KeyError:
            return False
        return True

    def defines(self, wanted: dict[str, tuple[str, str]]) -> list[str]:
        """C `#define MACRO <offset>` lines, to prepend to a BCC program's text."""
        return [f"#define {macro} {self.offset(s, m)}" for macro, (s, m) in wanted.items()]

    @property
    def type_count(self) -> int:
        """Number of types, not counting void (id 0)."""
        return len(self._offsets) - 1
