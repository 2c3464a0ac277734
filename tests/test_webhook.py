"""http_output against a real HTTP server on 127.0.0.1: templates, headers, retries, the spool
while the server is down, exactly-once arrival when it is back, TLS verification."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import pytest

from falcoish.config import settings as config_mod
from falcoish.config.settings import Config, load_config
from falcoish.output.dispatcher import Outputs, build_outputs
from falcoish.output.format import Alert


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_mod, "DEFAULT_PATH", str(tmp_path / "absent.yaml"))


def make_alert(n: int, rule: str = "Write below etc") -> Alert:
    return Alert(1_700_000_000_000_000_000 + n, rule, "Error", "syscall", ("filesystem",),
                 f'file "/etc/x{n}" opened for writing (user=root)', {"fd.name": f"/etc/x{n}", "n": n},
                 "testhost")


class Hook:
    """A webhook receiver: records accepted requests; `respond(n_request) -> status` and
    `delay` shape its behaviour.  stop() closes the listening socket (connection refused),
    start() listens again on the same port."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.respond: Callable[[int, bytes], int] = lambda number, body: 200
        self.delay = 0.0
        self.port = 0
        self.tls: ssl.SSLContext | None = None
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.requests += 1
                    number = hook.requests
                if hook.delay:
                    time.sleep(hook.delay)
                status = hook.respond(number, body)
                if 200 <= status < 300:
                    with hook.lock:
                        hook.accepted.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    def numbers(self) -> list[int]:
        with self.lock:
            return [orjson.loads(r["body"])["output_fields"]["n"] for r in self.accepted]

    def wait_for(self, count: int, timeout: float = 8.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.accepted) >= count:
                    return True
            time.sleep(0.01)
        return False


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.start()
    yield server
    server.stop()


def http_cfg(tmp_path: Path, url: str, *items: str) -> Config:
    return load_config(None, ["stdout_output.enabled=false", "http_output.enabled=true",
                              f"http_output.url={url}", f"outputs.spool_dir={tmp_path / 'spool'}",
                              "outputs.retry_backoff=0.02", "outputs.retry_max_backoff=0.1",
                              "http_output.timeout=2", *items])


def test_every_alert_arrives_with_the_template_applied(tmp_path: Path, hook: Hook) -> None:
    template = ('{"text": {{ .Output | json }}, "rule": {{ .Rule | json }}, "n": {{ index .OutputFields "n" }}, '
                '"file": {{ index .OutputFields "fd.name" | json }}, "tags": {{ .Tags | json }}, '
                '"priority": "{{ .Priority | lower }}", "host": "{{ .Hostname }}", "time": "{{ .Time }}"}')
    config = http_cfg(tmp_path, hook.url, f"http_output.template={template}",
                      "http_output.content_type=application/vnd.alerts+json",
                      "http_output.headers.Authorization=Bearer s3cret",
                      "http_output.headers.X-Source=falcoish-test")
    outputs = build_outputs(config)
    for n in range(50):
        outputs.emit(make_alert(n))
    stats = outputs.close(10)["http"]
    assert stats == {"sent": 50, "retried": 0, "spooled": 0, "failed": 0, "queued": 0, "spool_pending": 0}
    assert len(hook.accepted) == 50
    for n, request in enumerate(hook.accepted):
        body = orjson.loads(request["body"])
        alert = make_alert(n)
        assert body == {"text": alert.text_line(), "rule": "Write below etc", "n": n, "file": f"/etc/x{n}",
                        "tags": ["filesystem"], "priority": "error", "host": "testhost",
                        "time": alert.to_dict()["time"]}
        headers = request["headers"]
        assert request["path"] == "/hook"
        assert headers["Content-Type"] == "application/vnd.alerts+json"
        assert headers["Authorization"] == "Bearer s3cret"
        assert headers["X-Source"] == "falcoish-test"
        assert headers["User-Agent"] == "falcoish/0.1.0"


@pytest.mark.parametrize("json_output, content_type", [(True, "application/json"), (False, "text/plain")])
def test_default_body_is_falcos_line(tmp_path: Path, hook: Hook, json_output: bool, content_type: str) -> None:
    outputs = build_outputs(http_cfg(tmp_path, hook.url, f"json_output={json_output}"))
    outputs.emit(make_alert(7))
    outputs.close(10)
    (request,) = hook.accepted
    assert request["headers"]["Content-Type"] == content_type
    if json_output:
        assert orjson.loads(request["body"])["output_fields"] == {"fd.name": "/etc/x7", "n": 7,
                                                                   "evt.time": 1_700_000_000_000_000_007}
    else:
        assert request["body"].decode() == make_alert(7).text_line()


def test_server_down_then_up_every_alert_arrives_exactly_once(tmp_path: Path, hook: Hook) -> None:
    outputs = build_outputs(http_cfg(tmp_path, hook.url, "json_output=true"))
    for n in range(20):
        outputs.emit(make_alert(n))
    assert hook.wait_for(20)

    hook.stop()                                   # the endpoint goes away ...
    for n in range(20, 80):
        outputs.emit(make_alert(n))
        if n % 10 == 0:
            time.sleep(0.05)
    deadline = time.monotonic() + 5
    while outputs.stats()["http"]["spool_pending"] < 60 and time.monotonic() < deadline:
        time.sleep(0.02)
    down = outputs.stats()["http"]
    assert down["spool_pending"] == 60 and down["sent"] == 20 and down["retried"] > 0

    hook.start()                                  # ... and comes back on the same port
    for n in range(80, 100):
        outputs.emit(make_alert(n))
    assert hook.wait_for(100)
    stats = outputs.close(10)["http"]

    counts = Counter(hook.numbers())
    assert set(counts) == set(range(100))
    assert all(c == 1 for c in counts.values()), {n: c for n, c in counts.items() if c != 1}
    assert hook.numbers() == list(range(100))    # and in order
    assert stats["sent"] == 100 and stats["failed"] == 0 and stats["spool_pending"] == 0
    assert stats["spooled"] >= 60


def test_server_errors_are_retried_until_accepted(tmp_path: Path, hook: Hook) -> None:
    hook.respond = lambda number, body: 503 if number <= 4 else 200
    outputs = build_outputs(http_cfg(tmp_path, hook.url, "json_output=true", "outputs.retry_attempts=3"))
    for n in range(10):
        outputs.emit(make_alert(n))
    assert hook.wait_for(10)
    stats = outputs.close(10)["http"]
    assert hook.numbers() == list(range(10))
    assert stats["sent"] == 10 and stats["retried"] == 4 and stats["failed"] == 0


def test_a_rejected_alert_is_dead_lettered_and_does_not_block_the_rest(tmp_path: Path, hook: Hook) -> None:
    hook.respond = lambda number, body: 422 if b'"n":3' in body else 200
    outputs = build_outputs(http_cfg(tmp_path, hook.url, "json_output=true"))
    for n in range(6):
        outputs.emit(make_alert(n))
    stats = outputs.close(10)["http"]
    assert hook.numbers() == [0, 1, 2, 4, 5]
    assert stats["failed"] == 1 and stats["retried"] == 0
    dead = orjson.loads((tmp_path / "spool" / "http.rejected.jsonl").read_bytes().splitlines()[0])
    assert dead["alert"]["output_fields"]["n"] == 3 and dead["reason"].startswith("HTTP 422")


def test_spool_left_at_exit_is_sent_by_the_next_run(tmp_path: Path, hook: Hook) -> None:
    url = hook.url
    hook.stop()
    outputs = build_outputs(http_cfg(tmp_path, url, "json_output=true"))
    for n in range(5):
        outputs.emit(make_alert(n))
    stats = outputs.close(0.5)["http"]
    assert stats["sent"] == 0 and stats["spool_pending"] == 5

    hook.start()
    outputs = build_outputs(http_cfg(tmp_path, url, "json_output=true"))
    outputs.emit(make_alert(5))
    assert hook.wait_for(6)
    outputs.close(10)
    assert hook.numbers() == list(range(6))


def test_timeouts_are_retried(tmp_path: Path, hook: Hook) -> None:
    hook.delay = 0.6                              # slower than the 0.2 s timeout ...
    outputs = build_outputs(http_cfg(tmp_path, hook.url, "json_output=true", "http_output.timeout=0.2"))
    outputs.emit(make_alert(1))
    deadline = time.monotonic() + 5
    while outputs.stats()["http"]["retried"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    hook.delay = 0.0                              # ... until it is fast again
    assert hook.wait_for(1)
    stats = outputs.close(10)["http"]
    assert stats["retried"] >= 1 and stats["sent"] == 1
    # A timed-out request may still have been processed: delivery on timeouts is at-least-once.
    assert set(hook.numbers()) == {1}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a test certificate")
def test_tls_is_verified_by_default(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    hook = Hook()
    hook.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    hook.tls.load_cert_chain(cert, key)
    hook.start()
    try:
        strict = build_outputs(http_cfg(tmp_path / "a", hook.url, "json_output=true"))
        strict.emit(make_alert(1))
        stats = strict.close(0.5)["http"]
        assert stats["sent"] == 0 and stats["spool_pending"] == 1 and not hook.accepted

        for option in ("http_output.insecure=true", f"http_output.ca_cert={cert}"):
            trusting = build_outputs(http_cfg(tmp_path / option[12:20], hook.url, "json_output=true", option))
            trusting.emit(make_alert(2))
            assert trusting.close(10)["http"]["sent"] == 1
        assert hook.numbers() == [2, 2]
    finally:
        hook.stop()


def test_emit_returns_while_the_webhook_is_stuck(tmp_path: Path, hook: Hook) -> None:
    """Not a timing assertion (bench/webhook_slow.py measures): emit must not wait for a
    request that cannot finish until the test lets it."""
    gate = threading.Event()
    hook.respond = lambda number, body: 200 if gate.wait(10) else 500
    outputs: Outputs = build_outputs(http_cfg(tmp_path, hook.url, "json_output=true", "outputs_queue.capacity=5",
                                              "http_output.timeout=10"))
    for n in range(50):                           # far more than the queue holds
        outputs.emit(make_alert(n))
    assert not gate.is_set() and len(hook.accepted) == 0
    gate.set()
    assert hook.wait_for(50)
    outputs.close(10)
    assert hook.numbers() == list(range(50))
