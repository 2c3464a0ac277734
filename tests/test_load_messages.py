"""What `run` and `validate` tell a person at start: the files loaded, every warning, and
errors that name the closest existing thing (did-you-mean), without knock-on warnings;
a rule selection that matches nothing is an error, not a silent run with no rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .eventkit import open_file

BASE = """\
- list: my_bins
  items: [cat, ls]
- list: my_files
  items: [/etc/shadow]
- macro: my_mac
  condition: evt.type = openat
- rule: Shadow read
  desc: shadow read
  condition: my_mac and proc.name in (my_bins) and fd.name in (my_files)
  output: shadow read by %proc.name
  priority: error
  tags: [files, secrets]
- rule: Shell run
  desc: a shell ran
  condition: evt.type = execve and proc.name = bash
  output: shell ran %proc.cmdline
  priority: warning
  tags: [shell]
"""


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *argv], input=stdin,
                          capture_output=True, text=True, timeout=120)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def validate_json(*files: str) -> dict[str, list[dict[str, object]]]:
    args = [a for f in files for a in ("-r", f)]
    proc = cli("validate", "--no-defaults", "--json", *args)
    report: dict[str, list[dict[str, object]]] = json.loads(proc.stdout)
    return report


def only_error(report: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    (error,) = report["errors"]
    return error


def test_undefined_macro_suggests_the_close_name_with_its_position(tmp_path: Path) -> None:
    local = write(tmp_path, "local.yaml", """\
- rule: Typo macro
  desc: d
  condition: my_macc and proc.name = x
  output: o
  priority: info
""")
    error = only_error(validate_json(write(tmp_path, "base.yaml", BASE), local))
    assert (error["file"], error["line"], error["column"]) == (local, 3, 14)
    assert "Undefined macro 'my_macc'" in str(error["message"])
    assert "did you mean 'my_mac'?" in str(error["message"])


def test_unknown_field_suggests_the_close_field_in_text_output(tmp_path: Path) -> None:
    local = write(tmp_path, "local.yaml", """\
- rule: Typo field
  desc: d
  condition: evt.type = execve and proc.nmae = bash
  output: o
  priority: info
""")
    proc = cli("validate", "--no-defaults", "-r", local)
    assert proc.returncode == 1
    assert (f"{local}:3:36: error LOAD_ERR_COMPILE_CONDITION: filter_check called with nonexistent "
            f"field proc.nmae (did you mean 'proc.name'?)") in proc.stdout
    far = cli("validate", "--no-defaults", "-r", write(tmp_path, "far.yaml", Path(local).read_text()
                                                       .replace("proc.nmae", "zzz.qqq")))
    assert "nonexistent field zzz.qqq" in far.stdout and "did you mean" not in far.stdout


def test_override_of_a_missing_rule_suggests_the_rule_meant(tmp_path: Path) -> None:
    local = write(tmp_path, "local.yaml", """\
- rule: Shadow reed
  condition: and proc.name != cat
  override:
    condition: append
""")
    error = only_error(validate_json(write(tmp_path, "base.yaml", BASE), local))
    assert (error["file"], error["line"], error["column"]) == (local, 1, 3)
    assert "no rule by that name already exists (did you mean 'Shadow read'?)" in str(error["message"])


def test_list_append_to_a_missing_list_suggests_the_list_meant(tmp_path: Path) -> None:
    local = write(tmp_path, "local.yaml", "- list: my_bin\n  items: [vi]\n  override:\n    items: append\n")
    error = only_error(validate_json(write(tmp_path, "base.yaml", BASE), local))
    assert "(did you mean 'my_bins'?)" in str(error["message"]) and error["line"] == 1


def test_exception_field_typo_suggests_the_field(tmp_path: Path) -> None:
    local = write(tmp_path, "local.yaml", """\
- rule: Shadow read
  exceptions:
    - name: trusted
      fields: [proc.nmae]
      values: [[sshd]]
  override:
    exceptions: append
""")
    error = only_error(validate_json(write(tmp_path, "base.yaml", BASE), local))
    assert (error["file"], error["line"]) == (local, 3)
    assert "'proc.nmae' is not a supported filter field (did you mean 'proc.name'?)" in str(error["message"])


def test_one_bad_exception_is_one_error_and_no_unused_warnings(tmp_path: Path) -> None:
    """The rule that failed was the only user of my_mac, my_bins and my_files."""
    local = write(tmp_path, "local.yaml", """\
- rule: Shadow read
  exceptions:
    - name: trusted
      fields: [proc.nmae]
      values: [[sshd]]
  override:
    exceptions: append
""")
    report = validate_json(write(tmp_path, "base.yaml", BASE), local)
    assert len(report["errors"]) == 1
    assert report["warnings"] == []
    lonely = write(tmp_path, "lonely.yaml", "- macro: lonely\n  condition: proc.name = x\n")
    report = validate_json(write(tmp_path, "base.yaml", BASE), local, lonely)
    assert [(w["code"], w["item"]) for w in report["warnings"]] == [("LOAD_UNUSED_MACRO", "lonely")]


def test_a_condition_that_fails_early_still_counts_its_later_references(tmp_path: Path) -> None:
    rules = write(tmp_path, "r.yaml", BASE.replace("condition: my_mac and", "condition: my_macc and my_mac and"))
    report = validate_json(rules)
    assert len(report["errors"]) == 1
    assert report["warnings"] == []


TYPO_LIST = "- list: my_bins\n  overide: append\n  items: [vi]\n"


def test_misspelt_override_key_is_warned_by_validate_with_suggestion(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    local = write(tmp_path, "local.yaml", TYPO_LIST)
    proc = cli("validate", "--no-defaults", "-r", base, "-r", local)
    assert proc.returncode == 0
    assert (f"{local}:2:3: warning LOAD_UNKNOWN_KEY: Unknown key 'overide' (did you mean "
            f"'override'?)") in proc.stdout


def test_run_prints_loaded_files_and_warnings_at_start(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    folder = tmp_path / "rules.d"
    folder.mkdir()
    local = write(folder, "b_local.yaml", TYPO_LIST)
    extra = write(folder, "a_extra.yaml", "- macro: unused_extra\n  condition: proc.name = x\n")
    events = write(tmp_path, "e.jsonl", json.dumps(open_file("/etc/shadow")) + "\n")
    proc = cli("run", "--no-defaults", "-r", base, "-r", str(folder), "-e", events)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    loading = [line for line in lines if line.startswith("Loading rules from file ")]
    assert loading == [f"Loading rules from file {p}" for p in (base, extra, local)]
    assert any(line.startswith(f"{local}:2:3: warning LOAD_UNKNOWN_KEY: Unknown key 'overide' (did you "
                               "mean 'override'?)") for line in lines)
    assert any(line.startswith(f"{extra}:1:3: warning LOAD_UNUSED_MACRO") for line in lines)


def test_run_quiet_drops_the_file_lines_but_not_the_warnings(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    local = write(tmp_path, "local.yaml", TYPO_LIST)
    events = write(tmp_path, "e.jsonl", json.dumps(open_file("/etc/shadow")) + "\n")
    proc = cli("run", "-q", "--no-defaults", "-r", base, "-r", local, "-e", events)
    assert proc.returncode == 0, proc.stderr
    assert "Loading rules from file" not in proc.stderr
    assert "Unknown key 'overide'" in proc.stderr


def test_validate_strict_fails_on_warnings_only(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    local = write(tmp_path, "local.yaml", TYPO_LIST)
    assert cli("validate", "--strict", "--no-defaults", "-r", base).returncode == 0
    assert cli("validate", "--no-defaults", "-r", base, "-r", local).returncode == 0
    strict = cli("validate", "--strict", "--no-defaults", "-r", base, "-r", local)
    assert strict.returncode == 1
    assert "Unknown key 'overide'" in strict.stdout
    assert f"Loading rules from file {local}" in strict.stderr


def test_rule_selection_naming_no_rule_is_an_error_with_suggestion(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    events = write(tmp_path, "e.jsonl", json.dumps(open_file("/etc/shadow")) + "\n")
    proc = cli("run", "--no-defaults", "-r", base, "-e", events, "--rule", "Shadow reed")
    assert proc.returncode == 2
    assert "no rule named 'Shadow reed' (did you mean 'Shadow read'?)" in proc.stderr
    assert proc.stdout == ""
    for command in (["rules"], ["events"]):
        other = cli(*command, "--no-defaults", "-r", base, "--rule", "NoSuchRule")
        assert other.returncode == 2 and "no rule named 'NoSuchRule'" in other.stderr, command


def test_tag_selection_naming_no_tag_is_an_error_listing_tags(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    events = write(tmp_path, "e.jsonl", json.dumps(open_file("/etc/shadow")) + "\n")
    proc = cli("run", "--no-defaults", "-r", base, "-e", events, "-t", "nosuchtag")
    assert proc.returncode == 2
    assert "no rule has tag 'nosuchtag' (tags: " in proc.stderr and "files" in proc.stderr
    close = cli("run", "--no-defaults", "-r", base, "-e", events, "-T", "secret")
    assert close.returncode == 2 and "no rule has tag 'secret' (did you mean 'secrets'?)" in close.stderr


def test_a_selection_leaving_no_rule_enabled_is_an_error(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    events = write(tmp_path, "e.jsonl", json.dumps(open_file("/etc/shadow")) + "\n")
    proc = cli("run", "--no-defaults", "-r", base, "-e", events, "-t", "files", "-T", "secrets")
    assert proc.returncode == 2
    assert "leaves none of the 2 loaded rules enabled" in proc.stderr


def test_disable_substring_matching_nothing_is_only_a_warning(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    events = write(tmp_path, "e.jsonl", json.dumps(open_file("/etc/shadow")) + "\n")
    proc = cli("run", "--no-defaults", "-r", base, "-e", events, "--json", "-D", "Shadow reed")
    assert proc.returncode == 0, proc.stderr
    assert "-D 'Shadow reed' matches no rule name (did you mean 'Shadow read'?)" in proc.stderr
    assert [json.loads(line)["rule"] for line in proc.stdout.splitlines()] == ["Shadow read"]


def test_a_misspelt_list_name_in_a_value_list_is_warned_at_its_position(tmp_path: Path) -> None:
    """`proc.name in (my_binz)` compares with the word itself: valid, but never what was meant."""
    local = write(tmp_path, "local.yaml", """\
- macro: my_tools
  condition: proc.name in (my_binz, vim)
- rule: Tool read
  desc: d
  condition: evt.type = openat and (my_tools or proc.pname in ("my_binz", my_files, zzz_far))
  output: o
  priority: info
""")
    report = validate_json(write(tmp_path, "base.yaml", BASE), local)
    assert report["errors"] == []
    (warning,) = [w for w in report["warnings"] if w["code"] == "LOAD_COMPILE_CONDITION"]
    assert (warning["file"], warning["line"], warning["column"], warning["item"]) == (local, 2, 28, "my_tools")
    assert "'my_binz' is not a list name" in str(warning["message"])
    assert "(did you mean 'my_bins'?)" in str(warning["message"])


def test_a_rule_refused_before_compiling_adds_no_unused_warnings(tmp_path: Path) -> None:
    """A bad priority (collector) or a bad tags value (shape check) drops the rule early."""
    for bad in ("priority: error\n", "tags: [files, secrets]\n"):
        worse = "priority: WARN\n" if bad.startswith("priority") else "tags: secrets\n"
        rules = write(tmp_path, "r.yaml", BASE.replace(bad, worse, 1))
        report = validate_json(rules)
        assert len(report["errors"]) == 1, bad
        assert report["warnings"] == [], bad
