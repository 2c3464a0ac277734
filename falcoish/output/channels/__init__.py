"""Output channels: where alerts go (stdout, file, program, http, syslog).

Step 9 of the pipeline (delivered).  Each channel is one small class behind one interface,
`send(alert)`, called only from that channel's own worker thread (output/dispatcher.py), so a
channel may block, and may keep state (an open file, a process, a connection pool) without
locks.  A channel reports a failed delivery by raising `DeliveryError`; retries, backoff, the
spool and the counters are the dispatcher's business, the same for every channel.

`Renderer` turns an alert into the configured text line or JSON object (Falco's
`json_output`, `json_include_*_property`, `time_format_iso_8601`) so every channel formats
alike.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...config.settings import Config
from ..format import Alert, iso_time, json_text


#: Channels whose alerts are written to a journal before they are queued (output/journal.py),
#: so that `kill -9` cannot lose them: their receiver lives outside this process and can be
#: slow, blocked or away (a webhook, a program that stops reading, a stalled system logger),
#: so their queue can hold many alerts for a long time.  stdout and file are local writes that
#: keep up (their queue is normally empty) and skip the cost of a second write per alert.
JOURNALED = frozenset({"http", "program", "syslog"})


class DeliveryError(Exception):
    """The alert was not delivered.  `permanent`: trying again will not help (the endpoint
    rejected this alert, or the channel is gone for good)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(reason)


class Channel:
    """Base class.  `name` keys the counters and the spool file; `spool_on_failure` says
    whether alerts that still fail after the retries go to the spool (endpoints that come and
    go: http, program) or are counted `failed` (local sinks: stdout, file, syslog).
    `journaled`: see `JOURNALED`."""

    name = "channel"
    spool_on_failure = False
    #: longest a single `send` may take (seconds): how long `close()` waits for one in flight.
    max_send_seconds = 1.0

    @property
    def journaled(self) -> bool:
        """Whether an alert is written to this channel's journal before it is queued."""
        return self.name in JOURNALED

    def send(self, alert: Alert) -> None:
        raise NotImplementedError

    def reopen(self) -> None:
        """Reopen files and processes (log rotation, SIGUSR1).  Called from any thread: set
        a flag that the next `send` acts on."""

    def close(self) -> None:
        """Release resources; called from the worker thread after its last `send`."""


class Renderer:
    """The alert line/object shapes chosen by the config."""

    def __init__(self, config: Config) -> None:
        self.json_output: bool = config.json_output
        self.iso8601: bool = config.time_format_iso_8601
        self.with_output: bool = config.json_include_output_property
        self.with_tags: bool = config.json_include_tags_property
        self.with_fields: bool = config.json_include_output_fields_property
        self.with_message: bool = config.json_include_message_property

    def text(self, alert: Alert) -> str:
        return alert.text_line(self.iso8601)

    def json_dict(self, alert: Alert) -> dict[str, Any]:
        out = alert.to_dict(self.iso8601)
        if self.with_output:
            out["output"] = self.text(alert)
        else:
            del out["output"]
        if not self.with_tags or alert.source == "internal":
            del out["tags"]
        if not self.with_fields:
            del out["output_fields"]
        if self.with_message:
            out["message"] = alert.output
        return out

    def json(self, alert: Alert) -> str:
        # DEL, C1, bidi and line separators are legal raw in JSON strings: written as \uXXXX
        # so a JSON alert read on a terminal is as inert as a text one (same JSON value)
        return json_text(orjson.dumps(self.json_dict(alert), option=orjson.OPT_SORT_KEYS,
                                      default=str).decode())

    def line(self, alert: Alert) -> str:
        """What line-oriented channels write (without the newline)."""
        return self.json(alert) if self.json_output else self.text(alert)

    def template_data(self, alert: Alert) -> dict[str, Any]:
        """The fields a webhook template sees (config/template.py FIELDS)."""
        return {
            "Rule": alert.rule,
            "Priority": alert.priority,
            "Output": self.text(alert),
            "Message": alert.output,
            "Source": alert.source,
            "Hostname": alert.hostname,
            "Time": iso_time(alert.time_ns),
            "TimeNs": alert.time_ns,
            "Tags": list(alert.tags),
            "OutputFields": alert.output_fields,
            "JSON": self.json_dict(alert),
        }
