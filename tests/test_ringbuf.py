"""RingReader / RingSet: reading BPF ring buffers straight from their mmap'ed memory.

Two kinds of tests:
- on a fake ring (a memfd laid out like the kernel's mapping, with the data area written
  twice): exact control of BUSY and DISCARD headers and of wraparound, no BPF needed;
- live (`-m live`): a tiny BCC program whose getppid tracepoint, filtered on this process,
  writes into one-page rings (the smallest a ringbuf can be, so they wrap every few dozen
  records); `ctl` selects which ring and counts sent and lost records.
"""

from __future__ import annotations

import ctypes
import os
import random
import struct
import threading
import time
from typing import Any, Iterator

import pytest

from falcoish.sources.live.ringbuf import BUSY, DISCARD, PAGE, RingReader, RingSet

# ---------------------------------------------------------------- fake ring (no BPF) ----


class FakeRing:
    """A memfd with the kernel's ringbuf layout: consumer page, producer page, data twice."""

    def __init__(self, size: int = PAGE) -> None:
        self.size = size
        self.fd = os.memfd_create("fake-ringbuf")
        os.ftruncate(self.fd, 2 * PAGE + 2 * size)
        self.data = bytearray(size)
        self.prod = 0

    def put(self, payload: bytes, flags: int = 0) -> int:
        """Append a record (header flags BUSY/DISCARD as given); returns its position."""
        pos = self.prod
        rec = struct.pack("<II", len(payload) | flags, 0) + payload
        rec += b"\0" * (-len(rec) % 8)
        for k, byte in enumerate(rec):
            self.data[(pos + k) % self.size] = byte
        self.prod += len(rec)
        self.flush()
        return pos

    def set_flags(self, pos: int, length: int, flags: int) -> None:
        for k, byte in enumerate(struct.pack("<I", length | flags)):
            self.data[(pos + k) % self.size] = byte
        self.flush()

    def flush(self) -> None:
        os.pwrite(self.fd, bytes(self.data) * 2, 2 * PAGE)
        os.pwrite(self.fd, struct.pack("<Q", self.prod), PAGE)

    def consumer(self) -> int:
        return int(struct.unpack("<Q", os.pread(self.fd, 8, 0))[0])


@pytest.fixture()
def fake() -> Iterator[FakeRing]:
    ring = FakeRing()
    yield ring
    os.close(ring.fd)


def test_fake_ring_reads_in_order_across_wraps(fake: FakeRing) -> None:
    reader = RingReader(fake.fd, fake.size)
    expect = []
    for i in range(2000):
        payload = bytes([i % 251]) * (i % 300)
        fake.put(payload)
        expect.append(payload)
        if i % 7 == 6:
            assert reader.read() == expect
            expect = []
            assert fake.consumer() == fake.prod and reader.pending_bytes() == 0
    assert reader.read() == expect
    assert fake.prod > 20 * fake.size        # wrapped many times, records straddling the end
    reader.close()
    reader.close()                           # idempotent


def test_fake_ring_stops_at_busy_and_skips_discarded(fake: FakeRing) -> None:
    with RingReader(fake.fd, fake.size) as reader:
        fake.put(b"a" * 5)
        fake.put(b"gone", DISCARD)
        fake.put(b"b" * 9)
        busy = fake.put(b"c" * 3, BUSY)
        fake.put(b"d")                       # complete, but after a busy record: must wait
        assert reader.ready()
        assert reader.read() == [b"a" * 5, b"b" * 9]
        assert fake.consumer() == busy and not reader.ready() and reader.pending_bytes() == 32
        assert reader.read() == []
        fake.set_flags(busy, 3, 0)           # the producer commits it
        assert reader.ready() and reader.read() == [b"c" * 3, b"d"]
        assert reader.pending_bytes() == 0


def test_fake_ring_limit(fake: FakeRing) -> None:
    with RingReader(fake.fd, fake.size) as reader:
        for i in range(10):
            fake.put(struct.pack("<I", i))
        assert reader.pending_bytes() == 10 * 16
        assert reader.read(0) == []
        assert [struct.unpack("<I", p)[0] for p in reader.read(3)] == [0, 1, 2]
        assert reader.pending_bytes() == 7 * 16
        assert [struct.unpack("<I", p)[0] for p in reader.read()] == list(range(3, 10))


def test_size_must_be_a_power_of_two_of_pages(fake: FakeRing) -> None:
    for bad in (0, PAGE // 2, 3 * PAGE):
        with pytest.raises(ValueError):
            RingReader(fake.fd, bad)


def test_from_table_refuses_a_ring_bcc_consumes(fake: FakeRing) -> None:
    class Table:
        map_fd, max_entries = fake.fd, fake.size
        _cbs: dict[int, Any] = {}

        def open_ring_buffer(self, callback: Any) -> None:
            self._cbs[0] = callback

    table = Table()
    reader = RingReader.from_table(table)
    with pytest.raises(RuntimeError):
        table.open_ring_buffer(print)       # a second consumer of our ring: refused
    reader.close()
    other = Table()
    other._cbs = {0: print}                 # BCC already reads this one
    with pytest.raises(RuntimeError):
        RingReader.from_table(other)


# ---------------------------------------------------------------------- live rings ----

PROGRAM = r"""
BPF_RINGBUF_OUTPUT(var, 1);
BPF_RINGBUF_OUTPUT(disc, 1);
BPF_RINGBUF_OUTPUT(prio, 1);
BPF_RINGBUF_OUTPUT(bulk, 1);
BPF_RINGBUF_OUTPUT(spare, 1);
BPF_ARRAY(ctl, u64, 4);                 /* 0: mode, 1: pid, 2: seq (sent), 3: lost */
struct fixed { u64 seq; u64 mode; };

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    int k0 = 0, k1 = 1, k2 = 2, k3 = 3;
    u64 *mode = ctl.lookup(&k0), *pid = ctl.lookup(&k1), *seq = ctl.lookup(&k2),
        *lost = ctl.lookup(&k3);
    if (!mode || !pid || !seq || !lost || (bpf_get_current_pid_tgid() >> 32) != *pid)
        return 0;
    u64 s = __sync_fetch_and_add(seq, 1);
    if (*mode == 0) {                   /* 8 to 263 bytes: seq, then (seq * 7 + i) bytes */
        u8 buf[264] = {};
        *(u64 *)buf = s;
#pragma unroll
        for (int i = 8; i < 264; i++)
            buf[i] = (u8)(s * 7 + i);
        /* A mask, not seq % 200: the verifier cannot bound a modulo.  And `&buf`, since
           passing the array itself crashes BCC 0.26's rewriter (a clang assertion). */
        if (var.ringbuf_output(&buf, 8 + (s & 255), 0))
            __sync_fetch_and_add(lost, 1);
        return 0;
    }
    if (*mode == 1) {                   /* reserve; discard every third */
        struct fixed *f = disc.ringbuf_reserve(sizeof(struct fixed));
        if (!f) {
            __sync_fetch_and_add(lost, 1);
            return 0;
        }
        f->seq = s;
        f->mode = 1;
        if (s % 3 == 0)
            disc.ringbuf_discard(f, 0);
        else
            disc.ringbuf_submit(f, 0);
        return 0;
    }
    struct fixed f = {s, *mode};        /* 2: priority lane, 3: bulk lane */
    int err = *mode == 2 ? prio.ringbuf_output(&f, sizeof(f), 0)
                         : bulk.ringbuf_output(&f, sizeof(f), 0);
    if (err)
        __sync_fetch_and_add(lost, 1);
    return 0;
}
"""


class Live:
    def __init__(self) -> None:
        from falcoish.sources.live.setup import import_bcc
        self.bpf: Any = import_bcc().BPF(text=PROGRAM.encode())
        self.ctl = self.bpf[b"ctl"]
        self.readers = {name: RingReader.from_table(self.bpf[name.encode()])
                        for name in ("var", "disc", "prio", "bulk")}
        self.set(1, os.getpid())

    def set(self, key: int, value: int) -> None:
        self.ctl[ctypes.c_int(key)] = ctypes.c_uint64(value)

    def get(self, key: int) -> int:
        return int(self.ctl[ctypes.c_int(key)].value)

    def emit(self, mode: int, n: int = 1) -> None:
        self.set(0, mode)
        for _ in range(n):
            os.getppid()

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.bpf.cleanup()


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    from falcoish.sources.live.setup import ensure_live_support
    reason = ensure_live_support(install=True)
    if reason is not None:
        print(f"live capture unavailable: {reason}")
        pytest.skip(f"live capture unavailable: {reason}")
    lv = Live()
    yield lv
    lv.close()


def check_var(payload: bytes) -> int:
    seq = int.from_bytes(payload[:8], "little")
    assert len(payload) == 8 + (seq & 255), (seq, len(payload))
    assert payload[8:] == bytes((seq * 7 + i) & 0xFF for i in range(8, len(payload))), seq
    return seq


@pytest.mark.live
def test_every_record_once_in_order_intact_across_wraps(live: Live) -> None:
    reader = live.readers["var"]
    assert reader.size == PAGE and reader.fileno() != live.bpf[b"var"].map_fd
    first, lost0 = live.get(2), live.get(3)
    rng = random.Random(7)
    seqs: list[int] = []
    for _ in range(2500):
        live.emit(0, rng.randint(1, 30))       # up to ~8 KiB: sometimes overflows the ring
        seqs.extend(check_var(p) for p in reader.read(rng.choice((1, 5, 30, 4096))))
    seqs.extend(check_var(p) for p in reader.read(1 << 20))
    sent, lost = live.get(2) - first, live.get(3) - lost0
    assert seqs[0] >= first and seqs[-1] < first + sent
    assert all(a < b for a, b in zip(seqs, seqs[1:])), "duplicate or out of order"
    assert len(seqs) + lost == sent, (len(seqs), lost, sent)
    assert lost > 0 and len(seqs) > 10_000    # both paths exercised
    assert reader.pending_bytes() == 0
    assert sum((8 + (s & 255) + 15) & -8 for s in seqs) > 500 * PAGE   # > 500 wraparounds


@pytest.mark.live
def test_discarded_records_are_skipped(live: Live) -> None:
    reader = live.readers["disc"]
    first, lost0 = live.get(2), live.get(3)
    got: list[int] = []
    for _ in range(20):
        live.emit(1, 50)                          # 50 * 24 bytes: fits the 4 KiB ring
        got.extend(struct.unpack("<QQ", p)[0] for p in reader.read())
    assert live.get(3) == lost0
    assert got == [s for s in range(first, first + 1000) if s % 3]
    assert reader.pending_bytes() == 0 and not reader.ready()


@pytest.mark.live
def test_ringset_wait_and_priority(live: Live) -> None:
    prio, bulk = live.readers["prio"], live.readers["bulk"]
    with RingSet([prio, bulk]) as lanes:     # closing it closes the readers: they are done
        t0 = time.monotonic()
        assert lanes.wait(150) is False            # nothing: times out
        assert time.monotonic() - t0 >= 0.12

        timer = threading.Timer(0.2, live.emit, (3,))
        t0 = time.monotonic()
        timer.start()
        assert lanes.wait(10_000) is True          # woken by the record, not the timeout
        waited = time.monotonic() - t0
        timer.join()
        assert 0.15 <= waited < 5, waited
        assert [(lane, struct.unpack("<QQ", p)[1]) for lane, p in lanes.read()] == [(1, 3)]
        assert lanes.wait(0) is False

        first = live.get(2)
        live.emit(3, 5)                            # bulk first ...
        live.emit(2, 5)                            # ... then priority
        assert lanes.wait(0) is True
        head = lanes.read(3)
        assert [lane for lane, _ in head] == [0, 0, 0]
        rest = lanes.read()
        got = [(lane, struct.unpack("<QQ", p)[0]) for lane, p in head + rest]
        assert got == [(0, first + 5 + i) for i in range(5)] + [(1, first + i) for i in range(5)]
        assert lanes.wait(0) is False and lanes.read() == []


@pytest.mark.live
def test_one_consumer_per_map(live: Live) -> None:
    # Our readers own var/disc/prio/bulk: BCC may not also consume them ...
    with pytest.raises(RuntimeError):
        live.bpf[b"var"].open_ring_buffer(lambda ctx, data, size: 0)
    # ... and a ring BCC consumes cannot get a RingReader.
    spare = live.bpf[b"spare"]
    spare.open_ring_buffer(lambda ctx, data, size: 0)
    with pytest.raises(RuntimeError):
        RingReader.from_table(spare)
