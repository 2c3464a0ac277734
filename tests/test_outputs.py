"""Delivery: channels, the dispatcher's queues/retries/spool/rate limit, and the spool itself."""

from __future__ import annotations

import io
import os
import sys
import syslog
import threading
import time
from pathlib import Path

import orjson
import pytest

from falcoish.config import settings as config_mod
from falcoish.config.settings import Config, load_config
from falcoish.output.channels import Channel, DeliveryError, Renderer
from falcoish.output.channels.stdout import StdoutChannel
from falcoish.output.dispatcher import SUMMARY_RULE, Outputs, RetryPolicy, TokenBucket, build_outputs
from falcoish.output.format import Alert
from falcoish.output.spool import Spool

FAST = ["outputs.retry_backoff=0.01", "outputs.retry_max_backoff=0.05"]


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_mod, "DEFAULT_PATH", str(tmp_path / "absent.yaml"))


def make_alert(n: int, rule: str = "Shell in container", priority: str = "Warning",
               output: str | None = None) -> Alert:
    return Alert(1_700_000_000_000_000_000 + n, rule, priority, "syscall", ("container", "shell"),
                 output if output is not None else f"alert number {n} (proc.name=bash)",
                 {"proc.name": "bash", "n": n}, "testhost")


def cfg(tmp_path: Path, *items: str) -> Config:
    return load_config(None, [f"outputs.spool_dir={tmp_path / 'spool'}", *FAST, *items])


class Recorder(Channel):
    """A test channel: records what it gets, can be made slow or down."""

    spool_on_failure = True

    def __init__(self, name: str = "rec", delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.got: list[int] = []
        self.down = threading.Event()
        self.attempts = 0

    def send(self, alert: Alert) -> None:
        self.attempts += 1
        if self.down.is_set():
            raise DeliveryError("down")
        if self.delay:
            time.sleep(self.delay)
        self.got.append(alert.output_fields["n"])


def outputs_with(tmp_path: Path, *channels: Channel, capacity: int = 1000, attempts: int = 2) -> Outputs:
    return Outputs(channels, capacity=capacity, retry=RetryPolicy(attempts, 0.01, 0.05),
                   spool_dir=tmp_path / "spool")


# -- rendering ------------------------------------------------------------------------------

def test_renderer_text_and_json_shapes(tmp_path: Path) -> None:
    alert = make_alert(1)
    text = Renderer(cfg(tmp_path))
    assert text.line(alert) == alert.text_line(False)
    plain = Renderer(cfg(tmp_path, "json_output=true"))
    obj = orjson.loads(plain.line(alert))
    assert list(obj) == sorted(obj)
    assert obj["output"] == alert.text_line(False) and obj["tags"] == ["container", "shell"]
    assert "message" not in obj
    trimmed = Renderer(cfg(tmp_path, "json_output=true", "json_include_output_property=false",
                           "json_include_tags_property=false", "json_include_output_fields_property=false",
                           "json_include_message_property=true", "time_format_iso_8601=true"))
    obj = orjson.loads(trimmed.line(alert))
    assert set(obj) == {"hostname", "message", "priority", "rule", "source", "time"}
    assert obj["message"] == alert.output
    iso = Renderer(cfg(tmp_path, "json_output=true", "time_format_iso_8601=true"))
    assert orjson.loads(iso.line(alert))["output"] == alert.text_line(True)


# -- stdout ---------------------------------------------------------------------------------

def test_stdout_gets_every_alert_in_order_and_close_flushes(tmp_path: Path) -> None:
    stream = io.StringIO()
    outputs = build_outputs(cfg(tmp_path, "json_output=true"), stream=stream)
    for n in range(500):
        outputs.emit(make_alert(n))
    stats = outputs.close(5)
    lines = stream.getvalue().splitlines()
    assert [orjson.loads(line)["output_fields"]["n"] for line in lines] == list(range(500))
    assert stats["stdout"]["sent"] == 500 and stats["stdout"]["failed"] == 0


def test_stdout_broken_pipe_is_counted_not_retried(tmp_path: Path) -> None:
    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    outputs = build_outputs(cfg(tmp_path), stream=Closed())
    for n in range(3):
        outputs.emit(make_alert(n))
    stats = outputs.close(2)
    assert stats["stdout"] == {"sent": 0, "retried": 0, "spooled": 0, "failed": 3,
                               "queued": 0, "spool_pending": 0}
    assert outputs.stdout_closed


# -- file -----------------------------------------------------------------------------------

@pytest.mark.parametrize("keep_alive", [False, True])
def test_file_output_appends(tmp_path: Path, keep_alive: bool) -> None:
    log = tmp_path / "alerts.log"
    log.write_text("existing line\n")
    outputs = build_outputs(cfg(tmp_path, "stdout_output.enabled=false", "file_output.enabled=true",
                                f"file_output.filename={log}", f"file_output.keep_alive={keep_alive}"))
    for n in range(20):
        outputs.emit(make_alert(n))
    outputs.close(5)
    lines = log.read_text().splitlines()
    assert lines[0] == "existing line"
    assert lines[1:] == [make_alert(n).text_line() for n in range(20)]


def test_file_output_follows_rotation(tmp_path: Path) -> None:
    log = tmp_path / "alerts.log"
    for keep_alive in (False, True):
        outputs = build_outputs(cfg(tmp_path, "stdout_output.enabled=false", "file_output.enabled=true",
                                    f"file_output.filename={log}", f"file_output.keep_alive={keep_alive}"))
        outputs.emit(make_alert(1))
        assert outputs.drain(5)
        log.rename(tmp_path / "alerts.log.1")
        if keep_alive:
            outputs.reopen()          # what SIGUSR1 does
        outputs.emit(make_alert(2))
        outputs.close(5)
        assert (tmp_path / "alerts.log.1").read_text() == make_alert(1).text_line() + "\n"
        assert log.read_text() == make_alert(2).text_line() + "\n"
        log.unlink()


def test_file_write_errors_are_retried_then_counted_failed(tmp_path: Path) -> None:
    outputs = build_outputs(cfg(tmp_path, "stdout_output.enabled=false", "file_output.enabled=true",
                                f"file_output.filename={tmp_path / 'no' / 'such' / 'dir.log'}"))
    outputs.emit(make_alert(1))
    stats = outputs.close(5)["file"]
    assert stats["failed"] == 1 and stats["retried"] == 2 and stats["sent"] == 0


# -- program --------------------------------------------------------------------------------

WRITER = """
import os, sys
data = sys.stdin.read()
with open(sys.argv[1], "a") as out:
    out.write(f"{os.getpid()} {data}")
sys.exit(int(sys.argv[2]))
"""

KEEPER = """
import os, sys
for line in sys.stdin:
    with open(sys.argv[1], "a") as out:
        out.write(f"{os.getpid()} {line}")
"""


def program_cfg(tmp_path: Path, script: str, *items: str, status: int = 0) -> Config:
    """program_output running `script` (which appends "<pid> <line>" to a file whose name has
    a space, to check argument splitting) and exits with `status`."""
    path = tmp_path / "prog.py"
    path.write_text(script)
    out = tmp_path / "received with space.txt"
    return cfg(tmp_path, "stdout_output.enabled=false", "program_output.enabled=true",
               f"program_output.program={sys.executable} {path} '{out}' {status}", *items)


def received(tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "received with space.txt"
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def test_program_output_one_process_per_alert(tmp_path: Path) -> None:
    outputs = build_outputs(program_cfg(tmp_path, WRITER))
    for n in range(3):
        outputs.emit(make_alert(n))
    assert outputs.close(10)["program"]["sent"] == 3
    got = received(tmp_path)
    assert [line for _, line in got] == [make_alert(n).text_line() for n in range(3)]
    assert len({pid for pid, _ in got}) == 3


def test_program_output_keep_alive_uses_one_process(tmp_path: Path) -> None:
    outputs = build_outputs(program_cfg(tmp_path, KEEPER, "program_output.keep_alive=true"))
    for n in range(5):
        outputs.emit(make_alert(n))
    assert outputs.close(10)["program"]["sent"] == 5
    got = received(tmp_path)
    assert [line for _, line in got] == [make_alert(n).text_line() for n in range(5)]
    assert len({pid for pid, _ in got}) == 1


@pytest.mark.parametrize("keep_alive", [False, True])
def test_program_output_alert_text_never_reaches_a_shell(tmp_path: Path, keep_alive: bool) -> None:
    canary = tmp_path / "pwned"
    evil = (f"x $(touch {canary}) `touch {canary}` ; touch {canary} | touch {canary} && "
            f"touch {canary} \"'\\ \n touch {canary}")
    script = KEEPER if keep_alive else WRITER
    outputs = build_outputs(program_cfg(tmp_path, script, f"program_output.keep_alive={keep_alive}"))
    outputs.emit(make_alert(1, rule=f"$(touch {canary})", output=evil))
    assert outputs.close(10)["program"]["sent"] == 1
    assert not canary.exists()
    text = (tmp_path / "received with space.txt").read_text()
    assert f"$(touch {canary})" in text and f"`touch {canary}`" in text


def test_program_failure_is_retried_then_spooled_and_resent(tmp_path: Path) -> None:
    outputs = build_outputs(program_cfg(tmp_path, WRITER, status=3))   # exits 3: not accepted
    outputs.emit(make_alert(1))
    stats = outputs.close(0.5)["program"]
    assert stats["sent"] == 0 and stats["retried"] >= 2 and stats["spooled"] == 1
    assert stats["spool_pending"] == 1
    # the next run, with a program that accepts it, delivers the spooled alert first
    outputs = build_outputs(program_cfg(tmp_path, WRITER))
    outputs.emit(make_alert(2))
    stats = outputs.close(10)["program"]
    assert stats["sent"] == 2 and stats["spool_pending"] == 0
    assert [line for _, line in received(tmp_path)][-2:] == [make_alert(1).text_line(), make_alert(2).text_line()]


# -- syslog ---------------------------------------------------------------------------------

def test_syslog_levels_follow_priorities(tmp_path: Path) -> None:
    sent: list[tuple[int, str]] = []
    outputs = build_outputs(cfg(tmp_path, "stdout_output.enabled=false", "syslog_output.enabled=true"),
                            syslog_send=lambda level, line: sent.append((level, line)))
    for priority in ("Emergency", "Critical", "Warning", "Informational", "Debug"):
        outputs.emit(make_alert(1, priority=priority))
    outputs.close(5)
    assert [level for level, _ in sent] == [syslog.LOG_EMERG, syslog.LOG_CRIT, syslog.LOG_WARNING,
                                            syslog.LOG_INFO, syslog.LOG_DEBUG]
    assert not any(line.endswith("\n") for _, line in sent)


# -- rate limit -----------------------------------------------------------------------------

def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 1.0                      # +2 tokens
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 100.0                    # capped at the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_rate_limited_alerts_are_counted_summarised_and_kept(tmp_path: Path) -> None:
    stream = io.StringIO()
    kept = tmp_path / "suppressed.jsonl"
    outputs = build_outputs(cfg(tmp_path, "json_output=true", "outputs.rate=0.001", "outputs.max_burst=3",
                                f"outputs.suppressed_file={kept}"), stream=stream)
    for n in range(10):
        outputs.emit(make_alert(n, rule="A" if n % 3 else "B"))
    outputs.close(5)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["output_fields"]["n"] for line in lines[:3]] == [0, 1, 2]
    summary = lines[3]
    assert summary["rule"] == SUMMARY_RULE and summary["source"] == "internal"
    assert summary["output_fields"]["suppressed"] == 7
    assert summary["output_fields"]["suppressed_by_rule"] == {"A": 4, "B": 3}
    assert "7 alerts suppressed by rate limit: rule A: 4, rule B: 3" in summary["output"]
    assert outputs.suppressed() == {"total": 7, "by_rule": {"A": 4, "B": 3}}
    assert [orjson.loads(line)["output_fields"]["n"] for line in kept.read_text().splitlines()] == list(range(3, 10))
    assert any("suppressed by rate limit: 7" in line for line in outputs.report())


def test_rate_limit_summary_is_periodic(tmp_path: Path) -> None:
    stream = io.StringIO()
    outputs = build_outputs(cfg(tmp_path, "outputs.rate=0.001", "outputs.max_burst=1",
                                "outputs.summary_interval=0.1"), stream=stream)
    for n in range(4):
        outputs.emit(make_alert(n))
    deadline = time.monotonic() + 5
    while "3 alerts suppressed" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "3 alerts suppressed by rate limit" in stream.getvalue()
    outputs.close(2)
    assert stream.getvalue().count("suppressed by rate limit") == 1


# -- queues, spool, close -------------------------------------------------------------------

def test_full_queue_overflows_to_the_spool_without_losing_or_reordering(tmp_path: Path) -> None:
    slow = Recorder(delay=0.002)
    outputs = outputs_with(tmp_path, slow, capacity=5)
    for n in range(300):
        outputs.emit(make_alert(n))
    stats = outputs.close(10)["rec"]
    assert slow.got == list(range(300))
    assert stats["spooled"] > 0 and stats["sent"] == 300 and stats["spool_pending"] == 0


def test_endpoint_down_then_up_delivers_everything_once_in_order(tmp_path: Path) -> None:
    rec = Recorder()
    outputs = outputs_with(tmp_path, rec)
    for n in range(10):
        outputs.emit(make_alert(n))
    assert outputs.drain(5)
    rec.down.set()
    for n in range(10, 40):
        outputs.emit(make_alert(n))
    deadline = time.monotonic() + 5
    while outputs.stats()["rec"]["spool_pending"] < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outputs.stats()["rec"]["spool_pending"] == 30
    rec.down.clear()
    for n in range(40, 50):
        outputs.emit(make_alert(n))
    stats = outputs.close(10)["rec"]
    assert rec.got == list(range(50))
    assert stats["sent"] == 50 and 30 <= stats["spooled"] <= 40 and stats["retried"] >= 1


def test_a_slow_channel_does_not_hold_up_the_others(tmp_path: Path) -> None:
    fast, slow = Recorder("fast"), Recorder("slow", delay=0.2)
    outputs = outputs_with(tmp_path, fast, slow)
    for n in range(20):
        outputs.emit(make_alert(n))
    assert outputs.workers[0].drain(2)
    assert fast.got == list(range(20)) and len(slow.got) < 20
    outputs.close(0.1)
    assert outputs.stats()["slow"]["spool_pending"] + len(slow.got) == 20


def test_close_deadline_spools_the_rest_and_next_start_resends_first(tmp_path: Path) -> None:
    stuck = Recorder()
    stuck.down.set()
    outputs = outputs_with(tmp_path, stuck)
    for n in range(5):
        outputs.emit(make_alert(n))
    stats = outputs.close(0.3)["rec"]
    assert stats["sent"] == 0 and stats["spool_pending"] == 5
    outputs.emit(make_alert(5))             # after close: still not lost
    assert outputs.stats()["rec"]["spool_pending"] == 6

    again = Recorder()
    outputs = outputs_with(tmp_path, again)
    outputs.emit(make_alert(6))
    outputs.close(5)
    assert again.got == list(range(7))


def test_alerts_emitted_after_a_normal_close_are_spooled(tmp_path: Path) -> None:
    rec = Recorder()
    outputs = outputs_with(tmp_path, rec)
    outputs.emit(make_alert(0))
    assert outputs.close(5)["rec"]["sent"] == 1
    outputs.emit(make_alert(1))
    assert outputs.stats()["rec"]["spool_pending"] == 1
    again = Recorder()
    outputs_with(tmp_path, again).close(5)
    assert again.got == [1]


def test_a_channel_bug_does_not_kill_its_worker(tmp_path: Path) -> None:
    class Buggy(Recorder):
        def send(self, alert: Alert) -> None:
            if alert.output_fields["n"] == 1:
                raise TypeError("oops")
            super().send(alert)

    buggy = Buggy()
    outputs = outputs_with(tmp_path, buggy)
    for n in range(3):
        outputs.emit(make_alert(n))
    stats = outputs.close(5)["rec"]
    assert buggy.got == [0, 2] and stats["failed"] == 1
    assert "internal error" in (tmp_path / "spool" / "rec.rejected.jsonl").read_text()


def test_permanent_rejection_goes_to_the_dead_letter_file(tmp_path: Path) -> None:
    class Picky(Recorder):
        def send(self, alert: Alert) -> None:
            if alert.output_fields["n"] == 1:
                raise DeliveryError("HTTP 400 Bad Request", permanent=True)
            super().send(alert)

    picky = Picky()
    outputs = outputs_with(tmp_path, picky)
    for n in range(3):
        outputs.emit(make_alert(n))
    stats = outputs.close(5)["rec"]
    assert picky.got == [0, 2] and stats["failed"] == 1 and stats["retried"] == 0
    dead = [orjson.loads(line) for line in (tmp_path / "spool" / "rec.rejected.jsonl").read_text().splitlines()]
    assert dead[0]["reason"] == "HTTP 400 Bad Request" and dead[0]["alert"]["output_fields"]["n"] == 1


def test_no_spool_files_unless_needed(tmp_path: Path) -> None:
    outputs = outputs_with(tmp_path, Recorder())
    outputs.emit(make_alert(1))
    outputs.close(5)
    assert not (tmp_path / "spool").exists()


# -- the spool on its own -------------------------------------------------------------------

def test_spool_is_ordered_persistent_and_compacts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "http")
    for n in range(3):
        spool.append(make_alert(n))
    head = spool.peek()
    assert head == make_alert(0) and spool.peek() == head and spool.pending() == 3
    spool.commit()
    spool.close()

    spool = Spool(tmp_path, "http")            # a new process picks up where the last stopped
    assert spool.pending() == 2 and spool.peek() == make_alert(1)
    spool.commit()
    spool.append(make_alert(3))
    assert [_take(spool) for _ in range(2)] == [make_alert(2), make_alert(3)]
    assert spool.peek() is None and spool.pending() == 0
    assert spool.path.stat().st_size == 0 and spool.offset_path.read_text() == "0"
    spool.close()
    assert not Spool.exists(tmp_path, "http")


def _take(spool: Spool) -> Alert | None:
    alert = spool.peek()
    spool.commit()
    return alert


def test_spool_survives_a_torn_last_line_and_skips_garbage(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "x")
    spool.append(make_alert(0))
    spool.close()
    with open(tmp_path / "x.jsonl", "ab") as handle:
        handle.write(b"not json\n")
        handle.write(orjson.dumps({"rule": "r"}) + b"\n")      # missing fields
        handle.write(b'{"time_ns": 1, "rule": "torn')         # crash mid-append
    assert Spool.exists(tmp_path, "x")
    spool = Spool(tmp_path, "x")
    assert spool.pending() == 3
    assert _take(spool) == make_alert(0)
    assert spool.peek() is None and spool.corrupt == 2 and spool.pending() == 0
    spool.append(make_alert(1))
    assert _take(spool) == make_alert(1)
    spool.close()


def test_spool_is_safe_between_an_appender_and_a_reader(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "t")
    got: list[int] = []

    def reader() -> None:
        while len(got) < 2000:
            alert = spool.peek()
            if alert is None:
                time.sleep(0.0005)
                continue
            got.append(alert.output_fields["n"])
            spool.commit()

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(2000):
        spool.append(make_alert(n))
    thread.join(10)
    assert got == list(range(2000))
    spool.close()


def test_unwritable_spool_dir_counts_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    rec = Recorder()
    rec.down.set()
    outputs = Outputs([rec], capacity=10, retry=RetryPolicy(1, 0.01, 0.02), spool_dir=blocker / "spool")
    outputs.emit(make_alert(1))
    stats = outputs.close(0.3)["rec"]
    assert stats["failed"] == 1 and stats["spooled"] == 0
    assert os.path.isfile(blocker)


def test_stdout_channel_defaults_to_sys_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    channel = StdoutChannel(Renderer(cfg(tmp_path)), buffered=False)
    channel.send(make_alert(1))
    assert capsys.readouterr().out == make_alert(1).text_line() + "\n"
