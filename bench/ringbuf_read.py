"""Ring buffer consumption: BCC's per-record ctypes callback vs RingReader's batched reads.

A tracepoint on getppid, filtered on one pid, writes a record of --size bytes (default 200)
carrying a sequence number into one of two ringbuf maps (the same program, the target picked
through a control map), so both consumers read identical streams.

1. Pre-filled (the main figure): this process calls getppid N times (default 200,000) with
   the ring large enough to hold every record, then times draining it:
   (a) BCC: `open_ring_buffer` with a callback appending `ctypes.string_at(data, size)` to a
       list (what kernel.KernelProbe does today), then `ring_buffer_poll` until drained;
   (b) `RingReader.read(4096)` until drained, extending one list with the batches.
   Both keep every record until the ring is empty, so both pay the same allocations.
   Each method runs --rounds times (default 5) on fresh records; best and median are shown.
2. Streaming (--stream SECONDS, default 2; 0 skips it): a child process spins on getppid for
   that long while this process consumes from a small ring (--stream-pages, default 256 =
   1 MiB); shows records consumed per second and records the kernel dropped (ring full).

Usage:  python bench/ringbuf_read.py [-n 200000] [--size 200] [--rounds 5] [--stream 2]
Needs root and eBPF (see `python -m falcoish.sources.live.setup`).
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from falcoish.sources.live.ringbuf import RingReader, RingSet  # noqa: E402
from falcoish.sources.live.setup import check_live_support, import_bcc  # noqa: E402

PROGRAM = r"""
BPF_RINGBUF_OUTPUT(ring_a, PAGES);
BPF_RINGBUF_OUTPUT(ring_b, PAGES);
BPF_ARRAY(ctl, u64, 4);            /* 0: target ring (1 a, 2 b), 1: pid, 2: seq, 3: lost */
struct rec { u64 seq; u8 pad[SIZE - 8]; };
BPF_PERCPU_ARRAY(scratch, struct rec, 1);   /* not the stack: records may exceed 512 bytes */

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    int k0 = 0, k1 = 1, k2 = 2, k3 = 3;
    u64 *target = ctl.lookup(&k0), *pid = ctl.lookup(&k1), *seq = ctl.lookup(&k2),
        *lost = ctl.lookup(&k3);
    struct rec *r = scratch.lookup(&k0);
    if (!target || !pid || !seq || !lost || !r || (bpf_get_current_pid_tgid() >> 32) != *pid)
        return 0;
    r->seq = __sync_fetch_and_add(seq, 1);
    int err = *target == 1 ? ring_a.ringbuf_output(r, sizeof(*r), 0)
                           : ring_b.ringbuf_output(r, sizeof(*r), 0);
    if (err)
        __sync_fetch_and_add(lost, 1);
    return 0;
}
"""

CHILD = """
import os, sys, time
end = time.monotonic() + float(sys.argv[1])
g = os.getppid
while time.monotonic() < end:
    for _ in range(1000):
        g()
"""


class Bench:
    def __init__(self, pages: int, size: int) -> None:
        bcc = import_bcc()
        text = PROGRAM.replace("PAGES", str(pages)).replace("SIZE", str(size))
        self.bpf: Any = bcc.BPF(text=text.encode())
        self.ctl = self.bpf[b"ctl"]
        self.got: list[bytes] = []
        got, string_at = self.got, ctypes.string_at

        def on_record(_ctx: Any, data: int, size: int) -> int:
            got.append(string_at(data, size))
            return 0

        self._cb = on_record
        self.bpf[b"ring_a"].open_ring_buffer(on_record)
        self.reader = RingReader.from_table(self.bpf[b"ring_b"])

    def set(self, key: int, value: int) -> None:
        self.ctl[ctypes.c_int(key)] = ctypes.c_uint64(value)

    def get(self, key: int) -> int:
        return int(self.ctl[ctypes.c_int(key)].value)

    def fill(self, target: int, n: int) -> None:
        self.set(0, target)
        self.set(1, os.getpid())
        g = os.getppid
        for _ in range(n):
            g()
        self.set(1, 0)

    def drain_bcc(self) -> tuple[int, float]:
        poll, got = self.bpf.ring_buffer_poll, self.got
        t0 = time.perf_counter()
        while True:                     # BCC returns no count: stop when a poll adds nothing
            before = len(got)
            poll(0)
            if len(got) == before:
                break
        dt = time.perf_counter() - t0
        n = len(self.got)
        del self.got[:]
        return n, dt

    def drain_reader(self) -> tuple[int, float]:
        """Like drain_bcc, keeps every record until the ring is empty (same allocation cost)."""
        read, got = self.reader.read, self.got
        t0 = time.perf_counter()
        while True:
            batch = read(4096)
            if not batch:
                break
            got.extend(batch)
        dt = time.perf_counter() - t0
        n = len(got)
        del got[:]
        return n, dt

    def stream(self, target: int, seconds: float) -> tuple[int, int, float]:
        """Consume while a child produces for `seconds`: (received, lost, elapsed)."""
        self.set(0, target)
        lost0 = self.get(3)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(seconds)])
        self.set(1, child.pid)
        received = 0
        t0 = time.perf_counter()
        if target == 1:
            poll = self.bpf.ring_buffer_poll
            while child.poll() is None:
                poll(100)
                received += len(self.got)
                del self.got[:]
        else:
            lanes = RingSet([self.reader])
            while child.poll() is None:
                if lanes.wait(100):
                    received += len(self.reader.read(4096))
        elapsed = time.perf_counter() - t0
        self.set(1, 0)
        if target == 1:
            received += self.drain_bcc()[0]
        else:
            received += self.drain_reader()[0]
        return received, self.get(3) - lost0, elapsed

    def close(self) -> None:
        self.reader.close()
        self.bpf.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000, help="records per pre-filled round")
    ap.add_argument("--size", type=int, default=200, help="record payload bytes (>= 8)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stream", type=float, default=2.0, help="seconds of streaming (0: skip)")
    ap.add_argument("--stream-pages", type=int, default=256)
    args = ap.parse_args()
    reason = check_live_support()
    if reason is not None:
        print(f"live capture unavailable: {reason}", file=sys.stderr)
        return 1
    record = (args.size + 8 + 7) & -8
    pages = 1 << ((args.n * record - 1) // mmap.PAGESIZE).bit_length()  # holds all n
    bench = Bench(pages, args.size)
    rates: dict[str, list[float]] = {"bcc": [], "reader": []}
    try:
        for _ in range(args.rounds):
            for name, target, drain in (("bcc", 1, bench.drain_bcc),
                                        ("reader", 2, bench.drain_reader)):
                bench.fill(target, args.n)
                n, dt = drain()
                if n != args.n:
                    raise SystemExit(f"{name}: drained {n} records, expected {args.n} "
                                     f"(kernel lost {bench.get(3)})")
                rates[name].append(n / dt)
    finally:
        bench.close()
    print(f"pre-filled: {args.n:,} records of {args.size} bytes, ring {pages} pages, "
          f"{args.rounds} rounds (records/s)")
    for name, label in (("bcc", "(a) BCC open_ring_buffer + ring_buffer_poll, ctypes callback"),
                        ("reader", "(b) RingReader.read(4096)")):
        r = rates[name]
        print(f"  {label:62} best {max(r):>12,.0f}  median {statistics.median(r):>12,.0f}")
    ratio = statistics.median(rates["reader"]) / statistics.median(rates["bcc"])
    print(f"  ratio (b)/(a), medians: {ratio:.1f}x   per record: "
          f"(a) {1e9 / statistics.median(rates['bcc']):.0f} ns, "
          f"(b) {1e9 / statistics.median(rates['reader']):.0f} ns")
    if args.stream > 0:
        bench = Bench(args.stream_pages, args.size)
        try:
            print(f"streaming: a child spins on getppid for {args.stream:g} s, ring "
                  f"{args.stream_pages} pages")
            for name, target in (("(a) BCC", 1), ("(b) RingReader", 2)):
                got, lost, dt = bench.stream(target, args.stream)
                print(f"  {name:16} received {got:>10,} ({got / dt:>10,.0f}/s)  "
                      f"kernel drops {lost:>10,} ({lost / max(1, got + lost):.1%})")
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
