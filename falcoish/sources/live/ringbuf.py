"""Read BPF ring buffer maps (BPF_MAP_TYPE_RINGBUF) straight from their mmap'ed memory.

Why: BCC's `open_ring_buffer` + `ring_buffer_poll` calls a ctypes callback once per record.
Each call takes the GIL, boxes the arguments and runs two Python frames (BCC's wrapper, then
ours) before `ctypes.string_at` copies the record out; under load that is most of the
per-event cost in user space.  Here the ring is mapped into this process once and `read`
walks ready records in one tight loop: one memoryview subscript for the header and one slice
(a single memcpy into a new `bytes`) per record, and one store to publish the consumer
position per look at the producer position, not per record.

Kernel ABI used (uapi linux/bpf.h, kernel/bpf/ringbuf.c):
- map page 0, mapped read-write: the consumer position, a u64 only the consumer writes;
- from map page 1, read-only: the producer position (u64), then the data area mapped twice
  back to back, so a record that wraps around the end is still one contiguous slice;
- a record is an 8-byte header (u32 len, bit 31 BUSY = being written, bit 30 DISCARD =
  skip; u32 page offset, unused here) then the payload; it takes round_up(8 + len, 8)
  bytes.  Positions are free-running u64 counters; data index = position & (size - 1).

A map must have exactly one consumer: never use BCC's `open_ring_buffer` on a map read here
(`RingReader.from_table` refuses such a table and disables the method on it).
"""

from __future__ import annotations

import mmap
import os
import select
from itertools import repeat
from types import TracebackType
from typing import Any, Sequence

BUSY = 1 << 31
DISCARD = 1 << 30
LEN_MAX = DISCARD - 1     # < 2**30: CPython 3.11 specializes int compares only below that
PAGE = mmap.PAGESIZE


class RingReader:
    """The single consumer of one ringbuf map: copies out ready payloads, in order."""

    def __init__(self, map_fd: int, size: int) -> None:
        """`size` is the map's max_entries: the data size in bytes (BCC: table.max_entries)."""
        if size < PAGE or size & (size - 1):
            raise ValueError(f"ringbuf size must be a power of two >= {PAGE}, not {size}")
        # Our own descriptor: epoll and the mappings stay valid if BCC closes its fd first.
        self._fd = os.dup(map_fd)
        self.size = size
        self._mask = size - 1
        try:
            # The kernel refuses a writable mapping of anything but the consumer page (EPERM).
            self._cons_map = mmap.mmap(self._fd, PAGE, flags=mmap.MAP_SHARED,
                                       prot=mmap.PROT_READ | mmap.PROT_WRITE)
            self._data_map = mmap.mmap(self._fd, PAGE + 2 * size, flags=mmap.MAP_SHARED,
                                       prot=mmap.PROT_READ, offset=PAGE)
        except BaseException:
            if getattr(self, "_cons_map", None) is not None:
                self._cons_map.close()
            os.close(self._fd)
            raise
        # Format 'Q' views make each position access a single aligned 8-byte load or store:
        # the kernel never sees a torn consumer position, we never read a torn producer one.
        self._cons = memoryview(self._cons_map).cast("Q")
        whole = memoryview(self._data_map)
        self._prod = whole[:8].cast("Q")
        self._hdr = whole.cast("I")       # len of the header at map offset h: self._hdr[h >> 2]
        whole.release()
        self._closed = False

    @classmethod
    def from_table(cls, table: Any) -> RingReader:
        """A reader of a BCC RingBuf table (`bpf["events"]`), which becomes its only consumer.

        BCC 0.26's table exposes `map_fd` and `max_entries` (the data size in bytes, i.e.
        pages * page size for BPF_RINGBUF_OUTPUT).  Two consumers of one ring would each
        skip the other's records and fight over the consumer position, so this refuses a
        table BCC already reads and makes a later `open_ring_buffer` on it raise.
        """
        if getattr(table, "_cbs", None):
            raise RuntimeError("BCC already consumes this ring (open_ring_buffer was called)")
        reader = cls(int(table.map_fd), int(table.max_entries))

        def refuse(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("this ring is consumed by RingReader; a second consumer would "
                               "lose records")
        table.open_ring_buffer = refuse
        return reader

    def fileno(self) -> int:
        """The map fd: epoll reports it readable when records are pending."""
        return self._fd

    def read(self, limit: int = 4096) -> list[bytes]:
        """Consume and return up to `limit` ready payloads, oldest first, as new bytes.

        Stops early at a record still being written (BUSY): later records, though maybe
        complete, must wait for it to keep order.  Discarded records are consumed and skipped.
        The hot loop walks map offsets between the positions it snapshots, without masking:
        at most `size` bytes are pending and the data area is mapped twice, so a snapshot
        never runs past the mapping.  The consumer position is published once per snapshot,
        not per record (a store each), and before looking at the producer again, so that a
        producer that finds us caught up wakes epoll.
        """
        out: list[bytes] = []
        add = out.append
        data, hdr, mask, lenmax = self._data_map, self._hdr, self._mask, LEN_MAX
        consv, prodv = self._cons, self._prod
        cons = consv[0]
        left = limit
        while left > 0:
            prod = prodv[0]
            if cons >= prod:
                break
            if prod - cons > self.size:
                raise RuntimeError(f"ringbuf positions are inconsistent: {cons=} {prod=}")
            h = first = PAGE + (cons & mask)            # map offset of the next header
            end = h + prod - cons
            busy = False
            for _ in repeat(None, left):
                if h >= end:
                    break
                n = hdr[h >> 2]
                if n > lenmax:              # BUSY or DISCARD: one compare on the hot path
                    if n & BUSY:
                        busy = True
                        break
                    h = (h + (n & lenmax) + 15) & -8
                    continue
                h += 8
                n += h                      # now the end of the payload
                add(data[h:n])
                h = (n + 7) & -8
            cons += h - first
            consv[0] = cons
            if busy:
                break
            left = limit - len(out)
        return out

    def pending_bytes(self) -> int:
        """Bytes between consumer and producer: ready, discarded and still-busy records."""
        return int(self._prod[0] - self._cons[0])

    def ready(self) -> bool:
        """True when `read` would consume something now (the oldest record is not BUSY)."""
        cons = self._cons[0]
        return cons < self._prod[0] and not self._hdr[(PAGE + (cons & self._mask)) >> 2] & BUSY

    def close(self) -> None:
        """Unmap the ring and close our fd; records not read stay in the ring."""
        if self._closed:
            return
        self._closed = True
        for view in (self._cons, self._prod, self._hdr):
            view.release()                    # mmap.close refuses while views are exported
        self._cons_map.close()
        self._data_map.close()
        os.close(self._fd)

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class RingSet:
    """Several rings read as lanes: lane 0 (the priority lane) is always drained first.

    Why lanes: a reserved ring for rare, important records keeps them from being lost or
    delayed behind a flood in the bulk ring.
    """

    def __init__(self, readers: Sequence[RingReader]) -> None:
        self.readers = list(readers)
        self._epoll = select.epoll(max(1, len(self.readers)))
        for reader in self.readers:
            self._epoll.register(reader.fileno(), select.EPOLLIN)

    def wait(self, timeout_ms: int) -> bool:
        """Block up to `timeout_ms` (-1: forever) until a lane has a record to read.

        Looks at the rings before and after epoll: the kernel wakes waiters only when it
        commits the record at the published consumer position, so records a `read` left
        behind (it hit its limit) or that were committed before it published its position
        raise no new wakeup.
        """
        if self.ready():
            return True
        if self._epoll.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1):
            return True
        return self.ready()

    def ready(self) -> bool:
        """True when some lane has a record to read now."""
        return any(reader.ready() for reader in self.readers)

    def read(self, limit: int = 4096) -> list[tuple[int, bytes]]:
        """Up to `limit` (lane, payload) pairs: all ready records of lane 0, then lane 1, ..."""
        out: list[tuple[int, bytes]] = []
        for lane, reader in enumerate(self.readers):
            left = limit - len(out)
            if left <= 0:
                break
            out.extend(zip(repeat(lane), reader.read(left)))
        return out

    def close(self) -> None:
        """Close the epoll fd and every reader."""
        self._epoll.close()
        for reader in self.readers:
            reader.close()

    def __enter__(self) -> RingSet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
