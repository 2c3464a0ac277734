"""tracee-rules output (`--output tracee`): the `*** Detection ***` block."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from falcoish.events.event import Event
from falcoish.rules.loader import LoadResult
from falcoish.output.format import Alert
from falcoish.output.tracee import format_detection, go_value, signature_id

from .tracee_kit import TS, V, alerts_for, load_default_rules, ptrace, read, records, trc_rules, tracee, write_jsonl


@pytest.fixture(scope="module")
def default_rules() -> LoadResult:
    return load_default_rules()


def test_detection_block(tmp_path: Path, default_rules: LoadResult) -> None:
    if "TRC-2" not in trc_rules(default_rules):
        pytest.skip("no default rule is tagged TRC-2")
    evs, _ = read(write_jsonl(tmp_path / "d.jsonl", [tracee("flat", "ptrace", [
        ("request", "long", "PTRACE_TRACEME"), ("pid", "pid_t", 0)], comm="sample", host="worker-3")]))
    (alert, event), = [(a, e) for a, e in alerts_for(default_rules, evs) if "TRC-2" in a.tags]
    block = format_detection(alert, event, now_ns=1_700_000_000_123_456_789)
    lines = block.split("\n")
    assert lines[:5] == ["", "*** Detection ***", "Time: 2023-11-14T22:13:20Z", "Signature ID: TRC-2",
                         f"Signature: {alert.rule}"]
    assert lines[5].startswith("Data: map[") and lines[5].endswith("]")
    assert "proc.name:sample" in lines[5] and "<nil>" not in lines[5]
    assert lines[6:] == ["Command: sample", "Hostname: worker-3"]


def test_detection_block_command_is_the_callers_name(tmp_path: Path, default_rules: LoadResult) -> None:
    """For the execve syscall Tracee's processName is the caller's (pre-exec) name."""
    evs, _ = read(write_jsonl(tmp_path / "x.jsonl", [tracee("nested", "execve", [
        ("pathname", "const char*", "/usr/bin/id"), ("argv", "const char**", ["id"]),
        ("envp", "const char**", ["LD_PRELOAD=/tmp/x.so"])], comm="bash")]))
    assert evs[0].thread["comm"] == "id"
    pairs = list(alerts_for(default_rules, evs))
    if not pairs:
        pytest.skip("no default rule fires on LD_PRELOAD")
    assert format_detection(*pairs[0], now_ns=0).split("\n")[-2] == "Command: bash"


def test_detection_block_for_non_tracee_events() -> None:
    alert = Alert(TS, "My rule", "Warning", "syscall", ("host", "T1059"), "out",
                  {"proc.name": "cat", "fd.name": None, "evt.rawres": 3}, "my-host")
    event = Event(1, TS, "openat", 1, 3, {}, {"comm": "cat"}, [], None, {}, {}, {})
    block = format_detection(alert, event, now_ns=0)
    assert block.split("\n")[1:] == ["*** Detection ***", "Time: 1970-01-01T00:00:00Z",
                                     "Signature ID: My rule", "Signature: My rule",
                                     "Data: map[evt.rawres:3 proc.name:cat]", "Command: cat",
                                     "Hostname: my-host"]


def test_signature_id_and_go_values() -> None:
    alert = Alert(TS, "r", "Warning", "syscall", ("TRC-14", "TRC-3", "container"), "", {}, "h")
    assert signature_id(alert) == "TRC-3"
    assert (go_value({"b": [1, "x"], "a": True, "c": {"z": None}, "d": 2.0})
            == "map[a:true b:[1 x] c:map[z:<nil>] d:2]")


def test_cli_pipe_tracee_json_to_detection_blocks(tmp_path: Path) -> None:
    """`tracee-ebpf --output json | falcoish run --input tracee -e - --output tracee`."""
    import subprocess
    import sys as _sys
    stream = "".join(orjson.dumps(r).decode() + "\n" for r in records("nested", [ptrace(V("PTRACE_TRACEME", 0), pid=0),
                                                                     ptrace(V("PTRACE_PEEKTEXT", 1))]))
    proc = subprocess.run([_sys.executable, "-m", "falcoish.cli.main", "run", "--input", "tracee",
                           "-e", "-", "--output", "tracee"], input=stream, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("*** Detection ***") == 1
    assert "Signature ID: TRC-2" in proc.stdout
    assert "Events processed: 2" in proc.stderr
