"""The spool: alerts a channel could not deliver yet, kept on disk until it can.

Part of step 9 of the pipeline (delivered).  Why: an alert is evidence; a webhook that is
down for an hour, or a queue that fills during a burst, must not make falcoish forget what
it saw.  Each channel has its own spool, `<spool_dir>/<channel>.jsonl`: an append-only file of
JSON lines (one alert each, every field of `Alert`), read from the front in order.  How far
the front has been delivered is the byte offset in `<channel>.offset`, rewritten (atomically,
by rename) only after a delivery succeeded -- for http only after a 2xx -- so a record leaves
the spool exactly once per process, and a crash between delivery and the offset write can at
worst send that one record again (at-least-once across crashes).  When the whole file has
been delivered it is truncated, so a spool that keeps up stays empty.

A spool left over from an earlier run is picked up and re-sent first when the channel starts.
`<channel>.rejected.jsonl` is the dead-letter file: alerts an endpoint refused for good (HTTP
4xx), with the reason, kept for an operator rather than retried forever.

The folder is created 0700 and every file in it 0600, whatever the umask: a spool holds full
alerts (command lines, paths, user names).  Appends are written to the file before `append`
returns (they survive `kill -9`) and fsynced on the schedule of the run's `Syncer`
(output/durable.py).  The offset file is not fsynced: after a system crash an older offset
only means alerts sent again, never alerts skipped.

One falcoish process per spool folder: two writers on the same files are not coordinated.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .durable import Syncer, fsync_dir, make_private_dir, open_private, sync_dup
from .format import Alert


def alert_record(alert: Alert) -> dict[str, Any]:
    return {"time_ns": alert.time_ns, "rule": alert.rule, "priority": alert.priority,
            "source": alert.source, "tags": list(alert.tags), "output": alert.output,
            "output_fields": alert.output_fields, "hostname": alert.hostname}


def alert_from_record(record: dict[str, Any]) -> Alert:
    return Alert(int(record["time_ns"]), str(record["rule"]), str(record["priority"]),
                 str(record["source"]), tuple(record.get("tags") or ()), str(record["output"]),
                 dict(record.get("output_fields") or {}), str(record["hostname"]))


def default_spool_dir() -> Path:
    """/var/lib/falcoish/spool for root, else $XDG_STATE_HOME (~/.local/state)/falcoish/spool."""
    if os.geteuid() == 0:
        return Path("/var/lib/falcoish/spool")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "falcoish" / "spool"


class Spool:
    """One channel's spool.  Thread-safe: the detection thread appends (queue overflow), the
    channel's worker appends, peeks and commits."""

    def __init__(self, folder: Path, name: str, syncer: Syncer | None = None) -> None:
        make_private_dir(folder)
        self.folder = folder
        self.path = folder / f"{name}.jsonl"
        self.offset_path = folder / f"{name}.offset"
        self.rejected_path = folder / f"{name}.rejected.jsonl"
        self.corrupt = 0
        self._syncer = syncer
        self._lock = threading.Lock()
        created = not self.path.exists()
        self._append: BinaryIO = os.fdopen(open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
        if created:
            fsync_dir(folder)
        self._read: BinaryIO = open(self.path, "rb")
        self._pos = 0
        self._pending = 0
        self._head: tuple[bytes, Alert] | None = None
        self._recover()

    def _recover(self) -> None:
        """Resume from the committed offset; drop a torn last line (a crash mid-append)."""
        size = self.path.stat().st_size
        data = b""
        if size:
            self._read.seek(0)
            data = self._read.read()
            if not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                os.truncate(self.path, keep)
                data = data[:keep]
        try:
            offset = int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0
        if not 0 <= offset <= len(data) or (offset and data[offset - 1:offset] != b"\n"):
            offset = 0
        self._pos = offset
        self._pending = data.count(b"\n", offset)

    @classmethod
    def exists(cls, folder: Path, name: str) -> bool:
        """Whether a previous run left records to send (cheap: no files are created)."""
        path = folder / f"{name}.jsonl"
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if not size:
            return False
        try:
            offset = int((folder / f"{name}.offset").read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0
        return offset < size

    def append(self, alert: Alert) -> None:
        line = orjson.dumps(alert_record(alert), default=str) + b"\n"
        with self._lock:
            self._append.write(line)
            self._append.flush()
            self._pending += 1
        if self._syncer is not None:
            self._syncer.written(self)

    def sync(self) -> None:
        with self._lock:
            fd = -1 if self._append.closed else os.dup(self._append.fileno())
        if fd >= 0:
            sync_dup(fd)

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def peek(self) -> Alert | None:
        """The oldest undelivered alert (the same one until `commit`), or None."""
        with self._lock:
            while self._head is None and self._pending:
                self._read.seek(self._pos)
                line = self._read.readline()
                if not line.endswith(b"\n"):
                    return None
                try:
                    self._head = (line, alert_from_record(orjson.loads(line)))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    self.corrupt += 1
                    self._advance(len(line))
            return self._head[1] if self._head is not None else None

    def commit(self) -> None:
        """The head was delivered (or dead-lettered): never send it again."""
        with self._lock:
            if self._head is None:
                return
            line, self._head = self._head[0], None
            self._advance(len(line))

    def _advance(self, length: int) -> None:
        self._pos += length
        self._pending -= 1
        if self._pending == 0:
            self._append.truncate(0)
            self._pos = 0
        self._write_offset()

    def _write_offset(self) -> None:
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, str(self._pos).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.offset_path)

    def reject(self, alert: Alert, reason: str) -> None:
        """Keep an alert the endpoint refused for good in the dead-letter file."""
        line = orjson.dumps({"reason": reason, "alert": alert_record(alert)}, default=str) + b"\n"
        with self._lock:
            fd = open_private(self.rejected_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, line)
                os.fdatasync(fd)      # rare (a receiver refusing alerts): kept at once, not batched
            finally:
                os.close(fd)

    def close(self) -> None:
        with self._lock:
            self._append.close()
            self._read.close()
