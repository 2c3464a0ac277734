"""The sidecar index of a fleet recording: what a hunt may know about a file without reading it.

A fleet recording is a tree `ROOT/HOST/START-END.jsonl.gz` (docs/events.md, "Fleet
recordings").  Next to each recording, `<file>.index.json` holds one JSON object with the
host, the times of the first and last event (ns), the number of events and the count per
event type.  It is written after the recording is complete, so a hunt that reads it can skip
a file outside its time range, or without any event type its rules need, without opening the
(much larger, compressed) recording.  A missing or unreadable index is not an error: the
recording is then simply read, which is always correct, only slower.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INDEX_SUFFIX", "INDEX_VERSION", "RecordingIndex", "index_path", "read_index",
           "write_index"]

INDEX_SUFFIX = ".index.json"
INDEX_VERSION = 1
_MAX_INDEX_BYTES = 1 << 20  # an index is a few hundred bytes; refuse to load a huge one


@dataclass(frozen=True)
class RecordingIndex:
    """What one recording file holds: host, first/last event time (ns), counts per type."""

    host: str
    file: str
    first_ts: int
    last_ts: int
    events: int
    types: dict[str, int] = field(default_factory=dict)
    version: int = INDEX_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "host": self.host, "file": self.file,
                "first_ts": self.first_ts, "last_ts": self.last_ts, "events": self.events,
                "types": dict(sorted(self.types.items()))}


def index_path(recording_path: str) -> str:
    """The sidecar's path: the recording's own name plus `.index.json`."""
    return recording_path + INDEX_SUFFIX


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value


def _parse(data: Any) -> RecordingIndex:
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        raise ValueError("not a version 1 index")
    host, name, types = data.get("host"), data.get("file"), data.get("types")
    if not isinstance(host, str) or not isinstance(name, str) or not isinstance(types, dict):
        raise ValueError("bad host, file or types")
    counts = {str(k): _int(v) for k, v in types.items()}
    return RecordingIndex(host=host, file=name, first_ts=_int(data.get("first_ts")),
                          last_ts=_int(data.get("last_ts")), events=_int(data.get("events")),
                          types=counts)


def read_index(recording_path: str) -> RecordingIndex | None:
    """The sidecar of `recording_path`, or None when it is absent or not a valid index.

    None (rather than an error) because a hunt must then read the recording itself: an index
    that cannot be trusted must never cause a file to be skipped."""
    try:
        with open(index_path(recording_path), "rb") as f:
            raw = f.read(_MAX_INDEX_BYTES + 1)
        if len(raw) > _MAX_INDEX_BYTES:
            return None
        return _parse(json.loads(raw))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def write_index(recording_path: str, index: RecordingIndex) -> None:
    """Write the sidecar of `recording_path` (0600, via a temporary name then a rename, so a
    reader sees either no index or a whole one)."""
    final = index_path(recording_path)
    tmp = os.path.join(os.path.dirname(final) or ".", "." + os.path.basename(final) + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(index.to_json(), f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
