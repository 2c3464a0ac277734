"""The journal: a channel's queue, written ahead to disk so `kill -9` cannot take it.

Part of step 9 of the pipeline (delivered).  Why: the queue of a channel whose endpoint is
slow or away (http, program, syslog) can hold thousands of alerts for seconds or minutes, and
a queue in memory dies with the process -- a `kill -9`, an OOM kill or a crash used to lose
every alert in it.  So for those channels `emit` first appends the alert to
`<spool_dir>/<channel>.journal.jsonl` (one JSON line, the spool's record format) and only then
queues it; the worker keeps delivering from memory, and after each alert is resolved
(delivered, dead-lettered, counted failed, or moved to the spool) it records in
`<channel>.journal.offset` how far the journal is resolved.  A run that starts with records
beyond that offset queues them first: they are the alerts the last run had queued and never
finished.

Costs and limits: one `write(2)` per alert in the detection thread and one 20-byte `pwrite(2)`
per alert in the worker (no fsync on either path; the run's `Syncer` fsyncs the journal, see
output/durable.py).  The offset is written after the alert is resolved, so a crash between the
two makes the next run send that one alert again: after a crash, at most the alert that was in
flight is delivered twice per channel -- more only if the crash falls while the queue is being
moved to the spool (endpoint down, or at exit), when the moved alerts can be in both.  The file
is truncated whenever everything in it is resolved and it has grown past `COMPACT_BYTES`, and at
a clean exit.  Positions handed out are logical (they keep growing across truncations), so a
late commit of an alert from before a truncation can never move the offset backwards into
newer records.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import structlog

from .durable import Syncer, fsync_dir, make_private_dir, open_private, sync_dup
from .format import Alert
from .spool import alert_from_record, alert_record

OFFSET_WIDTH = 20


class Journal:
    """One channel's write-ahead journal.  `append` is called by the detection thread,
    `commit` by the channel's worker, `sync` by the run's sync thread."""

    COMPACT_BYTES = 1 << 20

    def __init__(self, folder: Path, name: str, syncer: Syncer | None = None) -> None:
        self.folder = folder
        self.path = folder / f"{name}.journal.jsonl"
        self.offset_path = folder / f"{name}.journal.offset"
        self.corrupt = 0
        self.log = structlog.get_logger("falcoish.output").bind(channel=name)
        self._syncer = syncer
        self._lock = threading.Lock()
        self._fd = -1
        self._offset_fd = -1
        self._base = 0          # bytes truncated away in this process (logical = _base + physical)
        self._size = 0          # physical size of the file
        self._committed = 0     # logical position up to which every record is resolved

    @classmethod
    def has_pending(cls, folder: Path, name: str) -> bool:
        """Whether an earlier run left unresolved records (cheap: creates nothing)."""
        try:
            size = (folder / f"{name}.journal.jsonl").stat().st_size
        except OSError:
            return False
        return size > 0 and _read_offset(folder / f"{name}.journal.offset") < size

    def _open(self) -> None:
        """Caller holds _lock."""
        make_private_dir(self.folder)
        created = not self.path.exists()
        self._fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            self._offset_fd = open_private(self.offset_path, os.O_RDWR | os.O_CREAT)
        except OSError:
            os.close(self._fd)
            self._fd = -1
            raise
        if created:
            fsync_dir(self.folder)
        self._size = os.fstat(self._fd).st_size

    def recover(self) -> list[tuple[Alert, int]]:
        """The records an earlier run left unresolved, oldest first, each with the position
        to `commit` once it is resolved.  A torn last line (a crash mid-append) is cut off;
        lines that cannot be read are skipped and counted in `corrupt`."""
        with self._lock:
            if self._fd < 0:
                self._open()
            data = os.pread(self._fd, self._size, 0) if self._size else b""
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                os.ftruncate(self._fd, keep)
                data = data[:keep]
                self._size = keep
            offset = _read_offset(self.offset_path)
            if not 0 <= offset <= len(data) or (offset and data[offset - 1:offset] != b"\n"):
                offset = 0      # unreadable: send everything again rather than skip anything
            self._committed = offset
            out: list[tuple[Alert, int]] = []
            pos = offset
            while pos < len(data):
                end = data.index(b"\n", pos) + 1
                try:
                    out.append((alert_from_record(orjson.loads(data[pos:end])), end))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    self.corrupt += 1
                pos = end
            if self.corrupt:
                self.log.error("unreadable records skipped in the journal", corrupt=self.corrupt)
            return out

    def append(self, alert: Alert) -> int:
        """Write the alert; returns its position for `commit`.  Raises OSError (disk full,
        permissions) with the journal unchanged."""
        line = orjson.dumps(alert_record(alert), default=str) + b"\n"
        with self._lock:
            if self._fd < 0:
                self._open()
            try:
                written = os.write(self._fd, line)
                while written < len(line):
                    written += os.write(self._fd, line[written:])
            except OSError:
                os.ftruncate(self._fd, self._size)    # no half line for the next record to follow
                raise
            self._size += len(line)
            end = self._base + self._size
        if self._syncer is not None:
            self._syncer.written(self)
        return end

    def commit(self, end: int) -> None:
        """Every record up to `end` is resolved.  Positions at or below the last commit are
        ignored (an alert moved to the spool together with those after it commits them all)."""
        with self._lock:
            if end <= self._committed or self._fd < 0:
                return
            self._committed = end
            physical = end - self._base
            if physical >= self._size and self._size >= self.COMPACT_BYTES:
                physical = self._truncate()
            os.pwrite(self._offset_fd, b"%0*d" % (OFFSET_WIDTH, physical), 0)

    def _truncate(self) -> int:
        """Caller holds _lock and everything is resolved: empty the file."""
        os.ftruncate(self._fd, 0)
        self._base += self._size
        self._size = 0
        return 0

    def sync(self) -> None:
        with self._lock:
            fd = os.dup(self._fd) if self._fd >= 0 else -1
        if fd >= 0:
            sync_dup(fd)

    def close(self) -> None:
        """Empty the journal if everything in it is resolved (a clean exit), then close it.
        What is left unresolved stays for the next start."""
        with self._lock:
            if self._fd < 0:
                return
            try:
                if self._committed == self._base + self._size and self._size:
                    self._truncate()
                    os.pwrite(self._offset_fd, b"%0*d" % (OFFSET_WIDTH, 0), 0)
                os.fdatasync(self._fd)
            finally:
                os.close(self._fd)
                os.close(self._offset_fd)
                self._fd = self._offset_fd = -1


def _read_offset(path: Path) -> int:
    try:
        return int(path.read_bytes().strip() or b"0")
    except (OSError, ValueError):
        return 0
