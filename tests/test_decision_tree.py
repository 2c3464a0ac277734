"""The planned decision tree (decision_tree.py, selectivity.py) answers exactly as each
rule's own condition does: before and after it learns from sampled events, with rules filed
in lookup tables by every kind of key, and with `or` tests on one field fused (compiler)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from falcoish import Event, load_rules
from falcoish.api import compile_condition
from falcoish.rules.decision_tree import _filing, conjuncts
from falcoish.runtime.engine import Engine
from falcoish.rules.ruleset import RuleSet

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from scaling import generate_rules  # noqa: E402
from synthetic import generate  # noqa: E402


def _agree(ruleset: RuleSet, outputs: dict, events: list[Event]) -> int:  # type: ignore[type-arg]
    """Assert the engine's matches equal the generic predicates' on every event; returns the
    number of matches seen."""
    engine = Engine(ruleset, outputs, rule_matching="all")
    fired = 0
    for event in events:
        expected = sorted(r.name for r in ruleset.enabled if r.matches(event))
        got = [r.name for r in engine.matching_rules(event)]
        assert sorted(got) == expected, (event.num, event.type, set(got) ^ set(expected))
        fired += len(got)
    return fired


def test_generated_rules_agree_before_and_after_learning(tmp_path: Path) -> None:
    path = tmp_path / "generated.yaml"
    path.write_text(generate_rules(400))
    result = load_rules([str(path)])
    assert result.ok
    events = [Event.from_record(orjson.loads(line), i) for i, line in enumerate(generate(4000, seed=3), 1)]
    learning = RuleSet(result.ruleset.rules, learn_after=20)
    fired = _agree(learning, result.outputs, events)
    assert fired > 200
    assert {"openat", "execve", "connect"} <= learning.learned
    # the guessed plan (no learning) gives the same answers
    assert _agree(RuleSet(result.ruleset.rules, learn_after=0), result.outputs, events) == fired


def test_corpus_agrees_after_learning(corpus_files: list[str]) -> None:
    result = load_rules([str(REPO / "default_rules"), *corpus_files])
    everything = result.ruleset.select(only_rules=[r.name for r in result.ruleset.rules])
    learning = RuleSet(everything.rules, learn_after=10)
    events = [Event.from_record(orjson.loads(line), i) for i, line in enumerate(generate(3000, seed=21), 1)]
    assert _agree(learning, result.outputs, events) > 100
    assert len(learning.learned) >= 5


# `{k}` makes each copy's tests differ, so that copies are filed in tables rather than
# sharing one guard
PATH_RULES = """
- rule: pm{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and fd.name pmatch (/etc/ssl, var/lib, /opt/*/bin, /only{k})
- rule: pm2-{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and fd.name pmatch (/etc, /srv/app, /only{k})
- rule: gl{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and (fd.name glob /etc/ss?/*.pem or fd.name glob /home/*/.ssh/id_* or fd.name glob /e\\*c or fd.name glob /only{k}* or fd.name glob /x)
- rule: sw{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and (fd.name startswith /etc or fd.name startswith /etc/ssl/private or fd.name startswith /only{k} or fd.name glob /*.key)
- rule: ew{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and (fd.name endswith .pem or fd.name endswith key.pem or fd.name endswith /x or fd.name endswith /only{k})
- rule: mixed{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and (fd.name in (/etc/shadow, /tmp/x, /only{k}) or fd.directory = /home/u/.ssh or proc.name = cat)
- rule: eq{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and fd.name in (/etc/shadow, /only{k}) and not proc.name in (sshd)
- rule: lit{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and fd.name glob /lit{k}
- rule: neg{k}
  desc: d
  output: o
  priority: info
  condition: evt.type = openat and not (fd.name startswith /etc or fd.name = /tmp/x or fd.name endswith .pem)
"""


def _path_rules(copies: int = 4, single_field: bool = False) -> str:
    """`single_field`: without the rule that tests several fields (so tables on fd.name
    alone are built)."""
    items = PATH_RULES.split("\n- rule: ")
    kept = [i for i in items if not (single_field and i.startswith("mixed"))]
    return "".join("\n- rule: ".join(kept).replace("{k}", str(k)) for k in range(copies))


PATHS = ["/etc/shadow", "/etc", "//etc//ssl/x.pem", "/etc/ssl", "/etc/ssl/private/key.pem", "etc/ssl/a",
         "/var/lib/dpkg", "var/lib", "/opt/tool/bin/x", "/opt/tool/sbin", "/home/u/.ssh/id_rsa",
         "/home/u/.ssh", "/e*c", "/e\\*c", "/etcetera", "/srv/app", "/srv/apple", "/tmp/x", "/x", "", "/",
         "/only1", "only2/x", "/only3.pem", "/xy", "/lit1", "/lit1y", "/a.key", "a.key"]


def _open(name: str | None, comm: str, num: int) -> Event:
    fd = None if name is None else {"num": 3, "type": "file", "name": name}
    return Event.from_record({"type": "openat", "ts": 1, "tid": 1, "res": 3, "args": {"fd": 3},
                              "thread": {"comm": comm, "pid": 1, "tid": 1}, "fd": fd}, num)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(PATHS),
                                    st.text(alphabet="/etcslprivah.*x", max_size=20)),
                          st.sampled_from(["cat", "sshd", "vim"])), min_size=1, max_size=30))
def test_every_kind_of_key_agrees(tmp_path_factory: object, cases: list[tuple[str | None, str]]) -> None:
    path = Path(str(tmp_path_factory.mktemp("rules"))) / "paths.yaml"  # type: ignore[attr-defined]
    # the same rule several times over, so that every filing kind builds a table
    path.write_text(_path_rules())
    result = load_rules([str(path)])
    assert result.ok, result.problems
    events = [_open(name, comm, i) for i, (name, comm) in enumerate(cases, 1)]
    for learn_after in (0, 3):
        _agree(RuleSet(result.ruleset.rules, learn_after=learn_after), result.outputs, events)


def test_known_paths_reach_each_rule_once(tmp_path: Path) -> None:
    path = tmp_path / "paths.yaml"
    path.write_text(_path_rules(single_field=True))
    result = load_rules([str(path)])
    single = [_open(name, comm, i) for i, name in enumerate(PATHS, 1) for comm in ("cat", "sshd")]
    assert _agree(RuleSet(result.ruleset.rules, learn_after=0), result.outputs, single) > 50
    path.write_text(_path_rules())
    result = load_rules([str(path)])
    events = [_open(name, comm, i) for i, name in enumerate(PATHS, 1) for comm in ("cat", "sshd")]
    ruleset = RuleSet(result.ruleset.rules, learn_after=0)
    assert _agree(ruleset, result.outputs, events) > 50
    engine = Engine(ruleset, result.outputs, rule_matching="all")
    # two prefixes, two suffixes, and fd.name and proc.name both lead to mixed0
    both = [r.name for r in engine.matching_rules(_open("/etc/shadow", "cat", 1))]
    assert len(both) == len(set(both)) and {"sw0", "mixed0", "eq1"} <= set(both)
    assert engine.matching_rules(_open("/tmp/x", "cat", 2)).count(result.ruleset.rules[5]) == 1


def test_filing_keys_are_necessary_conditions() -> None:
    def filing(condition: str) -> object:
        (conj,) = conjuncts(compile_condition(condition).tree)
        return _filing(conj)
    assert filing("fd.name pmatch (/etc/ssl, var/lib)") is not None
    assert filing("fd.name pmatch (/, /etc)") is None          # `/` matches every path: no key
    assert filing("fd.name pmatch (/*/bin)") is None           # a glob component has no key
    assert filing("fd.name glob *.pem") is None                 # no literal start
    assert filing("fd.name contains ssh") is None
    assert filing("proc.aname = bash") is None                  # several values per event
    assert filing("fd.name startswith /a or proc.name = x") is not None   # one part per field


def test_fused_or_on_one_field_matches_each_test() -> None:
    condition = ("fd.name startswith /a or fd.name = /b or fd.name in (/c, /d) or fd.name endswith .x "
                 "or fd.name contains zz or fd.name glob /g*")
    fused = compile_condition(condition)
    separate = [compile_condition(part) for part in condition.split(" or ")]
    rng = random.Random(5)
    for _ in range(400):
        value = rng.choice([None, "", "/a", "/ab", "/b", "/bb", "/c", "/d", "/e.x", "zz", "/g", "q/g"])
        fields = {} if value is None else {"fd.name": value}
        expected = any(p.evaluate(fields) for p in separate)
        assert fused.evaluate(fields) is expected, value
        assert compile_condition(f"not ({condition})").evaluate(fields) is (not expected)
