"""Hostile text in alerts: field values an attacker chooses (command lines, file names, process
names) never forge an alert line nor reach a terminal as control characters, on any channel,
and `falcoish tail` shows whatever a file holds without passing controls through.

Everything runs the `falcoish` command (in-process `main`, or a subprocess where the exit
status and the absence of a traceback are the point).  The escaped text is read back with an
independent decoder (`unescape`), so a test proves both that nothing raw gets out and that
the true value can still be recovered from the line.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import syslog
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falcoish.cli.main import main

from .eventkit import open_file, process

ROOT = Path(__file__).resolve().parent.parent
FALCOISH = [sys.executable, "-m", "falcoish.cli.main"]

FORGED = "\n12:00:00.000000000: Emergency forged alert: all clear"
#: a command line carrying a forged alert line, terminal escapes (clear screen, set title),
#: CR, NUL, C1 CSI, DEL, bidi overrides and a line separator
CMD_ARG = ("id" + FORGED + "\x1b[2J\x1b]0;pwned\x07\r\x00\x9b31m\x7f\u202eexe.txt\u2066x\u2069"
           "\u2028tail\\n")
FILE = "/tmp/x" + FORGED + "\x1b[31m\r\x00\u202etxt.exe\ttab\\"
RULES = """\
- rule: Hostile open
  desc: any open
  condition: evt.type = openat
  output: opened (cmdline=%proc.cmdline file=%fd.name name=%proc.name)
  priority: warning
"""
#: every character that must never be written raw into an alert line
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def raw_controls(text: str) -> list[str]:
    """The characters of `text` that must not reach a terminal or split a line."""
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI]


def unescape(text: str) -> str:
    """Reads escaped alert text back: the inverse of the documented escaping."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        nxt = text[i + 1: i + 2]
        if char != "\\" or nxt not in ("\\", "n", "r", "t", "x", "u"):
            out.append(char)
            i += 1
        elif nxt in ("x", "u"):
            width = 2 if nxt == "x" else 4
            out.append(chr(int(text[i + 2: i + 2 + width], 16)))
            i += 2 + width
        else:
            out.append({"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[nxt])
            i += 2
    return "".join(out)


def between(line: str, start: str, end: str) -> str:
    return line.split(start, 1)[1].split(end, 1)[0]


def hostile_event() -> dict[str, Any]:
    return open_file(FILE, thread=process("cat", [CMD_ARG]))


def setup_files(tmp: Path, records: list[dict[str, Any]], rules: str = RULES) -> list[str]:
    """The common `run` arguments: no config file, these rules, these events."""
    (tmp / "rules.yaml").write_text(rules)
    (tmp / "falcoish.yaml").write_text("{}\n")
    (tmp / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return ["run", "-c", str(tmp / "falcoish.yaml"), "--no-defaults", "-r", str(tmp / "rules.yaml"),
            "-e", str(tmp / "e.jsonl"), "--watch", "off"]


def cli(*args: str) -> tuple[int, str, str]:
    """`falcoish ARGS` in-process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def subprocess_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FALCOISH, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def assert_one_escaped_alert(line: str) -> None:
    """One alert line: no raw control, and the values read back exactly."""
    assert raw_controls(line) == []
    assert "Warning opened (cmdline=" in line and "Emergency" in line     # forged text, inline
    assert unescape(between(line, "(cmdline=", " file=")) == "cat " + CMD_ARG
    assert unescape(between(line, " file=", " name=")) == FILE


# -- text, JSON, file, syslog, program, tracee -------------------------------------------

def test_text_stdout_is_one_escaped_line(tmp_path: Path) -> None:
    status, out, _ = cli(*setup_files(tmp_path, [hostile_event()]))
    assert status == 0
    assert out.count("\n") == 1 and out.endswith("\n")
    assert_one_escaped_alert(out[:-1])
    assert "\\x1b[2J" in out and "\\u202e" in out and "\\x00" in out and "\\r" in out


def test_json_output_string_escaped_output_fields_true(tmp_path: Path) -> None:
    status, out, _ = cli(*setup_files(tmp_path, [hostile_event()]), "--json")
    assert status == 0 and out.count("\n") == 1
    alert = orjson.loads(out)
    assert alert["output_fields"]["proc.cmdline"] == "cat " + CMD_ARG
    assert alert["output_fields"]["fd.name"] == FILE
    assert_one_escaped_alert(alert["output"])


def test_text_alert_file_and_tail_of_it(tmp_path: Path) -> None:
    log = tmp_path / "alerts.log"
    status, _, _ = cli(*setup_files(tmp_path, [hostile_event()]), "-o", "stdout_output.enabled=false",
                       "-o", "file_output.enabled=true", "-o", f"file_output.filename={log}")
    assert status == 0
    content = log.read_text()
    assert content.count("\n") == 1
    assert_one_escaped_alert(content[:-1])

    status, out, _ = cli("tail", "--no-follow", "--color", "never", str(log))
    assert status == 0 and out == content
    status, out, _ = cli("tail", "--no-follow", "--min-priority", "emergency", str(log))
    assert status == 0 and out == ""                   # the forged Emergency is not an alert
    status, out, _ = cli("tail", "--no-follow", "--color", "always", str(log))
    colours_removed = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert colours_removed == content


def test_syslog_messages_are_one_escaped_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(syslog, "openlog", lambda *a, **k: None)
    monkeypatch.setattr(syslog, "syslog", lambda level, message: sent.append((level, message)))
    args = setup_files(tmp_path, [hostile_event()])
    status, _, _ = cli(*args, "-o", "stdout_output.enabled=false", "-o", "syslog_output.enabled=true")
    assert status == 0 and len(sent) == 1 and sent[0][0] == syslog.LOG_WARNING
    assert_one_escaped_alert(sent[0][1])
    status, _, _ = cli(*args, "--json", "-o", "stdout_output.enabled=false", "-o", "syslog_output.enabled=true")
    assert status == 0 and len(sent) == 2 and "\n" not in sent[1][1] and "\x00" not in sent[1][1]
    alert = orjson.loads(sent[1][1])
    assert_one_escaped_alert(alert["output"])
    assert alert["output_fields"]["fd.name"] == FILE


def test_program_output_gets_one_escaped_line(tmp_path: Path) -> None:
    received = tmp_path / "received.txt"
    status, _, _ = cli(*setup_files(tmp_path, [hostile_event()]), "-o", "stdout_output.enabled=false",
                       "-o", "program_output.enabled=true",
                       "-o", f"program_output.program=sh -c 'cat >> \"$0\"' {received}")
    assert status == 0
    content = received.read_text()
    assert content.count("\n") == 1
    assert_one_escaped_alert(content[:-1])


def test_tracee_detection_block_keeps_its_seven_lines(tmp_path: Path) -> None:
    thread = process("ca\nt\x1b[2J", [CMD_ARG])
    status, out, _ = cli(*setup_files(tmp_path, [open_file(FILE, thread=thread)]), "--output", "tracee")
    assert status == 0
    lines = out.split("\n")
    assert lines[:2] == ["", "*** Detection ***"] and len(lines) == 9 and lines[8] == ""
    assert [line.split(":", 1)[0] for line in lines[2:8]] == [
        "Time", "Signature ID", "Signature", "Data", "Command", "Hostname"]
    assert raw_controls(out.replace("\n", "")) == []
    assert unescape(lines[6]) == "Command: ca\nt\x1b[2J"
    assert unescape(between(lines[5], "fd.name:", " proc.cmdline:")) == FILE


def test_a_rules_own_multi_line_output_stays_one_line(tmp_path: Path) -> None:
    rules = RULES.replace("  output: opened (cmdline=%proc.cmdline file=%fd.name name=%proc.name)\n",
                          "  output: |\n    opened\n    by %proc.name\n")
    status, out, _ = cli(*setup_files(tmp_path, [open_file("/etc/passwd")], rules))
    assert status == 0 and out.count("\n") == 1
    assert ": Warning opened\\nby cat container_id=host" in out


def test_falcoishs_own_alerts_stay_one_line(tmp_path: Path) -> None:
    """The rate-limit summary quotes rule names; a rule name with a newline (YAML allows it)
    must not split that alert either."""
    rules = RULES.replace("- rule: Hostile open", '- rule: "Evil\\nname"')
    status, out, _ = cli(*setup_files(tmp_path, [open_file(f"/tmp/{n}") for n in range(5)], rules),
                         "-o", "outputs.rate=0.001", "-o", "outputs.max_burst=1")
    assert status == 0
    assert [line.split(": ", 1)[1] for line in out.splitlines()][1:] == [
        "Warning 4 alerts suppressed by rate limit: rule Evil\\nname: 4"]


# -- falcoish tail on files it did not write -----------------------------------------------

def test_tail_escapes_raw_controls_a_file_holds(tmp_path: Path) -> None:
    log = tmp_path / "old.log"
    old_json = orjson.dumps({"output": "12:00:00.000000000: Critical x\x1b]0;t\x07 \u202eevil",
                             "priority": "Critical", "rule": "R", "time": "2024-01-01T00:00:00Z",
                             "output_fields": {"fd.name": "a\u202eb\x1b[2J"}}).decode()
    log.write_bytes(b"plain log\x1b[2J line\r with CR\n"
                    b"12:00:00.000000000: Warning hi\x1b[31m \x9b\x00\r\n" + old_json.encode() + b"\n")
    status, out, _ = cli("tail", "--no-follow", "--color", "never", str(log))
    assert status == 0 and raw_controls(out.replace("\n", "")) == []
    assert out.splitlines() == ["plain log\\x1b[2J line\\r with CR",
                                "12:00:00.000000000: Warning hi\\x1b[31m \ufffd\\x00",
                                "12:00:00.000000000: Critical [R] x\\x1b]0;t\\x07 \\u202eevil"]
    status, out, _ = cli("tail", "--no-follow", "--json", "--min-priority", "critical", str(log))
    assert status == 0 and raw_controls(out.replace("\n", "")) == []
    alert = orjson.loads(out)
    assert alert["output"] == "12:00:00.000000000: Critical x\\x1b]0;t\\x07 \\u202eevil"
    assert alert["output_fields"] == {"fd.name": "a\u202eb\x1b[2J"}       # true values kept


def test_tail_json_on_a_text_file_prints_only_json(tmp_path: Path) -> None:
    log = tmp_path / "text.log"
    log.write_text("falcoish starting\nanother log line\n"
                   "12:00:00.000000000: Warning shell ran (user=root)\n")
    proc = subprocess_cli("tail", "--no-follow", "--json", str(log))
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert [orjson.loads(line)["output"] for line in lines] == [
        "12:00:00.000000000: Warning shell ran (user=root)"]
    assert f"{log}: skipping lines that are not JSON" in proc.stderr
    assert "2 lines skipped: not JSON" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("follow", [False, True])
def test_tail_on_a_directory_is_one_line_exit_2(tmp_path: Path, follow: bool) -> None:
    proc = subprocess_cli("tail", *([] if follow else ["--no-follow"]), str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"falcoish tail: {tmp_path}: Is a directory"]
    assert proc.stdout == ""


def test_tail_reads_a_pipe_that_is_not_utf8() -> None:
    proc = subprocess.run([*FALCOISH, "tail", "-"], cwd=ROOT, input=b"a\xff\x1b[2Jb\n",
                          capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "a\ufffd\\x1b[2Jb\n".encode()


# -- the property: any value, every channel format ----------------------------------------

#: characters that stress the escaping: its escape letters, backslash, C0, DEL, C1 (NEL, CSI),
#: line separator, bidi override, and a near miss (U+2030)
TRICKY = "\\nrtxu0\x00\n\r\t\x1b\x7f\x85\x9b\u2028\u202e\u2066\u2030"
#: any Unicode text except surrogates (which JSON cannot carry), the tricky characters often
VALUE = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(VALUE, st.lists(VALUE, max_size=3), VALUE, VALUE), min_size=1, max_size=4))
def test_any_field_value_gives_one_clean_line_and_true_json(values: list[tuple[str, list[str], str, str]]) -> None:
    records = []
    for comm, args, name, user in values:
        rec = open_file(name, thread=process(comm, args))
        rec["user"]["name"] = user
        records.append(rec)
    rules = RULES.replace("name=%proc.name)", "name=%proc.name user=%user.name)")
    with tempfile.TemporaryDirectory() as tmp:
        run = setup_files(Path(tmp), records, rules)
        status, out, _ = cli(*run)
        assert status == 0
        lines = out.split("\n")
        assert lines.pop() == "" and len(lines) == len(values)
        for line in lines:
            assert raw_controls(line) == [] and line.splitlines() == [line]
        status, out, _ = cli(*run, "--json")
    assert status == 0
    # JSON alerts are one line each by any line-splitting rule, with nothing raw in them
    json_lines = out.splitlines()
    assert all(raw_controls(line) == [] for line in json_lines)
    alerts = [orjson.loads(line) for line in json_lines]
    assert len(alerts) == len(values)
    for alert, (comm, args, name, user), line in zip(alerts, values, lines):
        fields = alert["output_fields"]
        assert fields["proc.name"] == comm and fields["fd.name"] == name and fields["user.name"] == user
        assert fields["proc.cmdline"] == (f"{comm} {' '.join(args)}" if args else comm)
        assert alert["output"] == line and raw_controls(alert["output"]) == []


@settings(max_examples=1000)
@given(st.lists(st.text(st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(TRICKY + "\ud800")),
                        max_size=20), min_size=1, max_size=4))
def test_escaped_values_read_back_exactly_even_side_by_side(parts: list[str]) -> None:
    """The escaping is unambiguous: values (surrogates included) written one after the other
    read back as exactly what they were, so no value can fake the end of another."""
    from falcoish.output.format import escape_value
    escaped = [escape_value(p) for p in parts]
    assert all(raw_controls(e) == [] for e in escaped)
    assert unescape("".join(escaped)) == "".join(parts)
