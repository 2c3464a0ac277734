"""Can an attacker blind falcoish with a syscall flood?  Attacks during a flood, live.

`falcoish run` watches this host (our default rules + the upstream falco_rules.yaml, JSON
alerts, every matching rule) while N flooding processes (default: one per core) loop
open+close of their own temporary file at full speed for --seconds.  During the flood, at
random moments, other processes make attacks the rules detect, each with a unique marker in
a file name or argument: a sensitive file read, a symlink over a sensitive file, an exec
from /dev/shm, a memfd exec, a log file truncated, a directory-traversal read.  Before the
flood, an ordinary developer workload runs (file tree copy, grep, Python byte-compiling,
tar, a C compile when gcc is here) to see what share of ordinary events the filter passes.

Printed: attacks detected / made and the alert latency of each; per event type and phase,
events seen by the probe, filtered in the kernel, sent and dropped per lane (the share of
the flood and of the benign workload that passes); events/s handled; event age at
evaluation (p50/p99/max); the flood's rate alone (before falcoish starts and after it
stops) against its rate under capture, in the same run.  Figures come from falcoish's own
Prometheus metrics (--metrics-port), read at phase boundaries.

Usage:  python bench/flood.py [--seconds 20] [--flooders 2] [--no-kernel-filter] [--json OUT]
Needs root and eBPF (`make setup`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "falco-rules" / "falco_rules.yaml"
FLOODER = """
import os, sys, time
path, start, until = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
op, cl, rd, now = os.open, os.close, os.O_RDONLY, time.time
while now() < start:
    time.sleep(0.001)
n, t0, c0 = 0, now(), os.times()
while True:
    for _ in range(2000):
        cl(op(path, rd))
    n += 2000
    if now() >= until:
        break
c1 = os.times()
print(n, now() - t0, (c1.user + c1.system) - (c0.user + c0.system))
"""


def falcoish_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("falcoish")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "falcoish.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the flood ----------------------------------------------------------------------------------

def flood(work: Path, flooders: int, seconds: float) -> tuple[list[subprocess.Popen[str]], float]:
    """Start `flooders` processes that flood from a common start time for `seconds`."""
    start = time.time() + 0.5
    until = start + seconds
    procs = []
    for i in range(flooders):
        target = work / f"flood-{i}.tmp"
        target.write_text("x")
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(FLOODER), str(target), str(start),
                                       str(until)], stdout=subprocess.PIPE, text=True))
    return procs, until


def flood_rate(procs: list[subprocess.Popen[str]]) -> dict[str, float]:
    """Pairs per second of wall time, and per second of the flooders' own CPU time (less
    sensitive to other tenants of this machine taking CPU: stolen time is not counted)."""
    pairs = secs = cpu = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=600)
        n, s, c = out.split()
        pairs += int(n)
        secs = max(secs, float(s))
        cpu += float(c)
    return {"pairs": pairs, "seconds": secs, "pairs_per_s": pairs / secs if secs else 0.0,
            "pairs_per_cpu_s": pairs / cpu if cpu else 0.0}


# -- attacks ------------------------------------------------------------------------------------

def py(code: str, *args: str) -> None:
    subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, timeout=30)


def attack_sensitive_read(work: Path, m: str) -> None:
    py("import sys; open('/etc/shadow').read(); open('/nonexistent-' + sys.argv[1])", m)


def attack_symlink(work: Path, m: str) -> None:
    subprocess.run(["ln", "-s", "/etc/shadow", str(work / f"{m}-link")], capture_output=True, timeout=30)


def attack_dev_shm(work: Path, m: str) -> None:
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    shm = Path("/dev/shm") / m
    shutil.copy(true, shm)
    os.chmod(shm, 0o755)
    try:
        subprocess.run([str(shm), "--version"], capture_output=True, timeout=30)
    finally:
        shm.unlink(missing_ok=True)


def attack_memfd(work: Path, m: str) -> None:
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    py("""
        import os, sys
        fd = os.memfd_create(sys.argv[2], 0)
        with open(sys.argv[1], "rb") as fh:
            os.write(fd, fh.read())
        os.execv(f"/proc/self/fd/{fd}", ["fileless", sys.argv[2]])
    """, true, m)


def attack_log_truncation(work: Path, m: str) -> None:
    log = Path("/var/log") / f"{m}.log"
    log.write_text("entry\n")
    try:
        py("import sys; open(sys.argv[1], 'w').close()", str(log))
    finally:
        log.unlink(missing_ok=True)


def attack_traversal(work: Path, m: str) -> None:
    py("import sys; open('/tmp/../etc/../etc/passwd').read(); open('/nonexistent-' + sys.argv[1])", m)


ATTACKS = {"sensitive file read": attack_sensitive_read, "symlink over /etc/shadow": attack_symlink,
           "exec from /dev/shm": attack_dev_shm, "memfd exec": attack_memfd,
           "log file truncated": attack_log_truncation, "directory traversal read": attack_traversal}


# -- a benign workload ---------------------------------------------------------------------------

def benign(work: Path) -> float:
    """What a developer's machine does all day: copy a tree, grep it, byte-compile it, tar it,
    compile a C file.  Returns seconds taken."""
    t0 = time.monotonic()
    src = work / "src"
    shutil.copytree(REPO / "falcoish", src)
    subprocess.run(["grep", "-rn", "def ", str(src)], capture_output=True, timeout=120)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], capture_output=True, timeout=300)
    subprocess.run(["tar", "czf", str(work / "src.tgz"), "-C", str(work), "src"], capture_output=True, timeout=120)
    out = work / "untar"
    out.mkdir()
    subprocess.run(["tar", "xzf", str(work / "src.tgz"), "-C", str(out)], capture_output=True, timeout=120)
    if shutil.which("gcc"):
        c = work / "hello.c"
        c.write_text('#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
        subprocess.run(["gcc", "-O2", "-o", str(work / "hello"), str(c)], capture_output=True, timeout=120)
        subprocess.run([str(work / "hello")], capture_output=True, timeout=30)
    return time.monotonic() - t0


# -- falcoish -----------------------------------------------------------------------------------

class Falcoish:
    """`falcoish run` with JSON alerts read as they arrive (time stamped) and metrics scraped."""

    def __init__(self, port: int, kernel_filter: bool) -> None:
        cmd = [*falcoish_cmd(), "run", "-r", str(CORPUS), "--json", "--rule-matching", "all",
               "--metrics-port", str(port), "-M", "3600"]
        if not kernel_filter:
            cmd.append("--no-kernel-filter")
        self.port = port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.alerts: list[tuple[float, dict[str, Any]]] = []
        self.stderr: list[str] = []
        self.started = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                alert = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.alerts.append((time.monotonic(), alert))

    def _err(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr.append(line)
            if "live capture started" in line:
                self.started.set()
        self.started.set()

    def alert_for(self, marker: str) -> tuple[float, dict[str, Any]] | None:
        with self._lock:
            for t, a in self.alerts:
                if marker in a.get("output", ""):
                    return t, a
        return None

    def metrics(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10).read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("falcoish_") and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(120)
        time.sleep(0.3)
        return "\n".join(self.stderr)


def per_type(before: dict[str, float], after: dict[str, float]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    pattern = re.compile(r'falcoish_kernel_events_total\{outcome="(\w+)",type="(\w+)"\}')
    for name, value in after.items():
        m = pattern.fullmatch(name)
        if m:
            outcome, evtype = m.groups()
            out.setdefault(evtype, {})[outcome] = int(value - before.get(name, 0.0))
    return {t: c for t, c in out.items() if c.get("seen")}


def counter(m: dict[str, float], name: str) -> float:
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def bench(seconds: float, flooders: int, kernel_filter: bool, attacks_per_kind: int) -> dict[str, Any]:
    from falcoish.sources.live.setup import check_live_support
    reason = check_live_support()
    if reason is not None:
        raise SystemExit(f"live capture unavailable: {reason}")
    work = Path(tempfile.mkdtemp(prefix="falcoish-flood-"))
    rng = random.Random()
    try:
        procs, _ = flood(work, flooders, min(seconds, 5.0))
        alone_before = flood_rate(procs)
        falco = Falcoish(free_port(), kernel_filter)
        try:
            falco.started.wait(180)
            if falco.proc.poll() is not None:
                raise SystemExit("falcoish did not start:\n" + "\n".join(falco.stderr[-20:]))
            time.sleep(1.0)
            m0 = falco.metrics()
            benign_s = benign(work)
            time.sleep(1.0)
            m1 = falco.metrics()
            procs, until = flood(work, flooders, seconds)
            t_start = time.monotonic()
            plan = [(kind, i) for kind in ATTACKS for i in range(attacks_per_kind)]
            rng.shuffle(plan)
            moments = sorted(rng.uniform(1.0, seconds - 2.0) for _ in plan)
            made: list[dict[str, Any]] = []
            for (kind, i), at in zip(plan, moments):
                wait = t_start + 0.5 + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                marker = "fl" + uuid.uuid4().hex[:10]
                t0 = time.monotonic()
                ATTACKS[kind](work, marker)
                made.append({"kind": kind, "marker": marker, "at_s": round(t0 - t_start, 2), "t0": t0})
            under = flood_rate(procs)
            time.sleep(3.0)                       # alerts made late in the flood may still arrive
            for a in made:
                got = falco.alert_for(a["marker"])
                a["detected"] = got is not None
                a["latency_s"] = round(got[0] - a["t0"], 3) if got else None
                a["rule"] = got[1]["rule"] if got else None
                del a["t0"]
            m2 = falco.metrics()
        finally:
            summary = falco.stop()
        procs, _ = flood(work, flooders, min(seconds, 5.0))
        alone_after = flood_rate(procs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    alone = (alone_before["pairs_per_s"] + alone_after["pairs_per_s"]) / 2
    alone_cpu = (alone_before["pairs_per_cpu_s"] + alone_after["pairs_per_cpu_s"]) / 2
    flood_types = per_type(m1, m2)
    events = counter(m2, "falcoish_events_total") - counter(m1, "falcoish_events_total")
    return {
        "kernel_filter": kernel_filter, "flooders": flooders, "seconds": seconds,
        "attacks": made,
        "detected": sum(a["detected"] for a in made), "made": len(made),
        "latency_max_s": max((a["latency_s"] for a in made if a["latency_s"] is not None), default=None),
        "benign": {"seconds": round(benign_s, 2), "types": per_type(m0, m1)},
        "flood": {"types": flood_types, "events_evaluated": int(events),
                  "events_per_s": round(events / under["seconds"]) if under["seconds"] else 0},
        "lanes": {lane: {o: int(m2.get(f'falcoish_lane_events_total{{lane="{lane}",outcome="{o}"}}', 0))
                         for o in ("sent", "dropped")} for lane in ("reserved", "bulk")},
        "event_age_s": {q: m2.get(f'falcoish_event_age_seconds{{quantile="{q}"}}', 0.0) for q in ("0.5", "0.99", "1")},
        "flood_alerts": [a.get("output", "") for _, a in falco.alerts if a.get("rule") == "Falco internal: syscall flood"],
        "rate_alone_pairs_per_s": round(alone), "rate_capturing_pairs_per_s": round(under["pairs_per_s"]),
        "rate_alone_before_after": [round(alone_before["pairs_per_s"]), round(alone_after["pairs_per_s"])],
        "slowdown": round(alone / under["pairs_per_s"], 2) if under["pairs_per_s"] else None,
        "cpu_rate_alone": round(alone_cpu), "cpu_rate_capturing": round(under["pairs_per_cpu_s"]),
        "slowdown_cpu": round(alone_cpu / under["pairs_per_cpu_s"], 2) if under["pairs_per_cpu_s"] else None,
        "summary": summary.split("Events processed:", 1)[-1].strip().splitlines()[:14],
    }


def table(r: dict[str, Any]) -> str:
    lines = [f"kernel filter {'on' if r['kernel_filter'] else 'OFF'}; {r['flooders']} flooding processes "
             f"x {r['seconds']:.0f} s of open+close; rules: defaults + upstream falco_rules.yaml"]
    lines.append(f"attacks detected: {r['detected']} / {r['made']}   max alert latency: {r['latency_max_s']} s")
    for a in r["attacks"]:
        latency = "" if a["latency_s"] is None else f"{a['latency_s']:.3f} s"
        lines.append(f"  {a['at_s']:6.2f} s  {a['kind']:<26} {'detected' if a['detected'] else 'MISSED':<9}"
                     f" {latency:<9} {a['rule'] or ''}")
    for phase, types in (("benign workload", r["benign"]["types"]), ("flood", r["flood"]["types"])):
        lines.append(f"{phase}: per type seen / filtered in kernel / sent reserved+bulk / dropped reserved+bulk (share passed)")
        for t, c in sorted(types.items(), key=lambda kv: -kv[1].get("seen", 0))[:12]:
            sent = c.get("sent_reserved", 0) + c.get("sent_bulk", 0)
            lines.append(f"  {t:<12} {c.get('seen', 0):>10,} {c.get('filtered', 0):>10,} "
                         f"{c.get('sent_reserved', 0):>8,}+{c.get('sent_bulk', 0):<8,} "
                         f"{c.get('dropped_reserved', 0):>6,}+{c.get('dropped_bulk', 0):<6,} "
                         f"({100 * (sent + c.get('dropped_reserved', 0) + c.get('dropped_bulk', 0)) / max(1, c.get('seen', 0)):.2f} %)")
    lanes = r["lanes"]
    lines.append(f"lanes over the run: reserved sent {lanes['reserved']['sent']:,} dropped {lanes['reserved']['dropped']:,}; "
                 f"bulk sent {lanes['bulk']['sent']:,} dropped {lanes['bulk']['dropped']:,}")
    age = r["event_age_s"]
    lines.append(f"events evaluated during the flood: {r['flood']['events_evaluated']:,} "
                 f"({r['flood']['events_per_s']:,}/s); event age p50 {age['0.5'] * 1e3:.2f} ms, "
                 f"p99 {age['0.99'] * 1e3:.2f} ms, max {age['1'] * 1e3:.1f} ms")
    before, after = r["rate_alone_before_after"]
    lines.append(f"flood rate alone {r['rate_alone_pairs_per_s']:,} pairs/s (before {before:,}, after {after:,}), "
                 f"under capture {r['rate_capturing_pairs_per_s']:,} pairs/s: slowdown x{r['slowdown']}")
    lines.append(f"per CPU-second of the flooders: alone {r['cpu_rate_alone']:,} pairs, under capture "
                 f"{r['cpu_rate_capturing']:,} pairs: slowdown x{r['slowdown_cpu']}")
    lines.append(f"flood alerts: {len(r['flood_alerts'])}" + (f" (first: {r['flood_alerts'][0][:160]})" if r["flood_alerts"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the flood (default 20)")
    ap.add_argument("--flooders", type=int, default=os.cpu_count() or 2, help="flooding processes (default: one per core)")
    ap.add_argument("--attacks", type=int, default=1, help="attacks of each kind during the flood (default 1)")
    ap.add_argument("--no-kernel-filter", action="store_true", help="run falcoish without its kernel filter")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    result = bench(args.seconds, args.flooders, not args.no_kernel_filter, args.attacks)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
