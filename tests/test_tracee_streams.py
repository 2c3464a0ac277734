"""Tracee streams through the CLI: `falcoish run --input tracee -e STREAM --json`, default rules.

Each TRC id of the default rules has a positive stream (what tracee-rules detects, from the
Tracee events its signatures use: LSM hooks, derived events, system calls) and a negative one
(near misses) under tests/data/tracee/; tests/data/tracee/expected.yaml lists the exact alerts
each must raise.  This is how a user runs a saved `tracee-ebpf --output json` capture.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

import falcoish
from falcoish.sources.tracee import read_tracee_events

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data" / "tracee"
EXPECTED: dict[str, list[str]] = yaml.safe_load((DATA / "expected.yaml").read_text())


def run_stream(path: Path) -> tuple[list[dict[str, Any]], str]:
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "run", "--input", "tracee",
                           "-e", str(path), "--json"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()], proc.stderr


def trc_tags() -> set[str]:
    loaded = falcoish.load_rules([str(ROOT / "default_rules")])
    assert loaded.ok
    return {t.upper() for rule in loaded.rules for t in rule.tags if t.upper().startswith("TRC-")}


@pytest.mark.parametrize("stream", sorted(EXPECTED))
def test_stream_raises_exactly_the_expected_alerts(stream: str) -> None:
    path = DATA / f"{stream}.jsonl"
    records = path.read_bytes().splitlines()
    unmapped: list[str] = []
    list(read_tracee_events(str(path), lambda n, r: pytest.fail(f"record {n}: {r}"),
                            on_unmapped=lambda n, name: unmapped.append(name)))
    assert set(unmapped) <= {"security_kernel_read_file"}     # a firmware read: not a module
    alerts, stderr = run_stream(path)
    assert f"Events processed: {len(records) - len(unmapped)}" in stderr, stderr
    assert "Bad records skipped: 0" in stderr
    # Flat shape first, then the nested shape: the same alerts twice.
    assert [a["rule"] for a in alerts] == EXPECTED[stream] * 2
    trc = stream.rsplit("-", 1)[0].upper()
    raised = {t.upper() for a in alerts for t in a["tags"]}
    assert (trc in raised) is stream.endswith("-positive"), sorted(raised)


def test_every_trc_of_the_default_rules_has_both_streams() -> None:
    files = {p.stem for p in DATA.glob("*.jsonl")}
    assert files == set(EXPECTED)
    for trc in trc_tags():
        assert {f"{trc.lower()}-positive", f"{trc.lower()}-negative"} <= files, trc
