"""Where the probe's time goes: kernel-measured run time of each BPF program under a flood.

Turns on the kernel's BPF statistics (sysctl kernel.bpf_stats_enabled, restored after), runs
falcoish's live capture in this process with our default rules + the upstream
falco_rules.yaml, has one process loop open+close of a temporary file for --seconds, and
prints per program: runs, total time and ns per run (BPF_OBJ_GET_INFO_BY_FD run_time_ns /
run_cnt).  The flood's own rate alone and under capture are printed beside it.

Usage:  python bench/probe_profile.py [--seconds 3] [--no-kernel-filter]
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus" / "falco-rules" / "falco_rules.yaml"
SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
SYS_BPF, BPF_OBJ_GET_INFO_BY_FD = 321, 15
LOOP = """
import os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
op, cl, rd = os.open, os.close, os.O_RDONLY
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    for _ in range(2000):
        cl(op(path, rd))
    n += 2000
print(n / (time.perf_counter() - t0))
"""


class _ProgInfo(ctypes.Structure):
    # the head of struct bpf_prog_info, up to run_cnt (uapi linux/bpf.h)
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("tag", ctypes.c_uint8 * 8),
                ("jited_prog_len", ctypes.c_uint32), ("xlated_prog_len", ctypes.c_uint32),
                ("jited_prog_insns", ctypes.c_uint64), ("xlated_prog_insns", ctypes.c_uint64),
                ("load_time", ctypes.c_uint64), ("created_by_uid", ctypes.c_uint32),
                ("nr_map_ids", ctypes.c_uint32), ("map_ids", ctypes.c_uint64), ("name", ctypes.c_char * 16),
                ("ifindex", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("netns_dev", ctypes.c_uint64),
                ("netns_ino", ctypes.c_uint64), ("nr_jited_ksyms", ctypes.c_uint32),
                ("nr_jited_func_lens", ctypes.c_uint32), ("jited_ksyms", ctypes.c_uint64),
                ("jited_func_lens", ctypes.c_uint64), ("btf_id", ctypes.c_uint32),
                ("func_info_rec_size", ctypes.c_uint32), ("func_info", ctypes.c_uint64),
                ("nr_func_info", ctypes.c_uint32), ("nr_line_info", ctypes.c_uint32),
                ("line_info", ctypes.c_uint64), ("jited_line_info", ctypes.c_uint64),
                ("nr_jited_line_info", ctypes.c_uint32), ("line_info_rec_size", ctypes.c_uint32),
                ("jited_line_info_rec_size", ctypes.c_uint32), ("nr_prog_tags", ctypes.c_uint32),
                ("prog_tags", ctypes.c_uint64), ("run_time_ns", ctypes.c_uint64), ("run_cnt", ctypes.c_uint64)]


class _InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32), ("info", ctypes.c_uint64)]


def prog_stats(fd: int) -> tuple[int, int]:
    info = _ProgInfo()
    attr = _InfoAttr(fd, ctypes.sizeof(info), ctypes.addressof(info))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(SYS_BPF, BPF_OBJ_GET_INFO_BY_FD, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
        raise OSError(ctypes.get_errno(), "BPF_OBJ_GET_INFO_BY_FD")
    return int(info.run_time_ns), int(info.run_cnt)


def loop_rate(path: str, seconds: float) -> float:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(LOOP), path, str(seconds)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--no-kernel-filter", action="store_true")
    args = ap.parse_args(argv)
    from falcoish import load_rules
    from falcoish.cli.common import default_rules_paths
    from falcoish.sources.live.capture import LiveCapture
    result = load_rules(default_rules_paths() + [str(CORPUS)])
    rs = result.ruleset
    path = "/tmp/falcoish-profile.tmp"
    Path(path).write_text("x")
    alone = loop_rate(path, args.seconds)
    old = SYSCTL.read_text()
    cap = LiveCapture(set(rs.needed_event_types() or ()), rules=rs, kernel_filter=not args.no_kernel_filter)
    cap.start()
    consumer = threading.Thread(target=lambda: [None for _ in cap.events()], daemon=True)
    consumer.start()
    bpf = cap._probe.tables if cap._probe is not None else None
    assert bpf is not None
    progs = dict(bpf.funcs)
    try:
        SYSCTL.write_text("1")
        before = {name: prog_stats(fn.fd) for name, fn in progs.items()}
        t0 = time.monotonic()
        under = loop_rate(path, args.seconds)
        wall = time.monotonic() - t0
        after = {name: prog_stats(fn.fd) for name, fn in progs.items()}
    finally:
        SYSCTL.write_text(old)
        cap.stop()
        consumer.join(10)
    print(f"open+close pairs/s: alone {alone:,.0f}, under capture {under:,.0f} (slowdown x{alone / under:.2f})")
    print(f"{'program':<34} {'runs':>12} {'ms':>9} {'ns/run':>8}")
    rows = []
    for name, (t1, c1) in after.items():
        t_0, c_0 = before[name]
        if c1 - c_0:
            rows.append((t1 - t_0, c1 - c_0, name.decode() if isinstance(name, bytes) else str(name)))
    total = 0
    for t, c, name in sorted(rows, reverse=True):
        total += t
        print(f"{name:<34} {c:>12,} {t / 1e6:>9.1f} {t / c:>8.0f}")
    print(f"total BPF time {total / 1e6:.0f} ms in {wall:.1f} s of flood ({total / max(1, wall * 1e9) * 100:.0f} % of one CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
