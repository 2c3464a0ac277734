"""The shipped default rules: valid, covered both ways by rule tests, Tracee ids present."""

from __future__ import annotations

from pathlib import Path

import pytest

from falcoish import load_rules
from falcoish.cli.main import main

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = str(REPO / "default_rules")


def test_defaults_validate_with_no_errors_and_no_warnings() -> None:
    result = load_rules([DEFAULTS])
    assert [str(p) for p in result.problems] == []
    assert len(result.rules) >= 30


def test_defaults_then_upstream_corpus_validate(corpus_files: list[str]) -> None:
    result = load_rules([DEFAULTS, *corpus_files])
    assert [str(p) for p in result.errors] == []


def test_every_default_rule_passes_its_cases_and_is_covered_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", DEFAULTS, "--require-coverage"]) == 0
    out = capsys.readouterr().out
    assert "UNCOVERED" not in out and " 0 failed" in out


def test_tracee_signatures_are_tagged() -> None:
    tags = {t for r in load_rules([DEFAULTS]).rules for t in r.tags}
    expected = {f"TRC-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14)}
    assert expected <= tags


def test_events_for_a_trc_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--rule", "TRC-2"]) == 0
    assert capsys.readouterr().out.strip() == "ptrace"


def test_rule_test_failures_are_reported_per_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(f"""\
rules: [{DEFAULTS}]
tests:
  - name: trusted reader reads shadow but we wrongly expect an alert
    events:
      - type: openat
        res: 3
        args: {{fd: 3, dirfd: -100, name: /etc/shadow, flags: 0}}
        fd: {{num: 3, type: file, name: /etc/shadow}}
        thread: {{comm: sshd}}
    fires: [Read credential file by untrusted program]
  - name: cat reads shadow
    events:
      - type: openat
        res: 3
        args: {{fd: 3, dirfd: -100, name: /etc/shadow, flags: 0}}
        fd: {{num: 3, type: file, name: /etc/shadow}}
    fires: [Read credential file by untrusted program]
""")
    assert main(["test", str(cases)]) == 1
    out = capsys.readouterr().out
    assert "FAIL trusted reader reads shadow" in out and "1 passed, 1 failed" in out
