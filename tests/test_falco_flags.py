"""Falco's command-line flags, typed as a Falco user would, against their falcoish long forms."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = str(REPO / "falcoish" / "data" / "sample_trace.jsonl")

RULES = """\
- list: listers
  items: [ls]
- macro: spawned
  condition: evt.type in (execve, execveat)
- rule: Listing run
  desc: a directory listing ran
  condition: spawned and proc.name in (listers)
  output: listing ran (cmdline=%proc.cmdline user=%user.name)
  priority: notice
  tags: [listing]
- rule: Anything spawned
  desc: any program ran
  condition: spawned
  output: spawned %proc.name
  priority: informational
"""

BROKEN = """\
- rule: Broken
  desc: uses a macro nobody defined
  condition: nowhere_defined and evt.type = open
  output: never
  priority: error
"""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=300)


def same(alias: list[str], long: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run both spellings; they must print the same thing and exit the same way."""
    short_form, long_form = cli(*alias, cwd=cwd), cli(*long, cwd=cwd)
    assert short_form.stdout == long_form.stdout, (alias, short_form.stderr, long_form.stderr)
    assert short_form.returncode == long_form.returncode, (alias, short_form.stderr, long_form.stderr)
    return short_form


@pytest.fixture()
def rules(tmp_path: Path) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return str(path)


def test_version_prints_the_package_version_one_fact_per_line() -> None:
    proc = same(["--version"], ["version"])
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("falcoish version:")
    assert importlib.metadata.version("falcoish") in lines[0]
    assert any(line.startswith("Engine version:") for line in lines)


def test_validate_alias_checks_exactly_the_given_files(rules: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    good = same(["-V", rules], ["validate", "--no-defaults", "-r", rules])
    assert good.returncode == 0 and "2 rules" in good.stdout      # not the default rules
    bad = same(["-V", rules, "--validate", str(broken)],
               ["validate", "--no-defaults", "-r", rules, "-r", str(broken)])
    assert bad.returncode == 1 and "nowhere_defined" in bad.stdout
    attached = same([f"--validate={broken}"], ["validate", "--no-defaults", "-r", str(broken)])
    assert attached.returncode == 1


def test_list_rules_alias_and_its_json_form(rules: str) -> None:
    text = same(["-L", "--no-defaults", "-r", rules], ["rules", "--no-defaults", "-r", rules])
    assert text.returncode == 0 and "Listing run" in text.stdout and "Anything spawned" in text.stdout
    as_json = same(["-L", "--no-defaults", "-r", rules, "-o", "json_output=true"],
                   ["rules", "--json", "--no-defaults", "-r", rules, "-o", "json_output=true"])
    assert as_json.returncode == 0
    assert [json.loads(line)["rule"] for line in as_json.stdout.splitlines()] == ["Listing run", "Anything spawned"]


def test_describe_rule_alias(rules: str) -> None:
    proc = same(["-l", "Listing run", "--no-defaults", "-r", rules],
                ["rules", "Listing run", "--no-defaults", "-r", rules])
    assert proc.returncode == 0
    assert "Listing run" in proc.stdout and "Anything spawned" not in proc.stdout


def test_list_fields_alias_with_source_and_names_only() -> None:
    full = same(["--list"], ["fields"])
    assert full.returncode == 0 and "proc.name" in full.stdout
    names = same(["--list", "syscall", "-N"], ["fields", "syscall", "-N"])
    assert names.returncode == 0
    listed = names.stdout.splitlines()
    assert "proc.name" in listed and "fd.name" in listed
    assert all(" " not in name for name in listed)             # names only, nothing else
    assert same(["--list=syscall", "-N"], ["fields", "-N"]).stdout == names.stdout
    unknown = same(["--list", "k8s_audit"], ["fields", "k8s_audit"])
    assert unknown.returncode == 2 and "unknown event source 'k8s_audit'" in unknown.stderr


def test_list_events_alias_marks_live_capture() -> None:
    proc = same(["--list-events"], ["events", "--all"])
    assert proc.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[:-1]}
    assert rows["execve"] == "live" and rows["openat"] == "live"
    assert rows["switch"] == "-"                                # known to rules, never captured live
    names = same(["--list-events", "-N"], ["events", "--all", "-N"])
    assert names.stdout.splitlines() == sorted(rows)


def test_support_document_has_digests_of_every_rules_file(rules: str, tmp_path: Path) -> None:
    folder = tmp_path / "rules.d"
    folder.mkdir()
    (folder / "b.yaml").write_text(BROKEN)
    (folder / "a.yml").write_text("- list: empty\n  items: []\n")
    (folder / "notes.txt").write_text("not rules")
    config = tmp_path / "falcoish.yaml"
    config.write_text("json_output: true\n")
    args = ["-c", str(config), "-r", rules, "-r", str(folder)]
    alias, long = cli("--support", *args), cli("support", *args)
    assert alias.returncode == long.returncode == 0, alias.stderr
    doc = json.loads(alias.stdout)
    assert {k: v for k, v in doc.items() if k != "cmdline"} == \
        {k: v for k, v in json.loads(long.stdout).items() if k != "cmdline"}
    assert doc["version"] == importlib.metadata.version("falcoish")
    assert doc["cmdline"] == "falcoish --support " + " ".join(args)
    assert doc["config"] == {"path": str(config), "content": "json_output: true\n"}
    assert set(doc["system_info"]) >= {"sysname", "nodename", "release", "version", "machine"}
    files = [Path(f["name"]) for f in doc["rules_files"]]
    assert files[-3:] == [Path(rules), folder / "a.yml", folder / "b.yaml"]
    assert files[0].name == "falco_rules.yaml"                  # the default rules load first
    for entry in doc["rules_files"]:
        data = Path(entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
    assert "nowhere_defined" not in alias.stdout                # no rule contents


def test_top_level_options_mean_run(rules: str, tmp_path: Path) -> None:
    replay = same(["-r", rules, "--no-defaults", "-e", SAMPLE], ["run", "-r", rules, "--no-defaults", "-e", SAMPLE])
    assert replay.returncode == 0 and "listing ran (cmdline=ls -la" in replay.stdout
    config = tmp_path / "falcoish.yaml"
    config.write_text(f"rules_files: [{rules}]\njson_output: true\n")
    configured = same(["-c", str(config), "-e", SAMPLE], ["run", "-c", str(config), "-e", SAMPLE])
    assert configured.returncode == 0 and json.loads(configured.stdout.splitlines()[0])["rule"]
    dry = same(["--dry-run", "-r", rules, "--no-defaults"], ["run", "--dry-run", "-r", rules, "--no-defaults"])
    assert dry.returncode == 0
    unbuffered = same(["-U", "-r", rules, "--no-defaults", "-e", SAMPLE],
                      ["run", "-U", "-r", rules, "--no-defaults", "-e", SAMPLE])
    assert unbuffered.stdout == replay.stdout


def test_an_option_value_is_never_taken_for_a_command(rules: str, tmp_path: Path) -> None:
    (tmp_path / "run").write_text(RULES)                       # a rules file named like a command
    named_run = same(["-r", "run", "--no-defaults", "-e", SAMPLE],
                     ["run", "-r", "run", "--no-defaults", "-e", SAMPLE], cwd=tmp_path)
    assert named_run.returncode == 0 and "listing ran" in named_run.stdout
    misplaced = cli("-r", rules, "run")
    assert misplaced.returncode == 2
    assert "'run' is a command: put it first (falcoish run -r " in misplaced.stderr


def test_usage_errors_stay_clear() -> None:
    bare = cli()
    assert bare.returncode == 2 and "usage: falcoish" in bare.stderr
    unknown = cli("--no-such-flag")
    assert unknown.returncode == 2 and "unrecognized arguments: --no-such-flag" in unknown.stderr
    both = cli("-L", "--version")
    assert both.returncode == 2 and "-L and --version cannot be combined" in both.stderr
    for missing in (cli("-l"), cli("-l", "-r", "x.yaml"), cli("-r", "x.yaml", "-V")):
        assert missing.returncode == 2 and "needs a value" in missing.stderr
