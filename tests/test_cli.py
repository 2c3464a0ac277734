"""The `falcoish` command as a user runs it."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from falcoish.cli.main import main

from .eventkit import exec_process, open_file

RULES = """\
- macro: spawned
  condition: evt.type = execve
- rule: Shell run
  desc: a shell ran
  condition: spawned and proc.name = bash
  output: shell ran (cmdline=%proc.cmdline parent=%proc.pname user=%user.name)
  priority: warning
  tags: [shell, T1059]
- rule: Shadow read
  desc: shadow read
  condition: evt.type = openat and fd.name = /etc/shadow
  output: shadow read by %proc.name flags=%evt.arg.flags
  priority: error
  tags: [files]
- rule: Quiet
  desc: low priority
  condition: evt.type = openat and fd.name = /tmp/x
  output: quiet
  priority: debug
  enabled: false
"""


@pytest.fixture()
def rules(tmp_path: Path) -> str:
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    return str(p)


def write_events(path: Path, records: list, gz: bool = False) -> str:
    text = "".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in records)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


def test_run_replays_and_prints_falco_text_alerts(rules: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = write_events(tmp_path / "e.jsonl", [exec_process("bash", ["-i"]), open_file("/etc/shadow"), exec_process("ls")])
    assert main(["run", "--no-defaults", "-r", rules, "-e", events]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert ": Warning shell ran (cmdline=bash -i parent=bash user=root)" in lines[0]
    assert ": Error shadow read by cat flags=O_RDONLY" in lines[1]
    assert "Events processed: 3" in err and "Alerts: 2" in err


def test_run_json_alerts_have_falcos_shape(rules: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = write_events(tmp_path / "e.jsonl.gz", [open_file("/etc/shadow")], gz=True)
    assert main(["run", "--no-defaults", "-r", rules, "-e", events, "--json"]) == 0
    alert = json.loads(capsys.readouterr().out)
    assert set(alert) == {"time", "rule", "priority", "source", "tags", "output", "output_fields", "hostname"}
    assert alert["rule"] == "Shadow read" and alert["priority"] == "Error" and alert["source"] == "syscall"
    assert alert["tags"] == ["files"]
    assert alert["output_fields"]["proc.name"] == "cat"
    assert alert["output_fields"]["container.image.repository"] is None
    assert alert["time"].endswith("Z")


def test_bad_records_are_reported_with_number_counted_and_skipped(rules: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    wrong_type = exec_process("bash")
    wrong_type["tid"] = "x"
    missing = open_file("/etc/shadow")
    del missing["type"]
    events = write_events(tmp_path / "e.jsonl", ["not json\n", wrong_type, missing, "[1, 2]\n", exec_process("bash")])
    assert main(["run", "--no-defaults", "-r", rules, "-e", events]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1
    assert f"{events}:1: skipped:" in err
    assert f"{events}:2: skipped: 'tid' must be an integer" in err
    assert f"{events}:3: skipped: missing required key 'type'" in err
    assert f"{events}:4: skipped:" in err
    assert "Bad records skipped: 4" in err and "Events processed: 1" in err


def test_run_reads_stdin(rules: str, tmp_path: Path) -> None:
    data = json.dumps(exec_process("bash")) + "\n"
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "run", "--no-defaults", "-r", rules, "-e", "-"],
                          input=data, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Warning shell ran" in proc.stdout


def test_selection_options(rules: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = write_events(tmp_path / "e.jsonl", [exec_process("bash"), open_file("/etc/shadow"), open_file("/tmp/x")])
    cases = {
        ("-D", "Shell"): ["Shadow read"],
        ("-T", "files"): ["Shell run"],
        ("-t", "shell"): ["Shell run"],
        ("--rule", "Quiet"): ["Quiet"],
        ("--min-priority", "error"): ["Shadow read"],
    }
    for opts, expected in cases.items():
        assert main(["run", "--no-defaults", "-r", rules, "-e", events, "--json", *opts]) == 0
        fired = [json.loads(line)["rule"] for line in capsys.readouterr().out.splitlines()]
        assert fired == expected, opts


def test_validate_exit_codes_and_json(rules: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-defaults", "-r", rules]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("fd.name = /etc/shadow", "fd.nme = /etc/shadow"))
    assert main(["validate", "--no-defaults", "-r", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (error,) = report["errors"]
    assert {"code", "message", "file", "line", "column", "item"} <= set(error)
    assert error["file"] == str(bad) and error["line"] == 11 and error["item"] == "Shadow read"
    assert "fd.nme" in error["message"]


def test_rules_lists_name_priority_enabled(rules: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--no-defaults", "-r", rules]) == 0
    out = capsys.readouterr().out
    assert "Shell run" in out and "Warning" in out and "3 rules, 2 enabled" in out
    assert main(["rules", "--no-defaults", "-r", rules, "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["rule"], r["enabled"]) for r in listed] == [("Shell run", True), ("Shadow read", True), ("Quiet", False)]


def test_events_prints_needed_types(rules: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--no-defaults", "-r", rules]) == 0
    assert capsys.readouterr().out.strip() == "execve,openat"
    assert main(["events", "--no-defaults", "-r", rules, "-t", "files"]) == 0
    assert capsys.readouterr().out.strip() == "openat"


def test_events_kernel_filter_prints_the_filter_and_what_keeps_a_type_open(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules_file = tmp_path / "kf.yaml"
    rules_file.write_text(
        "- rule: shadow read\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow"
        " and not proc.name in (login, su)\n  output: o\n  priority: WARNING\n"
        "- rule: container unlink\n  desc: d\n  condition: evt.type = unlinkat and container.id != host\n"
        "  output: o\n  priority: WARNING\n")
    assert main(["events", "--no-defaults", "-r", str(rules_file), "--kernel-filter"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^openat: 1 rule\(s\): pass when any of 1 term\(s\) holds", out, re.M), out
    assert "fd.name = /etc/shadow and not proc.name in (login, su)" in out, out
    assert re.search(r"^unlinkat: 1 rule\(s\): WIDE OPEN", out, re.M), out
    assert "rule 'container unlink': container.id != host" in out, out
    assert "always sent (process lifecycle" not in out      # no lifecycle type is rule-wanted here


def test_fields_lists_supported_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fields"]) == 0
    out = capsys.readouterr().out
    assert "proc.aname" in out and "fd.typechar" in out and "evt.type" in out


def test_without_live_capture_run_says_why_and_replays_bundled_trace(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import falcoish.sources.live.setup as live_setup
    monkeypatch.setattr(live_setup, "check_live_support", lambda: "no BPF in this test")
    assert main(["run"]) == 0
    out, err = capsys.readouterr()
    assert "live capture is not possible here: no BPF in this test" in err
    assert "bundled sample trace" in err
    assert "Credential file opened for reading" in out
    assert "Bad records skipped: 0" in err


def test_an_alert_burst_reaches_stdout_without_overflowing_to_the_spool(tmp_path: Path) -> None:
    """Alerts on a third of the events: the stdout channel's thread must keep up with the
    detection thread instead of waiting out the interpreter's switch interval after each
    write (before, about half of such a burst went to the spool)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from synthetic import generate
    events = tmp_path / "burst.jsonl"
    events.write_bytes(b"".join(line + b"\n" for line in generate(60_000, seed=4)))
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "run", "--watch", "off", "-e", str(events),
                           "-o", f"outputs.spool_dir={tmp_path / 'spool'}", "-o", "outputs_queue.capacity=2000"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"^Alerts: (\d+)$", proc.stderr, re.M)
    assert found is not None and int(found.group(1)) > 10_000, proc.stderr
    summary = [line for line in proc.stderr.splitlines() if line.startswith("Output stdout:")]
    assert summary == [f"Output stdout: sent={found.group(1)} retried=0 spooled=0 failed=0 queued=0 spool_pending=0"]
