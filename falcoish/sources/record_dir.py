"""`--record DIR`: a fleet recording, one gzip file per host and period, each with its index.

Why a directory rather than one growing file: a fleet keeps days of events from hundreds of
hosts, and a hunt (`falcoish hunt`) wants to hand each file to a worker on its own and to skip
files outside its time range.  So every file is self-contained (a new `EventWriter` per file:
its shared sections are defined inside it) and replays alone with `falcoish run -e FILE`.

Layout: `DIR/HOST/START-END.jsonl.gz`, START and END the UTC times (`YYYYMMDDTHHMMSSZ`) of the
file's first and last event (`START-END_000001.jsonl.gz`… when several files share them), and next to it the sidecar `…jsonl.gz.index.json` (fleet.py).
A file is written under a hidden temporary name (`.….part.gz`) and renamed when it is complete,
index first: whoever lists `*.jsonl.gz` never sees half a file.

Rotation follows EVENT time, not the wall clock: periods are aligned to multiples of the
rotation length since the epoch (15m gives :00, :15, :30, :45 UTC), and a file is closed when
an event falls in a later period.  A replayed day of events therefore gives the files of that
day's periods, and live capture (whose event times are the clock) the same as a wall-clock
rotation, except that a quiet period closes its file only when the next event arrives (or at
exit); a jump back of more than a period (a clock set back) starts a new file too.  A size limit (compressed bytes, approximate: the compressor's buffer is not counted)
closes a file early as well.  Files and the host folder are created owner-only (0600/0700):
events carry command lines, environments and paths.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections import Counter

from ..events.event import Event
from .fleet import RecordingIndex, write_index
from .record import EventWriter

__all__ = ["FleetRecorder", "parse_duration", "safe_host"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NS = 1_000_000_000


def parse_duration(text: str) -> int:
    """`15m`, `1h`, `90s`, `1d` (a bare number is seconds) -> nanoseconds; ValueError if not."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 1d)")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"] * NS


def safe_host(name: str | None = None) -> str:
    """A host name usable as one folder name: anything but letters, digits, `.`, `_` and `-`
    becomes `_`, and no leading dot (so never `.`, `..` or hidden)."""
    raw = socket.gethostname() if name is None else name
    cleaned = _UNSAFE.sub("_", raw).lstrip(".")[:200]
    return cleaned or "unknown-host"


def _stamp(ts_ns: int) -> str:
    """`YYYYMMDDTHHMMSSZ`; a replayed record's time is whatever its file says, so it is
    clamped to what the C library can render (1970 to 2262) rather than crash the run."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(min(max(ts_ns, 0), (1 << 63) - 1) // NS))


class _Open:
    """The file being written: its writer, temporary path and what its index will say."""

    def __init__(self, folder: str, first_ts: int) -> None:
        # hidden, and not ending in `.jsonl.gz` (so no listing takes it for a recording), but
        # in `.gz`, which is what makes the writer compress
        self.tmp = os.path.join(folder, f".{_stamp(first_ts)}-{os.getpid()}.part.gz")
        self.writer = EventWriter(self.tmp)
        self.first_ts = first_ts
        self.last_ts = first_ts
        self.types: Counter[str] = Counter()


class FleetRecorder:
    """Writes events into `root/HOST/START-END.jsonl.gz` files, rotating by event time
    (`rotate_ns`) and/or compressed size (`max_bytes`).  Same use as `EventWriter`:
    `write(event)` then `close()`; `files` lists the recordings completed so far."""

    def __init__(self, root: str, host: str | None = None, rotate_ns: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.root = root
        self.host = safe_host(host)
        self.rotate_ns = rotate_ns
        self.max_bytes = max_bytes
        self.folder = os.path.join(root, self.host)
        _make_private_dir(root)
        _make_private_dir(self.folder)
        self.files: list[str] = []
        self.count = 0
        self._open: _Open | None = None
        self._period_end: int | None = None

    def write(self, event: Event) -> None:
        ts = event.ts
        current = self._open
        if current is not None and self._must_rotate(current, ts):
            self._finish()
            current = None
        if current is None:
            current = self._open = _Open(self.folder, ts)
            if self.rotate_ns:
                self._period_end = (ts // self.rotate_ns + 1) * self.rotate_ns
        current.writer.write(event)
        current.types[event.type] += 1
        if ts > current.last_ts:
            current.last_ts = ts
        elif ts < current.first_ts:
            current.first_ts = ts
        self.count += 1

    def _must_rotate(self, current: _Open, ts: int) -> bool:
        """A later period, or a jump back of more than a whole period (a clock set back, or
        a replay of concatenated traces); events a little out of order, as a live capture's
        per-CPU buffers deliver them around a boundary, stay in the file being written."""
        end, length = self._period_end, self.rotate_ns
        if end is not None and length and (ts >= end or ts < end - 2 * length):
            return True
        return bool(self.max_bytes) and current.writer.bytes_written() >= (self.max_bytes or 0)

    def _finish(self) -> None:
        """Close the file being written: name it after its first and last event, write its
        index, then rename it into place (so a listed recording always has its index)."""
        current, self._open, self._period_end = self._open, None, None
        if current is None:
            return
        current.writer.close()
        final = self._free_name(f"{_stamp(current.first_ts)}-{_stamp(current.last_ts)}")
        name = os.path.basename(final)
        write_index(final, RecordingIndex(host=self.host, file=name, first_ts=current.first_ts,
                                          last_ts=current.last_ts, events=current.writer.count,
                                          types=dict(current.types)))
        os.replace(current.tmp, final)
        self.files.append(final)

    def _free_name(self, stem: str) -> str:
        """`stem.jsonl.gz`, or `stem_NNNNNN.jsonl.gz` when a file of that name exists (a size
        rotation within one second, or a restarted recorder): never overwrite a recording.
        `_` and the zero padding sort these after `stem.jsonl.gz` and in the order written,
        so listing a host's folder by name gives its files in time order."""
        path = os.path.join(self.folder, stem + ".jsonl.gz")
        n = 1
        while os.path.exists(path):
            path = os.path.join(self.folder, f"{stem}_{n:06d}.jsonl.gz")
            n += 1
        return path

    def flush(self) -> None:
        if self._open is not None:
            self._open.writer.flush()

    def close(self) -> None:
        self._finish()


def _make_private_dir(path: str) -> None:
    """Create `path` 0700 (whatever the umask) when it does not exist; an existing folder is
    the user's and keeps its mode."""
    try:
        os.makedirs(path, mode=0o700)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return
    os.chmod(path, 0o700)
