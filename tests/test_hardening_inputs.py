"""Issue 12 (defects 5, 6, 7, 8, 10): what falcoish does with inputs that are wrong or hostile.

An emptied rules file during a run, wrong-typed fields inside an event's sections, the
metrics endpoint's address and port, rules and config files other users can write (as root),
and replay streams built to take memory: each through the `falcoish` command.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from falcoish.cli.main import main
from falcoish.events.schema import CONTAINER, FD, GROUP, THREAD, USER, Table

from .eventkit import exec_process, open_file
from .test_reload_and_metrics import RULE_A, RULE_B, Falcoish, _free_port, _touch_newer

DOCS = Path(__file__).resolve().parent.parent / "docs"
REPO = Path(__file__).resolve().parent.parent
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the file checks apply to root only")

RULES = """\
- rule: Shell run
  desc: a shell ran
  condition: evt.type = execve and proc.name = bash
  output: shell ran (cmdline=%proc.cmdline)
  priority: warning
- rule: Shadow read
  desc: shadow read
  condition: evt.type = openat and fd.name = /etc/shadow
  output: shadow read by %proc.name
  priority: error
"""


def _lines(path: Path, records: list[Any]) -> str:
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in records))
    return str(path)


def _cli(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *args], input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


# -- 5: an emptied rules file is refused by hot reload --------------------------------------

def test_emptied_rules_file_during_run_keeps_the_rules_and_raises_an_internal_alert(tmp_path: Path) -> None:
    rules = tmp_path / "local.yaml"
    rules.write_text(RULE_A + RULE_B)
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--watch", "on")
    try:
        f.send(exec_process("aaa"))
        assert f.alert()["rule"] == "Rule A"

        _touch_newer(rules, "")                           # `: > local.yaml`
        f.wait_log("rules reload refused")
        refused = f.alert()
        assert refused["rule"] == "Falco internal: hot restart failure" and refused["priority"] == "Critical"
        assert "would leave 0 of the 2 enabled rules" in refused["output"]
        assert refused["output_fields"]["rules.before"] == 2 and refused["output_fields"]["rules.after"] == 0
        f.send(exec_process("bbb"))                       # detection goes on with the old rules
        assert f.alert()["rule"] == "Rule B"

        _touch_newer(rules, RULE_B)                       # half of the rules is not "too few"
        f.wait_log("rules reloaded")
        reloaded = f.alert()
        assert reloaded["rule"] == "Falco internal: rules reloaded" and reloaded["priority"] == "Informational"
        assert (reloaded["output_fields"]["rules.before"], reloaded["output_fields"]["rules.after"]) == (2, 1)
        f.send(exec_process("aaa"))
        f.send(exec_process("bbb"))
        assert f.alert()["rule"] == "Rule B"
    finally:
        assert f.finish() == 0
    assert any("rules reload refused" in line and "rules_after=0" in line for line in f.err_lines)


def test_allow_rules_shrink_lets_an_emptied_file_through_with_a_warning(tmp_path: Path) -> None:
    rules = tmp_path / "local.yaml"
    rules.write_text(RULE_A + RULE_B)
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--watch", "on", "--allow-rules-shrink")
    try:
        f.send(exec_process("aaa"))                       # replay from a pipe starts with its first line
        assert f.alert()["rule"] == "Rule A"
        _touch_newer(rules, "")
        f.wait_log("rules reloaded")
        reloaded = f.alert()
        assert reloaded["rule"] == "Falco internal: rules reloaded" and reloaded["priority"] == "Warning"
        assert reloaded["output_fields"]["rules.after"] == 0
        f.send(exec_process("aaa"))
        f.send(exec_process("bbb"))
        time.sleep(1.0)
        assert f.out.empty()                              # the operator asked for no rules
    finally:
        assert f.finish() == 0


# -- 6: wrong-typed fields inside sections are bad records ----------------------------------

def _with(rec: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    rec[section][key] = value
    return rec


def test_wrong_typed_nested_fields_are_counted_and_skipped_with_their_record_number(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    bad_ancestor = exec_process("bash")
    bad_ancestor["ancestors"][1]["exe"] = 3
    bad_mount = exec_process("bash", container={"id": "3ad7b26ded6d", "mounts": [{"source": 1, "dest": "/"}]})
    shared_bad = {"def": 7, "value": {"pid": 1, "comm": ["bash"]}}
    events = _lines(tmp_path / "e.jsonl", [
        exec_process("bash"),                                              # 1: fine
        _with(exec_process("bash"), "thread", "comm", 5),                  # 2
        _with(open_file("/etc/shadow"), "fd", "name", 7),                  # 3
        _with(exec_process("bash"), "thread", "args", "abc"),              # 4
        bad_ancestor,                                                      # 5
        _with(exec_process("bash"), "user", "uid", "0"),                   # 6
        bad_mount,                                                         # 7
        _with(open_file("/etc/shadow"), "fd", "is_server", "yes"),         # 8
        {**exec_process("bash"), "resolved": {"uid": 0}},                  # 9
        shared_bad,                                                        # 10: a definition
        {**exec_process("bash"), "thread": 7},                             # 11: names it
        _with(exec_process("bash"), "thread", "comm", None),               # 12: null = absent: fine
        open_file("/etc/shadow"),                                          # 13: fine
    ])
    assert main(["run", "--no-defaults", "-r", rules, "-e", events]) == 0
    out, err = capsys.readouterr()
    expected = {
        2: "'thread.comm' must be a string, got int",
        3: "'fd.name' must be a string, got int",
        4: "'thread.args' must be an array of strings, got str",
        5: "'ancestors[1].exe' must be a string, got int",
        6: "'user.uid' must be an integer, got str",
        7: "'container.mounts[0].source' must be a string, got int",
        8: "'fd.is_server' must be a boolean, got str",
        9: "'resolved.uid' must be a string, got int",
        10: "shared section 7: 'value.comm' must be a string, got list",
        11: "'thread' refers to shared section 7, which no earlier record defines",
    }
    for number, reason in expected.items():
        assert f"{events}:{number}: skipped: {reason}\n" in err, (number, err)
    assert "Bad records skipped: 10" in err and "Events processed: 3" in err
    assert [line.split(": ", 1)[1].split(" ", 1)[0] for line in out.splitlines()] == ["Warning", "Error"]


def test_a_list_item_of_the_wrong_type_is_named_by_its_index(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    events = _lines(tmp_path / "e.jsonl", [_with(exec_process("bash"), "thread", "env", ["A=1", 2])])
    assert main(["run", "--no-defaults", "-r", rules, "-e", events]) == 0
    err = capsys.readouterr().err
    assert f"{events}:1: skipped: 'thread.env[1]' must be a string, got int" in err
    assert "Bad records skipped: 1" in err


def _kinds(schema: dict[str, Any], name: str) -> dict[str, str]:
    """key -> JSON type of a section's properties in event.schema.json."""
    out = {}
    for key, spec in schema["$defs"][name]["properties"].items():
        if "enum" in spec:
            out[key] = "string"
        elif spec.get("type") == "array":
            item = spec.get("items", {}).get("type")
            out[key] = f"array of {item}s" if item else "array"
        else:
            out[key] = spec.get("type", "any")
    return out


def _table_kinds(table: Table) -> dict[str, str]:
    names = {int: "integer", str: "string", bool: "boolean"}
    special = {"args": "array of strings", "env": "array of strings", "mounts": "array of objects", "fds": "array of objects",
               "cgroups": "array of strings",
               "labels": "object"}
    return {key: names[want] if isinstance(want, type) else special[key] for key, want in table.items()}


def test_the_checked_types_are_those_of_the_json_schema() -> None:
    schema = json.loads((DOCS / "event.schema.json").read_text("utf-8"))
    for name, table in (("thread", THREAD), ("fd", FD), ("user", USER), ("group", GROUP),
                        ("container", CONTAINER)):
        documented = {k: v for k, v in _kinds(schema, name).items() if v != "any"}
        assert documented == _table_kinds(table), name
    assert set(THREAD) <= set(schema["$defs"]["thread"]["properties"])


# -- 7: the metrics endpoint ----------------------------------------------------------------

def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} write them) listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hexport = local.split(":")
            if int(hexport, 16) == port and state == "0A":
                found.append(address)
    return found


def _scrape(port: int, host: str = "127.0.0.1") -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            return str(urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2).read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("extra,address", [([], "0100007F"), (["--metrics-address", "0.0.0.0"], "00000000"),
                                           (["-o", "metrics.listen_address=0.0.0.0"], "00000000")])
def test_metrics_listen_on_loopback_unless_told_otherwise(tmp_path: Path, extra: list[str], address: str) -> None:
    rules = _lines(tmp_path / "r.yaml", [RULE_A])
    port = _free_port()
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--metrics-port", str(port), *extra)
    try:
        f.send(exec_process("aaa"))
        f.alert()
        assert "falcoish_events_total" in _scrape(port)
        assert _listening(port) == [address]
    finally:
        assert f.finish() == 0


def test_metrics_port_from_the_config_file(tmp_path: Path) -> None:
    rules = _lines(tmp_path / "r.yaml", [RULE_A])
    port = _free_port()
    config = _lines(tmp_path / "falcoish.yaml", [f"metrics:\n  listen_port: {port}\n"])
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "-c", config)
    try:
        f.send(exec_process("aaa"))
        f.alert()
        assert 'falcoish_alerts_total{priority="Warning",rule="Rule A"} 1.0' in _scrape(port)
        assert _listening(port) == ["0100007F"]
    finally:
        assert f.finish() == 0


def test_metrics_port_taken_or_invalid_is_one_line_and_exit_2(tmp_path: Path) -> None:
    rules = _lines(tmp_path / "r.yaml", [RULE_A])
    events = _lines(tmp_path / "e.jsonl", [exec_process("aaa")])
    base = ["run", "--no-defaults", "-r", rules, "-e", events]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _cli(*base, "--metrics-port", str(port))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"falcoish: cannot serve metrics on 127.0.0.1:{port}: Address already in use" in proc.stderr
    assert proc.stdout == ""                              # stopped before reading an event
    usage = [   # flags: argparse's usage line(s), then the error
        (["--metrics-port", "70000"], "argument --metrics-port: a TCP port is 1-65535, got 70000"),
        (["--metrics-port", "http"], "argument --metrics-port: expected a TCP port number, got 'http'"),
        (["--metrics-port", str(port), "--metrics-address", "not an address!"],
         "argument --metrics-address: expected an IP address or a host name, got 'not an address!'"),
    ]
    one_line = [
        (["-o", "metrics.listen_port=65536"],
         "falcoish: -o metrics.listen_port=65536: key 'metrics.listen_port': must be a TCP port (1-65535) or 0, "
         "got 65536"),
        (["-o", f"metrics.listen_port={port}", "-o", "metrics.listen_address=-x"],
         "key 'metrics.listen_address': expected an IP address or a host name, got '-x'"),
        (["--metrics-port", str(port), "--metrics-address", "192.0.2.1"],
         f"falcoish: cannot serve metrics on 192.0.2.1:{port}: Cannot assign requested address"),
        (["--metrics-port", str(port), "--metrics-address", "no-such-host.invalid"],
         f"falcoish: cannot serve metrics on no-such-host.invalid:{port}: "),
        (["--metrics-port", str(port), "--metrics-address", "::1"], None),   # IPv6, when the host has it
    ]
    for extra, message in usage + one_line:
        proc = _cli(*base, *extra)
        if message is None:
            assert proc.returncode == 0 or f"cannot serve metrics on [::1]:{port}: " in proc.stderr, proc.stderr
            continue
        assert proc.returncode == 2, (extra, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (extra, proc.stderr)
        assert proc.stdout == ""
        if (extra, message) in one_line:       # (after the start lines: banner, rules files)
            said = [line for line in proc.stderr.strip().splitlines() if not line.startswith(START_LINES)]
            assert len(said) == 1, proc.stderr


START_LINES = ("falcoish version: ", "Configuration: ", "Loading rules from file ", "Rules: ", "Events: ")


# -- 8: files other users can change are refused as root ------------------------------------

@ROOT_ONLY
def test_world_writable_rules_file_and_folder_are_refused_as_root(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    os.chmod(rules, 0o666)
    events = _lines(tmp_path / "e.jsonl", [exec_process("bash")])
    proc = _cli("run", "--no-defaults", "-r", str(rules), "-e", events)
    assert proc.returncode == 1 and proc.stdout == ""
    assert (f"{rules}:0:0: error LOAD_ERR_FILE_PERMISSIONS: rules file {rules} is writable by its group and "
            f"every user (mode 0666)") in proc.stderr
    assert f"Fix: chmod go-w {rules} (or pass --allow-insecure-files)" in proc.stderr
    proc = _cli("run", "--no-defaults", "-r", str(rules), "-e", events, "--allow-insecure-files")
    assert proc.returncode == 0 and "Warning shell ran" in proc.stdout, proc.stderr
    assert _cli("validate", "--no-defaults", "-r", str(rules)).returncode == 1

    os.chmod(rules, 0o644)
    os.chown(rules, 1000, 1000)
    proc = _cli("validate", "--no-defaults", "-r", str(rules))
    assert proc.returncode == 1 and "is owned by" in proc.stderr + proc.stdout
    assert f"(uid 1000), not root" in proc.stdout and f"Fix: chown root {rules}" in proc.stdout
    os.chown(rules, 0, 0)

    folder = tmp_path / "rules.d"
    folder.mkdir()
    (folder / "a.yaml").write_text(RULES)
    os.chmod(folder, 0o777)
    proc = _cli("run", "--no-defaults", "-r", str(folder), "-e", events)
    assert proc.returncode == 1 and f"rules folder {folder} is writable" in proc.stderr
    os.chmod(folder, 0o755)
    os.chmod(folder / "a.yaml", 0o620)
    proc = _cli("run", "--no-defaults", "-r", str(folder), "-e", events)
    assert proc.returncode == 1 and f"rules file {folder / 'a.yaml'} is writable by its group (mode 0620)" in proc.stderr
    os.chmod(folder / "a.yaml", 0o644)
    proc = _cli("run", "--no-defaults", "-r", str(folder), "-e", events)
    assert proc.returncode == 0 and "Warning shell ran" in proc.stdout, proc.stderr


@ROOT_ONLY
def test_world_writable_config_file_is_refused_as_root(tmp_path: Path) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    events = _lines(tmp_path / "e.jsonl", [exec_process("bash")])
    config = tmp_path / "falcoish.yaml"
    owned = tmp_path / "owned"
    config.write_text(f"program_output:\n  enabled: true\n  program: touch {owned}\njson_output: true\n")
    os.chmod(config, 0o666)
    proc = _cli("run", "--no-defaults", "-r", rules, "-e", events, "-c", str(config))
    assert proc.returncode == 2 and proc.stdout == "" and not owned.exists()
    assert (f"falcoish: {config}: config file {config} is writable by its group and every user (mode 0666) and "
            f"falcoish runs as root") in proc.stderr
    assert f"Fix: chmod go-w {config} (or pass --allow-insecure-files)" in proc.stderr
    config.write_text("json_output: true\n")
    os.chmod(config, 0o666)
    proc = _cli("run", "--no-defaults", "-r", rules, "-e", events, "-c", str(config), "--allow-insecure-files")
    assert proc.returncode == 0 and json.loads(proc.stdout)["rule"] == "Shell run", proc.stderr


@ROOT_ONLY
def test_a_rules_file_made_world_writable_during_a_run_is_not_reloaded(tmp_path: Path) -> None:
    rules = tmp_path / "local.yaml"
    rules.write_text(RULE_A)
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--watch", "on")
    try:
        f.send(exec_process("aaa"))
        assert f.alert()["rule"] == "Rule A"
        os.chmod(rules, 0o666)
        _touch_newer(rules, RULE_B)
        f.wait_log("rules reload failed")
        refused = f.alert()
        assert refused["rule"] == "Falco internal: hot restart failure"
        assert "LOAD_ERR_FILE_PERMISSIONS" in refused["output"] and "chmod go-w" in refused["output"]
        f.send(exec_process("aaa"))
        assert f.alert()["rule"] == "Rule A"
    finally:
        assert f.finish() == 0


# -- 10: bounded memory for shared sections and lines ---------------------------------------

def _thread(i: int) -> dict[str, Any]:
    return {"pid": i, "tid": i, "comm": "bash", "exe": "bash", "args": [f"-{i}"]}


def test_shared_sections_beyond_the_limit_are_dropped_and_their_events_counted_bad(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    n, keep = 5000, 100          # more drops than the reader remembers (4096)
    base = exec_process("bash")
    lines: list[Any] = [{"def": i, "value": _thread(i)} for i in range(1, n + 1)]
    lines += [{**base, "thread": i} for i in range(1, n + 1)]
    events = _lines(tmp_path / "e.jsonl", lines)
    assert main(["run", "--no-defaults", "-r", rules, "-e", events, "-o",
                 f"replay.max_shared_sections={keep}"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == keep                  # the last `keep` definitions are kept
    assert f"Bad records skipped: {n - keep}" in err and f"Events processed: {keep}" in err
    # section 4900 was dropped when section 5000 was defined, at line 5000
    assert (f"{events}:{n + 4900}: skipped: 'thread' refers to shared section 4900, which was dropped at line "
            f"5000 to keep at most {keep} shared sections") in err
    # the table remembers only so many drops; beyond them the message still says it may be one
    assert (f"{events}:{n + 1}: skipped: 'thread' refers to shared section 1, which no earlier record "
            f"defines, or which was dropped to keep within replay.max_shared_sections ({keep})") in err
    assert f"{events}:{n + n - keep + 1}: skipped" not in err


def test_shared_section_bytes_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    big = {"def": 1, "value": {**_thread(1), "env": ["X=" + "a" * 3000]}}
    small = {"def": 2, "value": _thread(2)}
    lines = [big, small, {**exec_process("bash"), "thread": 1}, {**exec_process("bash"), "thread": 2},
             {"def": 3, "value": {**_thread(3), "env": ["X=" + "a" * 6000]}},    # 5: alone too big
             {"def": 4, "value": {**_thread(4), "env": ["X=" + "a" * 2000]}},    # 6: pushes out 1
             {**exec_process("bash"), "thread": 1}, {**exec_process("bash"), "thread": 2},
             {**exec_process("bash"), "thread": 4}]
    events = _lines(tmp_path / "e.jsonl", lines)
    assert main(["run", "--no-defaults", "-r", rules, "-e", events, "-o", "replay.max_shared_bytes=4096"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 4
    assert (f"{events}:5: skipped: shared section 3 is 6" in err
            and "more than all shared sections may take together (replay.max_shared_bytes = 4096)" in err)
    assert f"{events}:7: skipped: 'thread' refers to shared section 1, which was dropped at line 6" in err
    assert "Bad records skipped: 2" in err


def test_an_over_long_line_is_a_bad_record_and_numbering_goes_on(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    huge = '{"pad": "' + "a" * (3 << 20) + '"}\n'
    path = tmp_path / "e.jsonl"
    with open(path, "w") as out:
        out.write(json.dumps(exec_process("bash")) + "\n")
        out.write(huge)                                                     # 2
        out.write(json.dumps({**exec_process("bash"), "tid": "x"}) + "\n")  # 3: numbered right
        out.write(json.dumps(open_file("/etc/shadow")) + "\n")
        out.write("b" * (2 << 20))                                          # 5: no newline at the end
    assert main(["run", "--no-defaults", "-r", rules, "-e", str(path), "-o", "replay.max_line_bytes=1048576"]) == 0
    out_text, err = capsys.readouterr()
    assert f"{path}:2: skipped: line is longer than 1048576 bytes (replay.max_line_bytes): not read" in err
    assert f"{path}:3: skipped: 'tid' must be an integer" in err
    assert f"{path}:5: skipped: line is longer than 1048576 bytes" in err
    assert "Bad records skipped: 3" in err and "Events processed: 2" in err
    assert len(out_text.splitlines()) == 2


def test_a_line_exactly_at_the_limit_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _lines(tmp_path / "rules.yaml", [RULES])
    rec = exec_process("bash")
    text = json.dumps(rec)
    rec["pad"] = "a" * (2048 - len(text) - len(', "pad": ""'))
    line = json.dumps(rec)
    assert len(line) == 2048
    path = tmp_path / "e.jsonl"
    path.write_text(line)                                  # the last line, no newline: exactly 2048 bytes
    assert main(["run", "--no-defaults", "-r", rules, "-e", str(path), "-o", "replay.max_line_bytes=2048"]) == 0
    out, err = capsys.readouterr()
    assert "Bad records skipped: 0" in err and "Events processed: 1" in err, err


def test_replay_limits_are_checked_config_keys(tmp_path: Path) -> None:
    events = _lines(tmp_path / "e.jsonl", [exec_process("bash")])
    proc = _cli("run", "--no-defaults", "-r", _lines(tmp_path / "r.yaml", [RULES]), "-e", events,
                "-o", "replay.max_line_bytes=10")
    assert proc.returncode == 2
    assert "-o replay.max_line_bytes=10: key 'replay.max_line_bytes': must be >= 1024, got 10" in proc.stderr
