"""`falcoish run --record DIR`: fleet recordings, through the CLI.

Replays of the bundled live trace (a slice, for speed) are re-recorded into
`DIR/HOST/START-END.jsonl.gz` files rotated by EVENT time or by size; each file must replay
alone, the alerts over all files (in name order) must be those of the original replay, in the
same order, and each sidecar index must say exactly what its file holds (checked by reading
the file back with the replay reader, not with the writer's own counts).  A live run with
`--record-types all|FILE` must record an event type that no enabled rule needs, and the
default (`rules`) must not: that is the near miss.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from falcoish.sources.fleet import RecordingIndex, index_path, read_index, write_index
from falcoish.sources.replay import read_events
from .eventkit import BASE_TS, record

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "bench" / "data" / "live_trace.jsonl.gz"
SLICE_LINES = 20000
NAME = re.compile(r"^(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)(?:_\d{6})?\.jsonl\.gz$")
NS = 1_000_000_000


def falcoish(*args: str, umask: int | None = None) -> subprocess.CompletedProcess[bytes]:
    preexec = (lambda: os.umask(umask)) if umask is not None else None  # type: ignore[misc]
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *args], cwd=ROOT,
                          capture_output=True, timeout=300, preexec_fn=preexec)


def alerts_of(path: Path | str) -> list[bytes]:
    done = falcoish("run", "-q", "--json", "-e", str(path))
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def trace_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first lines of the bundled live trace (definitions always precede their use)."""
    out = tmp_path_factory.mktemp("slice") / "slice.jsonl"
    with gzip.open(TRACE, "rb") as src, open(out, "wb") as dst:
        dst.writelines(itertools.islice(src, SLICE_LINES))
    return out


@pytest.fixture(scope="module")
def original_alerts(trace_slice: Path) -> list[bytes]:
    alerts = alerts_of(trace_slice)
    assert alerts, "the slice must raise alerts, or the comparison proves nothing"
    return alerts


def recordings(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl.gz"))


def events_in(path: Path) -> list[Any]:
    bad: list[str] = []
    events = list(read_events(str(path), lambda n, why: bad.append(why)))
    assert not bad, bad
    return events


def stamp(ts: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts // NS))


def test_rotation_by_event_time_gives_self_contained_files_with_the_same_alerts(
        tmp_path: Path, trace_slice: Path, original_alerts: list[bytes]) -> None:
    out = tmp_path / "fleet"
    done = falcoish("run", "-q", "--json", "-e", str(trace_slice), "--record", str(out),
                    "--record-host", "h1", "--record-rotate", "2s", umask=0)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.splitlines() == original_alerts     # recording changes no alert
    assert [p.name for p in out.iterdir()] == ["h1"]
    files = recordings(out / "h1")
    assert len(files) >= 3
    # nothing half-written or temporary is left, and every recording has its index
    assert sorted(p.name for p in (out / "h1").iterdir()) == sorted(
        [f.name for f in files] + [f.name + ".index.json" for f in files])
    original = events_in(trace_slice)
    total = 0
    split_alerts: list[bytes] = []
    for f in files:
        assert f.read_bytes()[:2] == b"\x1f\x8b"          # gzip, whatever the name
        events = events_in(f)
        assert events
        total += len(events)
        # the file holds the events of one 2 s period of event time, counted from the first
        period_end = (events[0].ts // (2 * NS) + 1) * 2 * NS
        assert all(e.ts < period_end for e in events)
        first, last = min(e.ts for e in events), max(e.ts for e in events)
        m = NAME.match(f.name)
        assert m and m.groups() == (stamp(first), stamp(last)), f.name
        index = read_index(str(f))
        assert index == RecordingIndex(host="h1", file=f.name, first_ts=first, last_ts=last,
                                       events=len(events),
                                       types=dict(Counter(e.type for e in events)))
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(index_path(str(f))).stat().st_mode) == 0o600
        split_alerts += alerts_of(f)          # each file replays alone
    assert total == len(original)
    assert split_alerts == original_alerts
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "h1").stat().st_mode) == 0o700


def test_rotation_by_size_and_an_unsafe_host_name(tmp_path: Path, trace_slice: Path,
                                                  original_alerts: list[bytes]) -> None:
    out = tmp_path / "fleet"
    out.mkdir(mode=0o755)          # an existing folder: fleet mode, and its mode is the user's
    done = falcoish("run", "-q", "--json", "-e", str(trace_slice), "--record", str(out),
                    "--record-host", "../../evil host/x", "--record-max-bytes", "100K")
    assert done.returncode == 0, done.stderr.decode()
    assert [p.name for p in out.iterdir()] == ["_.._evil_host_x"]
    files = recordings(out / "_.._evil_host_x")
    assert len(files) >= 3
    for f in files[:-1]:
        assert 100 * 1024 <= f.stat().st_size < 150_000, (f.name, f.stat().st_size)
    assert sum(len(events_in(f)) for f in files) == len(events_in(trace_slice))
    assert [a for f in files for a in alerts_of(f)] == original_alerts
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_files_sharing_their_times_are_named_in_the_order_written(tmp_path: Path) -> None:
    trace = tmp_path / "same-second.jsonl"
    trace.write_bytes(b"".join(orjson.dumps(record("openat", args={"name": f"/etc/f{i}"},
                                                   num=i, ts=BASE_TS + i * 1000)) + b"\n"
                               for i in range(1, 4)))
    out = tmp_path / "fleet/"
    done = falcoish("run", "-q", "-e", str(trace), "--record", f"{out}/", "--record-host", "h",
                    "--record-max-bytes", "1")
    assert done.returncode == 0, done.stderr.decode()
    files = recordings(out / "h")
    day = stamp(BASE_TS)
    assert [f.name for f in files] == [f"{day}-{day}.jsonl.gz", f"{day}-{day}_000001.jsonl.gz",
                                       f"{day}-{day}_000002.jsonl.gz"]
    assert [[e.args["name"] for e in events_in(f)] for f in files] == [["/etc/f1"], ["/etc/f2"],
                                                                       ["/etc/f3"]]


def test_a_clock_set_back_starts_a_new_file_but_slight_disorder_does_not(tmp_path: Path) -> None:
    hour = 3600 * NS
    boundary = (BASE_TS // hour + 3) * hour
    times = [boundary - 2 * hour + NS, boundary + 1000, boundary - 1000, boundary + 2000,
             boundary - 2 * hour]
    trace = tmp_path / "clock.jsonl"
    trace.write_bytes(b"".join(orjson.dumps(record("openat", args={"name": "/etc/x"}, num=i,
                                                   ts=ts)) + b"\n"
                               for i, ts in enumerate(times, 1)))
    out = tmp_path / "fleet"
    done = falcoish("run", "-q", "-e", str(trace), "--record", f"{out}/", "--record-host", "h",
                    "--record-rotate", "1h")
    assert done.returncode == 0, done.stderr.decode()
    by_file = [[e.num for e in events_in(f)] for f in recordings(out / "h")]
    # 1 alone; 2-4 straddle a boundary by microseconds: one file; 5 is two hours back: new file
    assert sorted(by_file) == [[1], [2, 3, 4], [5]]


def test_record_file_keeps_the_single_file_form(tmp_path: Path, trace_slice: Path) -> None:
    out = tmp_path / "one.jsonl.gz"
    done = falcoish("run", "-q", "-e", str(trace_slice), "--record", str(out))
    assert done.returncode == 0, done.stderr.decode()
    assert out.is_file() and not Path(index_path(str(out))).exists()
    assert len(events_in(out)) == len(events_in(trace_slice))


def test_bad_rotation_values_are_refused(tmp_path: Path, trace_slice: Path) -> None:
    for option, value in (("--record-rotate", "15x"), ("--record-rotate", "0m"),
                          ("--record-max-bytes", "lots")):
        done = falcoish("run", "-q", "-e", str(trace_slice), "--record", str(tmp_path / "d"),
                        option, value)
        assert done.returncode == 2 and value.encode() in done.stderr
    assert not (tmp_path / "d").exists()


def test_index_reader_never_trusts_a_bad_sidecar(tmp_path: Path) -> None:
    rec = tmp_path / "r.jsonl.gz"
    assert read_index(str(rec)) is None
    good = RecordingIndex(host="h", file="r.jsonl.gz", first_ts=1, last_ts=2, events=3,
                          types={"openat": 3})
    write_index(str(rec), good)
    assert read_index(str(rec)) == good
    side = Path(index_path(str(rec)))
    for text in (b"{", b"[]", b'{"version":2}', side.read_bytes().replace(b'"events":3', b'"events":"3"'),
                 side.read_bytes().replace(b'"types":{"openat":3}', b'"types":[]')):
        side.write_bytes(text)
        assert read_index(str(rec)) is None, text


# -- live: --record-types ---------------------------------------------------------------------

START_WAIT = 90.0
ALERT_WAIT = 15.0


def _live_support() -> str | None:
    from falcoish.sources.live.setup import check_live_support
    return check_live_support()


class _Live:
    """A real `falcoish run` (eBPF) whose JSON alerts are read as they come."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.alerts: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self.started = threading.Event()
        self.cv = threading.Condition()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cv:
                self.alerts.append(orjson.loads(line))
                self.cv.notify_all()

    def _err(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self.stderr.append(line)
            if "live capture started" in line:
                self.started.set()
        self.started.set()

    def wait_alert(self, marker: str) -> None:
        deadline = time.monotonic() + ALERT_WAIT
        with self.cv:
            while not any(marker in a.get("output", "") for a in self.alerts):
                left = deadline - time.monotonic()
                assert left > 0, f"no alert for {marker}; stderr:\n{''.join(self.stderr[-20:])}"
                self.cv.wait(left)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(60)


BARRIER_RULE = textwrap.dedent("""\
    - rule: Fleet test barrier
      desc: a known execve that tells the test every earlier event was handled
      condition: evt.type in (execve, execveat) and proc.cmdline contains "{token}-barrier"
      output: barrier %proc.cmdline
      priority: WARNING
    """)
MKDIR_RULE = textwrap.dedent("""\
    - rule: Fleet test folder made
      desc: a rule that is not running; its event types are what a later hunt would need
      condition: evt.type in (mkdir, mkdirat) and fs.path.name contains "{token}"
      output: folder %fs.path.name
      priority: NOTICE
    """)


def _live_recorded_types(tmp_path: Path, record_types: str, token: str) -> tuple[set[str], bool]:
    """Run live with only the barrier rule enabled and `--record-types record_types`, make a
    marked folder, then return the event types recorded and whether the mkdir was recorded."""
    rules = tmp_path / "barrier.yaml"
    rules.write_text(BARRIER_RULE.format(token=token))
    out = tmp_path / f"rec-{record_types.replace('/', '_')}"
    live = _Live([sys.executable, "-m", "falcoish.cli.main", "run", "--json", "--no-defaults",
                  "-r", str(rules), "--record", str(out), "--record-host", "live",
                  "--record-types", record_types, "--progress", "0", "-M", "120"])
    try:
        live.started.wait(START_WAIT)
        assert any("live capture started" in s for s in live.stderr), "".join(live.stderr[-30:])
        subprocess.run(["mkdir", str(out) + f"-{token}-dir"], check=True)
        subprocess.run(["/bin/true", f"{token}-barrier"], check=True)
        live.wait_alert(f"{token}-barrier")   # the ring buffer is ordered: mkdir came before
    finally:
        status = live.stop()
    assert status == 0, "".join(live.stderr[-30:])
    files = recordings(out / "live")
    assert files
    types: set[str] = set()
    made = False
    for f in files:
        for e in events_in(f):
            types.add(e.type)
            path = str((e.args or {}).get("path", ""))
            made |= e.type in ("mkdir", "mkdirat") and f"{token}-dir" in path
        assert read_index(str(f)) is not None
    return types, made


@pytest.mark.live
def test_live_record_types_all_and_file_record_what_no_enabled_rule_needs(tmp_path: Path) -> None:
    reason = _live_support()
    if reason is not None:
        pytest.skip(f"live capture is not possible here: {reason}")
    token = "ff" + uuid.uuid4().hex[:8]
    # near miss: the default records what the enabled rule needs, so no mkdir
    types, made = _live_recorded_types(tmp_path, "rules", token)
    assert not made and not types & {"mkdir", "mkdirat"}
    types, made = _live_recorded_types(tmp_path, "all", token)
    assert made, types
    extra = tmp_path / "later.yaml"
    extra.write_text(MKDIR_RULE.format(token=token))
    types, made = _live_recorded_types(tmp_path, str(extra), token)
    assert made, types
