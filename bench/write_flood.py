"""What capturing the write family costs: a write flood under `falcoish run`, live.

`N` processes (default 2) loop `write` of 64 bytes (not an ELF header) to /dev/null or to a
temporary file for --seconds; their rate alone is measured first, then under `falcoish run`
with the default rules (which name the write family for "ELF binary written in a
container": writes are captured, their first bytes read at entry, and judged in the kernel),
then under `falcoish run` with that rule disabled (`-D`: the write family is not attached,
as before issue 13).  Printed per phase: the flood's rate, its slowdown against the rate
alone, and falcoish's own kernel counters for `write` (seen, filtered in the kernel, sent).

Usage:  python bench/write_flood.py [--seconds 10] [--flooders 2] [--target null|file] [--json OUT]
Needs root and eBPF (`make setup`).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RULE = "ELF binary written in a container"
FLOODER = """
import os, sys, time
path, start, until = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
buf, wr, now = b"x" * 64, os.write, time.time
while now() < start:
    time.sleep(0.001)
n, t0, c0 = 0, now(), os.times()
while True:
    for _ in range(2000):
        wr(fd, buf)
    n += 2000
    if n % 200000 == 0 and path != "/dev/null":
        os.lseek(fd, 0, 0)
    if now() >= until:
        break
c1 = os.times()
print(n, now() - t0, (c1.user + c1.system) - (c0.user + c0.system))
"""


def flood(work: Path, flooders: int, seconds: float, target: str) -> dict[str, float]:
    """Writes per second (wall) and per CPU-second of the flooders, all together."""
    start = time.time() + 0.5
    until = start + seconds
    procs = []
    for i in range(flooders):
        path = "/dev/null" if target == "null" else str(work / f"wflood-{i}.tmp")
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(FLOODER), path, str(start),
                                       str(until)], stdout=subprocess.PIPE, text=True))
    writes = secs = cpu = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 60)
        n, s, c = out.split()
        writes += int(n)
        secs = max(secs, float(s))
        cpu += float(c)
    return {"writes": writes, "per_s": writes / secs if secs else 0.0, "per_cpu_s": writes / cpu if cpu else 0.0}


def under_falcoish(work: Path, extra: list[str], flooders: int, seconds: float, target: str) -> dict[str, Any]:
    """The flood while `falcoish run` (default rules, `extra` options) captures live."""
    cmd = [sys.executable, "-m", "falcoish.cli.main", "run", "--json", *extra]
    err = work / "falcoish.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=fh)
        deadline = time.time() + 120
        while "live capture started" not in err.read_text():
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("falcoish did not start:\n" + err.read_text()[-2000:])
            time.sleep(0.2)
        time.sleep(1.0)
        rate = flood(work, flooders, seconds, target)
        proc.send_signal(2)
        proc.wait(timeout=120)
    text = err.read_text()
    return {**rate, "counters": _counters(text), "event_types": _event_types(text)}


def _counters(text: str) -> dict[str, int]:
    """falcoish's end-of-run kernel counters for `write`: filtered in kernel, processed."""
    out = {}
    for key, pattern in (("filtered", r"filtered in kernel by type:.*?\bwrite=(\d+)"),
                         ("processed", r"by type:.*?\bwrite=(\d+)")):
        m = re.search(pattern, text)
        out[key] = int(m.group(1)) if m else 0
    return out


def _event_types(text: str) -> int:
    m = re.search(r"live capture started\s+event_types=(\d+)", text)
    return int(m.group(1)) if m else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--flooders", type=int, default=2)
    ap.add_argument("--target", choices=("null", "file"), default="null")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="falcoish-wflood-") as tmp:
        work = Path(tmp)
        alone = flood(work, args.flooders, args.seconds, args.target)
        captured = under_falcoish(work, [], args.flooders, args.seconds, args.target)
        before = under_falcoish(work, ["-D", RULE], args.flooders, args.seconds, args.target)
        after = flood(work, args.flooders, args.seconds, args.target)
    base = (alone["per_s"] + after["per_s"]) / 2
    base_cpu = (alone["per_cpu_s"] + after["per_cpu_s"]) / 2
    result = {"alone_before": alone, "alone_after": after, "write_captured": captured,
              "write_not_captured": before}
    print(f"flood alone: {alone['per_s']:,.0f} and {after['per_s']:,.0f} writes/s "
          f"({alone['per_cpu_s']:,.0f} / {after['per_cpu_s']:,.0f} per CPU-s)")
    for name, phase in (("write not captured (rule disabled)", before), ("write captured, judged in kernel", captured)):
        print(f"{name}: {phase['per_s']:,.0f} writes/s, slowdown {base / phase['per_s']:.2f}x wall, "
              f"{base_cpu / phase['per_cpu_s']:.2f}x per CPU-s; event types {phase['event_types']}; "
              f"write events filtered in kernel {phase['counters']['filtered']:,}, "
              f"reached rules {phase['counters']['processed']:,}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
