"""program_output: alert lines written to a program's standard input.

Step 9 of the pipeline (delivered).  Falco runs the configured command through the shell.
falcoish splits it into arguments once, at start-up (`shlex.split`), and starts it without a
shell, unless `program_output.shell: true` asks for Falco's way (`/bin/sh -c PROGRAM`, for a
pipeline).  Either way the command comes only from the configuration, and alert text -- which
an attacker can shape (file names, command lines) -- only ever travels on the program's stdin,
so it can never become part of a command.  Each alert is one line there: the values in it are escaped
(format.escape_value), so none can end the line early and hand the program a forged alert.

Without `keep_alive` one process per alert: the line is written, stdin closed, and exit
status 0 means delivered (anything else is a failed delivery, retried and then spooled).  With
`keep_alive` one long-lived process gets every line; if it has died it is started again at the
next alert.
"""

from __future__ import annotations

import shlex
import subprocess

import structlog

from ..format import Alert
from . import Channel, DeliveryError, Renderer


class ProgramChannel(Channel):
    name = "program"
    spool_on_failure = True

    def __init__(self, renderer: Renderer, program: str, keep_alive: bool, buffered: bool,
                 timeout: float, shell: bool = False) -> None:
        self.renderer = renderer
        self.argv = ["/bin/sh", "-c", program] if shell else shlex.split(program)
        self.keep_alive = keep_alive
        self.buffered = buffered
        self.timeout = timeout
        self.max_send_seconds = timeout + 1.0
        self._process: subprocess.Popen[bytes] | None = None
        self._stragglers: list[subprocess.Popen[bytes]] = []
        self._reopen = False
        self.log = structlog.get_logger("falcoish.output.program")

    def send(self, alert: Alert) -> None:
        data = (self.renderer.line(alert) + "\n").encode()
        if self.keep_alive:
            self._send_kept(data)
        else:
            self._send_once(data)

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(self.argv, stdin=subprocess.PIPE, shell=False, close_fds=True)
        except OSError as exc:
            raise DeliveryError(f"cannot start {self.argv[0]}: {exc.strerror or exc}") from None

    def _send_once(self, data: bytes) -> None:
        self._reap()
        process = self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(data)
            process.stdin.close()
        except OSError as exc:  # BrokenPipeError: it exited without reading
            process.wait()
            raise DeliveryError(f"{self.argv[0]} did not read the alert: {exc}") from None
        try:
            status = process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self.log.warning("program_output process still running; not waiting for it",
                             program=self.argv[0], pid=process.pid, timeout_s=self.timeout)
            self._stragglers.append(process)
            return
        if status != 0:
            raise DeliveryError(f"{self.argv[0]} exited with status {status}")

    def _send_kept(self, data: bytes) -> None:
        process = self._process
        if process is not None and (self._reopen or process.poll() is not None):
            if process.poll() is not None:
                self.log.warning("program_output process exited; starting it again",
                                 program=self.argv[0], status=process.returncode)
            self._reopen = False
            self._stop(process)
            process = self._process = None
        if process is None:
            process = self._process = self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(data)
            if not self.buffered:
                process.stdin.flush()
        except OSError as exc:
            self._stop(process)
            self._process = None
            raise DeliveryError(f"{self.argv[0]} stopped reading: {exc}") from None

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _reap(self) -> None:
        self._stragglers = [p for p in self._stragglers if p.poll() is None]

    def reopen(self) -> None:
        self._reopen = True

    def close(self) -> None:
        if self._process is not None:
            self._stop(self._process)
            self._process = None
        for process in self._stragglers:
            try:
                process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.log.warning("program_output process left running", pid=process.pid)
        self._stragglers = []
