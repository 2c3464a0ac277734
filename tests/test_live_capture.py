"""Live capture end to end: real syscalls of child processes, seen through eBPF.

One capture runs for the whole module (compiling the probe takes a few seconds); each test
starts a child doing one thing and waits for the matching events.  Skipped only when BPF
cannot work on this machine (the reason is printed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from falcoish.events.event import Event

pytestmark = pytest.mark.live

TYPES = {"openat", "execve", "execveat", "connect", "accept", "accept4", "procexit", "clone",
         "clone3", "vfork", "memfd_create", "unlinkat", "unlink", "ptrace", "setuid"}


class Collector:
    """Runs the capture in a thread and keeps the events of this test's descendants."""

    def __init__(self, types: set[str]) -> None:
        from falcoish.sources.live.capture import LiveCapture
        self.cap = LiveCapture(types)
        self.cap.start()
        self.me = os.getpid()
        self.events: list[Event] = []
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for ev in self.cap.events():
            if any(a.get("pid") == self.me for a in ev.ancestors):
                with self._cv:
                    self.events.append(ev)
                    self._cv.notify_all()

    def wait_for(self, pred: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e.type, e.thread.get("comm"), e.thread.get("pid")) for e in self.events[-30:]]
                    raise AssertionError(f"event not seen in {timeout}s; last events: {seen}")
                self._cv.wait(left)

    def stop(self) -> None:
        self.cap.stop()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def live() -> Iterator[Collector]:
    from falcoish.sources.live.setup import ensure_live_support
    reason = ensure_live_support(install=True)
    if reason is not None:
        print(f"live capture unavailable: {reason}")
        pytest.skip(f"live capture unavailable: {reason}")
    col = Collector(TYPES)
    yield col
    col.stop()


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=10)


def test_open_of_a_file_by_cat(live: Collector) -> None:
    with tempfile.NamedTemporaryFile("w", prefix="falcoish-shadow-", delete=False) as fh:
        fh.write("secret\n")
        path = os.path.realpath(fh.name)
    try:
        proc = subprocess.run(["cat", path], capture_output=True, text=True, timeout=10)
        assert proc.stdout == "secret\n"
        ev = live.wait_for(lambda e: e.type == "openat" and e.fd is not None and e.fd.get("name") == path)
        assert ev.thread["comm"] == "cat" and ev.res >= 0 and ev.fd["num"] == ev.res
        assert ev.fd["type"] == "file" and ev.args["name"] == path and ev.args["dirfd"] == -100
        assert ev.thread["args"] == [path] and ev.thread["exepath"].endswith("/cat")
        assert ev.ancestors[0]["pid"] == os.getpid()          # parent = this test process
        with open("/proc/self/comm") as fh2:
            assert ev.ancestors[0]["comm"] == fh2.read().strip()
        assert ev.user["uid"] == os.geteuid() and "name" in ev.user
        assert ev.container.get("id")
    finally:
        os.unlink(path)


def test_execve_with_args(live: Collector) -> None:
    true = shutil.which("true") or "/bin/true"
    subprocess.run([true, "alpha", "beta gamma"], timeout=10)
    ev = live.wait_for(lambda e: e.type == "execve" and e.thread.get("comm") == "true"
                       and e.thread.get("args") == ["alpha", "beta gamma"])
    assert ev.res == 0
    assert ev.thread["exe"] == true and ev.args["exe"] == true
    assert ev.args["args"] == "alpha\0beta gamma" and ev.args["filename"] == true
    assert ev.thread["exepath"] in (true, os.path.realpath(true))
    assert ev.thread["ppid"] == os.getpid() and ev.ancestors[0]["pid"] == os.getpid()
    assert any(v.startswith("PATH=") for v in ev.thread["env"])
    assert ev.thread["cwd"] == os.getcwd().rstrip("/") + "/"
    ex = live.wait_for(lambda e: e.type == "procexit" and e.thread.get("pid") == ev.thread["pid"])
    assert ex.thread["comm"] == "true"


def test_failed_execve(live: Collector) -> None:
    run_child("""
        import os
        try:
            os.execv("/nonexistent/falcoish-x", ["falcoish-x", "--flag"])
        except OSError:
            pass
    """)
    ev = live.wait_for(lambda e: e.type == "execve" and e.args.get("filename") == "/nonexistent/falcoish-x")
    assert ev.res == -2 and ev.thread["comm"].startswith("python")


def test_tcp_connect_tuple(live: Collector) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    try:
        out = run_child("""
            import socket, sys
            c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            print(c.getsockname()[1])
        """, str(port))
        cport = int(out.stdout.strip())
        ev = live.wait_for(lambda e: e.type == "connect" and e.fd is not None and e.fd.get("sport") == port)
        assert ev.res == 0 and ev.args["addr"] == f"127.0.0.1:{port}"
        fd = ev.fd
        assert fd["type"] == "ipv4" and fd["l4proto"] == "tcp" and fd["connected"] is True
        assert fd["is_server"] is False
        assert (fd["cip"], fd["cport"], fd["sip"], fd["sport"]) == ("127.0.0.1", cport, "127.0.0.1", port)
        assert ev.args["tuple"] == f"127.0.0.1:{cport}->127.0.0.1:{port}" == fd["name"]
        assert ev.args["fd"] == fd["num"]
    finally:
        srv.close()


def test_accept_server_side(live: Collector) -> None:
    out = run_child("""
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
        c = socket.create_connection(s.getsockname())
        a, peer = s.accept()
        print(s.getsockname()[1], peer[1])
    """)
    sport, cport = (int(x) for x in out.stdout.split())
    ev = live.wait_for(lambda e: e.type in ("accept", "accept4") and e.fd is not None
                       and e.fd.get("cport") == cport)
    assert ev.fd["is_server"] is True and ev.fd["sport"] == sport and ev.fd["sip"] == "127.0.0.1"
    assert ev.args["tuple"] == f"127.0.0.1:{cport}->127.0.0.1:{sport}"


def test_fileless_exec_from_memfd(live: Collector) -> None:
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    run_child("""
        import os, sys
        fd = os.memfd_create("falcoish-fileless", 0)
        with open(sys.argv[1], "rb") as f:
            os.write(fd, f.read())
        pid = os.fork()
        if pid == 0:
            os.execv(f"/proc/self/fd/{fd}", ["fileless-true"])
        os.waitpid(pid, 0)
    """, true)
    mk = live.wait_for(lambda e: e.type == "memfd_create" and e.args.get("name") == "falcoish-fileless")
    assert mk.fd is not None and mk.fd["type"] == "memfd" and mk.fd["num"] == mk.res
    ev = live.wait_for(lambda e: e.type == "execve" and e.thread.get("exe") == "fileless-true")
    assert ev.res == 0 and ev.thread["exe_from_memfd"] is True
    assert ev.thread["exepath"].startswith("memfd:falcoish-fileless")
    assert ev.ancestors[0]["comm"].startswith("python")


def test_unlink_and_stats(live: Collector) -> None:
    fd, path = tempfile.mkstemp(prefix="falcoish-unlink-")
    os.close(fd)
    subprocess.run(["rm", "-f", path], timeout=10)
    ev = live.wait_for(lambda e: e.type in ("unlinkat", "unlink") and path in str(e.args.values()))
    assert ev.res == 0 and ev.thread["comm"] == "rm"
    stats: dict[str, Any] = live.cap.stats
    assert stats["captured"].get("openat", 0) > 0
    assert isinstance(stats["kernel_drops"], int) and stats["user_drops"] == 0
