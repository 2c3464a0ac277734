"""`falcoish tail`: line recognition, filters, following across rotation/truncation, colour only
on a terminal.  The follow tests run the command as a subprocess and wait, bounded, for lines."""

from __future__ import annotations

import os
import pty
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import orjson
import pytest

from falcoish.cli.tail import Entry, Filter, Printer, parse_iso, parse_line, parse_since
from falcoish.output.format import Alert

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_700_000_000_000_000_000
BASE = time.time_ns() - 10**9          # "now" for alerts without an explicit time


def alert(n: int, priority: str = "Warning", rule: str = "Shell in container",
          tags: tuple[str, ...] = ("container", "shell"), time_ns: int | None = None) -> Alert:
    return Alert(time_ns if time_ns is not None else BASE + n * 1000, rule, priority, "syscall", tags,
                 f"shell number {n} (user=root)", {"n": n}, "h")


# -- recognising lines ----------------------------------------------------------------------

def test_text_lines_both_time_formats() -> None:
    a = alert(1, "Critical", time_ns=NOW + 123)
    for iso in (False, True):
        entry = parse_line(a.text_line(iso) + "\n", now_ns=NOW + 10**9)
        assert entry.priority == "Critical" and entry.rest == a.output
        assert entry.time_ns == NOW + 123
        assert entry.rule is None and entry.tags is None


def test_text_time_without_date_is_today_or_yesterday() -> None:
    late = alert(1, time_ns=NOW)
    entry = parse_line(late.text_line(), now_ns=NOW - 3600 * 10**9)    # an hour "before" it
    assert entry.time_ns == NOW - 86400 * 10**9


def test_json_lines() -> None:
    a = alert(2, "Error", time_ns=NOW + 5)
    entry = parse_line(a.json_line())
    assert (entry.priority, entry.rule, entry.tags, entry.time_ns) == ("Error", a.rule, a.tags, NOW + 5)
    assert entry.rest == a.output and entry.stamp == a.text_line().split(": ", 1)[0]
    bare = dict(a.to_dict())
    del bare["output"]
    entry = parse_line(orjson.dumps(bare).decode())
    assert entry.priority == "Error" and entry.rest == "" and entry.rule == a.rule


@pytest.mark.parametrize("line", ["", "hello", "12:00:00: Warning short time", "{not json",
                                  '{"level": "info", "msg": "log line"}',
                                  "12:00:00.123456789: Loud unknown priority"])
def test_other_lines_are_not_alerts(line: str) -> None:
    assert parse_line(line).priority is None


def test_parse_iso_and_since() -> None:
    assert parse_iso("2023-11-14T22:13:20.000000005Z") == NOW + 5
    assert parse_iso("2023-11-14T23:13:20.5+0100") == NOW + 500_000_000
    assert parse_iso("2023-11-14T23:13:20+01:00") == NOW
    assert parse_iso("yesterday") is None
    assert parse_since("10m", now_ns=NOW) == NOW - 600 * 10**9
    assert parse_since("2h", now_ns=NOW) == NOW - 7200 * 10**9
    assert parse_since("1.5s", now_ns=NOW) == NOW - 1_500_000_000
    assert parse_since("2023-11-14T22:13:20Z") == NOW
    with pytest.raises(Exception, match="expected a duration"):
        parse_since("soon")


def test_filter() -> None:
    j = parse_line(alert(1, "Error", rule="Write below etc", tags=("fs", "mitre")).json_line())
    t = parse_line(alert(1, "Notice").text_line())
    other = Entry("some log line")
    assert Filter().accepts(other) and not Filter(min_priority="Debug").accepts(other)
    assert Filter(min_priority="Warning").accepts(j) and not Filter(min_priority="Warning").accepts(t)
    assert Filter(rules=("Write*",)).accepts(j) and not Filter(rules=("Write",)).accepts(j)
    assert not Filter(rules=("*",)).accepts(t)            # text lines have no rule name
    assert Filter(tags=("fs", "mitre")).accepts(j) and not Filter(tags=("fs", "k8s")).accepts(j)
    assert Filter(since_ns=BASE - 60 * 10**9).accepts(j)        # BASE: when the module was imported
    assert not Filter(since_ns=time.time_ns() + 60 * 10**9).accepts(t)


def test_printer_json_passthrough_and_text_conversion() -> None:
    import io
    out = io.StringIO()
    printer = Printer(out, as_json=True, color=False)
    a = alert(3, time_ns=NOW)
    printer.write(parse_line(a.json_line()))
    printer.write(parse_line(a.text_line(True)))
    first, second = out.getvalue().splitlines()
    assert first == a.json_line()
    assert orjson.loads(second) == {"output": a.text_line(True), "priority": "Warning",
                                    "time": "2023-11-14T22:13:20.000000000Z"}


# -- the command, as a subprocess -----------------------------------------------------------

class Tail:
    """`python -m falcoish.cli.main tail ...` with its stdout read line by line in a thread."""

    def __init__(self, *args: str, stdin: int | None = subprocess.DEVNULL) -> None:
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        self.proc = subprocess.Popen([sys.executable, "-m", "falcoish.cli.main", "tail", "--interval", "0.05", *args],
                                     cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, count: int, timeout: float = 5.0) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                got.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def nothing_more(self, wait: float = 0.3) -> bool:
        try:
            self.lines.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def tails() -> Iterator[list[Tail]]:
    started: list[Tail] = []
    yield started
    for tail in started:
        tail.stop()


def append(path: Path, *lines: str) -> None:
    with open(path, "a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_follows_appends_rotation_and_truncation(tmp_path: Path, tails: list[Tail]) -> None:
    log = tmp_path / "alerts.log"
    lines = [alert(n).text_line() for n in range(40)]
    append(log, *lines[:3])
    tail = Tail(str(log), "-n", "all", "--color", "never")
    tails.append(tail)
    assert tail.expect(3) == lines[:3]

    append(log, lines[3])                                   # appended
    with open(log, "a") as handle:                          # a line written in two pieces
        handle.write(lines[4][:10])
        handle.flush()
        time.sleep(0.2)
        handle.write(lines[4][10:] + "\n")
    assert tail.expect(2) == lines[3:5]

    log.rename(tmp_path / "alerts.log.1")                   # rotated: renamed, then recreated
    append(tmp_path / "alerts.log.1", lines[5])             # the writer had not reopened yet
    time.sleep(0.3)
    append(log, *lines[6:8])
    assert tail.expect(3) == lines[5:8]

    big = [alert(n).json_line() for n in range(8, 20)]      # a JSON line in the same file
    append(log, *big[:1])                                   # shown with its rule name
    assert tail.expect(1) == [lines[8].replace(" Warning ", " Warning [Shell in container] ", 1)]

    with open(log, "w") as handle:                          # truncated in place (copytruncate)
        handle.write(lines[20] + "\n")
    assert tail.expect(1) == [lines[20]]
    append(log, lines[21])
    assert tail.expect(1) == [lines[21]]

    log.unlink()                                            # removed; appears again later
    time.sleep(0.2)
    append(log, lines[22])
    assert tail.expect(1) == [lines[22]]
    assert tail.nothing_more()


def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path, tails: list[Tail]) -> None:
    log = tmp_path / "later.log"
    tail = Tail(str(log))
    tails.append(tail)
    time.sleep(0.2)
    append(log, alert(1).text_line())
    assert tail.expect(1) == [alert(1).text_line()]


def test_starts_with_the_last_n_matching_alerts(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    append(log, *[alert(n).text_line() for n in range(30)])
    out = run_tail(str(log), "--no-follow")
    assert out.splitlines() == [alert(n).text_line() for n in range(20, 30)]
    out = run_tail(str(log), "--no-follow", "-n", "2")
    assert len(out.splitlines()) == 2


def run_tail(*args: str, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "tail", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=20, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def mixed_file(tmp_path: Path) -> Path:
    log = tmp_path / "mixed.log"
    now = time.time_ns()
    append(log,
           "falcoish starting (a log line, not an alert)",
           alert(1, "Debug", time_ns=now - 3 * 3600 * 10**9).text_line(True),
           alert(2, "Warning", time_ns=now - 2 * 3600 * 10**9).text_line(True),
           alert(3, "Critical", rule="Write below etc", tags=("fs",), time_ns=now - 600 * 10**9).json_line(),
           alert(4, "Notice", rule="Netcat", tags=("net", "mitre"), time_ns=now - 60 * 10**9).json_line(),
           alert(5, "Emergency", rule="Write below etc", tags=("fs", "mitre"), time_ns=now).text_line())
    return log


def numbers(out: str) -> list[int]:
    found = []
    for line in out.splitlines():
        for word in line.split():
            if word.isdigit():
                found.append(int(word))
                break
    return found


def test_priority_filtering(tmp_path: Path) -> None:
    log = mixed_file(tmp_path)
    everything = run_tail(str(log), "--no-follow", "-n", "all")
    assert everything.splitlines()[0] == "falcoish starting (a log line, not an alert)"
    assert numbers(everything) == [1, 2, 3, 4, 5]
    assert numbers(run_tail(str(log), "--no-follow", "--min-priority", "warning")) == [2, 3, 5]
    assert numbers(run_tail(str(log), "--no-follow", "--min-priority", "CRITICAL")) == [3, 5]
    assert numbers(run_tail(str(log), "--no-follow", "--min-priority", "info")) == [2, 3, 4, 5]


def test_rule_tag_and_since_filters(tmp_path: Path) -> None:
    log = mixed_file(tmp_path)
    assert numbers(run_tail(str(log), "--no-follow", "--rule", "Write below etc")) == [3]
    assert numbers(run_tail(str(log), "--no-follow", "--rule", "Net*", "--rule", "Write*")) == [3, 4]
    assert numbers(run_tail(str(log), "--no-follow", "--tag", "mitre")) == [4]
    assert numbers(run_tail(str(log), "--no-follow", "--since", "30m")) == [3, 4, 5]
    assert numbers(run_tail(str(log), "--no-follow", "--since", "150m")) == [2, 3, 4, 5]


def test_json_output_passes_json_through(tmp_path: Path) -> None:
    log = mixed_file(tmp_path)
    out = run_tail(str(log), "--no-follow", "--json", "--min-priority", "critical").splitlines()
    assert out[0] == log.read_text().splitlines()[3]                    # verbatim
    assert orjson.loads(out[1])["priority"] == "Emergency"


def test_reads_a_pipe_from_a_running_falcoish(tmp_path: Path) -> None:
    text = "\n".join([alert(1, "Debug").json_line(), alert(2, "Error").text_line()]) + "\n"
    assert numbers(run_tail("--min-priority", "error", stdin=text)) == [2]
    assert numbers(run_tail("-", stdin=text)) == [1, 2]


def test_bad_arguments() -> None:
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "tail", "x", "--min-priority", "loud"],
                          cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and "unknown priority 'loud'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "tail", "/nonexistent/x.log", "--no-follow"],
                          cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 1 and "no such file" in proc.stderr


# -- colour ---------------------------------------------------------------------------------

def test_colour_on_a_terminal_only(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    append(log, alert(1, "Critical").text_line(), alert(2, "Informational").text_line())

    piped = run_tail(str(log), "--no-follow")
    assert "\x1b[" not in piped and numbers(piped) == [1, 2]

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "falcoish.cli.main", "tail", str(log), "--no-follow"],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    data = b""
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:                 # EIO: the other side is closed
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        proc.wait(5)
    text = data.decode()
    assert "\x1b[1;31mCritical\x1b[0m" in text
    assert "\x1b[32mInformational\x1b[0m" in text
    assert "shell number 1" in text and "shell number 2" in text

    env_no = env | {"NO_COLOR": "1"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "falcoish.cli.main", "tail", str(log), "--no-follow"],
                            cwd=ROOT, stdout=slave, stderr=subprocess.PIPE, env=env_no)
    os.close(slave)
    proc.wait(10)
    ready, _, _ = select.select([master], [], [], 2)
    text = os.read(master, 65536).decode() if ready else ""
    os.close(master)
    assert "shell number 1" in text and "\x1b[" not in text


def test_colour_can_be_forced(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    append(log, alert(1, "Error").text_line())
    assert "\x1b[31mError\x1b[0m" in run_tail(str(log), "--no-follow", "--color", "always")
