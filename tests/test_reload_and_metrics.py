"""Hot reload during a replay from a pipe, and the Prometheus endpoint, through the CLI."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from .eventkit import exec_process

RULE_A = """\
- rule: Rule A
  desc: a ran
  condition: evt.type = execve and proc.name = aaa
  output: A ran %proc.name
  priority: warning
"""
RULE_B = """\
- rule: Rule B
  desc: b ran
  condition: evt.type = execve and proc.name = bbb
  output: B ran %proc.name
  priority: error
"""


class Falcoish:
    """A `falcoish run -e -` subprocess fed through its stdin, read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "falcoish.cli.main", "run", "-e", "-", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str] | None, q: "queue.Queue[str]") -> None:
        assert stream is not None
        for line in stream:
            q.put(line)

    def send(self, record: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(record) + "\n")
        self.proc.stdin.flush()

    def alert(self, timeout: float = 10.0) -> dict[str, Any]:
        return json.loads(self.out.get(timeout=timeout))

    def wait_log(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.err.get(timeout=0.2)
            except queue.Empty:
                continue
            self.err_lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no log line with {text!r}; stderr so far: {''.join(self.err_lines)}")

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=20)


def _touch_newer(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text)
    while path.stat().st_mtime_ns == before:      # coarse clocks: make the change visible
        time.sleep(0.01)
        path.write_text(text)


def test_edited_rules_reload_during_replay_and_broken_edit_keeps_old_rules(tmp_path: Path) -> None:
    rules = tmp_path / "local.yaml"
    rules.write_text(RULE_A)
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--watch", "on")
    try:
        f.send(exec_process("aaa"))
        assert f.alert()["rule"] == "Rule A"

        _touch_newer(rules, RULE_A + RULE_B)
        f.wait_log("rules reloaded")
        reloaded = f.alert()        # every reload that goes through is an internal alert
        assert reloaded["rule"] == "Falco internal: rules reloaded" and reloaded["priority"] == "Informational"
        assert reloaded["output_fields"]["rules.before"] == 1 and reloaded["output_fields"]["rules.after"] == 2
        f.send(exec_process("bbb"))
        assert f.alert()["rule"] == "Rule B"

        _touch_newer(rules, RULE_A + RULE_B + "- rule: Broken\n  desc: d\n  condition: evt.type = execve and and (\n"
                            "  output: o\n  priority: info\n")
        f.wait_log("rules reload failed")
        internal = f.alert()
        assert internal["rule"] == "Falco internal: hot restart failure" and internal["priority"] == "Critical"
        assert "local.yaml:13" in internal["output"]
        assert any("reload rejected" in line and "local.yaml:13" in line for line in f.err_lines)
        f.send(exec_process("aaa"))
        f.send(exec_process("bbb"))
        assert [f.alert()["rule"], f.alert()["rule"]] == ["Rule A", "Rule B"]
    finally:
        assert f.finish() == 0


def test_sighup_reloads_without_watching(tmp_path: Path) -> None:
    rules = tmp_path / "local.yaml"
    rules.write_text(RULE_A)
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--watch", "off")
    try:
        f.send(exec_process("aaa"))
        assert f.alert()["rule"] == "Rule A"
        rules.write_text(RULE_B)
        time.sleep(1.5)                      # no watching: nothing happens by itself
        f.send(exec_process("bbb"))
        f.send(exec_process("aaa"))
        assert f.alert()["rule"] == "Rule A"
        f.proc.send_signal(signal.SIGHUP)
        f.wait_log("rules reloaded")
        assert f.alert()["rule"] == "Falco internal: rules reloaded"
        f.send(exec_process("bbb"))
        assert f.alert()["rule"] == "Rule B"
    finally:
        assert f.finish() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_endpoint_counts_events_alerts_and_channels(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(RULE_A)
    port = _free_port()
    f = Falcoish("--no-defaults", "-r", str(rules), "--json", "--metrics-port", str(port))
    try:
        for name in ("aaa", "aaa", "zzz"):
            f.send(exec_process(name))
        f.alert()
        f.alert()
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if 'falcoish_events_total{type="execve"} 3.0' in text:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'falcoish_events_total{type="execve"} 3.0' in text
        assert 'falcoish_alerts_total{priority="Warning",rule="Rule A"} 2.0' in text
        assert 'falcoish_output_alerts_total{channel="stdout",outcome="sent"}' in text
        assert "falcoish_rule_evaluation_seconds_bucket" in text
        assert 'falcoish_dropped_events_total{where="kernel"} 0.0' in text
    finally:
        assert f.finish() == 0
