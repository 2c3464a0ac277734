"""Files that hold alerts: private whatever the umask, and synced to disk on a stated schedule.

Part of step 9 of the pipeline (delivered).  Why a module of its own: the spool, the journal,
the alert files and recordings all hold full alerts or events -- command lines, file paths,
user names -- so they are created owner-only (folders 0700, files 0600) instead of inheriting
a umask that usually makes them world-readable; and the spool and journal promise that an
alert survives a crash, which needs one clear rule for when data reaches the disk.

The rule (`Syncer`): a write to the spool or the journal is a `write(2)` before the call that
made it returns, so it is in the kernel's page cache and survives the falcoish process being
killed (`kill -9`, an OOM kill, a crash).  What survives the *machine* crashing or losing power
depends on `fsync`: with `interval` > 0 a background thread `fdatasync`s every file written
since its last pass, every `interval` seconds, so an operating-system crash loses at most the
alerts written in the last `interval` seconds (plus a sync in progress); with `interval` == 0
every write is `fdatasync`ed before the call returns (nothing lost, at the cost of a disk
flush per alert in the detection thread).  New files are made durable too: their folder is
`fsync`ed once when they are created.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import structlog

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(folder: Path) -> bool:
    """Create `folder` (and missing parents) owner-only; True when it was created now.

    Only a folder created here is chmod-ed (the umask may have taken bits off): an existing
    one may be shared on purpose, and the files falcoish puts in it are 0600 anyway."""
    if folder.is_dir():
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        if folder.is_dir():
            return False
        raise
    os.chmod(folder, PRIVATE_DIR)
    fsync_dir(folder.parent)
    return True


def open_private(path: Path | str, flags: int) -> int:
    """os.open creating the file 0600.  An existing file of falcoish's own (spool, journal:
    owned by this user) that an older version left readable by others is tightened to 0600."""
    fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        os.close(fd)
        raise
    return fd


def create_private(path: str, flags: int) -> int:
    """An `opener` for `open()`: a file it creates is 0600 regardless of the umask; an existing
    file keeps the mode its owner gave it (alert files and recordings chosen by the user)."""
    return os.open(path, flags, PRIVATE_FILE)


def fsync_dir(folder: Path) -> None:
    """Make the entries of `folder` (a file just created, renamed or removed) durable."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_dup(fd: int) -> None:
    """fdatasync `fd`, a duplicate descriptor the caller made (under the lock that guards the
    original) and that is closed here.  Why a duplicate: the sync then runs without that lock
    -- a flush to disk can take milliseconds, and the detection thread appends under it --
    and cannot hit some other file if the original is closed and its number reused meanwhile."""
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class Syncable(Protocol):
    def sync(self) -> None:
        """Push what was written so far to the disk (fdatasync)."""


class Syncer:
    """The fsync policy of one run's spools and journals (see the module docstring)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.log = structlog.get_logger("falcoish.output")
        self._lock = threading.Lock()
        self._dirty: set[Syncable] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def written(self, target: Syncable) -> None:
        """`target` was just written: sync it now (interval 0, or after `close`) or at the
        next pass of the sync thread."""
        with self._lock:
            later = self.interval > 0 and not self._closed
            if later:
                self._dirty.add(target)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="falcoish-output-fsync", daemon=True)
                    self._thread.start()
        if not later:
            self._sync(target)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sync_all()

    def sync_all(self) -> None:
        with self._lock:
            targets, self._dirty = self._dirty, set()
        for target in targets:
            self._sync(target)

    def _sync(self, target: Syncable) -> None:
        try:
            target.sync()
        except OSError as exc:
            self.log.error("cannot fsync spooled alerts; they survive a falcoish crash but "
                           "maybe not a system crash", error=str(exc))

    def close(self) -> None:
        """Stop the thread after a last pass; later writes are synced at once."""
        with self._lock:
            self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5.0)
        self.sync_all()
