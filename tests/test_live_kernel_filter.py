"""Kernel filtering, live: a flood of irrelevant events is dropped in the kernel while an attack
in the middle of it still alerts; a reload that enables a rule on new paths lets those events
through; the exit summary shows the probe's counters as they were at exit.

Through the CLI (`falcoish run`) where a user would see it; the summary check drives the
capture in-process, where the probe's last counters can be compared with what is printed.
Skipped only when live capture is impossible here (the reason is printed).
"""

from __future__ import annotations

import re
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
from typing import Any, Iterator

import pytest

from .test_live_rules import START_WAIT, Falcoish

pytestmark = pytest.mark.live

FLOOD = """
import os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
op, cl, rd = os.open, os.close, os.O_RDONLY
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(1000):
        cl(op(path, rd))
    n += 1000
print(n)
"""


@pytest.fixture(scope="module")
def live_ok() -> None:
    from falcoish.sources.live.capture import check_live_support
    reason = check_live_support()
    if reason is not None:
        print(f"live capture unavailable: {reason}")
        pytest.skip(reason)


def falcoish_cmd(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("falcoish")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "falcoish.cli.main"]
    return [*base, "run", *args]


@pytest.fixture()
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="falcoish-kf-"))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("falcoish_"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def summary_counts(stderr: list[str]) -> dict[str, int]:
    err = "\n".join(stderr)
    out: dict[str, int] = {}
    m = re.search(r"filtered in kernel by type: (.*)", err)
    for pair in (m.group(1).split(", ") if m else []):
        name, _, n = pair.partition("=")
        out[f"filtered.{name}"] = int(n)
    m = re.search(r"Dropped in kernel: (\d+) \(reserved lane (\d+), bulk lane (\d+)\)", err)
    assert m, err
    out["dropped"], out["dropped.reserved"], out["dropped.bulk"] = map(int, m.groups())
    m = re.search(r"Events processed: (\d+)", err)
    assert m, err
    out["events"] = int(m.group(1))
    return out


def test_flood_is_dropped_in_the_kernel_and_an_attack_inside_it_alerts(live_ok: None, work: Path,
                                                                       corpus_files: list[str]) -> None:
    target = work / "flood.tmp"
    target.write_text("x")
    port = free_port()
    falco = Falcoish(falcoish_cmd("--no-defaults", "-r", corpus_files[0], "--json",
                                  "-M", "120", "--metrics-port", str(port)))
    try:
        falco.wait_started(START_WAIT)
        flood = subprocess.Popen([sys.executable, "-c", textwrap.dedent(FLOOD), str(target), "4"],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        marker = "kf" + uuid.uuid4().hex[:8]
        subprocess.run(["cat", "/etc/shadow", f"/nonexistent-{marker}"], capture_output=True, timeout=20)
        alert = falco.wait_alert("Read sensitive file untrusted", marker, timeout=10)
        # the flood itself is reported, naming the process, with the drops per lane
        flood_alert = falco.wait_alert("Falco internal: syscall flood", f"pid {flood.pid} ", timeout=10)
        out, _ = flood.communicate(timeout=60)
        pairs = int(out.strip())
        metrics = scrape(port)
    finally:
        code = falco.stop()
    assert code == 0, "\n".join(falco.stderr[-20:])
    counts = summary_counts(falco.stderr)
    assert alert["output_fields"]["fd.name"] == "/etc/shadow"
    # the flood's opens and closes never reached user space: filtered in the kernel
    assert counts.get("filtered.openat", 0) >= 0.95 * pairs, (pairs, counts)
    assert counts.get("filtered.close", 0) >= 0.95 * pairs, (pairs, counts)
    assert counts["events"] < 0.05 * pairs, (pairs, counts)
    assert counts["dropped.reserved"] == 0, counts
    assert flood_alert["priority"] == "Critical" and "possible evasion attempt" in flood_alert["output"]
    assert "reserved lane 0" in flood_alert["output"], flood_alert["output"]
    # the same counts, per type and per lane, and the event age, in the metrics
    assert metrics['falcoish_kernel_events_total{outcome="filtered",type="openat"}'] >= 0.95 * pairs
    assert metrics['falcoish_lane_events_total{lane="reserved",outcome="dropped"}'] == 0
    assert 0 < metrics['falcoish_event_age_seconds{quantile="0.99"}'] <= metrics['falcoish_event_age_seconds{quantile="1"}']
    assert metrics["falcoish_flood_alerts_total"] >= 1


def test_reload_that_enables_a_rule_on_new_paths_lets_them_through(live_ok: None, work: Path) -> None:
    marker = "kf" + uuid.uuid4().hex[:8]
    watched = work / marker
    watched.mkdir()
    rules = work / "rules.yaml"
    etc_rule = textwrap.dedent("""\
        - rule: etc shadow read
          desc: reads of /etc/shadow
          condition: evt.type in (open, openat) and fd.name = /etc/shadow
          output: shadow read (file=%fd.name cmd=%proc.cmdline)
          priority: WARNING
        """)
    rules.write_text(etc_rule)
    falco = Falcoish(falcoish_cmd("--no-defaults", "-r", str(rules), "--json", "-M", "120", "--watch", "off"))
    try:
        falco.wait_started(START_WAIT)
        before = watched / "before.txt"
        before.write_text("x")
        subprocess.run(["cat", str(before)], capture_output=True, timeout=20)
        subprocess.run(["cat", "/etc/shadow", f"/nonexistent-{marker}a"], capture_output=True, timeout=20)
        falco.wait_alert("etc shadow read", f"{marker}a")       # its events are processed in order
        rules.write_text(etc_rule + textwrap.dedent(f"""\
            - rule: watched dir read
              desc: reads below the watched folder
              condition: evt.type in (open, openat) and fd.name startswith {watched}/
              output: watched read (file=%fd.name)
              priority: WARNING
            """))
        n = len(falco.stderr)
        falco.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not any("rules reloaded" in s for s in falco.stderr[n:]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("rules reloaded" in s for s in falco.stderr[n:]), falco.stderr[-10:]
        after = watched / "after.txt"
        after.write_text("x")
        subprocess.run(["cat", str(after)], capture_output=True, timeout=20)
        alert = falco.wait_alert("watched dir read", "after.txt")
        assert alert["output_fields"]["fd.name"] == str(after)
        assert not falco.matching("watched dir read", "before.txt")
    finally:
        falco.stop()


def test_exit_summary_shows_the_probe_counters_at_exit(live_ok: None, work: Path, monkeypatch: Any) -> None:
    """Stopped while a flood still overflows the rings and a backlog is unread: the summary's
    drop count is the probe's count read after detaching (larger than the last count read
    while running), not an earlier one."""
    from falcoish.runtime.engine import Engine
    from falcoish.runtime.health import Health
    from falcoish.rules.ruleset import RuleSet
    from falcoish.sources.live import kernel
    from falcoish.sources.live.capture import LiveCapture

    reads: list[dict[str, dict[str, int]]] = []
    calls: list[str] = []
    original, original_detach = kernel.KernelProbe.counters, kernel.KernelProbe.detach

    def recording(self: Any) -> dict[str, dict[str, int]]:
        got = original(self)
        reads.append(got)
        calls.append("counters")
        return got

    def detaching(self: Any) -> None:
        calls.append("detach")
        original_detach(self)
    monkeypatch.setattr(kernel.KernelProbe, "counters", recording)
    monkeypatch.setattr(kernel.KernelProbe, "detach", detaching)
    target = work / "flood.tmp"
    target.write_text("x")
    from falcoish.sources.live.kcontrol import FloodSettings
    cap = LiveCapture({"openat", "close"}, kernel_filter=False, lane_pages=(8, 8),
                      flood=FloodSettings(threshold=1000, sustain=1))
    notices: list[Any] = []
    cap.on_flood = notices.append
    cap.start()
    flood = subprocess.Popen([sys.executable, "-c", textwrap.dedent(FLOOD), str(target), "4"],
                             stdout=subprocess.PIPE, text=True)
    events = 0

    def consume() -> None:
        nonlocal events
        for _ev in cap.events():
            events += 1
            time.sleep(0.0005)                 # slower than the flood: a backlog builds up
    t = threading.Thread(target=consume)
    t.start()
    time.sleep(2.0)
    cap.stop()
    t.join(30)
    flood.wait(60)
    health = Health(Engine(RuleSet([]), {}))
    health.capture = cap
    summary = health.summary()

    def dropped(c: dict[str, dict[str, int]]) -> int:
        return sum(v["dropped_reserved"] + v["dropped_bulk"] for v in c.values())
    final = dropped(reads[-1])
    running = [dropped(r) for r in reads[:-1]]
    # the last read came after the probe was detached (nothing could change the counters any
    # more), and the summary shows exactly that read, which is past what was read while running
    assert calls[-2:] == ["detach", "counters"] and calls.count("detach") == 1, calls[-5:]
    assert final > 0 and summary["kernel_drops"] == final, (final, summary["kernel_drops"])
    assert running and final >= running[-1] and final > running[0], (running[-3:], final)
    assert summary["unread_records"] > 0 or events > 0
    # the flood notice got through although the lanes were full all along (held in a map)
    assert notices and notices[0].pid == flood.pid, notices
    assert reads[-1]["flood"]["dropped_reserved"] == 0, reads[-1]["flood"]


def test_a_kernel_that_refuses_the_filter_gets_every_event_unjudged(live_ok: None, work: Path,
                                                                   monkeypatch: Any) -> None:
    """Where the verifier refuses the filter programs, capture still works as it did without a
    filter: every event of the attached types goes up (none is lost unjudged) and start-up
    says so."""
    from falcoish import load_rules
    from falcoish.sources.live.capture import LiveCapture
    from falcoish.sources.live.setup import import_bcc
    bpf_class = import_bcc().BPF
    load_func = bpf_class.load_func

    def refusing(self: Any, name: bytes, *args: Any, **kw: Any) -> Any:
        if name.startswith(b"kf_"):
            raise Exception(f"Failed to load BPF program {name!r}: Argument list too long")
        return load_func(self, name, *args, **kw)
    monkeypatch.setattr(bpf_class, "load_func", refusing)
    rules = work / "r.yaml"
    rules.write_text("- rule: shadow\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n"
                     "  output: o\n  priority: WARNING\n")
    cap = LiveCapture({"openat", "close"}, rules=load_rules([str(rules)]).ruleset)
    cap.start()
    target = work / "plain.txt"
    target.write_text("x")
    child = subprocess.run([sys.executable, "-c", f"import os\nfor _ in range(50): os.close(os.open({str(target)!r}, 0))\n"
                            "print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(child.stdout)
    seen = 0
    timer = threading.Timer(20, cap.stop)
    timer.start()
    for ev in cap.events():
        if ev.type == "openat" and ev.thread.get("pid") == pid and (ev.fd or {}).get("name") == str(target):
            seen += 1
            if seen >= 50:
                cap.stop()
    timer.cancel()
    counts = cap.stats["kernel"]
    assert "Argument list too long" in cap.stats["kernel_filter_unavailable"]
    assert not cap.filter.enabled and seen == 50, seen
    assert counts["openat"]["filtered"] == 0 and counts["openat"]["sent_reserved"] >= 50, counts["openat"]
