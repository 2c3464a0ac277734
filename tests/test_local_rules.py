"""Local tuning: the shipped template works as written, and an installed local file changes
the default rules' behaviour on replayed events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falcoish import load_rules
from falcoish.cli import common
from falcoish.cli.main import main
from falcoish.runtime.engine import Engine

from .eventkit import event, exec_process, open_file, process, record

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "local_rules" / "falco_rules.local.yaml"
NODE = {"pid": 300, "tid": 300, "comm": "node", "exe": "node", "exepath": "/usr/bin/node", "args": ["server.js"]}


def uncommented_template(tmp_path: Path) -> Path:
    lines = []
    for line in TEMPLATE.read_text().splitlines():
        if line.startswith(("# - ", "#   ")):
            lines.append(line[2:])
    out = tmp_path / "local.yaml"
    out.write_text("\n".join(lines) + "\n")
    return out


def fired(engine: Engine, rec: dict) -> list[str]:
    return [a.rule for a in engine.process(event(rec))]


def test_template_loads_as_shipped_and_every_example_loads_uncommented(tmp_path: Path) -> None:
    assert load_rules([str(REPO / "default_rules"), str(TEMPLATE)]).ok
    result = load_rules([str(REPO / "default_rules"), str(uncommented_template(tmp_path))])
    assert [str(e) for e in result.errors] == []


def test_every_template_example_changes_behaviour(tmp_path: Path) -> None:
    base = Engine.from_load(load_rules([str(REPO / "default_rules")]), rule_matching="all")
    tuned_result = load_rules([str(REPO / "default_rules"), str(uncommented_template(tmp_path))])
    tuned = Engine.from_load(tuned_result, rule_matching="all")
    rules = {r.name: r for r in tuned_result.rules}

    # override by name: zsh in a container no longer fires, and the priority is Error
    zsh = exec_process("zsh", container={"id": "3ad7b26ded6d"}, proc={"tty": 0}, ancestors=[NODE])
    assert "Shell spawned in a container" in fired(base, zsh)
    assert "Shell spawned in a container" not in fired(tuned, zsh)
    assert rules["Shell spawned in a container"].priority == "Error"
    # list append: backup-agent may read /etc/shadow
    agent = open_file("/etc/shadow", comm="backup-agent")
    assert "Read credential file by untrusted program" in fired(base, agent)
    assert "Read credential file by untrusted program" not in fired(tuned, agent)
    # exception: restic reading /etc/shadow is fine, restic reading /etc/gshadow is not
    assert "Read credential file by untrusted program" not in fired(tuned, open_file("/etc/shadow", comm="restic"))
    assert "Read credential file by untrusted program" in fired(tuned, open_file("/etc/gshadow", comm="restic"))
    # macro append: the APM preload library is known
    apm = exec_process("java", proc={"env": ["LD_PRELOAD=/opt/apm/libtrace.so"]})
    assert "Program launched with LD_PRELOAD" in fired(base, apm)
    assert "Program launched with LD_PRELOAD" not in fired(tuned, apm)
    # priority change and disabling
    assert rules["Outbound connection from a shell"].priority == "Notice"
    traceme = record("ptrace", thread=process("sample"), args={"request": 0, "pid": 0}, res=0)
    assert "Anti-debugging with PTRACE_TRACEME" in fired(base, traceme)
    assert "Anti-debugging with PTRACE_TRACEME" not in fired(tuned, traceme)


LOCAL = """\
- rule: Shell spawned in a container
  desc: local version
  condition: spawned_process and in_container and proc.name = zsh
  output: LOCAL zsh in container %container.id
  priority: critical
- list: credential_readers
  items: [backup-agent]
  override:
    items: append
- rule: Anti-debugging with PTRACE_TRACEME
  enabled: false
  override:
    enabled: replace
"""


def test_installed_local_file_overrides_appends_and_disables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    etc = tmp_path / "etc-falcoish"
    etc.mkdir()
    events = tmp_path / "events.jsonl"
    records = [
        exec_process("zsh", container={"id": "3ad7b26ded6d"}, proc={"tty": 0}, ancestors=[NODE]),      # fires only with the local override
        exec_process("bash", container={"id": "3ad7b26ded6d"}, proc={"tty": 0}, ancestors=[NODE]),     # fires only with the builtin rule
        open_file("/etc/shadow", comm="backup-agent"),               # silenced by the list append
        record("ptrace", thread=process("sample"), args={"request": 0, "pid": 0}, res=0),  # disabled
    ]
    events.write_text("".join(json.dumps(r) + "\n" for r in records))

    def run() -> list[tuple[str, str]]:
        assert main(["run", "-e", str(events), "--json", "--rule-matching", "all"]) == 0
        return [(a["rule"], a["priority"]) for a in map(json.loads, capsys.readouterr().out.splitlines())]

    monkeypatch.setattr(common, "ETC", etc)
    before = run()
    assert ("Shell spawned in a container", "Notice") in before
    assert ("Read credential file by untrusted program", "Warning") in before
    assert ("Anti-debugging with PTRACE_TRACEME", "Warning") in before

    (etc / "falco_rules.local.yaml").write_text(LOCAL)
    assert main(["validate"]) == 0
    assert "falco_rules.local.yaml" in capsys.readouterr().out
    after = run()
    assert after.count(("Shell spawned in a container", "Critical")) == 1          # zsh only
    assert not any(rule == "Read credential file by untrusted program" for rule, _ in after)
    assert not any(rule == "Anti-debugging with PTRACE_TRACEME" for rule, _ in after)
