"""A Falco user's falco.yaml given to falcoish with -c, and Falco's -o syntax, through the CLI.

Falco's keys that falcoish lacks are warned about once each and ignored; keys that are neither
Falco's nor falcoish's are errors, all reported in one run; checks of channels that could only
fail per alert (program_output) happen at start.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from falcoish.config.falco import FALCO_ONLY
from falcoish.config.schema import SCHEMA, SECTIONS

from .eventkit import exec_process

ROOT = Path(__file__).resolve().parent.parent
STOCK = ROOT.parent / "shared" / "corpus" / "falco-config" / "falco.yaml"
SAMPLE = str(ROOT / "falcoish" / "data" / "sample_trace.jsonl")
SHELL_RULE = """
- rule: Shell seen
  desc: a shell ran
  condition: evt.type = execve and proc.name = bash
  output: shell ran (proc=%proc.name)
  priority: WARNING
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def bash_events(tmp_path: Path) -> str:
    return write(tmp_path / "events.jsonl", json.dumps(exec_process("bash")) + "\n")


def test_stock_falco_yaml_loads_unmodified_with_one_warning_per_ignored_key() -> None:
    proc = cli("run", "-c", str(STOCK), "-e", SAMPLE)
    assert proc.returncode == 0, proc.stderr
    at = f"{STOCK}:"
    for key, line in (("config_files", 179), ("engine", 441), ("plugins", 595),
                      ("http_output.echo", 882), ("webserver", 934),
                      ("http_output.mtls, http_output.client_cert, http_output.client_key", 876),
                      ("metrics.interval", 1182), ("falco_libs", 1367)):
        warning = f"falcoish: warning: {at}{line}: ignored: falcoish does not support {key}; "
        assert proc.stderr.count(warning) == 1, (key, proc.stderr)
    for key in ("engine", "http_output.client_key", "metrics.jemalloc_stats_enabled"):
        assert len(re.findall(rf"does not support [^;]*\b{re.escape(key)}\b", proc.stderr)) == 1
    assert "unknown key" not in proc.stderr and "did you mean" not in proc.stderr
    if not os.path.exists("/etc/falco/falco_rules.yaml"):
        assert (f"{at}239: rules_files: /etc/falco/falco_rules.yaml (Falco's stock path) does not "
                f"exist; loading falcoish's ") in proc.stderr
    # the same detections as falcoish's defaults: the stock rules path was not silently dropped
    plain = cli("run", "-e", SAMPLE)
    assert plain.returncode == 0 and proc.stdout == plain.stdout and proc.stdout.count("\n") >= 5
    checked = cli("validate", "-c", str(STOCK))
    assert checked.returncode == 0 and "ignored: falcoish does not support engine;" in checked.stderr


def test_every_top_level_key_of_the_stock_file_is_known_and_the_table_is_documented() -> None:
    stock = yaml.safe_load(STOCK.read_text())
    unknown = [k for k in stock if k not in SCHEMA and k not in SECTIONS and k not in FALCO_ONLY]
    assert not unknown
    for section in SECTIONS & set(stock):
        for sub in stock[section] or {}:
            key = f"{section}.{sub}"
            assert key in SCHEMA or key in FALCO_ONLY, key
    doc = (ROOT / "docs" / "outputs.md").read_text()
    part = doc[doc.index("### Falco keys falcoish ignores"):]
    part = part[:part.index("\n#")]
    assert [k for k in FALCO_ONLY if f"`{k}`" not in part] == []


def test_a_missing_configured_rules_file_is_an_error_but_a_missing_stock_path_is_replaced(
        tmp_path: Path) -> None:
    text = STOCK.read_text().replace("  - /etc/falco/rules.d\n",
                                     f"  - /etc/falco/rules.d\n  - {tmp_path}/mine.yaml\n")
    config = write(tmp_path / "falco.yaml", text)
    proc = cli("run", "-c", config, "-e", SAMPLE)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"{tmp_path}/mine.yaml" in proc.stderr and "Could not read rules file" in proc.stderr


def test_unknown_keys_are_all_reported_at_once_with_their_lines(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "json_outptu: true\n"           # 1
                                        "http_output:\n"                # 2
                                        "  urll: http://x\n"            # 3
                                        "  verbose: true\n"             # 4
                                        "  echo: true\n"                # 5: Falco's, not an error
                                        "program_output:\n"             # 6
                                        "  url: http://x\n"             # 7
                                        "filename: /tmp/x\n"            # 8
                                        "outputs:\n  max_burst: lots\n")  # 9, 10
    proc = cli("run", "-c", config, "-e", SAMPLE, "-o", "nosuch=1")
    assert proc.returncode == 2 and proc.stdout == ""
    expected = [
        f"{config}:1: key 'json_outptu': unknown key (did you mean 'json_output'?)",
        f"{config}:3: key 'http_output.urll': unknown key (did you mean 'http_output.url'?)",
        f"{config}:4: key 'http_output.verbose': unknown key",
        f"{config}:7: key 'program_output.url': unknown key (did you mean 'http_output.url'?)",
        f"{config}:8: key 'filename': unknown key (did you mean 'file_output.filename'?)",
        f"{config}:10: key 'outputs.max_burst': expected an integer, got 'lots'",
        "-o nosuch=1: key 'nosuch': unknown key",
    ]
    lines = proc.stderr.splitlines()
    assert [line for line in lines if "key '" in line] == [f"falcoish: {e}" for e in expected]
    assert "falcoish: 7 errors in the configuration" in lines
    assert "http_output.echo" not in proc.stderr


def test_a_falco_only_key_is_a_warning_with_no_misleading_suggestion(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "http_output:\n  echo: true\n")
    proc = cli("validate", "-c", config)
    assert proc.returncode == 0, proc.stderr
    assert (f"falcoish: warning: {config}:2: ignored: falcoish does not support http_output.echo; "
            in proc.stderr)
    assert "did you mean" not in proc.stderr
    proc = cli("validate", "-o", "engine.kind=kmod", "-o", "engine.kmod.buf_size_preset=4")
    assert proc.returncode == 0
    assert proc.stderr.count("ignored: falcoish does not support engine;") == 1


def test_list_index_overrides(tmp_path: Path) -> None:
    rules = write(tmp_path / "mine.yaml", SHELL_RULE)
    events = bash_events(tmp_path)
    proc = cli("run", "-e", events, "-o", f"rules_files[0]={rules}")
    assert proc.returncode == 0, proc.stderr
    assert "Warning shell ran (proc=bash)" in proc.stdout
    assert proc.stdout.count("\n") == 1        # only the -o rules file: the defaults were replaced
    appended = cli("run", "-e", events, "-o", f"rules_files[0]={rules}", "-o", f"rules_files[]={rules}")
    assert appended.returncode == 0 and "shell ran" in appended.stdout
    default = cli("run", "-e", SAMPLE)
    quiet = cli("run", "-e", SAMPLE, "-o", "append_output[0].suggested_output=false")
    assert default.returncode == quiet.returncode == 0
    assert "container_image_repository=" in default.stdout
    assert quiet.stdout and "container_image_repository=" not in quiet.stdout
    for item, seen in (("append_output[0].match.rule=Nope", False),
                       ("append_output[0].match.rule=Shell seen", True)):
        extra = cli("run", "-e", events, "-o", f"rules_files={rules}",
                    "-o", "append_output[0].extra_output=[extra-mark]", "-o", item)
        assert extra.returncode == 0 and ("[extra-mark]" in extra.stdout) is seen, extra.stderr
    bad = cli("run", "-e", events, "-o", "rules_files[3]=x.yaml")
    assert bad.returncode == 2 and bad.stdout == ""
    assert ("falcoish: -o rules_files[3]=x.yaml: key 'rules_files': index 3 is past the end of the "
            "list (0 entries)") in bad.stderr


def test_program_output_problems_fail_at_start(tmp_path: Path) -> None:
    events = bash_events(tmp_path)
    stock_program = "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
    config = write(tmp_path / "c.yaml", "program_output:\n  enabled: true\n"
                                        f"  program: \"{stock_program.replace(chr(34), '')}\"\n")
    proc = cli("run", "-c", config, "-e", events)
    assert proc.returncode == 2 and proc.stdout == ""
    assert (f"falcoish: {config}:3: key 'program_output.program': uses the shell operator '|'"
            in proc.stderr) and "program_output.shell: true" in proc.stderr
    missing = cli("run", "-e", events, "-o", "program_output.enabled=true",
                  "-o", "program_output.program=/nonexistent/notify --all")
    assert missing.returncode == 2 and missing.stdout == ""
    assert ("key 'program_output.program': program /nonexistent/notify does not exist or is not "
            "executable") in missing.stderr
    missing = cli("run", "-e", events, "-o", "program_output.enabled=true",
                  "-o", "program_output.shell=true",
                  "-o", "program_output.program=no-such-notifier-x | cat")
    assert missing.returncode == 2 and "'no-such-notifier-x' not found in PATH" in missing.stderr
    # quoted, '|' is an argument, not a pipe
    quoted = cli("validate", "-o", "program_output.enabled=true",
                 "-o", "program_output.program=grep -v '|'")
    assert quoted.returncode == 0, quoted.stderr


def test_program_output_shell_runs_a_pipeline_like_falco(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    rules = write(tmp_path / "mine.yaml", SHELL_RULE)
    proc = cli("run", "--no-defaults", "-r", rules, "-e", bash_events(tmp_path),
               "-o", "stdout_output.enabled=false",
               "-o", "program_output.enabled=true", "-o", "program_output.shell=true",
               "-o", f"program_output.program=tr a-z A-Z | cat >> {out}")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.count("\n") == 1 and "WARNING SHELL RAN (PROC=BASH)" in text


def test_http_output_without_json_is_warned_about_at_start(tmp_path: Path) -> None:
    items = ["-o", "http_output.enabled=true", "-o", "http_output.url=http://127.0.0.1:9/hook"]
    proc = cli("validate", *items)
    assert proc.returncode == 0
    assert proc.stderr.count("key 'http_output.enabled': alerts are POSTed as text lines because "
                             "json_output is false") == 1
    for fix in ("json_output=true", "http_output.template={{ .Output | json }}"):
        proc = cli("validate", *items, "-o", fix)
        assert proc.returncode == 0 and "POSTed as text" not in proc.stderr


def test_append_output_extra_fields_reach_json_output_fields_only(tmp_path: Path) -> None:
    rules = write(tmp_path / "mine.yaml", SHELL_RULE)
    config = write(tmp_path / "c.yaml", "json_output: true\n"
                                        "append_output:\n"
                                        "  - match: {source: syscall}\n"
                                        "    extra_fields:\n"
                                        "      - home_directory: \"${FALCOISH_TEST_HOME}\"\n"
                                        "      - evt.hostname\n"
                                        "      - who: \"%proc.name as uid %user.uid\"\n"
                                        "  - match: {rule: Another rule}\n"
                                        "    extra_fields: [proc.pid]\n")
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "run", "--no-defaults",
                           "-r", rules, "-c", config, "-e", bash_events(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FALCOISH_TEST_HOME": "/home/falco-user"})
    assert proc.returncode == 0, proc.stderr
    alert = json.loads(proc.stdout)
    fields = alert["output_fields"]
    assert fields["home_directory"] == "/home/falco-user"
    assert fields["who"] == "bash as uid 0"
    assert isinstance(fields["evt.hostname"], str) and fields["evt.hostname"]
    assert "proc.pid" not in fields                      # that entry's match is another rule
    assert alert["output"].endswith("shell ran (proc=bash)")   # the text is unchanged
    bad = cli("validate", "-o", "append_output[0].extra_fields=[{a: 1}]")
    assert bad.returncode == 2 and "extra_fields entries must be field names" in bad.stderr


def test_validate_strict_fails_on_configuration_warnings(tmp_path: Path) -> None:
    """The stock file's ignored keys are warnings: `validate` passes, `validate --strict` not."""
    rules = write(tmp_path / "r.yaml", "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n"
                                      "  priority: WARNING\n")
    plain = cli("validate", "-c", str(STOCK), "--no-defaults", "-r", rules)
    strict = cli("validate", "--strict", "-c", str(STOCK), "--no-defaults", "-r", rules)
    assert plain.returncode == 0, plain.stderr
    assert strict.returncode == 1 and "--strict: validation failed" in strict.stderr, strict.stderr
