"""Live capture under load: how many syscalls falcoish sees, drops, and what it costs the workload.

A child process runs a tight loop of N `os.open` + `os.close` of one temporary file (2N
syscalls of captured types), then E spawns of /bin/true (E execve), at full speed.  It runs
three times in one bench run: alone, while falcoish captures, alone again; the child times
its own loops (interpreter start-up excluded), so the slowdown is loop time while capturing /
mean loop time alone.

Capture is in-process: `LiveCapture` (falcoish/sources/live) in a thread of this process,
with the engine evaluating every event against the rules (falcoish's default rules, or the
upstream corpus with --corpus) -- the same per-event work as `falcoish run`, without output.
The capture wants the types the rules need plus openat, close and execve.  An event counts
as *captured* when it is one of the workload's: an openat/close whose descriptor is the
temporary file, from the child's pid, or an execve of /bin/true whose parent is the child.
Kernel drops (ring buffer full) and user-space drops (undecodable records) are the capture's
own counters, for every process on the machine during the run.

With the kernel filter on (the default), the workload's open+close of a temporary file match
no rule and are dropped in the kernel: "captured" then counts what user space still sees of
them (nothing, by design) and the figures that matter are "filtered in kernel" and the
workload's slowdown.  --no-kernel-filter sends every event of the captured types to user
space, which measures how many events per second user space can take (the ceiling).

Usage:  python bench/live_capture.py [-n 200000] [--execs 500] [--corpus] [--no-kernel-filter] [--json OUT.json]
Needs root and eBPF (see `python -m falcoish.sources.live.setup`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from falcoish import load_rules  # noqa: E402
from falcoish.runtime.engine import Engine

CORPUS = REPO.parent / "shared" / "corpus" / "falco-rules"
CORPUS_FILES = [CORPUS / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml",
                                     "falco-sandbox_rules.yaml")]

WORKLOAD = """
    import json, os, sys, time
    path, n, execs, true = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    op, cl, rd = os.open, os.close, os.O_RDONLY
    t0 = time.perf_counter()
    for _ in range(n):
        cl(op(path, rd))
    t1 = time.perf_counter()
    for _ in range(execs):
        os.waitpid(os.posix_spawn(true, [true], {}), 0)
    t2 = time.perf_counter()
    print(json.dumps({"pid": os.getpid(), "open_close_s": t1 - t0, "exec_s": t2 - t1}))
"""


def run_workload(path: str, n: int, execs: int, true: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(WORKLOAD), path, str(n), str(execs), true],
                         capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


class Counting:
    """LiveCapture + Engine in a thread; counts the workload's events."""

    def __init__(self, rules: list[str], path: str, true: str, kernel_filter: bool) -> None:
        from falcoish.sources.live.capture import LiveCapture
        result = load_rules(rules)
        self.engine = Engine.from_load(result, result.ruleset, "all")
        needed = self.engine.ruleset.needed_event_types()
        wanted = None if needed is None else set(needed) | {"openat", "close", "execve"}
        self.cap = LiveCapture(wanted, rules=self.engine.ruleset, kernel_filter=kernel_filter)
        self.path, self.true = path, true
        self.child = -1                      # set once known; events are matched by path first
        self.opens: dict[int, int] = {}      # pid -> matching openat events
        self.closes: dict[int, int] = {}
        self.execs: dict[int, int] = {}      # parent pid -> execve of /bin/true
        self.events = 0
        self.alerts = 0
        self.last_match = time.monotonic()
        self.first_event_at: float | None = None   # of the current phase
        self.last_event_at = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> float:
        t0 = time.monotonic()
        self.cap.start()
        self._thread.start()
        return time.monotonic() - t0

    def _run(self) -> None:
        path, true, process = self.path, self.true, self.engine.process
        for ev in self.cap.events():
            self.events += 1
            self.last_event_at = now = time.monotonic()
            if self.first_event_at is None:
                self.first_event_at = now
            self.alerts += len(process(ev))
            t = ev.type
            if t == "openat" or t == "close":
                fd = ev.fd
                if fd is not None and fd.get("name") == path:
                    table = self.opens if t == "openat" else self.closes
                    pid = ev.thread.get("pid", -1)
                    table[pid] = table.get(pid, 0) + 1
                    self.last_match = time.monotonic()
            elif t == "execve" and ev.thread.get("exepath") == true:
                ppid = ev.thread.get("ppid", -1)
                self.execs[ppid] = self.execs.get(ppid, 0) + 1
                self.last_match = time.monotonic()

    def drain(self, expected: int, idle_s: float = 2.0, limit_s: float = 120.0) -> float:
        """Wait until every expected event arrived or none came for `idle_s`; seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            got = (self.opens.get(self.child, 0) + self.closes.get(self.child, 0)
                   + self.execs.get(self.child, 0))
            if got >= expected or time.monotonic() - self.last_match > idle_s:
                break
            time.sleep(0.05)
        return time.monotonic() - t0

    def snapshot(self) -> tuple[int, int, int, int]:
        self.cap.refresh_counters()
        st = self.cap.stats
        filtered = sum(c.get("filtered", 0) for c in st.get("kernel", {}).values())
        return int(st.get("kernel_drops", 0)), int(st.get("user_drops", 0)), self.events, filtered

    def stop(self) -> None:
        self.cap.stop()
        self._thread.join(timeout=30)
        self.cap.close()


def _phase(path: str, n: int, execs: int, true: str, cap: "Counting") -> dict[str, Any]:
    """One workload run while capturing, then the capture's catch-up; counters are deltas."""
    k0, u0, e0, f0 = cap.snapshot()
    cap.first_event_at = None
    t0 = cap.last_match = time.monotonic()
    run = run_workload(path, n, execs, true)
    cap.child = run["pid"]
    wall = time.monotonic() - t0
    drain = cap.drain(2 * n + execs)
    elapsed = time.monotonic() - t0
    time.sleep(0.3)                          # let the counters settle (drops are read per poll)
    k1, u1, e1, f1 = cap.snapshot()
    child = run["pid"]
    got = {"openat": cap.opens.get(child, 0), "close": cap.closes.get(child, 0),
           "execve": cap.execs.get(child, 0)}
    busy = cap.last_event_at - cap.first_event_at if cap.first_event_at is not None else 0.0
    return {"run": run, "wall_s": wall, "drain_s": drain, "elapsed_s": elapsed, "captured": got, "busy_s": busy,
            "kernel_drops": k1 - k0, "user_drops": u1 - u0, "events": e1 - e0, "filtered": f1 - f0}


def bench(n: int, execs: int, corpus: bool, kernel_filter: bool = True) -> dict[str, Any]:
    from falcoish.sources.live.setup import check_live_support
    reason = check_live_support()
    if reason is not None:
        raise SystemExit(f"live capture unavailable: {reason}")
    if corpus:
        rules = [str(p) for p in CORPUS_FILES]
    else:
        from falcoish.cli.common import default_rules_paths
        rules = default_rules_paths()
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    work = tempfile.mkdtemp(prefix="falcoish-bench-")
    path = os.path.join(work, "target")
    open(path, "w").close()
    try:
        run_workload(path, min(n, 20000), min(execs, 50), true)        # warm caches
        alone_before = [run_workload(path, n, 0, true), run_workload(path, 0, execs, true)]
        cap = Counting(rules, path, true, kernel_filter)
        start_s = cap.start()
        oc = _phase(path, n, 0, true, cap)                              # open+close burst
        ex = _phase(path, 0, execs, true, cap)                          # exec burst
        cap.stop()
        alone_after = [run_workload(path, n, 0, true), run_workload(path, 0, execs, true)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base_oc = (alone_before[0]["open_close_s"] + alone_after[0]["open_close_s"]) / 2
    base_ex = (alone_before[1]["exec_s"] + alone_after[1]["exec_s"]) / 2
    cap_oc, cap_ex = oc["run"]["open_close_s"], ex["run"]["exec_s"]
    got = {"openat": oc["captured"]["openat"], "close": oc["captured"]["close"],
           "execve": ex["captured"]["execve"]}
    total = sum(got.values())
    expected = 2 * n + execs
    events = oc["events"] + ex["events"]
    window = oc["elapsed_s"] + ex["elapsed_s"]
    stats = cap.cap.stats
    return {
        "mode": "in-process LiveCapture + Engine (rules evaluated on every event, no output)",
        "kernel_filter": kernel_filter,
        "rules": "upstream corpus (3 files)" if corpus else "falcoish default rules",
        "rules_loaded": len(cap.engine.ruleset.rules),
        "event_types_attached": len(cap.cap.attach),
        "probe_start_s": round(start_s, 2),
        "generated": {"openat": n, "close": n, "execve": execs, "total": expected},
        "captured": {**got, "total": total, "share": round(total / expected, 4) if expected else 0.0},
        "phases": {
            "open_close": {"generated": 2 * n, "captured": oc["captured"]["openat"] + oc["captured"]["close"],
                           "filtered_in_kernel": oc["filtered"],
                           "kernel_drops": oc["kernel_drops"], "user_drops": oc["user_drops"],
                           "events_handled": oc["events"], "window_s": round(oc["elapsed_s"], 3),
                           "catch_up_s": round(oc["drain_s"], 2)},
            "exec": {"generated": execs, "captured": ex["captured"]["execve"],
                     "kernel_drops": ex["kernel_drops"], "user_drops": ex["user_drops"],
                     "events_handled": ex["events"], "window_s": round(ex["elapsed_s"], 3),
                     "catch_up_s": round(ex["drain_s"], 2)},
        },
        "kernel_drops": stats.get("kernel_drops", 0),
        "user_drops": stats.get("user_drops", 0),
        "records_read": stats.get("records", 0),
        "events_handled": events,
        "events_per_s": round(events / window) if window else 0,
        # first to last event of the open+close burst: the user-space ceiling when that burst
        # overflowed the rings (kernel drops > 0), else a lower bound
        "busy_events_per_s": round(oc["events"] / oc["busy_s"]) if oc["busy_s"] > 0 else 0,
        "busy_saturated": oc["kernel_drops"] > 0,
        "alerts": cap.alerts,
        "open_close_loop_s": {"alone_before": round(alone_before[0]["open_close_s"], 3),
                              "capturing": round(cap_oc, 3),
                              "alone_after": round(alone_after[0]["open_close_s"], 3)},
        "exec_loop_s": {"alone_before": round(alone_before[1]["exec_s"], 3), "capturing": round(cap_ex, 3),
                        "alone_after": round(alone_after[1]["exec_s"], 3)},
        "slowdown_open_close": round(cap_oc / base_oc, 2) if base_oc else None,
        "slowdown_exec": round(cap_ex / base_ex, 2) if base_ex else None,
        "syscalls_per_s_alone": round(2 * n / base_oc) if base_oc else 0,
        "syscalls_per_s_capturing": round(2 * n / cap_oc) if cap_oc else 0,
        "execs_per_s_alone": round(execs / base_ex) if base_ex else 0,
        "execs_per_s_capturing": round(execs / cap_ex) if cap_ex else 0,
    }


def table(r: dict[str, Any]) -> str:
    g, c, ph = r["generated"], r["captured"], r["phases"]
    oc, ex = ph["open_close"], ph["exec"]

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}%" if b else "-"

    rows = [
        ("capture", r["mode"] + f"; kernel filter {'on' if r['kernel_filter'] else 'OFF'}"),
        ("rules", f"{r['rules']} ({r['rules_loaded']} rules, {r['event_types_attached']} syscalls attached)"),
        ("events generated", f"{g['total']:,} (openat {g['openat']:,} + close {g['close']:,} + execve {g['execve']:,})"),
        ("events captured", f"{c['total']:,} = {pct(c['total'], g['total'])} (openat {c['openat']:,}, "
                            f"close {c['close']:,}, execve {c['execve']:,})"),
        ("  open+close burst", f"{oc['captured']:,}/{oc['generated']:,} = {pct(oc['captured'], oc['generated'])} "
                               f"reached user space; {oc['filtered_in_kernel']:,} filtered in kernel; "
                               f"kernel drops {oc['kernel_drops']:,}, user drops {oc['user_drops']:,}; "
                               f"caught up {oc['catch_up_s']} s after the burst"),
        ("  exec burst", f"{ex['captured']:,}/{ex['generated']:,} = {pct(ex['captured'], ex['generated'])}; "
                         f"kernel drops {ex['kernel_drops']:,}, user drops {ex['user_drops']:,}; "
                         f"caught up {ex['catch_up_s']} s after the burst"),
        ("kernel drops", f"{r['kernel_drops']:,} records in all (all processes)"),
        ("user-space drops", f"{r['user_drops']:,}"),
        ("events/s handled", f"{r['events_per_s']:,} ({r['events_handled']:,} events, engine on each, "
                             f"over both phases and their catch-up)"),
        ("while busy", f"{r['busy_events_per_s']:,} events/s from first to last event of the open+close burst"
                       + (" (rings overflowed: the user-space ceiling)" if r["busy_saturated"] else
                          " (no overflow: a lower bound, not the ceiling)")),
        ("open+close loop", f"alone {r['open_close_loop_s']['alone_before']} s / {r['open_close_loop_s']['alone_after']} s, "
                            f"capturing {r['open_close_loop_s']['capturing']} s -> slowdown x{r['slowdown_open_close']} "
                            f"({r['syscalls_per_s_alone']:,} -> {r['syscalls_per_s_capturing']:,} syscalls/s)"),
        ("exec loop", f"alone {r['exec_loop_s']['alone_before']} s / {r['exec_loop_s']['alone_after']} s, "
                      f"capturing {r['exec_loop_s']['capturing']} s -> slowdown x{r['slowdown_exec']} "
                      f"({r['execs_per_s_alone']:,} -> {r['execs_per_s_capturing']:,} execs/s)"),
        ("alerts", f"{r['alerts']:,}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=200_000, help="open+close pairs (default 200000)")
    ap.add_argument("--execs", type=int, default=500, help="spawns of /bin/true (default 500)")
    ap.add_argument("--corpus", action="store_true", help="evaluate the upstream corpus instead of the default rules")
    ap.add_argument("--no-kernel-filter", action="store_true",
                    help="send every event of the captured types to user space (measures its ceiling)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE ('-' = stdout)")
    args = ap.parse_args(argv)
    result = bench(args.n, args.execs, args.corpus, not args.no_kernel_filter)
    print(table(result))
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
