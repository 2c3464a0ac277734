"""Phantom races, live: a process rewrites a syscall's argument while the kernel reads it.

The probe reads path and address arguments from the caller's memory after the call; the
attacker owns that memory.  tests/data/phantom.c (built here with gcc) races it two ways:
a userfaultfd page the kernel's copy blocks on while a handler rewrites what was already
copied (deterministic: the kernel uses `/etc/shadow`, memory then says `/tmp/shadow`), and a
second thread on the other CPU flipping the buffer during thousands of calls.  The program
counts what really happened (the inode it opened, the link's target, the peer it reached);
the alerts must match that count exactly, carry the kernel's value, and the rewrite itself
must raise the internal tamper alert.  Near misses: an argument on a file page never touched
before the call, and ordinary programs, raise no tamper alert.

One `falcoish run` for the module, upstream rules plus the defaults, `--rule-matching all`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from falcoish.runtime.internal_alerts import GLOBAL_RATE, TAMPER_RULE

from .test_live_io_uring import _host_ip
from .test_live_rules import Env, Falcoish, fields, live_run, run

pytestmark = pytest.mark.live

READ_RULE = "Read sensitive file untrusted"
SYMLINK_RULE = "Create Symlink Over Sensitive Files"
MINING_RULE = "Connection to a mining pool port"
MINING_PORTS = (3333, 4444, 5555, 7777, 14433, 14444)
SOURCE = Path(__file__).resolve().parent / "data" / "phantom.c"
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "default_rules" / "falco_rules.yaml"
RACES = 2000


class PhantomEnv(Env):
    def __init__(self, falco: Falcoish, work: Path, prog: str) -> None:
        super().__init__(falco, work)
        self.prog = prog

    def phantom(self, *args: str) -> tuple[int, int]:
        """(pid, calls that really reached the sensitive target) of one phantom run."""
        # the tamper alerts are rate limited (GLOBAL_RATE a second): start with a full allowance
        time.sleep(1.0 / GLOBAL_RATE * 5 + 0.2)
        proc = subprocess.Popen([self.prog, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (args, out, err)
        return proc.pid, int(out.split()[-1])

    def tamper_alerts(self, pid: int) -> list[dict[str, Any]]:
        return [fields(a) for a in self.falco.alerts
                if a.get("rule") == TAMPER_RULE and fields(a).get("proc.pid") == pid]


@pytest.fixture(scope="module")
def penv(corpus_files: list[str]) -> Iterator[PhantomEnv]:
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc is not installed")
    args = ["--no-defaults", "-r", corpus_files[0], "-r", str(DEFAULT_RULES), "--json", "--rule-matching", "all",
            "-M", "900", "-p", "tampered=%evt.arg_tampered"]
    with live_run(args, "falcoish-live-phantom-", rules=(READ_RULE, SYMLINK_RULE, MINING_RULE)) as env:
        prog = str(env.work / "phantom")
        built = subprocess.run([cc, "-O2", "-pthread", "-o", prog, str(SOURCE)], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        yield PhantomEnv(env.falco, env.work, prog)


def wait_count(env: Env, rule: str, marker: str, want: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The alerts of `rule` for `marker` once there are `want` of them (or the timeout), after
    a barrier so that later ones would have arrived too."""
    deadline = time.monotonic() + timeout
    while len(env.falco.matching(rule, marker)) < want and time.monotonic() < deadline:
        time.sleep(0.2)
    env.barrier()
    return env.falco.matching(rule, marker)


# -- (a) a path rewritten while the kernel's copy waits on a userfaultfd page ----------------

def test_userfaultfd_rewrite_of_an_open_path(penv: PhantomEnv) -> None:
    m = penv.marker("uffdopen")
    pid, real = penv.phantom("uffd-open", "20", m)
    assert real == 20                               # the kernel opened /etc/shadow every time
    got = wait_count(penv, READ_RULE, m, 20)
    assert len(got) == 20
    for a in got:
        f = fields(a)
        assert f["fd.name"] == "/etc/shadow" and f["evt.arg_tampered"] is True, f
    tampers = penv.tamper_alerts(pid)
    assert tampers, "no tamper alert for the rewritten path"
    t = tampers[0]
    assert (t["evt.type"], t["arg.kernel"], t["arg.memory"]) == ("openat", "/etc/shadow", "/tmp/shadow")


# -- (b) a second thread flipping the path during thousands of opens -------------------------

def test_two_threads_racing_an_open_path(penv: PhantomEnv) -> None:
    m = penv.marker("raceopen")
    pid, real = penv.phantom("race-open", str(RACES), m)
    assert 0 < real < RACES, real                   # both files were really opened
    got = wait_count(penv, READ_RULE, m, real)
    assert len(got) == real
    assert all(fields(a)["fd.name"] == "/etc/shadow" for a in got)


# -- (c) the same on symlinkat's target and on connect's address -----------------------------

def test_userfaultfd_rewrite_of_a_symlink_target(penv: PhantomEnv) -> None:
    m = penv.marker("uffdlink")
    pid, real = penv.phantom("uffd-symlink", "5", str(penv.dir(m)), m)
    assert real == 5
    got = wait_count(penv, SYMLINK_RULE, m, 5)
    assert len(got) == 5 and all(fields(a)["evt.arg.target"] == "/etc/shadow" for a in got)
    t = penv.tamper_alerts(pid)
    assert t and (t[0]["evt.type"], t[0]["arg.name"], t[0]["arg.kernel"], t[0]["arg.memory"]) == (
        "symlinkat", "target", "/etc/shadow", "/tmp/shadow")


def test_two_threads_racing_a_symlink_target(penv: PhantomEnv) -> None:
    m = penv.marker("racelink")
    pid, real = penv.phantom("race-symlink", str(RACES), str(penv.dir(m)), m)
    assert 0 < real < RACES, real
    got = wait_count(penv, SYMLINK_RULE, m, real)
    assert len(got) == real
    assert all(fields(a)["evt.arg.target"] == "/etc/shadow" for a in got)


@pytest.fixture(scope="module")
def listeners() -> Iterator[tuple[str, int, int]]:
    """(host address, a mining pool port, the port after it) with a listener on each."""
    ip = _host_ip()
    if ip is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    for port in MINING_PORTS:
        socks = []
        try:
            for p in (port, port + 1):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                socks.append(s)
                s.bind(("0.0.0.0", p))
                s.listen(4096)
        except OSError:
            for s in socks:
                s.close()
            continue
        stop = False

        def drain() -> None:
            while not stop:
                for s in socks:
                    try:
                        s.accept()[0].close()
                    except OSError:
                        pass
        for s in socks:
            s.settimeout(0.05)
        import threading
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        try:
            yield ip, port, port + 1
        finally:
            stop = True
            t.join(2)
            for s in socks:
                s.close()
        return
    pytest.skip("no mining pool port and the one after it are both free here")


def test_userfaultfd_rewrite_of_a_connect_address(penv: PhantomEnv, listeners: tuple[str, int, int]) -> None:
    ip, port, other = listeners
    m = penv.marker("uffdconn")
    pid, real = penv.phantom("uffd-connect", "5", ip, str(port), str(other), m)
    assert real == 5                                # every connect reached the pool port
    got = wait_count(penv, MINING_RULE, m, 5)
    assert len(got) == 5 and all(fields(a)["fd.sport"] == port for a in got)
    t = penv.tamper_alerts(pid)
    assert t and (t[0]["evt.type"], t[0]["arg.kernel"], t[0]["arg.memory"]) == (
        "connect", f"{ip}:{port}", f"{ip}:{other}")


def test_two_threads_racing_a_connect_address(penv: PhantomEnv, listeners: tuple[str, int, int]) -> None:
    ip, port, other = listeners
    m = penv.marker("raceconn")
    pid, real = penv.phantom("race-connect", str(RACES), ip, str(port), str(other), m)
    assert 0 < real < RACES, real
    got = wait_count(penv, MINING_RULE, m, real)
    assert len(got) == real
    assert all(fields(a)["fd.sport"] == port for a in got)


# -- (d) near misses ---------------------------------------------------------------------------

def test_a_path_on_an_untouched_file_page_is_no_tampering(penv: PhantomEnv) -> None:
    """The kernel's copy faults the page in; memory still says what the kernel read."""
    m = penv.marker("page")
    pid, real = penv.phantom("page-open", "10", m)
    assert real == 10
    penv.barrier()
    assert penv.tamper_alerts(pid) == []


def test_ordinary_programs_raise_no_tamper_alert(penv: PhantomEnv) -> None:
    """Relative paths, aliases, symlinks, renames, a loopback connect: spellings differ from
    the file, never from the kernel's copy."""
    time.sleep(1.2)
    m = penv.marker("ordinary")
    d = penv.dir(m)
    code = ("import os, socket, sys\n"
            "d = sys.argv[1]\n"
            "os.chdir('/etc'); open('hostname').read(); open('/proc/self/root/etc/hostname').read()\n"
            "os.symlink('/etc/hostname', d + '/l'); os.rename(d + '/l', d + '/m'); os.unlink(d + '/m')\n"
            "os.mkdir(d + '/x'); os.chmod(d + '/x', 0o700); os.rmdir(d + '/x')\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
            "c = socket.create_connection(s.getsockname()); c.close(); s.close()\n"
            "c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(('0.0.0.0', 9)); c.close()\n"
            "print(os.getpid())\n")
    got = run([sys.executable, "-c", code, str(d), m])
    assert got.returncode == 0, got
    pid = int(got.stdout.split()[-1])
    penv.barrier()
    assert penv.tamper_alerts(pid) == []
    assert not [a for a in penv.falco.alerts if a.get("rule") == TAMPER_RULE
                and fields(a).get("proc.name") not in ("phantom",)], "tamper alert from another process"
