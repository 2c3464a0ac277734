"""syslog_output: alerts to the system logger.

Step 9 of the pipeline (delivered).  As in Falco: `syslog(level, line)` with the level taken
from the alert priority (Emergency = LOG_EMERG ... Debug = LOG_DEBUG), facility LOG_USER,
no trailing newline.  The stdlib call cannot report a lost message, so this channel never
fails; `send` is injectable so tests need no syslog daemon.  The line is the Renderer's, whose
field values are already escaped (format.escape_value): one message per alert, with no newline
to split it in the log and no NUL for syslog(3) to cut it at.
"""

from __future__ import annotations

import syslog
from typing import Callable

from ..format import Alert
from . import Channel, Renderer

LEVELS = {
    "Emergency": syslog.LOG_EMERG, "Alert": syslog.LOG_ALERT, "Critical": syslog.LOG_CRIT,
    "Error": syslog.LOG_ERR, "Warning": syslog.LOG_WARNING, "Notice": syslog.LOG_NOTICE,
    "Informational": syslog.LOG_INFO, "Debug": syslog.LOG_DEBUG,
}


class SyslogChannel(Channel):
    name = "syslog"

    def __init__(self, renderer: Renderer, send: Callable[[int, str], None] | None = None) -> None:
        self.renderer = renderer
        self._send = send
        self._opened = False

    def send(self, alert: Alert) -> None:
        if self._send is None:
            if not self._opened:
                syslog.openlog("falcoish", syslog.LOG_PID, syslog.LOG_USER)
                self._opened = True
            syslog.syslog(LEVELS.get(alert.priority, syslog.LOG_WARNING), self.renderer.line(alert))
        else:
            self._send(LEVELS.get(alert.priority, syslog.LOG_WARNING), self.renderer.line(alert))
