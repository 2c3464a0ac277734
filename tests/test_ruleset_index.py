"""The indexed, specialised, shared-guard evaluation gives exactly the generic answer."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson

from falcoish import Event, load_rules
from falcoish.runtime.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from synthetic import generate  # noqa: E402

from .sample_trace import build  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def test_engine_matches_equal_generic_rule_predicates(corpus_files: list[str]) -> None:
    result = load_rules([str(REPO / "default_rules"), *corpus_files])
    assert result.ok
    ruleset = result.ruleset.select(only_rules=[r.name for r in result.ruleset.rules])
    engine = Engine(ruleset, result.outputs, rule_matching="all")
    records = [orjson.loads(line) for line in generate(3000, seed=11)] + build()
    rng = random.Random(3)
    checked = fired = 0
    for i, record in enumerate(records, 1):
        if rng.random() < 0.3:                      # same record under other event types
            record = dict(record, type=rng.choice(["open", "openat2", "execveat", "accept", "rename",
                                                   "link", "mount", "bpf", "creat", "sendmsg"]))
        event = Event.from_record(record, i)
        expected = {r.name for r in ruleset.enabled if r.matches(event)}
        got = {r.name for r in engine.matching_rules(event)}
        assert got == expected, (record["type"], got ^ expected)
        checked += 1
        fired += bool(got)
    assert checked == len(records) and fired > 100


def test_rule_matching_first_picks_the_earliest_rule_in_file_order(corpus_files: list[str]) -> None:
    result = load_rules([str(REPO / "default_rules"), *corpus_files])
    first = Engine.from_load(result, rule_matching="first")
    every = Engine.from_load(result, rule_matching="all")
    for i, line in enumerate(generate(2000, seed=5), 1):
        event = Event.from_record(orjson.loads(line), i)
        all_matches = every.matching_rules(event)
        assert first.matching_rules(event) == all_matches[:1]


def test_many_similar_rules_dispatch_by_value_and_agree_with_generic(tmp_path: Path) -> None:
    rules = []
    for n in range(60):
        names = f"tool{n}" if n % 3 else f"(tool{n}, tool{n + 1}, shared)"
        op = "=" if n % 3 else "in"
        rules.append(f"- rule: r{n}\n  desc: d\n  output: o %proc.name\n  priority: info\n"
                     f"  condition: evt.type = execve and proc.name {op} {names}"
                     + (f" and proc.args contains x{n % 4}\n" if n % 2 else "\n"))
    for n in range(20):
        rules.append(f"- rule: p{n}\n  desc: d\n  output: o\n  priority: info\n"
                     f"  condition: evt.type = execve and proc.cwd startswith /srv/d{n % 12}\n")
        rules.append(f"- rule: i{n}\n  desc: d\n  output: o\n  priority: info\n"
                     f"  condition: evt.type = execve and proc.pid in ({n}, {n + 3})\n")
    rules.append("- rule: other\n  desc: d\n  output: o\n  priority: info\n"
                 "  condition: evt.type = execve and proc.cwd startswith /srv\n")
    path = tmp_path / "many.yaml"
    path.write_text("".join(rules))
    result = load_rules([str(path)])
    assert result.ok
    engine = Engine.from_load(result, rule_matching="all")
    rng = random.Random(9)
    hits = 0
    for i in range(600):
        name = rng.choice([f"tool{rng.randrange(70)}", "shared", "bash"])
        record = {"type": "execve", "ts": 1, "tid": 1, "res": 0,
                  "thread": {"comm": name, "args": [f"x{rng.randrange(5)}"], "pid": rng.randrange(30),
                             "cwd": rng.choice(["/srv/a/", "/", f"/srv/d{rng.randrange(14)}/x/", "/srv/d1"])}}
        event = Event.from_record(record, i)
        expected = {r.name for r in result.ruleset.enabled if r.matches(event)}
        got = {r.name for r in engine.matching_rules(event)}
        assert got == expected, (name, got ^ expected)
        hits += len(got)
    assert hits > 100
