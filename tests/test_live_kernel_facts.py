"""Facts the kernel gives at the time of a syscall, live: the cgroup a program was exec'd in,
the local end of a UDP socket, the payload a program received.  Upstream rules (UDP by
interpreted and system programs, a Java class file received over TCP, a sensitive file read
in a container) must see them through a real `falcoish run`, even when the program is gone
before falcoish could look at /proc.

Same method as test_live_rules.py (whose helpers this reuses): one `falcoish run` for the
module with the three upstream rule files and `--rule NAME` for each rule tested (which turns
on rules shipped disabled); each action carries a unique marker in its command line, which
the rules' outputs show (`command=%proc.cmdline`); near misses run (and exit) before the
positive of the same kind, so once the positive's alert is read, any alert of theirs would
have been read too.

Programs are given the names the rules look for by running the real Python interpreter
through a symlink of that name (`proc.name` is the link's name, `proc.exe` the path run).
UDP datagrams go to 198.51.100.0/24 (TEST-NET-2, documentation-only: nothing answers) on
ports no rule expects; connecting a UDP socket sends nothing, each positive sends one byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from .test_live_rules import Env, fields, live_run, real_python, run

pytestmark = pytest.mark.live

UDP_RULE = "Unexpected UDP Traffic"
SYSTEM_RULE = "System procs network activity"
INTERPRETED_RULE = "Interpreted procs outbound network activity"
JAVA_RULE = "Java Process Class File Download"
RULES = [UDP_RULE, SYSTEM_RULE, INTERPRETED_RULE, JAVA_RULE, "Read sensitive file untrusted"]

RECVMSG_RULE = "Class file magic received with recvmsg"
SENT_RULE = "Class file magic sent"
READ_RULE = "Class file magic read"
# No upstream rule reads a recvmsg or send payload; these, loaded with them, check it is there.
LOCAL_RULES = f"""
- rule: {RECVMSG_RULE}
  desc: a datagram or stream read with recvmsg holds a Java class file's magic
  condition: evt.type = recvmsg and evt.buffer bcontains cafebabe
  output: class file magic received (data=%evt.buffer command=%proc.cmdline connection=%fd.name)
  priority: WARNING
- rule: {READ_RULE}
  desc: a read returned a Java class file's magic
  condition: evt.type = read and evt.buffer bstartswith cafebabe and proc.name = python3
  output: class file magic read (data=%evt.buffer file=%fd.name command=%proc.cmdline)
  priority: WARNING
- rule: {SENT_RULE}
  desc: a send holds a Java class file's magic
  condition: evt.type in (sendto, sendmsg) and evt.buffer bcontains cafebabe
  output: class file magic sent (data=%evt.buffer syscall=%evt.type command=%proc.cmdline connection=%fd.name)
  priority: WARNING
"""

PUBLIC = "198.51.100.23"          # TEST-NET-2: public-looking, never routed anywhere real

UDP_SEND = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.send(b"x")
print(s.getsockname()[1])
"""

# A local TCP server sends argv[1] (hex) to the client, which reads it with recvfrom.
RECEIVE = """
import socket, sys, threading
payload = bytes.fromhex(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
def serve():
    c, _ = srv.accept()
    c.sendall(payload)
    c.close()
th = threading.Thread(target=serve)
th.start()
c = socket.create_connection(srv.getsockname())
data, _ = c.recvfrom(4096)
th.join()
print(data.hex())
"""


@pytest.fixture(scope="module")
def net_env(corpus_files: list[str]) -> Iterator[Env]:
    args = ["--no-defaults"]
    for f in corpus_files:
        args += ["-r", f]
    args += ["--json", "--rule-matching", "all", "-M", "600"]
    with live_run(args, "falcoish-live-net-", LOCAL_RULES, tuple(RULES + [RECVMSG_RULE, SENT_RULE, READ_RULE])) as env:
        yield env


def named(env: Env, name: str) -> str:
    """The real Python interpreter under another program name (a symlink in its own folder)."""
    d = Path(tempfile.mkdtemp(prefix="bin-", dir=env.work))
    link = d / name
    link.symlink_to(real_python())
    return str(link)


def as_program(env: Env, name: str, code: str, *args: str) -> Any:
    return run([named(env, name), "-c", textwrap.dedent(code), *args])


def udp(env: Env, name: str, host: str, port: int, marker: str) -> int:
    proc = as_program(env, name, UDP_SEND, host, str(port), marker)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def test_udp_by_an_interpreter_that_is_gone_before_falcoish_reads_proc(net_env: Env) -> None:
    """A Python program sends one UDP datagram to a public address and exits while falcoish is
    paused, so nothing about its socket can be read from /proc afterwards: the protocol and
    the local end must come from the kernel at the time of the call."""
    env = net_env
    miss_loop = env.marker("loop")
    udp(env, "python3", "127.0.0.1", 40111, miss_loop)           # loopback: not outbound
    miss_dns = env.marker("dns")
    m = env.marker("udp")
    os.kill(env.falco.proc.pid, signal.SIGSTOP)
    try:
        udp(env, "python3", PUBLIC, 53, miss_dns)                   # DNS is expected UDP
        lport = udp(env, "python3", PUBLIC, 40111, m)
    finally:
        os.kill(env.falco.proc.pid, signal.SIGCONT)
    f = fields(env.falco.wait_alert(UDP_RULE, m))
    assert f["fd.l4proto"] == "udp" and f["evt.type"] == "connect"
    assert f["fd.rport"] == 40111 and f["fd.lport"] == lport and lport > 0
    assert f["fd.name"].endswith(f":{lport}->{PUBLIC}:40111") and not f["fd.name"].startswith("0.0.0.0:")
    g = fields(env.falco.wait_alert(INTERPRETED_RULE, m))
    assert g["proc.name"] == "python3" and g["fd.name"] == f["fd.name"]
    env.assert_silent(UDP_RULE, miss_loop, miss_dns)
    env.assert_silent(INTERPRETED_RULE, miss_loop)


def test_udp_from_a_dual_stack_socket(net_env: Env) -> None:
    """An IPv6 socket reaching an IPv4 address (`::ffff:a.b.c.d`), as Java and other runtimes
    do by default: its local end is in the socket's IPv6 address, IPv4-mapped; it is not the
    wildcard 0.0.0.0 (which would make the rules' `fd.ip != "0.0.0.0"` false)."""
    env = net_env
    miss_loop = env.marker("loop6")
    udp(env, "python3", "::ffff:127.0.0.1", 40113, miss_loop)
    m = env.marker("udp6")
    lport = udp(env, "python3", "::ffff:" + PUBLIC, 40113, m)
    f = fields(env.falco.wait_alert(UDP_RULE, m))
    assert f["fd.l4proto"] == "udp" and f["fd.lport"] == lport
    local = f["fd.name"].split("->")[0]
    assert local.endswith(f":{lport}") and local != f"0.0.0.0:{lport}", f["fd.name"]
    assert f["fd.name"].endswith(f"->{PUBLIC}:40113")
    fields(env.falco.wait_alert(INTERPRETED_RULE, m))
    env.assert_silent(UDP_RULE, miss_loop)
    env.assert_silent(INTERPRETED_RULE, miss_loop)


def test_udp_by_a_system_program(net_env: Env) -> None:
    env = net_env
    miss_known = env.marker("id")
    udp(env, "id", PUBLIC, 40112, miss_known)                     # `id` may use the network
    miss_loop = env.marker("sleeploop")
    udp(env, "sleep", "127.0.0.1", 40112, miss_loop)
    m = env.marker("sleep")
    lport = udp(env, "sleep", PUBLIC, 40112, m)
    f = fields(env.falco.wait_alert(SYSTEM_RULE, m))
    assert f["proc.name"] == "sleep" and f["fd.l4proto"] == "udp"
    assert f["fd.name"].endswith(f":{lport}->{PUBLIC}:40112")
    env.assert_silent(SYSTEM_RULE, miss_known, miss_loop)


def test_java_process_class_file_download(net_env: Env) -> None:
    """A program named java reads a class file's magic from a TCP peer (log4shell's second
    stage): the payload the kernel wrote into its buffer must reach the rule."""
    env = net_env
    miss_bytes = env.marker("zip")
    proc = as_program(env, "java", RECEIVE, "504b0304140000000800", miss_bytes)   # a jar, not a class
    assert proc.returncode == 0 and proc.stdout.strip() == b"504b0304140000000800", proc
    miss_proc = env.marker("notjava")
    proc = as_program(env, "python3", RECEIVE, "cafebabe00000034", miss_proc)
    assert proc.returncode == 0, proc.stderr
    m = env.marker("class")
    proc = as_program(env, "java", RECEIVE, "cafebabe0000003400", m)
    assert proc.returncode == 0 and proc.stdout.strip() == b"cafebabe0000003400", proc
    f = fields(env.falco.wait_alert(JAVA_RULE, m))
    assert f["evt.type"] == "recvfrom" and f["fd.l4proto"] == "tcp" and f["fd.sip"] == "127.0.0.1"
    assert f["proc.name"] == "java"
    env.assert_silent(JAVA_RULE, miss_bytes, miss_proc)


RECVMSG = """
import socket, sys
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.sendto(bytes.fromhex(sys.argv[1]), rx.getsockname())
data, _, _, _ = rx.recvmsg(4096)
print(data.hex())
"""


def test_recvmsg_payload(net_env: Env) -> None:
    env = net_env
    miss = env.marker("notclass")
    proc = as_program(env, "python3", RECVMSG, "504b030400", miss)
    assert proc.returncode == 0 and proc.stdout.strip() == b"504b030400", proc
    m = env.marker("recvmsg")
    proc = as_program(env, "python3", RECVMSG, "00cafebabe0034", m)
    assert proc.returncode == 0 and proc.stdout.strip() == b"00cafebabe0034", proc
    f = fields(env.falco.wait_alert(RECVMSG_RULE, m))
    assert f["evt.buffer"] == "......4" and f["fd.name"].startswith("127.0.0.1:")
    env.assert_silent(RECVMSG_RULE, miss)


# A blocking TCP send of 8 MiB to a peer that does not read yet: while the call waits, another
# thread of the sender overwrites the first bytes (a Phantom-style swap), then the peer reads.
SWAP_DURING_SEND = """
import socket, sys, threading, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
c.connect(srv.getsockname())
peer, _ = srv.accept()
buf = bytearray(bytes.fromhex(sys.argv[1]) + bytes(8 << 20))
got = bytearray()
def swap_then_read():
    time.sleep(0.3)
    buf[0:4] = b"SWAP"
    while len(got) < len(buf):
        got.extend(peer.recv(1 << 20))
th = threading.Thread(target=swap_then_read)
th.start()
c.send(buf)
th.join()
print(got[:4].hex(), bytes(buf[:4]).decode())
"""


def test_send_payload_is_read_at_entry(net_env: Env) -> None:
    """The payload of a send is what the buffer held when the call began (what the kernel
    copied first), not what the sender put there while the call was blocked."""
    env = net_env
    miss = env.marker("sendzip")
    proc = as_program(env, "python3", SWAP_DURING_SEND, "504b0304", miss)
    assert proc.returncode == 0 and proc.stdout.split() == [b"504b0304", b"SWAP"], proc
    m = env.marker("sendclass")
    proc = as_program(env, "python3", SWAP_DURING_SEND, "cafebabe", m)
    assert proc.returncode == 0 and proc.stdout.split() == [b"cafebabe", b"SWAP"], proc
    f = fields(env.falco.wait_alert(SENT_RULE, m))
    assert f["evt.type"] == "sendto" and f["evt.buffer"].startswith("....")
    env.assert_silent(SENT_RULE, miss)


def test_read_payload_is_what_the_kernel_returned(net_env: Env) -> None:
    """A read's payload is the bytes the call returned (the first 80: Falco's snaplen): the
    file begins with a class file's magic only in the positive.  (fd.name is not checked: the
    kernel filter drops opens no rule needs, so a read's descriptor may be unknown.)"""
    env = net_env
    miss = env.marker("readjar")
    jar = env.work / f"{miss}.jar"
    jar.write_bytes(bytes.fromhex("504b0304") + b"cafebabe-as-text")
    m = env.marker("readclass")
    cls = env.work / f"{m}.class"
    cls.write_bytes(bytes.fromhex("cafebabe00000034") + bytes(100))
    code = "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); print(os.read(fd, 4096)[:4].hex())"
    proc = as_program(env, "python3", code, str(jar))
    assert proc.returncode == 0 and proc.stdout.strip() == b"504b0304", proc
    proc = as_program(env, "python3", code, str(cls))
    assert proc.returncode == 0 and proc.stdout.strip() == b"cafebabe", proc
    f = fields(env.falco.wait_alert(READ_RULE, m))
    assert f["evt.buffer"] == "." * 7 + "4" + "." * 72          # 108 bytes read, 80 kept
    env.assert_silent(READ_RULE, miss)


@pytest.mark.parametrize("layout", ["docker", "kubepods"])
def test_container_entered_between_fork_and_exec(net_env: Env, layout: str) -> None:
    """As a container runtime starts an entrypoint: the child moves itself into the
    container's cgroup (a real cgroup at a runtime's path: docker on cgroup v1, containerd
    under kubepods on cgroup v2), then execs a program that reads a sensitive file and exits,
    all while falcoish is paused.  The program's container is the one it was exec'd in, not
    its parent's (the host)."""
    from tests.fakecgroup import RuntimeCgroup, unavailable
    if (why := unavailable()) is not None:
        pytest.skip(why)
    env = net_env
    m = env.marker("in" + layout)
    with RuntimeCgroup(layout) as cg:
        os.kill(env.falco.proc.pid, signal.SIGSTOP)
        try:
            proc = run(cg.argv(["cat", "/etc/shadow", f"/nonexistent-{m}"]))
        finally:
            os.kill(env.falco.proc.pid, signal.SIGCONT)
    assert b"Permission denied" not in proc.stderr, proc.stderr
    f = fields(env.falco.wait_alert("Read sensitive file untrusted", m))
    assert f["proc.name"] == "cat" and f["evt.type"] in ("open", "openat", "openat2")
    assert f["container.id"] == cg.id, f


def test_zz_falcoish_still_running(net_env: Env) -> None:
    assert net_env.falco.proc.poll() is None, net_env.falco.stderr[-20:]
    assert not net_env.falco.bad_lines



# -- "ELF binary written in a container" (TRC-9): the write family, live ------------------------

ELF_RULE = "ELF binary written in a container"
# Opens a new file (mode 0644: no "executable file created" rule), writes argv[2] (hex) and
# 200 zero bytes with the syscall argv[3] names, and exits at once: falcoish cannot ask /proc.
WRITE = """
import os, sys
path, data, how = sys.argv[1], bytes.fromhex(sys.argv[2]) + bytes(200), sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
if how == "write":
    os.write(fd, data)
elif how == "pwrite64":
    os.pwrite(fd, data, 0)
elif how == "writev":
    os.writev(fd, [data[:8], data[8:]])
else:
    os.pwritev(fd, [data[:8], data[8:]], 0)
os._exit(0)
"""
ELF = "7f454c460201010000"


@pytest.fixture(scope="module")
def defaults_env() -> Iterator[Env]:
    """`falcoish run` with the default rules (nothing else), as a user starts it."""
    from tests.fakecgroup import unavailable
    with live_run(["--json", "--rule-matching", "all", "-M", "600"], "falcoish-live-write-",
                  unavailable=unavailable()) as env:
        yield env


def test_default_rules_need_no_type_live_capture_lacks(defaults_env: Env) -> None:
    assert not [s for s in defaults_env.falco.stderr if "live capture does not provide" in s], \
        [s for s in defaults_env.falco.stderr if "does not provide" in s]


@pytest.mark.parametrize("how", ["write", "pwrite64", "writev", "pwritev"])
def test_elf_written_in_a_container(defaults_env: Env, how: str) -> None:
    """A process in a (fake) docker container writes a file starting with the ELF magic and
    exits: the alert names the file.  Near misses first: the same write on the host, other
    bytes in the container, the ELF write to /dev/shm (left to other rules)."""
    from tests.fakecgroup import RuntimeCgroup
    env = defaults_env
    code = textwrap.dedent(WRITE)
    on_host = env.marker("elfhost")
    proc = run([sys.executable, "-c", code, str(env.work / on_host), ELF, how])
    assert proc.returncode == 0, proc.stderr
    other, shm, m = env.marker("notelf"), env.marker("elfshm"), env.marker("elf" + how)
    shm_path = Path("/dev/shm") / shm
    try:
        with RuntimeCgroup("docker") as cg:
            for path, data in ((env.work / other, "7f454c"), (env.work / (other + "b"), "454c467f"),
                               (shm_path, ELF), (env.work / m, ELF)):
                proc = cg.run([sys.executable, "-c", code, str(path), data, how])
                assert proc.returncode == 0, proc.stderr
            f = fields(env.falco.wait_alert(ELF_RULE, m))
    finally:
        shm_path.unlink(missing_ok=True)
    assert f["fd.name"] == str(env.work / m) and f["evt.type"] == how, f
    assert f["container.id"] == cg.id, f
    env.assert_silent(ELF_RULE, on_host, other, shm)


FLOOD_RULE = "Falco internal: syscall flood"


def test_a_write_flood_filtered_in_the_kernel_is_no_syscall_flood(defaults_env: Env) -> None:
    """`dd bs=64` to /dev/null makes millions of writes a second, all dropped in the kernel:
    an ordinary program, not an attempt to blind the capture (before, capturing writes made
    it a Critical "syscall flood").  An open+close flood of the same length still is one."""
    env = defaults_env
    dd = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=64"], stderr=subprocess.DEVNULL)
    opener = subprocess.Popen([sys.executable, "-c", "import os, time\nt = time.time() + 4\n"
                               "while time.time() < t:\n    os.close(os.open('/dev/null', os.O_RDONLY))"])
    time.sleep(4)
    dd.kill()
    dd.wait()
    opener.wait(30)
    env.falco.wait_alert(FLOOD_RULE, f"pid {opener.pid} ", timeout=15)
    assert not env.falco.matching(FLOOD_RULE, f"pid {dd.pid} ")
