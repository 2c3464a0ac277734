"""Falco's loader semantics, each checked by its effect on events."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from falcoish import load_rules
from falcoish.runtime.engine import Engine
from falcoish.rules.loader import LoadResult

from .eventkit import event, exec_process, open_file

HEADER = """\
- macro: spawned
  condition: evt.type = execve
- list: shells
  items: [bash, sh]
- rule: Shell run
  desc: a shell ran
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: warning
  tags: [shell, T1059]
"""


def load(tmp_path: Path, *texts: str) -> LoadResult:
    paths = []
    for i, text in enumerate(texts):
        p = tmp_path / f"rules{i}.yaml"
        p.write_text(textwrap.dedent(text))
        paths.append(str(p))
    result = load_rules(paths)
    assert not result.problems.errors, [str(e) for e in result.problems.errors]
    return result


def indented(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text), "  ")


def fired(result: LoadResult, rec: dict, rule_matching: str = "all") -> list[str]:
    engine = Engine.from_load(result, rule_matching=rule_matching)
    return [a.rule for a in engine.process(event(rec))]


def test_base_rule_fires_and_near_miss_does_not(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER)
    assert fired(result, exec_process("bash")) == ["Shell run"]
    assert fired(result, exec_process("zsh")) == []
    assert fired(result, open_file("/bin/bash")) == []


def test_list_append_extends_the_rule_even_when_appended_after_it(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + "- list: shells\n  items: [zsh]\n  override:\n    items: append\n")
    assert fired(result, exec_process("zsh")) == ["Shell run"]
    assert fired(result, exec_process("bash")) == ["Shell run"]


def test_legacy_list_append_works_and_warns(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + "- list: shells\n  items: [zsh]\n  append: true\n")
    assert fired(result, exec_process("zsh")) == ["Shell run"]
    assert any(w.code == "LOAD_DEPRECATED_ITEM" for w in result.problems.warnings)


def test_list_redefinition_replaces_items(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + "- list: shells\n  items: [fish]\n")
    assert fired(result, exec_process("fish")) == ["Shell run"]
    assert fired(result, exec_process("bash")) == []


def test_macro_append_joins_text(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + "- macro: spawned\n  condition: or evt.type = execveat\n  override:\n    condition: append\n")
    rule = result.ruleset.rules[0]
    assert rule.condition.render() == "((evt.type = execve or evt.type = execveat) and proc.name in (bash, sh))"
    rec = exec_process("bash")
    rec["type"] = "execveat"
    assert fired(result, rec) == ["Shell run"]


def test_rule_condition_append_and_replace(tmp_path: Path) -> None:
    appended = load(tmp_path, HEADER + "- rule: Shell run\n  condition: and proc.args contains -i\n  override:\n    condition: append\n")
    assert fired(appended, exec_process("bash", ["-i"])) == ["Shell run"]
    assert fired(appended, exec_process("bash", ["-c", "ls"])) == []
    replaced = load(tmp_path, HEADER + "- rule: Shell run\n  condition: spawned and proc.name = python3\n  override:\n    condition: replace\n")
    assert fired(replaced, exec_process("python3")) == ["Shell run"]
    assert fired(replaced, exec_process("bash")) == []


def test_override_output_priority_tags(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + textwrap.dedent("""\
        - rule: Shell run
          output: (parent=%proc.pname)
          priority: critical
          tags: [extra]
          override:
            output: append
            priority: replace
            tags: append
        """))
    engine = Engine.from_load(result)
    (alert,) = engine.process(event(exec_process("bash")))
    assert alert.priority == "Critical"
    assert alert.output.startswith("shell bash (parent=bash)")
    assert set(alert.tags) == {"shell", "T1059", "extra"}


def test_enabled_false_disables_and_replace_enables_again(tmp_path: Path) -> None:
    disabled = load(tmp_path, HEADER + "- rule: Shell run\n  enabled: false\n  override:\n    enabled: replace\n")
    assert fired(disabled, exec_process("bash")) == []
    assert disabled.ruleset.rules[0].enabled is False
    again = load(tmp_path, HEADER + "- rule: Shell run\n  enabled: false\n",
                 "- rule: Shell run\n  enabled: true\n")
    assert fired(again, exec_process("bash")) == ["Shell run"]


def test_legacy_append_does_not_enable_a_disabled_rule(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER.replace("tags: [shell, T1059]", "tags: [shell]\n  enabled: false"),
                  "- rule: Shell run\n  condition: and proc.name = bash\n  enabled: true\n  append: true\n")
    assert fired(result, exec_process("bash")) == []


def test_exceptions_list_form(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER.replace("  tags: [shell, T1059]\n", indented("""\
          tags: [shell, T1059]
          exceptions:
            - name: trusted_parent
              fields: [proc.name, proc.pname]
              comps: [=, in]
              values:
                - [bash, [sshd, login]]
        """)))
    assert fired(result, exec_process("bash", ancestors=[{"comm": "sshd"}])) == []
    assert fired(result, exec_process("bash", ancestors=[{"comm": "cron"}])) == ["Shell run"]
    assert fired(result, exec_process("sh", ancestors=[{"comm": "sshd"}])) == ["Shell run"]
    assert "and not (proc.name = bash and proc.pname in (sshd, login))" in result.ruleset.rules[0].condition.render()


def test_exceptions_single_field_form_and_override_append(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER.replace("  tags: [shell, T1059]\n", indented("""\
          tags: [shell, T1059]
          exceptions:
            - name: ok_cwd
              fields: proc.cwd
              comps: pmatch
              values: [/tmp/build]
        """)), textwrap.dedent("""\
        - rule: Shell run
          exceptions:
            - name: ok_cwd
              values: [/srv/ci]
            - name: by_user
              fields: [user.name]
              values: [[builder]]
          override:
            exceptions: append
        """))
    assert result.problems.errors == []
    base = {"proc": {"cwd": "/srv/ci/job1/"}}
    assert fired(result, exec_process("bash", **base)) == []
    assert fired(result, exec_process("bash", proc={"cwd": "/tmp/build/x/"})) == []
    assert fired(result, exec_process("bash", user={"uid": 1000, "name": "builder"})) == []
    assert fired(result, exec_process("bash", proc={"cwd": "/home/x/"})) == ["Shell run"]


def test_exception_values_may_name_lists(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER.replace("  tags: [shell, T1059]\n", indented("""\
          tags: [shell, T1059]
          exceptions:
            - name: parents
              fields: [proc.pname]
              comps: [in]
              values: [[trusted_parents]]
        """)) + "- list: trusted_parents\n  items: [cron, systemd]\n")
    assert fired(result, exec_process("bash", ancestors=[{"comm": "systemd"}])) == []
    assert fired(result, exec_process("bash", ancestors=[{"comm": "sshd"}])) == ["Shell run"]


def test_redefinition_across_two_files_keeps_position(tmp_path: Path) -> None:
    first = HEADER + textwrap.dedent("""\
        - rule: Any exec
          desc: d
          condition: spawned
          output: exec %proc.name
          priority: debug
        """)
    second = textwrap.dedent("""\
        - rule: Shell run
          desc: redefined
          condition: spawned and proc.name = zsh
          output: zsh!
          priority: error
        """)
    result = load(tmp_path, first, second)
    assert [r.name for r in result.ruleset.rules] == ["Shell run", "Any exec"]
    assert fired(result, exec_process("zsh"), "first") == ["Shell run"]
    assert fired(result, exec_process("bash"), "first") == ["Any exec"]
    assert result.ruleset.rules[0].priority == "Error"


def test_rule_matching_first_fires_only_the_earliest_rule(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + "- rule: Also\n  desc: d\n  condition: spawned\n  output: o\n  priority: info\n")
    assert fired(result, exec_process("bash"), "first") == ["Shell run"]
    assert fired(result, exec_process("bash"), "all") == ["Shell run", "Also"]


# -- macros and lists -------------------------------------------------------------------------

def test_nested_lists_expand(tmp_path: Path) -> None:
    result = load(tmp_path, textwrap.dedent("""\
        - list: a
          items: [x1]
        - list: b
          items: [a, x2]
        - list: c
          items: [b, '"x 3"']
        - rule: r
          desc: d
          condition: evt.type = execve and proc.name in (c)
          output: o
          priority: info
        """))
    assert "proc.name in (x1, x2, \"x 3\")" in result.ruleset.rules[0].condition.render()
    assert fired(result, exec_process("x1")) == ["r"]
    assert fired(result, exec_process("x 3")) == ["r"]
    assert fired(result, exec_process("b")) == []


def test_one_item_list_as_scalar_and_quoted_name_is_not_a_list(tmp_path: Path) -> None:
    result = load(tmp_path, textwrap.dedent("""\
        - list: cat_binaries
          items: [cat]
        - rule: r
          desc: d
          condition: evt.type = execve and (proc.name = cat_binaries or proc.name = "cat_binaries")
          output: o
          priority: info
        """))
    assert fired(result, exec_process("cat")) == ["r"]
    assert fired(result, exec_process("cat_binaries")) == ["r"]


def test_macro_may_not_reference_a_macro_defined_later(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(textwrap.dedent("""\
        - macro: first
          condition: second
        - macro: second
          condition: evt.type = open
        - rule: r
          desc: d
          condition: first
          output: o
          priority: info
        """))
    errors = load_rules([str(p)]).problems.errors
    assert any("Undefined macro 'second'" in e.message and e.location.item_name == "first" for e in errors)


def test_rule_may_reference_a_macro_defined_later_in_the_same_file(tmp_path: Path) -> None:
    result = load(tmp_path, textwrap.dedent("""\
        - rule: r
          desc: d
          condition: later
          output: o
          priority: info
        - macro: later
          condition: evt.type = execve
        """))
    assert fired(result, exec_process("ls")) == ["r"]


def test_rule_may_not_use_a_macro_from_a_later_file(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("- rule: r\n  desc: d\n  condition: later\n  output: o\n  priority: info\n")
    b = tmp_path / "b.yaml"
    b.write_text("- macro: later\n  condition: evt.type = execve\n")
    errors = load_rules([str(a), str(b)]).problems.errors
    assert any("Undefined macro 'later'" in e.message for e in errors)


def test_self_reference_is_undefined_and_appended_cycle_is_a_loop(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- macro: a\n  condition: a\n")
    errors = load_rules([str(p)]).problems.errors
    assert any("Undefined macro 'a'" in e.message for e in errors)
    p.write_text(textwrap.dedent("""\
        - macro: a
          condition: evt.type = open
        - macro: b
          condition: a
        - macro: a
          condition: or b
          override:
            condition: append
        """))
    errors = load_rules([str(p)]).problems.errors
    assert any("reference loop" in e.message for e in errors)


def test_unused_macros_and_lists_warn(tmp_path: Path) -> None:
    result = load(tmp_path, HEADER + "- macro: lonely\n  condition: evt.type = open\n- list: unused\n  items: [a]\n")
    codes = {(w.code, w.location.item_name) for w in result.problems.warnings}
    assert ("LOAD_UNUSED_MACRO", "lonely") in codes
    assert ("LOAD_UNUSED_LIST", "unused") in codes


def test_rule_without_event_type_warns(tmp_path: Path) -> None:
    result = load(tmp_path, "- rule: r\n  desc: d\n  condition: proc.name = cat\n  output: o\n  priority: info\n")
    assert [w.code for w in result.problems.warnings] == ["LOAD_NO_EVTTYPE"]
    assert result.ruleset.rules[0].all_types


def test_priorities_are_case_insensitive(tmp_path: Path) -> None:
    for text, expected in [("info", "Informational"), ("INFO", "Informational"), ("Informational", "Informational"),
                           ("EMERGENCY", "Emergency"), ("notice", "Notice")]:
        result = load(tmp_path, f"- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: {text}\n")
        assert result.ruleset.rules[0].priority == expected


@pytest.mark.parametrize("version", ["26", "0.26.0", "0.57.0"])
def test_required_engine_version_accepts_older(tmp_path: Path, version: str) -> None:
    load(tmp_path, f"- required_engine_version: {version}\n")


def test_skip_if_unknown_filter_drops_rule_with_warning(tmp_path: Path) -> None:
    result = load(tmp_path, "- rule: r\n  desc: d\n  condition: evt.type = open and proc.bogus = 1\n"
                            "  output: o\n  priority: info\n  skip-if-unknown-filter: true\n")
    assert result.ruleset.rules == ()
    assert [w.code for w in result.problems.warnings] == ["LOAD_UNKNOWN_FILTER"]


def test_a_constant_that_looks_like_a_field_warns_once_inside_a_fused_or(tmp_path: Path) -> None:
    result = load(tmp_path, "- rule: r\n  desc: d\n  output: o\n  priority: info\n"
                            "  condition: evt.type = open and (proc.name = proc.pname or proc.name = bash)\n")
    assert [w.message for w in result.problems.warnings].count(
        "'proc.pname' may be a valid field misused as a const string value") == 1
