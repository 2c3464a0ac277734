"""io_uring requests, live: opens and connects made with IORING_OP_OPENAT / IORING_OP_CONNECT
never pass through the syscall tracepoints, yet rules must see them as `openat` / `connect`
events with `evt.is_io_uring=true`, attributed to the program (not to an `iou-wrk-*` or
`iou-sqp-*` kernel thread).

Same method as test_live_kernel_facts.py: one real `falcoish run` for the module with the
upstream rules plus the default rules, `--rule-matching all`, unique markers in the command
lines, near misses run before the positive of the same kind.  The test builds its own small C
programs with gcc and liburing (Debian's liburing-dev, installed by `make`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from .test_live_rules import Env, fields, live_run, run

pytestmark = pytest.mark.live

UPSTREAM_READ = "Read sensitive file untrusted"
IOU_RULE = "Sensitive file opened through io_uring"
MINING_RULE = "Connection to a mining pool port"
SETUP_RULE = "io_uring ring set up"
ACCEPT_RULE = "Connection accepted by uring_accept"
# No upstream rule names io_uring's syscalls; this one, loaded with them, checks they are events.
LOCAL_RULES = f"""
- rule: {SETUP_RULE}
  desc: a test program set up an io_uring instance
  condition: evt.type in (io_uring_setup, io_uring_register) and proc.name = uring_read
  output: ring set up (entries=%evt.arg.entries res=%evt.res command=%proc.cmdline)
  priority: NOTICE
- rule: {ACCEPT_RULE}
  desc: a test program accepted a connection
  condition: evt.type = accept and proc.name = uring_accept
  output: accepted (peer=%fd.cip:%fd.cport server=%fd.sip:%fd.sport command=%proc.cmdline)
  priority: NOTICE
"""
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "default_rules" / "falco_rules.yaml"

# usage: uring_read PATH MARKER [--async|--sqpoll|--direct]: open and read PATH with io_uring
# only (--direct: into a registered fixed-file slot, no descriptor at all).
READ_C = r"""
#include <liburing.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    int direct = argc > 3 && !strcmp(argv[3], "--direct");
    int async = argc > 3 && !strcmp(argv[3], "--async");
    int sqpoll = argc > 3 && !strcmp(argv[3], "--sqpoll");
    struct io_uring ring; struct io_uring_sqe *sqe; struct io_uring_cqe *cqe;
    struct io_uring_params prm; char buf[64];
    memset(&prm, 0, sizeof prm);
    if (sqpoll) { prm.flags = IORING_SETUP_SQPOLL; prm.sq_thread_idle = 100; }
    if (io_uring_queue_init_params(4, &ring, &prm) < 0) return 1;
    if (direct && io_uring_register_files_sparse(&ring, 1) < 0) return 1;
    sqe = io_uring_get_sqe(&ring);
    if (direct) io_uring_prep_openat_direct(sqe, AT_FDCWD, argv[1], O_RDONLY, 0, 0);
    else io_uring_prep_openat(sqe, AT_FDCWD, argv[1], O_RDONLY, 0);
    if (async) sqe->flags |= IOSQE_ASYNC;
    io_uring_submit(&ring);
    io_uring_wait_cqe(&ring, &cqe);
    int fd = cqe->res; io_uring_cqe_seen(&ring, cqe);
    if (fd < 0) return 2;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, direct ? 0 : fd, buf, sizeof buf, 0);
    if (direct) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_submit(&ring);
    io_uring_wait_cqe(&ring, &cqe);
    int n = cqe->res; io_uring_cqe_seen(&ring, cqe);
    io_uring_queue_exit(&ring);
    printf("%d %d\n", fd, n);
    return n < 0 ? 3 : 0;
}
"""

# usage: uring_connect IP PORT MARKER: a TCP connect made with IORING_OP_CONNECT only.
CONNECT_C = r"""
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    struct io_uring ring; struct io_uring_sqe *sqe; struct io_uring_cqe *cqe;
    struct sockaddr_in sa; memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET; sa.sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || io_uring_queue_init(4, &ring, 0) < 0) return 1;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_connect(sqe, s, (struct sockaddr *)&sa, sizeof sa);
    io_uring_submit(&ring);
    io_uring_wait_cqe(&ring, &cqe);
    int res = cqe->res; io_uring_cqe_seen(&ring, cqe);
    printf("%d\n", res);
    return res < 0 ? 2 : 0;
}
"""


# usage: uring_accept MARKER [--syscall]: listen on 127.0.0.1 (port printed), accept one
# connection with IORING_OP_ACCEPT only (--syscall: with accept(fd, NULL, NULL), which asks
# for no address), print the new descriptor.
ACCEPT_C = r"""
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    struct io_uring ring; struct io_uring_sqe *sqe; struct io_uring_cqe *cqe;
    struct sockaddr_in a; socklen_t l = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) return 1;
    getsockname(s, (struct sockaddr *)&a, &l);
    printf("%d\n", ntohs(a.sin_port)); fflush(stdout);
    if (argc > 2 && !strcmp(argv[2], "--syscall")) {
        int fd = accept(s, NULL, NULL);
        printf("%d\n", fd);
        return fd < 0 ? 2 : 0;
    }
    if (io_uring_queue_init(4, &ring, 0) < 0) return 1;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_accept(sqe, s, NULL, NULL, 0);
    io_uring_submit(&ring);
    io_uring_wait_cqe(&ring, &cqe);
    int fd = cqe->res; io_uring_cqe_seen(&ring, cqe);
    printf("%d\n", fd);
    return fd < 0 ? 2 : 0;
}
"""


def _build(work: Path, name: str, source: str) -> str:
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc is not installed")
    if not Path("/usr/include/liburing.h").exists():
        pytest.skip("liburing headers are missing (make installs liburing-dev)")
    src = work / f"{name}.c"
    src.write_text(source)
    out = work / name
    done = subprocess.run([cc, "-O2", "-o", str(out), str(src), "-luring"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return str(out)


def _host_ip() -> str | None:
    """A non-loopback IPv4 address of this host (the connect's destination: a pool port on
    it is outbound for the rules, yet the test stays on the machine)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))          # no packet is sent: this only picks a route
        ip: str = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


@pytest.fixture(scope="module")
def uring_env(corpus_files: list[str]) -> Iterator[Env]:
    args = ["--no-defaults", "-r", corpus_files[0], "-r", str(DEFAULT_RULES), "--json", "--rule-matching", "all",
            "-M", "600", "-p", "io_uring=%evt.is_io_uring"]
    with live_run(args, "falcoish-live-uring-", LOCAL_RULES,
                  (UPSTREAM_READ, IOU_RULE, MINING_RULE, SETUP_RULE, ACCEPT_RULE)) as env:
        yield env


@pytest.mark.parametrize("mode", ["inline", "--async", "--sqpoll"])
def test_io_uring_read_of_etc_shadow(uring_env: Env, mode: str) -> None:
    """Inline, punted to an io-wq worker, or submitted by the SQPOLL thread: the open is the
    program's, with the kernel's path of the file."""
    env = uring_env
    prog = _build(env.work, "uring_read", READ_C)
    miss = env.marker("plain")
    got = run([prog, "/etc/hostname", miss, mode])
    assert got.returncode == 0, got
    m = env.marker("shadow")
    got = run([prog, "/etc/shadow", m, mode])
    assert got.returncode == 0, got
    f = fields(env.falco.wait_alert(UPSTREAM_READ, m))
    assert f["fd.name"] == "/etc/shadow" and f["evt.type"] == "openat"
    assert f["evt.is_io_uring"] is True
    assert f["proc.name"] == "uring_read" and f["proc.exepath"] == prog
    g = fields(env.falco.wait_alert(IOU_RULE, m))
    assert g["fd.name"] == "/etc/shadow" and g["proc.name"] == "uring_read"
    env.assert_silent(UPSTREAM_READ, miss)
    env.assert_silent(IOU_RULE, miss)
    ring = fields(env.falco.wait_alert(SETUP_RULE, m))
    assert ring["evt.arg.entries"] in (4, "4") and ring["evt.is_io_uring"] is False


def test_io_uring_open_into_a_fixed_file_slot(uring_env: Env) -> None:
    """An open into a registered-file slot makes no descriptor (nothing to walk): the record
    carries the kernel's copy of the path, and the default io_uring rule still fires."""
    env = uring_env
    prog = _build(env.work, "uring_read", READ_C)
    miss = env.marker("dplain")
    assert run([prog, "/etc/hostname", miss, "--direct"]).returncode == 0
    m = env.marker("dshadow")
    got = run([prog, "/etc/shadow", m, "--direct"])
    assert got.returncode == 0, got
    g = fields(env.falco.wait_alert(IOU_RULE, m))
    assert g["fd.name"] == "/etc/shadow" and g["proc.name"] == "uring_read"
    assert g["evt.is_io_uring"] is True
    env.assert_silent(IOU_RULE, miss)


def test_io_uring_connect_to_a_mining_pool_port(uring_env: Env) -> None:
    """IORING_OP_CONNECT to a pool port on this host's own non-loopback address (a local
    listener answers): the network rule sees a `connect`; the same connect to loopback is a
    near miss."""
    env = uring_env
    ip = _host_ip()
    if ip is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    prog = _build(env.work, "uring_connect", CONNECT_C)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = 0
    for candidate in (3333, 4444, 5555, 7777, 14433, 14444):
        try:
            srv.bind(("0.0.0.0", candidate))
            port = candidate
            break
        except OSError:
            continue
    if not port:
        pytest.skip("every mining pool port is taken on this host")
    srv.listen(8)
    try:
        miss = env.marker("loop")
        got = run([prog, "127.0.0.1", str(port), miss])
        assert got.returncode == 0, got
        m = env.marker("pool")
        got = run([prog, ip, str(port), m])
        assert got.returncode == 0, got
        f = fields(env.falco.wait_alert(MINING_RULE, m))
        assert f["evt.is_io_uring"] is True          # (the rule watches connect only)
        assert f["fd.sip"] == ip and f["fd.sport"] == port
        assert f["proc.name"] == "uring_connect"
        env.assert_silent(MINING_RULE, miss)
    finally:
        srv.close()


@pytest.mark.parametrize("how", ["io_uring", "--syscall"])
def test_accept_peer_comes_from_the_new_socket(uring_env: Env, how: str) -> None:
    """IORING_OP_ACCEPT, and an accept() that asked for no address: an `accept` event of the
    program with the peer from the new socket."""
    env = uring_env
    prog = _build(env.work, "uring_accept", ACCEPT_C)
    m = env.marker("accept" + how.strip("-"))
    proc = subprocess.Popen([prog, m, how], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        cport = client.getsockname()[1]
        out, _ = proc.communicate(timeout=20)
        client.close()
    finally:
        proc.kill()
    assert proc.returncode == 0 and int(out.split()[-1]) >= 0, out
    f = fields(env.falco.wait_alert(ACCEPT_RULE, m))
    assert f["evt.is_io_uring"] is (how == "io_uring")
    assert (f["fd.cip"], f["fd.cport"], f["fd.sip"], f["fd.sport"]) == ("127.0.0.1", cport, "127.0.0.1", port)
