"""Shared sections in recordings (docs/events.md, "Shared sections"): context written once
as `{"def": N, "value": ...}` and named by number in the events that carry it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from falcoish.events.event import Event
from falcoish.sources.record import EventWriter
from falcoish.sources.replay import read_events

DOCS = Path(__file__).resolve().parent.parent / "docs"
THREAD = {"pid": 7, "tid": 7, "comm": "make", "env": ["HOME=/root"] * 40, "args": ["-j2"]}
PARENT = {"pid": 6, "tid": 6, "comm": "bash", "env": ["HOME=/root"] * 40, "args": []}


def event(n: int, thread: dict[str, Any] = THREAD, **extra: Any) -> Event:
    record = {"num": n, "ts": 1_000 + n, "type": "openat", "tid": thread["tid"], "res": 3,
              "args": {"fd": 3, "name": f"/tmp/f{n}"}, "thread": thread, "ancestors": [PARENT],
              "fd": {"num": 3, "type": "file", "name": f"/tmp/f{n}"},
              "user": {"uid": 0, "name": "root"}, "container": {"id": "host"}, **extra}
    return Event.from_record(record, n)


def replay(path: Path) -> tuple[list[Event], list[tuple[int, str]]]:
    bad: list[tuple[int, str]] = []
    return list(read_events(str(path), lambda n, r: bad.append((n, r)))), bad


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_each_section_is_written_once_and_events_name_it(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    originals = [event(n) for n in range(1, 6)]
    with EventWriter(str(path)) as writer:
        for e in originals:
            writer.write(e)
    records = lines(path)
    defs = [r for r in records if "def" in r]
    # thread, ancestors, user, container: one definition each for five events
    assert len(defs) == writer.definitions == 4 and writer.count == 5
    assert [r["thread"] for r in records if "type" in r] == [defs[0]["def"]] * 5
    events, bad = replay(path)
    assert bad == []
    assert [e.to_record() for e in events] == [e.to_record() for e in originals]
    inline = tmp_path / "inline.jsonl"
    with EventWriter(str(inline), share=False) as writer:
        for e in originals:
            writer.write(e)
    assert path.stat().st_size * 3 < inline.stat().st_size


def test_a_changed_section_gets_a_new_definition(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    after_exec = dict(THREAD, comm="cc1", args=["x.c"])
    originals = [event(1), event(2, after_exec), event(3)]
    with EventWriter(str(path)) as writer:
        for e in originals:
            writer.write(e)
    events, bad = replay(path)
    assert bad == [] and [e.thread["comm"] for e in events] == ["make", "cc1", "make"]
    assert len({r["thread"] for r in lines(path) if "type" in r}) == 2


def test_a_full_table_reuses_the_least_recently_used_number(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    threads = [dict(THREAD, tid=t, pid=t) for t in range(10)]
    originals = [event(n, threads[(n * 7) % 10]) for n in range(1, 40)]
    with EventWriter(str(path), max_shared=2) as writer:  # raised to 5, one per shareable key
        for e in originals:
            writer.write(e)
    numbers = {r["def"] for r in lines(path) if "def" in r}
    assert numbers == {1, 2, 3, 4, 5} and writer.definitions > 20
    events, bad = replay(path)
    assert bad == []
    assert [e.to_record() for e in events] == [e.to_record() for e in originals]


def test_bad_definitions_and_references_are_counted_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = {"ts": 1, "type": "openat", "tid": 7}
    rows: list[Any] = [
        {"def": 1, "value": THREAD},
        dict(good, thread=1),                          # 2: fine
        dict(good, thread=2),                          # 3: never defined
        {"def": "x", "value": THREAD},                 # 4: number is not an integer
        {"def": 1, "value": "text"},                   # 5: value is not an object/array
        dict(good, thread=1),                          # 6: definition 1 was withdrawn by line 5
        {"def": 3, "value": [PARENT]},
        dict(good, thread=3),                          # 8: names an array where an object belongs
        {"def": 4, "value": {"pid": 1}},
        dict(good, thread={"tid": 7}, ancestors=4),    # 10: names an object where a list belongs
        dict(good, thread={"tid": 7}, ancestors=3, user=1),  # 11: user 1 is gone
        {"def": 1, "value": {"uid": 0, "name": "root"}},
        dict(good, thread={"tid": 7}, ancestors=3, user=1, container=4),  # 13: fine
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    events, bad = replay(path)
    assert [e.num for e in events] == [2, 13]
    assert events[1].ancestors == [PARENT] and events[1].user["name"] == "root"
    assert events[1].container == {"pid": 1}
    assert bad == [
        (3, "'thread' refers to shared section 2, which no earlier record defines"),
        (4, "'def' must be an integer, got str"),
        (5, "shared section 1: 'value' must be an object or an array"),
        (6, "'thread' refers to shared section 1, which no earlier record defines"),
        (8, "'thread' must be an object, got list"),
        (10, "'ancestors' must be a list of objects"),
        (11, "'user' refers to shared section 1, which no earlier record defines"),
    ]


def test_only_context_keys_can_be_shared(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps({"def": 1, "value": {"fd": 3}}) + b"\n"
                     + orjson.dumps({"ts": 1, "type": "openat", "tid": 7, "thread": {}, "args": 1}) + b"\n")
    events, bad = replay(path)
    assert events == [] and bad == [(2, "'args' must be an object, got int")]


def test_schema_accepts_definitions_and_references() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads((DOCS / "event.schema.json").read_text("utf-8")))
    good = {"ts": 1, "type": "openat", "tid": 7, "thread": 1, "ancestors": 2, "user": 3,
            "group": 3, "container": 4}
    for ok in ({"def": 1, "value": THREAD}, {"def": 2, "value": [PARENT]}, good):
        validator.validate(ok)
    for wrong in ({"def": 1}, {"def": "1", "value": {}}, {"def": 1, "value": 3},
                  dict(good, fd=5), dict(good, args=5), dict(good, thread=True)):
        assert not validator.is_valid(wrong), wrong
