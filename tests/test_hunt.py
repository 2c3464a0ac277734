"""`falcoish hunt`: rules over a fleet's recordings on Dask (issue 17).

The fleet is built from the bundled traces: the sample trace and slices of
`bench/data/live_trace.jsonl.gz`, each re-recorded as a self-contained `HOST/START-END.jsonl.gz`
with its sidecar index, across three fake hosts.  Every hunt is checked against what
`falcoish run --json -e FILE` gives for each file, in the same order per file.  Skipped files
are FIFOs: opening one for reading blocks, so a hunt that opened a file it should have
skipped hangs (and the subprocess timeout fails the test) instead of passing silently.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from falcoish.events.event import Event
from falcoish.sources.fleet import RecordingIndex, write_index
from falcoish.sources.record import EventWriter
from falcoish.sources.replay import read_events

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
DASK = str(ROOT / ".venv" / "bin" / "dask")
SAMPLE = ROOT / "falcoish" / "data" / "sample_trace.jsonl"
LIVE = ROOT / "bench" / "data" / "live_trace.jsonl.gz"
CLI = [PY, "-m", "falcoish.cli.main"]
NEVER = 60.0       # seconds: a hunt of this fleet takes a few; more means it is stuck


def stamp(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def write_recording(root: Path, host: str, events: list[Event]) -> Path:
    """One fleet file as the contract has it: a new writer (self-contained), then the sidecar."""
    first, last = events[0].ts, events[-1].ts
    folder = root / host
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp(first)}-{stamp(last)}.jsonl.gz"
    with EventWriter(str(path)) as writer:
        for event in events:
            writer.write(event)
    write_index(str(path), RecordingIndex(host=host, file=path.name, first_ts=first, last_ts=last,
                                          events=len(events), types=dict(Counter(e.type for e in events))))
    return path


def trap(root: Path, host: str, first_ts: int, last_ts: int, types: dict[str, int]) -> Path:
    """A 'recording' that blocks whoever opens it, with an index that says what it holds."""
    folder = root / host
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp(first_ts)}-{stamp(last_ts)}.jsonl.gz"
    os.mkfifo(path)
    write_index(str(path), RecordingIndex(host=host, file=path.name, first_ts=first_ts, last_ts=last_ts,
                                          events=10, types=types))
    return path


def run_alerts(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(CLI + ["run", "--json", "-e", str(path)], capture_output=True, text=True,
                         timeout=NEVER, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


DAY = 86_400 * 1_000_000_000


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four recordings of three hosts; h2's slice is moved a day later and h3's two days, so
    the files' time ranges are well apart for --since/--until."""
    root = tmp_path_factory.mktemp("fleet")
    live = list(read_events(str(LIVE), lambda n, r: None))
    third = len(live) // 3
    parts = [("h1", list(read_events(str(SAMPLE), lambda n, r: None))), ("h1", live[:third]),
             ("h2", live[third:2 * third]), ("h3", live[2 * third:])]
    for event in live[third:2 * third]:
        event.ts += DAY
    for event in live[2 * third:]:
        event.ts += 2 * DAY
    files = [write_recording(root / "fleet", host, events) for host, events in parts]
    expected = {str(f): run_alerts(f) for f in files}
    assert all(expected.values()), "every recording of the fleet must raise some alert"
    times = {str(f): {e.num: e.ts for e in events} for f, (_, events) in zip(files, parts)}
    return {"root": root, "dir": root / "fleet", "files": files, "expected": expected, "times": times,
            "ranges": {host: (events[0].ts, events[-1].ts) for host, events in parts[1:]}}


def strip(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert without what differs between `run -e` and a hunt: the host (a hunt names the
    recorded host, `run` the machine it runs on) and the hunt's provenance keys."""
    return {k: v for k, v in alert.items() if k not in ("hostname", "recording", "event_number")}


def check_same(hunted: list[dict[str, Any]], expected: dict[str, list[dict[str, Any]]],
               times: dict[str, dict[int, int]] | None = None) -> None:
    """The hunt's alerts are, file by file and in order, those of `run --json -e FILE`; they
    are sorted by time overall; each names its host and its event."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for alert in hunted:
        by_file.setdefault(alert["recording"], []).append(alert)
    assert sorted(by_file) == sorted(p for p, a in expected.items() if a)
    for path, alerts in by_file.items():
        assert [strip(a) for a in alerts] == [strip(a) for a in expected[path]], path
        assert {a["hostname"] for a in alerts} == {Path(path).parent.name}
        if times is not None:       # the event an alert names is the event it fired on
            found = {times[path].get(a["event_number"]) for a in alerts}
            assert found == {a["output_fields"]["evt.time"] for a in alerts}, path
    times = [a["output_fields"]["evt.time"] for a in hunted]
    assert times == sorted(times)


def hunt_cli(*args: str, timeout: float = NEVER) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + ["hunt", *args], capture_output=True, text=True, timeout=timeout)


def parse(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "processes"])
def test_hunt_on_a_local_cluster_gives_the_alerts_of_run(fleet: dict[str, Any], processes: bool,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    from falcoish.cli.main import main
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes, protocol="tcp",
                                  dashboard_address=":0") as cluster:
        status = main(["hunt", "--json", "--scheduler", cluster.scheduler_address, str(fleet["dir"])])
    out, err = capfd.readouterr()
    assert status == 0, err
    check_same(parse(out), fleet["expected"], fleet["times"])
    assert "4 files hunted, 0 skipped (index), 0 bad" in err
    compiled = int(err.split("rules compiled ")[1].split(" ")[0])
    assert 1 <= compiled <= 2, err          # once per worker, not once per file


def test_hunt_cli_on_the_embedded_cluster(fleet: dict[str, Any]) -> None:
    done = hunt_cli("--json", str(fleet["dir"]), timeout=120)
    assert done.returncode == 0, done.stderr
    check_same(parse(done.stdout), fleet["expected"], fleet["times"])
    total = sum(len(a) for a in fleet["expected"].values())
    assert f"{total} alerts" in done.stderr
    for host in ("h1", "h2", "h3"):
        assert f"  host {host}: " in done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hunt_cli_on_a_separately_started_dask_cluster(fleet: dict[str, Any], tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    started = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                 "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            started.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-dashboard"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        done = hunt_cli("--json", "--scheduler", address, str(fleet["dir"]))
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            proc.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    check_same(parse(done.stdout), fleet["expected"], fleet["times"])


def test_time_host_and_type_filters_skip_files_without_opening_them(fleet: dict[str, Any]) -> None:
    root = fleet["root"] / "filtered"
    h1_last = fleet["ranges"]["h1"][1]
    h2_first, h2_last = fleet["ranges"]["h2"]
    early = trap(root, "h1", 1_000_000_000, 2_000_000_000, {"execve": 3})          # long before
    late = trap(root, "h3", 4_000_000_000_000_000_000, 4_000_000_001_000_000_000, {"execve": 3})
    other = trap(root, "db7", h2_first, h2_last, {"execve": 3})                     # another host
    no_types = trap(root, "h2", h2_first, h2_last, {"getpid": 10})                  # nothing the rules need
    since = datetime.fromtimestamp((h1_last + DAY // 2) // 1_000_000_000, tz=timezone.utc).isoformat()
    until = stamp(h2_last + DAY // 2)
    done = hunt_cli("--json", "--workers", "1", "--since", since, "--until", until, "--host", "h*",
                    str(fleet["dir"]), str(root))
    assert done.returncode == 0, done.stderr
    wanted = {p: a for p, a in fleet["expected"].items() if Path(p).parent.name == "h2"}
    # alerts at or after --since and at or before --until only (h2's file lies inside both)
    check_same(parse(done.stdout), wanted)
    assert "1 files hunted, 7 skipped (index), 0 bad" in done.stderr
    for path in (early, late, other, no_types):
        assert str(path) not in done.stderr

    by_host = hunt_cli("--json", "--workers", "1", "--host", "h3", str(fleet["dir"]), str(root / "h1"))
    assert by_host.returncode == 0, by_host.stderr
    check_same(parse(by_host.stdout), {p: a for p, a in fleet["expected"].items() if "/h3/" in p})


def test_a_truncated_recording_is_reported_and_the_rest_is_hunted(fleet: dict[str, Any], tmp_path: Path) -> None:
    bad_dir = tmp_path / "fleet"
    expected = {}
    for path in fleet["files"]:
        copy = bad_dir / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
        expected[str(copy)] = fleet["expected"][str(path)]
    broken = bad_dir / "h2" / fleet["files"][2].name
    data = broken.read_bytes()
    broken.write_bytes(data[:len(data) // 2])
    with pytest.raises((EOFError, gzip.BadGzipFile)):
        gzip.decompress(broken.read_bytes())
    del expected[str(broken)]
    (bad_dir / "h4").mkdir()
    fifo = bad_dir / "h4" / "20261205T000000Z-20261205T001500Z.jsonl.gz"   # no index: it is read
    os.mkfifo(fifo)

    done = hunt_cli("--json", "--workers", "2", str(bad_dir))
    assert done.returncode == 0, done.stderr
    alerts = [a for a in parse(done.stdout) if a["recording"] != str(broken)]
    check_same(alerts, expected)
    assert f"{broken}:" in done.stderr and "truncated or corrupt" in done.stderr
    assert f"{fifo}: cannot read: not a regular file" in done.stderr     # reported, not waited on
    assert "3 files hunted, 0 skipped (index), 2 bad" in done.stderr


def test_without_dask_hunt_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from falcoish.cli.main import main\n"
            "sys.exit(main(['hunt', '--no-defaults', '-r', 'x.yaml', 'somewhere']))")
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=NEVER)
    assert done.returncode == 2
    assert done.stderr.strip() == "falcoish: falcoish hunt needs Dask: pip install 'falcoish[hunt]'"
    assert done.stdout == ""


def test_text_alerts_name_host_recording_and_event_with_nothing_raw(tmp_path: Path) -> None:
    """Text alerts are Falco's lines plus where they came from; a folder name is the
    storage's (anyone who can write there chooses it) and reaches the terminal escaped."""
    events = list(read_events(str(SAMPLE), lambda n, r: None))
    host = "web\x1b[2J1"
    path = write_recording(tmp_path / "fleet", host, events)
    expected = run_alerts(path)
    done = hunt_cli("--workers", "1", str(tmp_path / "fleet"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(expected)
    shown = str(path).replace("\x1b", "\\x1b")
    num_at = {e.ts: e.num for e in events}
    for line, alert in zip(lines, expected):
        number = num_at[alert["output_fields"]["evt.time"]]
        assert line == f"{alert['output']} (host=web\\x1b[2J1 recording={shown} evt.num={number})"
    assert "\x1b" not in done.stdout + done.stderr
    assert "  host web\\x1b[2J1: " in done.stderr


def test_since_and_until_cut_alerts_inside_a_file_with_its_state_kept(tmp_path: Path) -> None:
    """A file that straddles --since/--until is read whole (earlier events build the state
    that later ones are judged by); only alerts inside the range are given and counted."""
    events = list(read_events(str(SAMPLE), lambda n, r: None))
    path = write_recording(tmp_path / "fleet", "web1", events)
    expected = run_alerts(path)
    times = sorted({a["output_fields"]["evt.time"] for a in expected})
    low, high = times[1], times[-2]

    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns // 1000 / 1e6, tz=timezone.utc).isoformat()

    done = hunt_cli("--json", "--workers", "1", "--since", iso(low), "--until", iso(high), str(tmp_path / "fleet"))
    assert done.returncode == 0, done.stderr
    wanted = [a for a in expected if low <= a["output_fields"]["evt.time"] <= high]
    assert 0 < len(wanted) < len(expected)
    assert [strip(a) for a in parse(done.stdout)] == [strip(a) for a in wanted]
    assert f"; {len(wanted)} alerts;" in done.stderr


def test_recordings_made_by_run_record_are_hunted_as_run_replays_them(tmp_path: Path) -> None:
    """The whole way: `run --record DIR/ --record-rotate` on two hosts' traces, then a hunt of
    the folder gives, file by file, what `run -e` gives on each rotated file."""
    fleet = tmp_path / "rec"
    fleet.mkdir()
    for host, trace in (("h7", LIVE), ("h8", SAMPLE)):
        subprocess.run(CLI + ["run", "-e", str(trace), "--record", f"{fleet}/", "--record-host", host,
                              "--record-rotate", "5s"], capture_output=True, timeout=NEVER, check=True)
    files = sorted(fleet.glob("*/*.jsonl.gz"))
    assert len(files) >= 3 and all(Path(f"{f}.index.json").exists() for f in files)
    expected = {str(f): run_alerts(f) for f in files}
    done = hunt_cli("--json", "--workers", "2", str(fleet))
    assert done.returncode == 0, done.stderr
    check_same(parse(done.stdout), expected)
    assert f"{len(files)} files hunted, 0 skipped (index), 0 bad" in done.stderr
