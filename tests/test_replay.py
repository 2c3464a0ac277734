"""Replay (JSON lines -> Event) and record (Event -> JSON lines), docs/events.md."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from falcoish.events.event import Event
from falcoish.sources.record import EventWriter
from falcoish.sources.replay import read_events

DOCS = Path(__file__).resolve().parent.parent / "docs"


def record(n: int, **overrides: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "ts": 1_700_000_000_000_000_000 + n, "type": "openat", "tid": 100 + n, "res": 3,
        "args": {"fd": 3, "name": f"/tmp/f{n}", "flags": 0},
        "thread": {"pid": 100 + n, "tid": 100 + n, "comm": "cat", "args": ["x"]},
    }
    rec.update(overrides)
    return rec


def line(rec: Any) -> bytes:
    return orjson.dumps(rec) + b"\n"


class Bad:
    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    def __call__(self, number: int, reason: str) -> None:
        self.seen.append((number, reason))


def replay(path: Path | str) -> tuple[list[Event], list[tuple[int, str]]]:
    bad = Bad()
    return list(read_events(str(path), bad)), bad.seen


def test_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(line(record(i)) for i in range(3)))
    events, bad = replay(path)
    assert bad == []
    assert [e.tid for e in events] == [100, 101, 102]
    assert [e.num for e in events] == [1, 2, 3]  # no `num`: line numbers
    assert events[0].args["name"] == "/tmp/f0" and events[0].fd is None


def test_num_from_record_and_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(record(0, num=42)) + b"\r\n" + orjson.dumps(record(1)))
    events, bad = replay(path)
    assert bad == [] and [e.num for e in events] == [42, 2]


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    data = b"".join(line(record(i)) for i in range(5))
    for name in ("events.jsonl.gz", "events.jsonl", "no-extension"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(data))
        events, bad = replay(path)
        assert bad == [] and len(events) == 5, name
    plain = tmp_path / "plain.gz"  # a .gz name on a plain file is read as plain
    plain.write_bytes(data)
    assert len(replay(plain)[0]) == 5


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    data = b"".join(line(record(i)) for i in range(2000))
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(data)[:-200])
    events, bad = replay(path)
    assert 0 < len(events) < 2000
    assert len(bad) == 1 and bad[0][0] == len(events) + 1 and "truncated" in bad[0][1]


def test_stdin_from_pipe(tmp_path: Path) -> None:
    data = b"".join(line(record(i)) for i in range(3)) + b"not json\n"
    script = ("import sys\n"
              "from falcoish.sources.replay import read_events\n"
              "bad = []\n"
              "events = list(read_events('-', lambda n, r: bad.append(n)))\n"
              "print(len(events), bad)\n")
    for payload in (data, gzip.compress(data)):
        done = subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True,
                              cwd=Path(__file__).resolve().parent.parent, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout.decode().split() == ["3", "[4]"]


def test_stdin_monkeypatched(monkeypatch: pytest.MonkeyPatch) -> None:
    data = gzip.compress(line(record(1)) + line(record(2)))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    events, bad = replay("-")
    assert [e.tid for e in events] == [101, 102] and bad == []


def test_non_seekable_input_is_sniffed_without_losing_bytes(tmp_path: Path) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk, self.data = self.data[:1], self.data[1:]  # one byte at a time
            buffer[:len(chunk)] = chunk
            return len(chunk)

    from falcoish.sources import replay as module
    for payload in (line(record(7)), gzip.compress(line(record(7)))):
        stream = io.BufferedReader(Pipe(payload))
        original = sys.stdin
        try:
            sys.stdin = io.TextIOWrapper(stream)
            assert stream.seekable() is False
            events = list(module.read_events("-", Bad()))
        finally:
            sys.stdin = original
        assert [e.tid for e in events] == [107]


def test_bad_records_are_reported_and_skipped(tmp_path: Path) -> None:
    no_tid = record(3)
    del no_tid["tid"]
    lines = [
        line(record(1)),                       # 1 good
        b"{not json\n",                        # 2 not JSON
        line([record(2)]),                     # 3 array instead of object
        line(no_tid),                          # 4 missing tid
        line(record(5, tid="5")),              # 5 tid a string
        line(record(6, fd=7)),                 # 6 fd a number
        b"\n", b"   \t\r\n",                   # 7, 8 blank: not records, not reported
        line(record(9)),                       # 9 good
        b"\xff\xfe\n",                         # 10 not UTF-8
        line(record(11, res=True)),            # 11 res a bool
        line(record(12)),                      # 12 good
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(lines))
    events, bad = replay(path)
    assert [e.tid for e in events] == [101, 109, 112]
    assert [e.num for e in events] == [1, 9, 12]
    assert [n for n, _ in bad] == [2, 3, 4, 5, 6, 10, 11]
    reasons = dict(bad)
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3] == "record is a list, expected a JSON object"
    assert reasons[4] == "missing required key 'tid'"
    assert reasons[5] == "'tid' must be an integer, got str"
    assert reasons[6] == "'fd' must be an object or null, got int"
    assert reasons[10].startswith("not valid JSON")
    assert "'res'" in reasons[11]


def test_missing_file_raises_at_call() -> None:
    with pytest.raises(FileNotFoundError):
        read_events("/nonexistent/events.jsonl", Bad())


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert replay(path) == ([], [])


# -- writer ------------------------------------------------------------------------------


def _sample_events() -> list[Event]:
    recs = [
        record(1, num=1, fd={"num": 3, "type": "file", "name": "/etc/shadow", "flags": 0},
               user={"uid": 0, "name": "root"}, container={"id": "host"}),
        record(2, num=2, type="execve", res=0, ancestors=[{"pid": 1, "comm": "init"}],
               resolved={"uid": "root"}, args={"exe": "/bin/sh", "args": "a\x00b\xff"}),
        record(3, num=3, res=None),
    ]
    return [Event.from_record(r, i + 1) for i, r in enumerate(recs)]


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_writer_reader_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    originals = _sample_events()
    with EventWriter(str(path)) as writer:
        for event in originals:
            writer.write(event)
        writer.flush()
    assert writer.count == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\x1f\x8b") == name.endswith(".gz")
    events, bad = replay(path)
    assert bad == []
    assert [e.to_record() for e in events] == [e.to_record() for e in originals]


def test_writer_encodes_bytes_and_addresses(tmp_path: Path) -> None:
    import ipaddress
    path = tmp_path / "odd.jsonl"
    rec = record(1, args={"data": b"\x00\xffA", "addr": ipaddress.ip_address("10.0.0.1")})
    with EventWriter(str(path), share=False) as writer:
        writer.write_record(rec)
    decoded = json.loads(path.read_text("utf-8"))
    assert decoded["args"] == {"data": "\x00\xffA", "addr": "10.0.0.1"}
    with pytest.raises(TypeError):
        with EventWriter(str(tmp_path / "bad.jsonl")) as writer:
            writer.write_record(record(1, args={"x": object()}))


# -- schema ------------------------------------------------------------------------------


def _doc_example() -> dict[str, Any]:
    text = (DOCS / "events.md").read_text("utf-8")
    block = re.search(r"## Example\s+```json\n(.*?)```", text, re.S)
    assert block is not None
    result: dict[str, Any] = json.loads(block.group(1))
    return result


def test_doc_example_replays(tmp_path: Path) -> None:
    path = tmp_path / "example.jsonl"
    path.write_bytes(line(_doc_example()))
    events, bad = replay(path)
    assert bad == [] and events[0].type == "openat" and events[0].fd is not None


def test_schema_validates_doc_example() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DOCS / "event.schema.json").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    example = _doc_example()
    validator.validate(example)
    for good in (record(1), record(2, fd=None, res=None, user=None), *[e.to_record() for e in _sample_events()]):
        validator.validate(good)
    no_tid = dict(example)
    del no_tid["tid"]
    for bad in (no_tid, dict(example, tid="1"), dict(example, fd=3), dict(example, ancestors=None),
                dict(example, res=True), dict(example, fd={"type": "socket"}),
                dict(example, thread={"args": "x"})):
        assert not validator.is_valid(bad), bad
