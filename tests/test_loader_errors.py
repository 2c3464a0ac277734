"""Malformed rules files: every problem is reported with file, line, column, item and reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from falcoish import load_rules

BASE = """\
- macro: spawned
  condition: evt.type = execve
- list: shells
  items: [bash, sh]
"""

# (id, rules text appended after BASE, expected line, expected code, reason substring, item)
CASES = [
    ("yaml-syntax", "- rule: x\n  desc: [unclosed\n", 6, "LOAD_ERR_YAML_PARSE", "Invalid YAML", ""),
    ("not-a-sequence", None, 1, "LOAD_ERR_YAML_VALIDATE", "not yaml array of objects", ""),
    ("scalar-entry", "- just a string\n", 5, "LOAD_ERR_YAML_VALIDATE", "Each element should be a yaml associative array", ""),
    ("missing-output", "- rule: r\n  desc: d\n  condition: spawned\n  priority: info\n", 5,
     "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'output'", "r"),
    ("missing-desc", "- rule: r\n  output: o\n  condition: spawned\n  priority: info\n", 5,
     "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'desc'", "r"),
    ("bad-priority", "- rule: r\n  desc: d\n  output: o\n  condition: spawned\n  priority: WARN\n", 9,
     "LOAD_ERR_YAML_VALIDATE", "Invalid priority 'WARN'", "r"),
    ("empty-desc", "- rule: r\n  desc: ''\n  output: o\n  condition: spawned\n  priority: info\n", 6,
     "LOAD_ERR_YAML_VALIDATE", "Value must be non-empty", "r"),
    ("null-desc", "- rule: r\n  desc:\n  output: o\n  condition: spawned\n  priority: info\n", 6,
     "LOAD_ERR_YAML_VALIDATE", "Mapping for key 'desc' is empty", "r"),
    ("tags-not-sequence", "- rule: r\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n  tags: abc\n", 10,
     "LOAD_ERR_YAML_VALIDATE", "Value is not a sequence", "r"),
    ("nested-list-items", "- list: l2\n  items: [[a]]\n", 6, "LOAD_ERR_YAML_VALIDATE", "sequence value is not scalar", "l2"),
    ("enabled-not-bool", "- rule: r\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n  enabled: maybe\n", 10,
     "LOAD_ERR_YAML_VALIDATE", "Can't decode YAML scalar value 'maybe'", "r"),
    ("syntax-error-in-condition", "- rule: r\n  desc: d\n  output: o\n  condition: spawned and (proc.name = x\n  priority: info\n", 8,
     "LOAD_ERR_COMPILE_CONDITION", "", "r"),
    ("undefined-macro", "- rule: r\n  desc: d\n  output: o\n  condition: spawned and not_a_macro\n  priority: info\n", 8,
     "LOAD_ERR_VALIDATE", "Undefined macro 'not_a_macro'", "r"),
    ("unknown-field", "- rule: r\n  desc: d\n  output: o\n  condition: spawned and proc.nme = bash\n  priority: info\n", 8,
     "LOAD_ERR_COMPILE_CONDITION", "proc.nme", "r"),
    ("unknown-event-type", "- rule: r\n  desc: d\n  output: o\n  condition: evt.type = opn\n  priority: info\n", 8,
     "LOAD_ERR_COMPILE_CONDITION", "unknown event type opn", "r"),
    ("bad-number", "- rule: r\n  desc: d\n  output: o\n  condition: spawned and fd.num > 0x10\n  priority: info\n", 8,
     "LOAD_ERR_COMPILE_CONDITION", "", "r"),
    ("operator-type-mismatch", "- rule: r\n  desc: d\n  output: o\n  condition: spawned and fd.num contains 3\n  priority: info\n", 8,
     "LOAD_ERR_COMPILE_CONDITION", "'contains' operator not supported", "r"),
    ("output-unknown-field", "- rule: r\n  desc: d\n  output: name=%proc.nonsense\n  condition: spawned\n  priority: info\n", 7,
     "LOAD_ERR_COMPILE_OUTPUT", "invalid formatting token", "r"),
    ("append-missing-rule", "- rule: nope\n  condition: and proc.name = x\n  override:\n    condition: append\n", 5,
     "LOAD_ERR_YAML_VALIDATE", "no rule by that name already exists", "nope"),
    ("append-missing-list", "- list: nolist\n  items: [a]\n  override:\n    items: append\n", 5,
     "LOAD_ERR_YAML_VALIDATE", "no list by that name already exists", "nolist"),
    ("append-missing-macro", "- macro: nomacro\n  condition: or proc.name = a\n  append: true\n", 5,
     "LOAD_ERR_YAML_VALIDATE", "no macro by that name already exists", "nomacro"),
    ("append-and-override", "- list: shells\n  items: [zsh]\n  append: true\n  override:\n    items: append\n", 9,
     "LOAD_ERR_YAML_VALIDATE", "cannot be used together", "shells"),
    ("priority-append", "- rule: base\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n"
     "- rule: base\n  priority: debug\n  override:\n    priority: append\n", 13,
     "LOAD_ERR_YAML_VALIDATE", "cannot be appended to", "base"),
    ("override-key-missing-entry", "- rule: base\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n"
     "- rule: base\n  condition: and proc.name = x\n  priority: debug\n  override:\n    condition: append\n", 12,
     "LOAD_ERR_YAML_VALIDATE", "Unexpected key 'priority'", "base"),
    ("enabled-only-missing-rule", "- rule: ghost\n  enabled: false\n", 5, "LOAD_ERR_YAML_VALIDATE",
     "no rule by that name already exists", "ghost"),
    ("engine-version-too-new", "- required_engine_version: 9.0.0\n", 5, "LOAD_ERR_YAML_VALIDATE",
     "Rules require engine version 9.0.0", ""),
    ("engine-version-garbage", "- required_engine_version: seven\n", 5, "LOAD_ERR_YAML_VALIDATE",
     "Unable to parse engine version 'seven'", ""),
    ("exception-comps-length", "- rule: r\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n"
     "  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n      values: [[a, b]]\n", 11,
     "LOAD_ERR_YAML_VALIDATE", "Fields and comps lists must have equal length", "r"),
    ("exception-bad-field", "- rule: r\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n"
     "  exceptions:\n    - name: e\n      fields: [proc.nam]\n      values: [[a]]\n", 11,
     "LOAD_ERR_YAML_VALIDATE", "'proc.nam' is not a supported filter field", "r"),
    ("exception-bad-comp", "- rule: r\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n"
     "  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [frobulate]\n      values: [[a]]\n", 11,
     "LOAD_ERR_YAML_VALIDATE", "'frobulate' is not a supported comparison operator", "r"),
    ("macro-syntax-error", "- macro: broken\n  condition: proc.name = (\n", 6, "LOAD_ERR_COMPILE_CONDITION", "", "broken"),
    ("redefined-source", "- rule: base\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n"
     "- rule: base\n  desc: d\n  output: o\n  condition: spawned\n  priority: info\n  source: k8s_audit\n", 15,
     "LOAD_ERR_YAML_VALIDATE", "different source", "base"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_rules_are_reported_with_file_line_and_reason(tmp_path: Path, case: tuple) -> None:
    _, extra, line, code, reason, item = case
    text = "a: mapping, not a list\n" if extra is None else BASE + extra
    path = tmp_path / "bad_rules.yaml"
    path.write_text(text)
    result = load_rules([str(path)])
    errors = result.problems.errors
    assert errors, f"no error reported for:\n{text}"
    matching = [e for e in errors if e.code == code and reason in e.message]
    assert matching, [str(e) for e in errors]
    err = matching[0]
    assert err.location.file == str(path)
    assert err.location.line == line, str(err)
    assert err.location.column >= 1
    assert err.location.item_name == item


def test_condition_error_points_at_the_column_inside_the_condition(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("- rule: r\n  desc: d\n  output: o\n  condition: evt.type = open and proc.nme = x\n  priority: info\n")
    (err,) = load_rules([str(path)]).problems.errors
    assert (err.location.line, err.location.column) == (4, 34)


def test_folded_condition_error_points_at_the_right_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent("""\
        - rule: r
          desc: d
          output: o
          condition: >
            evt.type = open
            and proc.name = bash
            and fd.nmae = x
          priority: info
        """))
    (err,) = load_rules([str(path)]).problems.errors
    assert (err.location.line, err.location.column) == (7, 9)
    assert "fd.nmae" in err.message


def test_all_errors_of_a_file_are_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(BASE + "".join(c[1] for c in CASES[3:8]))
    errors = load_rules([str(path)]).problems.errors
    assert len(errors) >= 5


def test_error_in_appended_fragment_points_into_the_appending_file(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text("- rule: r\n  desc: d\n  output: o\n  condition: evt.type = open\n  priority: info\n")
    second = tmp_path / "b.yaml"
    second.write_text("- rule: r\n  condition: and fd.nmae = x\n  override:\n    condition: append\n")
    (err,) = load_rules([str(first), str(second)]).problems.errors
    assert err.location.file == str(second)
    assert (err.location.line, err.location.column) == (2, 18)
