"""stdout_output: alert lines on standard output.

Step 9 of the pipeline (delivered).  Falco's default channel: one line per alert, flushed per
alert unless `buffered_outputs`, so `falcoish run | jq` sees alerts as they happen.  Why a
channel of its own and not a print in the run loop: a reader that stalls the pipe then stalls
only this channel's worker, never detection.
"""

from __future__ import annotations

import sys
from typing import TextIO

from ..format import Alert
from . import Channel, DeliveryError, Renderer


class StdoutChannel(Channel):
    name = "stdout"

    def __init__(self, renderer: Renderer, buffered: bool, stream: TextIO | None = None) -> None:
        self.renderer = renderer
        self.buffered = buffered
        self.stream = stream
        #: set once the reader went away (broken pipe); later alerts fail at once.
        self.gone = False

    def send(self, alert: Alert) -> None:
        if self.gone:
            raise DeliveryError("standard output is closed", permanent=True)
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            stream.write(self.renderer.line(alert) + "\n")
            if not self.buffered:
                stream.flush()
        except BrokenPipeError:
            self.gone = True
            raise DeliveryError("standard output is closed (broken pipe)", permanent=True) from None
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot write to standard output: {exc}") from None

    def close(self) -> None:
        if self.gone:
            return
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            stream.flush()
        except (OSError, ValueError):
            self.gone = True
