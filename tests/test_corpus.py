"""The upstream Falco rule files load unchanged."""

from __future__ import annotations

import yaml

from falcoish import load_rules


def _declared(files: list[str]) -> dict[str, bool]:
    """Rule name -> enabled, read straight from the YAML (independent of falcoish's loader)."""
    rules: dict[str, bool] = {}
    for path in files:
        for item in yaml.safe_load(open(path)) or []:
            if isinstance(item, dict) and "rule" in item:
                enabled = item.get("enabled", True)
                if item["rule"] in rules and set(item) <= {"rule", "enabled", "override"}:
                    rules[item["rule"]] = enabled
                else:
                    rules.setdefault(item["rule"], enabled)
    return rules


def test_corpus_loads_with_zero_errors_and_all_93_rules(corpus_files: list[str]) -> None:
    result = load_rules(corpus_files)
    assert [str(e) for e in result.problems.errors] == []
    declared = _declared(corpus_files)
    assert len(declared) == 93
    assert {r.name: r.enabled for r in result.ruleset.rules} == declared


def test_every_corpus_rule_is_indexed_by_event_type(corpus_files: list[str]) -> None:
    result = load_rules(corpus_files)
    assert all(r.event_types for r in result.ruleset.rules)
    catch_all = [r.name for r in result.ruleset.rules if r.all_types]
    assert catch_all == [], catch_all
