"""What a Falco user sees of an alert: `falcoish tail` naming the rule of JSON alerts (`--host`,
`--tags`, `--compact`), the warning when `--rule`/`--tag` meet text lines, the default rules
printing each container field once, and `evt.time` in every alert's `output_fields`.
Everything runs through the CLI, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from falcoish.output.format import Alert
from falcoish.runtime.ruletests import DEFAULT_EVENT, DEFAULT_TS, _merge, _strip_lines

from .eventkit import BASE_TS, open_file

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time_ns() - 10**9


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=base | (env or {}))


def alert(n: int, priority: str = "Warning", rule: str = "Shell in container",
          tags: tuple[str, ...] = ("container", "shell"), host: str = "web-1",
          output: str | None = None) -> Alert:
    return Alert(NOW + n * 1000, rule, priority, "syscall", tags,
                 output if output is not None else f"shell number {n} (user=root)", {"n": n}, host)


def write(path: Path, *lines: str) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


# -- tail: JSON alerts show their rule --------------------------------------------------------

def test_json_alerts_show_the_rule_name(tmp_path: Path) -> None:
    a, b = alert(1), alert(2, "Critical", rule="Write below etc", tags=("fs",))
    log = write(tmp_path / "alerts.json", a.json_line(), b.json_line(), alert(3).text_line())
    proc = cli("tail", "--no-follow", "--color", "never", log)
    assert proc.returncode == 0, proc.stderr
    stamp = a.text_line().split(": ", 1)[0]
    assert proc.stdout.splitlines() == [
        f"{stamp}: Warning [Shell in container] shell number 1 (user=root)",
        f"{b.text_line().split(': ', 1)[0]}: Critical [Write below etc] shell number 2 (user=root)",
        alert(3).text_line()]                          # a text line has no rule to show


def test_json_alerts_without_output_show_the_rule_once(tmp_path: Path) -> None:
    """json_include_output_property=false: the message, or nothing but the rule name."""
    a = alert(4, "Error")
    bare = {k: v for k, v in a.to_dict().items() if k != "output"}
    log = write(tmp_path / "alerts.json", orjson.dumps(bare).decode(),
                orjson.dumps(bare | {"message": a.output}).decode())
    stamp = a.text_line().split(": ", 1)[0]
    assert cli("tail", "--no-follow", "--color", "never", log).stdout.splitlines() == [
        f"{stamp}: Error [Shell in container]",
        f"{stamp}: Error [Shell in container] shell number 4 (user=root)"]


def test_host_and_tags_columns(tmp_path: Path) -> None:
    a = alert(1)
    log = write(tmp_path / "alerts.json", a.json_line())
    stamp = a.text_line().split(": ", 1)[0]
    out = cli("tail", "--no-follow", "--color", "never", "--host", "--tags", log).stdout
    assert out == f"{stamp}: Warning web-1 [Shell in container] tags=container,shell shell number 1 (user=root)\n"
    assert cli("tail", "--no-follow", "--color", "never", "--tags", log).stdout == \
        f"{stamp}: Warning [Shell in container] tags=container,shell shell number 1 (user=root)\n"


def test_hostile_rule_host_and_tags_are_escaped(tmp_path: Path) -> None:
    evil = alert(1, rule="R\x1b[2J\nforged", host="h\u202eost", tags=("t\r",))
    log = write(tmp_path / "alerts.json", evil.json_line())
    out = cli("tail", "--no-follow", "--color", "never", "--host", "--tags", log).stdout
    assert out.count("\n") == 1 and "\x1b" not in out and "\u202e" not in out and "\r" not in out
    assert "h\\u202eost [R\\x1b[2J\\nforged] tags=t\\r shell" in out


def test_compact_view_fits_the_terminal(tmp_path: Path) -> None:
    long_output = "a very long output " + "x" * 200
    alerts = [alert(1, output=long_output), alert(2, "Emergency", rule="Kernel module loaded"),
              alert(3, "Error", rule="Write below etc")]
    log = write(tmp_path / "alerts.json", *(a.json_line() for a in alerts))
    proc = cli("tail", "--no-follow", "--color", "never", "--compact", log, env={"COLUMNS": "60"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    hms = [time.strftime("%H:%M:%S", time.localtime(a.time_ns // 10**9)) for a in alerts]
    assert lines[0].startswith(f"{hms[0]} W [Shell in container] a very long output xxx")
    assert len(lines[0]) == 60 and lines[0].endswith("x…")
    assert lines[1] == f"{hms[1]} ! [Kernel module loaded] shell number 2 (user=root)"
    assert lines[2] == f"{hms[2]} E [Write below etc] shell number 3 (user=root)"
    wide = cli("tail", "--no-follow", "--color", "never", "--compact", log, env={"COLUMNS": "300"})
    assert wide.stdout.splitlines()[0] == f"{hms[0]} W [Shell in container] {long_output}"


def test_compact_counts_wide_characters_and_colours_only_the_initial(tmp_path: Path) -> None:
    log = write(tmp_path / "alerts.json", alert(1, output="界" * 50).json_line())
    line = cli("tail", "--no-follow", "--color", "never", "--compact", log,
               env={"COLUMNS": "40"}).stdout.rstrip("\n")
    assert line.endswith("…") and 38 <= sum(2 if c == "界" else 1 for c in line) <= 40
    coloured = cli("tail", "--no-follow", "--color", "always", "--compact", log,
                   env={"COLUMNS": "40"}).stdout
    assert "\x1b[33mW\x1b[0m [Shell in container]" in coloured


def test_compact_and_json_exclude_each_other(tmp_path: Path) -> None:
    log = write(tmp_path / "alerts.json", alert(1).json_line())
    proc = cli("tail", "--no-follow", "--compact", "--json", log)
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


# -- tail: --rule/--tag on text alerts --------------------------------------------------------

def test_rule_filter_on_a_text_file_warns_once(tmp_path: Path) -> None:
    log = write(tmp_path / "alerts.txt", *(alert(n).text_line() for n in range(3)))
    for flag, value in (("--rule", "Shell in container"), ("--tag", "shell")):
        proc = cli("tail", "--no-follow", flag, value, log)
        assert proc.returncode == 0 and proc.stdout == ""
        assert proc.stderr.count("warning: --rule/--tag need JSON alerts (json_output: true); "
                                 f"the text lines of {log} carry no rule name") == 1, proc.stderr
    # near misses: JSON alerts under --rule, text alerts under a filter that applies to them
    json_log = write(tmp_path / "alerts.json", alert(1).json_line(), "a log line")
    assert cli("tail", "--no-follow", "--rule", "Shell*", json_log).stderr == ""
    proc = cli("tail", "--no-follow", "--min-priority", "warning", log)
    assert proc.stderr == "" and "shell number 1" in proc.stdout


def test_rule_filter_on_a_mixed_stream_shows_the_json_matches(tmp_path: Path) -> None:
    text = "".join(line + "\n" for line in (alert(1).text_line(), alert(2).json_line(),
                                            alert(3, rule="Other").json_line()))
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "tail", "--color", "never",
                           "--rule", "Shell*"], cwd=ROOT, input=text, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    assert [line.split("] ", 1)[1] for line in proc.stdout.splitlines()] == ["shell number 2 (user=root)"]
    assert "the text lines of standard input carry no rule name" in proc.stderr


# -- the default rules print each container field once ---------------------------------------

def replay_json(events: str, *args: str) -> list[dict[str, Any]]:
    proc = cli("run", "--watch", "off", "-q", "--json", "-e", events, *args)
    assert proc.returncode == 0, proc.stderr
    return [orjson.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def assert_container_fields_once(alerts: list[dict[str, Any]]) -> None:
    for item in alerts:
        for label in ("container_id=", "container_name=", "container_image_repository=",
                      "k8s_pod_name=", "k8s_ns_name="):
            assert item["output"].count(label) == 1, (item["rule"], item["output"])
        for label in (" image=", " pod=", " namespace="):      # the same fields, other labels
            assert label not in item["output"], (item["rule"], item["output"])


def test_sample_trace_alerts_show_container_fields_once() -> None:
    alerts = replay_json(str(ROOT / "falcoish" / "data" / "sample_trace.jsonl"))
    assert len(alerts) >= 5
    assert_container_fields_once(alerts)


def rule_test_events() -> tuple[list[dict[str, Any]], set[str]]:
    """Every event of the default rules' test cases (as `falcoish test` builds them), one
    case after another, and the rules those cases say fire."""
    records, fires = [], set()
    for path in sorted((ROOT / "default_rules" / "tests").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if "falco_rules.yaml" not in " ".join(doc.get("rules") or []):
            continue
        defaults = _merge(DEFAULT_EVENT, _strip_lines(doc.get("defaults") or {}))
        for case in doc["tests"]:
            fires.update(case.get("fires") or [])
            for raw in case["events"]:
                record = _merge(defaults, raw)
                record["ts"] = DEFAULT_TS + (len(records) + 1) * 1_000_000
                if "tid" not in raw and isinstance(record.get("thread"), dict):
                    record["tid"] = record["thread"].get("tid", record["tid"])
                records.append(record)
    return records, fires


def test_every_default_rule_alert_shows_container_fields_once(tmp_path: Path) -> None:
    records, fires = rule_test_events()
    events = tmp_path / "cases.jsonl"
    events.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    alerts = replay_json(str(events), "--no-defaults", "-r", str(ROOT / "default_rules" / "falco_rules.yaml"))
    fired = {a["rule"] for a in alerts}
    assert len(fires) >= 30 and len(fired & fires) >= 0.8 * len(fires), sorted(fires - fired)
    assert_container_fields_once(alerts)


# -- evt.time in output_fields ----------------------------------------------------------------

RULES = """
- rule: Read passwd
  desc: t
  condition: evt.type in (open, openat) and fd.name = /etc/passwd
  output: opened %fd.name by %proc.name
  priority: WARNING
"""


def test_evt_time_is_in_output_fields_as_falco_puts_it(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(open_file("/etc/passwd")) + b"\n")
    args = ("--no-defaults", "-r", str(rules))
    (item,) = replay_json(str(events), *args)
    assert item["output_fields"]["evt.time"] == BASE_TS           # ns since the epoch, a number
    assert item["output_fields"]["fd.name"] == "/etc/passwd"
    (iso,) = replay_json(str(events), *args, "-o", "time_format_iso_8601=true")
    assert iso["output_fields"]["evt.time.iso8601"] == iso["time"] and "evt.time" not in iso["output_fields"]
    (bare,) = replay_json(str(events), *args, "-o", "json_include_output_fields_property=false")
    assert "output_fields" not in bare
