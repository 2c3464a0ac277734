"""Rule files written the way upstream releases 1.x-3.x were: outputs ending in `%container.info`.

Falco (0.41 and later) removes `%container.info` from an output (warning LOAD_DEPRECATED_ITEM)
after appending the configured extra outputs (`append_output`, `-p`); the container fields come
from the suggested output, on by default.  These tests drive `falcoish run` / `validate` as a
user would, with and without a configured extra output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falcoish.cli.main import main

from .eventkit import open_file

OLD_STYLE = """\
- list: sensitive_file_names
  items: [/etc/shadow, /etc/gshadow]
- macro: open_read
  condition: evt.type in (open, openat) and evt.is_open_read=true and fd.num>=0
- rule: Read sensitive file untrusted
  desc: an attempt to read a sensitive file
  condition: open_read and fd.name in (sensitive_file_names)
  output: >
    Sensitive file opened for reading by non-trusted program (user=%user.name
    command=%proc.cmdline file=%fd.name %container.info)
  priority: WARNING
  tags: [filesystem, mitre_credential_access]
- rule: Sudoers read
  desc: the middle of an output too
  condition: open_read and fd.name = /etc/sudoers
  output: Sudoers read (%container.info image=%container.image.repository)
  priority: NOTICE
  tags: [filesystem]
"""

CONTAINER = {"id": "3ad7b26ded6d", "name": "web", "image_repository": "nginx", "image_tag": "1.25"}


def _files(tmp_path: Path) -> tuple[str, str]:
    rules = tmp_path / "old_rules.yaml"
    rules.write_text(OLD_STYLE)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(open_file("/etc/shadow", container=CONTAINER)) + "\n"
                      + json.dumps(open_file("/etc/sudoers", container=CONTAINER)) + "\n")
    return str(rules), str(events)


def _alerts(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["run", "--no-defaults", *argv]) == 0
    return [line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()
            if line[:2].isdigit()]


SUGGESTED = ("container_id=3ad7b26ded6d container_name=web container_image_repository=nginx "
             "container_image_tag=1.25 k8s_pod_name=<NA> k8s_ns_name=<NA>")


def test_container_info_is_removed_and_the_suggested_fields_appended(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, events = _files(tmp_path)
    first, second = _alerts(capsys, "-r", rules, "-e", events)
    assert first == ("Warning Sensitive file opened for reading by non-trusted program (user=root "
                     f"command=cat /etc/shadow file=/etc/shadow ) {SUGGESTED}")
    assert second == f"Notice Sudoers read ( image=nginx) {SUGGESTED}"


def test_validate_warns_that_container_info_is_deprecated(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, _ = _files(tmp_path)
    assert main(["validate", "--no-defaults", "-r", rules]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert text.count("warning LOAD_DEPRECATED_ITEM: %container.info is deprecated") == 2
    assert "OK (0 errors, 2 warnings, 2 rules)" in text


def test_append_output_config_adds_extra_output_to_matching_rules(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, events = _files(tmp_path)
    config = tmp_path / "falcoish.yaml"
    config.write_text("append_output:\n"
                      "  - match:\n      tags: [mitre_credential_access]\n"
                      "    extra_output: \"on %proc.name pid=%proc.pid\"\n"
                      "  - extra_output: \"%container.info!\"\n")
    first, second = _alerts(capsys, "-c", str(config), "-r", rules, "-e", events)
    # the config replaces Falco's default list: no suggested fields unless asked for
    assert first.endswith("file=/etc/shadow ) on cat pid=4242 !")
    assert second == "Notice Sudoers read ( image=nginx) !"


def test_append_output_from_the_command_line_keeps_the_suggested_fields(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, events = _files(tmp_path)
    entries = '[{suggested_output: true}, {match: {rule: Sudoers read}, extra_output: "tid=%thread.tid"}]'
    first, second = _alerts(capsys, "-o", f"append_output={entries}", "-r", rules, "-e", events)
    assert first.endswith(f"file=/etc/shadow ) {SUGGESTED}")
    assert second == f"Notice Sudoers read ( image=nginx) {SUGGESTED} tid=4242"


def test_print_option_appends_a_format_and_pc_adds_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, events = _files(tmp_path)
    _, second = _alerts(capsys, "-p", "user_uid=%user.uid", "-r", rules, "-e", events)
    assert second == f"Notice Sudoers read ( image=nginx) {SUGGESTED} user_uid=0"
    _, second = _alerts(capsys, "-pc", "-r", rules, "-e", events)
    assert second == f"Notice Sudoers read ( image=nginx) {SUGGESTED}"


def test_a_bad_field_in_an_extra_output_is_an_output_compile_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, _ = _files(tmp_path)
    assert main(["validate", "--no-defaults", "-o", 'append_output=[{extra_output: "%proc.nope"}]',
                 "-r", rules]) != 0
    out = capsys.readouterr()
    assert "LOAD_ERR_COMPILE_OUTPUT" in out.out + out.err


@pytest.mark.parametrize("value, reason", [
    ('[{extra_field: [evt.cpu]}]', "unsupported entry key 'extra_field'"),
    ('[{extra_fields: [{a: 1}]}]', "extra_fields entries must be field names"),
    ('[{extra_output: 3}]', "extra_output must be a string"),
    ('[{match: {tag: [x]}, extra_output: x}]', "match must be a mapping of source, rule, tags"),
])
def test_a_malformed_append_output_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, reason: str) -> None:
    rules, _ = _files(tmp_path)
    with pytest.raises(SystemExit):
        main(["validate", "--no-defaults", "-o", f"append_output={value}", "-r", rules])
    err = capsys.readouterr().err
    assert "key 'append_output'" in err and reason in err
