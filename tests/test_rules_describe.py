"""`falcoish rules NAME`: a rule's effective definition after local tuning, and its history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BASE = """\
- list: shell_binaries
  items: [bash, sh, zsh]

- macro: spawned_process
  condition: evt.type = execve and evt.dir = <

- rule: Shell in box
  desc: a shell was started
  condition: spawned_process and proc.name in (shell_binaries)
  output: "Shell started (user=%user.name cmd=%proc.cmdline)"
  priority: WARNING
  tags: [shell, TRC-77]

- rule: Noisy rule
  desc: noisy
  condition: evt.type = openat and fd.name = /etc/hosts
  output: "hosts opened (file=%fd.name)"
  priority: NOTICE
"""

LOCAL = """\
- macro: trusted_parent
  condition: proc.pname = sshd

- list: shell_binaries
  items: [fish]
  override:
    items: append

- rule: Shell in box
  condition: spawned_process and proc.name in (shell_binaries) and not trusted_parent
  override:
    condition: replace

- rule: Shell in box
  exceptions:
    - name: known_scripts
      fields: [proc.cmdline]
      comps: [startswith]
      values: [["bash /opt/ok, really"]]
  override:
    exceptions: append

- rule: Shell in box
  output: "parent=%proc.pname"
  override:
    output: append

- rule: Noisy rule
  desc: noisy, redefined
  condition: evt.type = openat and fd.name = /etc/hostname
  output: "hostname opened (file=%fd.name)"
  priority: NOTICE

- rule: Noisy rule
  enabled: false
  override:
    enabled: replace
"""


def falcoish(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *argv], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def tuned(tmp_path: Path) -> list[str]:
    base, local = tmp_path / "base.yaml", tmp_path / "local.yaml"
    base.write_text(BASE)
    local.write_text(LOCAL)
    return ["--no-defaults", "-r", str(base), "-r", str(local)]


def test_json_shows_effective_definition_and_history(tuned: list[str]) -> None:
    proc = falcoish("rules", "Shell in box", "--json", *tuned)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    base, local = tuned[2], tuned[4]
    assert info["rule"] == "Shell in box" and info["enabled"] is True and info["priority"] == "Warning"
    assert info["condition"] == "spawned_process and proc.name in (shell_binaries) and not trusted_parent"
    expanded = info["condition_expanded"]
    assert "evt.type = execve and evt.dir = <" in expanded
    assert "proc.name in (bash, sh, zsh, fish)" in expanded
    assert "not proc.pname = sshd" in expanded
    assert 'not proc.cmdline startswith "bash /opt/ok, really"' in expanded
    for name in ("spawned_process", "trusted_parent", "shell_binaries"):
        assert name not in expanded
    assert "parent=%proc.pname" in info["output"]
    assert info["exceptions"] == [{"name": "known_scripts", "fields": ["proc.cmdline"], "comps": ["startswith"],
                                   "values": [["bash /opt/ok, really"]]}]
    assert info["history"] == [
        {"file": base, "line": 7, "action": "define", "fields": []},
        {"file": local, "line": 9, "action": "override", "fields": ["condition"]},
        {"file": local, "line": 14, "action": "append", "fields": ["exceptions"]},
        {"file": local, "line": 23, "action": "append", "fields": ["output"]},
    ]
    assert [(m["macro"], m["file"], m["line"]) for m in info["macros"]] == [
        ("spawned_process", base, 4), ("trusted_parent", local, 1)]
    [lst] = info["lists"]
    assert (lst["list"], lst["file"], lst["line"]) == ("shell_binaries", base, 1)
    assert [(h["file"], h["line"], h["action"]) for h in lst["history"]] == [
        (base, 1, "define"), (local, 4, "append")]


def test_text_view_carries_the_same(tuned: list[str]) -> None:
    proc = falcoish("rules", "Shell in box", *tuned)
    assert proc.returncode == 0, proc.stderr
    out, base, local = proc.stdout, tuned[2], tuned[4]
    assert "spawned_process and proc.name in (shell_binaries) and not trusted_parent" in out
    assert "proc.name in (bash, sh, zsh, fish)" in out
    assert "known_scripts" in out and '["bash /opt/ok, really"]' in out
    assert "parent=%proc.pname" in out
    history = out[out.index("history:"):].splitlines()[1:5]
    assert [line.split() for line in history] == [
        [f"{base}:7", "defined"], [f"{local}:9", "override", "condition"],
        [f"{local}:14", "append", "exceptions"], [f"{local}:23", "append", "output"]]
    assert f"trusted_parent  {local}:1" in out
    assert "Noisy rule" not in out


def test_disable_and_redefinition_are_in_the_history(tuned: list[str]) -> None:
    info = json.loads(falcoish("rules", "--json", "Noisy rule", *tuned).stdout)
    base, local = tuned[2], tuned[4]
    assert info["enabled"] is False
    assert info["condition"] == "evt.type = openat and fd.name = /etc/hostname"
    assert [(h["file"], h["line"], h["action"], h["fields"]) for h in info["history"]] == [
        (base, 14, "define", []), (local, 28, "redefine", []), (local, 34, "override", ["enabled"])]


def test_listing_json_gains_definition_and_first_file(tuned: list[str]) -> None:
    proc = falcoish("rules", "--json", *tuned)
    assert proc.returncode == 0, proc.stderr
    rows = {row["rule"]: row for row in map(json.loads, proc.stdout.splitlines())}
    base, local = tuned[2], tuned[4]
    noisy = rows["Noisy rule"]
    assert noisy["file"] == base                      # first definition, though redefined in local
    assert [h["file"] for h in noisy["history"]] == [base, local, local]
    shell = rows["Shell in box"]
    assert shell["condition"].endswith("and not trusted_parent")
    assert "parent=%proc.pname" in shell["output"]
    assert shell["exceptions"][0]["name"] == "known_scripts"
    assert len(shell["history"]) == 4


def test_trc_id_names_the_rule(tuned: list[str]) -> None:
    proc = falcoish("rules", "trc-77", "--json", *tuned)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rule"] == "Shell in box"


def test_unknown_name_exits_2_with_suggestion(tuned: list[str]) -> None:
    proc = falcoish("rules", "Shell in bx", *tuned)
    assert proc.returncode == 2
    assert "no rule named 'Shell in bx'; did you mean 'Shell in box'?" in proc.stderr
    assert proc.stdout == ""
    far = falcoish("rules", "zzzz qqqq", *tuned)
    assert far.returncode == 2 and "no rule named 'zzzz qqqq'" in far.stderr and "did you mean" not in far.stderr


def test_upstream_rule_expands_without_macro_names(corpus_files: list[str]) -> None:
    proc = falcoish("rules", "--json", "--no-defaults", "-r", corpus_files[0], "Read sensitive file untrusted")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    expanded = info["condition_expanded"]
    assert info["macros"] and info["lists"]
    assert "open_read" in info["condition"]
    for macro in info["macros"]:
        assert macro["file"] == corpus_files[0] and macro["line"] > 0
    words = set(expanded.replace("(", " ").replace(")", " ").replace(",", " ").split())
    assert not words & {m["macro"] for m in info["macros"]}
    assert "/etc/shadow" in expanded


def test_output_shows_what_print_option_appends(tuned: list[str]) -> None:
    info = json.loads(falcoish("rules", "--json", "Shell in box", "-p", "extra_pid=%proc.pid", *tuned).stdout)
    assert info["output"].endswith("extra_pid=%proc.pid")
    assert "extra_pid" not in info["output_as_written"]
    assert info["output_as_written"] == "Shell started (user=%user.name cmd=%proc.cmdline) parent=%proc.pname"
