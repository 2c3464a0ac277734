"""file_output: alert lines appended to a file.

Step 9 of the pipeline (delivered).  As in Falco: append mode; without `keep_alive` the file
is opened per alert, so a rotated (renamed) file is replaced by a fresh one at the next alert;
with `keep_alive` it stays open and `reopen()` (SIGUSR1 in the run command) makes the next
alert open the path again.  A file this channel creates is 0600 whatever the umask: alerts
carry command lines, paths and user names (an existing file keeps the mode its owner chose).
"""

from __future__ import annotations

from typing import TextIO

from ..durable import create_private
from ..format import Alert
from . import Channel, DeliveryError, Renderer


class FileChannel(Channel):
    name = "file"

    def __init__(self, renderer: Renderer, filename: str, keep_alive: bool, buffered: bool,
                 name: str = "file", as_json: bool | None = None) -> None:
        self.renderer = renderer
        self.filename = filename
        self.keep_alive = keep_alive
        self.buffered = buffered
        self.name = name
        self.as_json = renderer.json_output if as_json is None else as_json
        self._handle: TextIO | None = None
        self._reopen = False

    def send(self, alert: Alert) -> None:
        line = (self.renderer.json(alert) if self.as_json else self.renderer.text(alert)) + "\n"
        try:
            if not self.keep_alive:
                with open(self.filename, "a", encoding="utf-8", opener=create_private) as handle:
                    handle.write(line)
                return
            if self._reopen:
                self._reopen = False
                self.close()
            if self._handle is None:
                self._handle = open(self.filename, "a", encoding="utf-8", opener=create_private)
            self._handle.write(line)
            if not self.buffered:
                self._handle.flush()
        except OSError as exc:
            self.close()
            raise DeliveryError(f"cannot append to {self.filename}: {exc.strerror or exc}") from None

    def reopen(self) -> None:
        self._reopen = True

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass
