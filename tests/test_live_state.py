"""State table and record decoding of the live source, driven by synthetic kernel records.

No BPF here: records are packed exactly as probe.c lays them out and fed to
LiveCapture's record decoder; /proc lookups are answered by a fake reader for made-up pids
(above pid_max, so they can never exist on the test machine).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import pytest

from falcoish.sources.live import kernel, spec, state
from falcoish.sources.live.capture import LiveCapture
from falcoish.sources.live.procscan import ProcData
from falcoish.sources.live.state import EXIT_GRACE_NS
from falcoish.sources.live.users import UserDirectory

SHELL, CHILD, INIT = 5_000_001, 5_000_002, 5_000_000
O_CLOEXEC, O_DIRECTORY, O_RDONLY = 0o2000000, 0o200000, 0


def fake_reader(known: dict[int, ProcData]) -> Any:
    def read(pid: int, tid: int | None = None, process: bool = True) -> ProcData | None:
        data = known.get(tid if tid is not None else pid)
        if data is None:
            return None
        return ProcData(**{k: getattr(data, k) for k in data.__dataclass_fields__})
    return read


def procdata(pid: int, ppid: int, comm: str, args: list[str], cwd: str = "/root/") -> ProcData:
    return ProcData(tid=pid, pid=pid, ppid=ppid, comm=comm, exe=comm, args=args, env=["HOME=/root"],
                    exepath=f"/usr/bin/{comm}", cwd=cwd, uid=0, gid=0, loginuid=1000,
                    caps=(0, 0x1FF, 0x1FF), vtid=pid, vpid=pid, pgid=pid, vpgid=pid, sid=pid,
                    tty=34816, start_ts=1)


@pytest.fixture()
def cap() -> LiveCapture:
    c = LiveCapture(None, scan_proc=False)
    known = {INIT: procdata(INIT, 0, "systemd", []), SHELL: procdata(SHELL, INIT, "bash", ["-i"])}
    c.state = state.StateTable(proc_reader=fake_reader(known))
    c.users = UserDirectory()
    return c


def record(type: str, tid: int, *, pid: int | None = None, res: int = 0, a: tuple[int, ...] = (),
           strs: tuple[bytes, ...] = (), comm: bytes = b"bash", ts: int = 10**9, uid: int = 0,
           rflags: int = kernel.RF_TRACKED) -> bytes:
    """A record as the probe sends it; by default its new descriptor (if any) is tracked, as
    every one is without a kernel filter."""
    a6 = (tuple(x & 0xFFFFFFFFFFFFFFFF for x in a) + (0,) * 6)[:6]
    lens = (tuple(len(s) for s in strs) + (0, 0, 0))[:3]
    hdr = kernel.HEADER.pack(ts, tid, pid if pid is not None else tid, uid, 0,
                             spec.TYPE_NUMBERS[type], len(strs), *lens, 0, rflags, res, *a6, 0, 0, comm)
    return hdr + b"".join(s.ljust(kernel.STR_SZ, b"\0") for s in strs)


def exec_record(tid: int, argv: list[str], env: list[str], filename: str, comm: bytes,
                res: int = 0, type: str = "execve", a: tuple[int, ...] = ()) -> bytes:
    head = record(type, tid, res=res, strs=(filename.encode() + b"\0",), comm=comm, a=a)
    head = head.ljust(kernel.EXEC_LENS_OFF, b"\0")
    blob_a = b"".join(x.encode() + b"\0" for x in argv)
    blob_e = b"".join(x.encode() + b"\0" for x in env)
    body = struct.pack("<II", len(blob_a), len(blob_e))
    return head + body + blob_a + blob_e          # env right after argv, as the probe sends


def s(text: str) -> bytes:
    return text.encode() + b"\0"


def spawn(cap: LiveCapture, argv: list[str], filename: str) -> Any:
    """bash forks CHILD, CHILD execs `argv`; returns the execve event."""
    assert cap.decoder.process(record("sched_fork", SHELL, a=(CHILD, 0x1200011, 1))) is None
    return cap.decoder.process(exec_record(CHILD, argv, ["PATH=/bin", "X=1"], filename,
                                    comm=os.path.basename(filename).encode()))


def test_fork_then_exec_shows_new_program_and_ancestors(cap: LiveCapture) -> None:
    ev = spawn(cap, ["cat", "/etc/shadow"], "/usr/bin/cat")
    assert ev.type == "execve" and ev.num == 1 and ev.res == 0
    th = ev.thread
    assert (th["pid"], th["tid"], th["ppid"]) == (CHILD, CHILD, SHELL)
    assert th["comm"] == "cat" and th["exe"] == "cat" and th["args"] == ["/etc/shadow"]
    assert th["exepath"] == "/usr/bin/cat" and th["env"] == ["PATH=/bin", "X=1"]
    assert th["cwd"] == "/root/" and th["tty"] == 34816 and th["loginuid"] == 1000
    assert [a["comm"] for a in ev.ancestors] == ["bash", "systemd"]
    assert ev.args["exe"] == "cat" and ev.args["args"] == "/etc/shadow"
    assert ev.args["filename"] == "/usr/bin/cat" and ev.args["ptid"] == SHELL
    assert ev.args["env"] == "PATH=/bin\0X=1"
    assert ev.user["name"] == "root" and ev.group["name"] == "root"
    assert ev.container["id"] in ("host",) or len(ev.container["id"]) == 12


def test_failed_exec_keeps_old_program(cap: LiveCapture) -> None:
    cap.decoder.process(record("sched_fork", SHELL, a=(CHILD, 0x1200011, 1)))
    ev = cap.decoder.process(exec_record(CHILD, ["nope"], [], "/nonexistent", comm=b"bash", res=-2))
    assert ev.res == -2 and ev.thread["comm"] == "bash" and ev.thread["exe"] == "bash"
    assert ev.args["filename"] == "/nonexistent"


def test_openat_relative_to_cwd_and_dirfd_then_close(cap: LiveCapture) -> None:
    spawn(cap, ["cat"], "/usr/bin/cat")
    ev = cap.decoder.process(record("openat", CHILD, res=3, a=(-100, O_RDONLY, 0), strs=(s("../etc//shadow"),), comm=b"cat"))
    assert ev.args == {"fd": 3, "dirfd": -100, "name": "../etc//shadow", "flags": 0, "mode": 0}
    assert ev.fd == {"num": 3, "type": "file", "name": "/etc/shadow", "nameraw": "../etc/shadow", "flags": 0}
    d = cap.decoder.process(record("openat", CHILD, res=4, a=(-100, O_DIRECTORY, 0), strs=(s("/var/log"),), comm=b"cat"))
    assert d.fd["type"] == "directory"
    ev = cap.decoder.process(record("openat", CHILD, res=5, a=(4, O_CLOEXEC, 0), strs=(s("syslog"),), comm=b"cat"))
    assert ev.fd["name"] == "/var/log/syslog"
    assert ev.resolved["dirfd"] == "<d>/var/log"
    failed = cap.decoder.process(record("openat", CHILD, res=-13, a=(-100, 0, 0), strs=(s("/root/x"),), comm=b"cat"))
    assert failed.fd["num"] == -1 and failed.fd["name"] == "/root/x"
    close = cap.decoder.process(record("close", CHILD, a=(3,), comm=b"cat"))
    assert close.fd["name"] == "/etc/shadow"           # still described by the closing event
    assert cap.state.threads[CHILD].proc.fds.get(3) is not None
    cap.decoder.process(record("close", CHILD, a=(99,), comm=b"cat", res=-9))
    assert cap.state.threads[CHILD].proc.fds.get(3) is None   # removed before the next event


def test_exec_drops_cloexec_descriptors(cap: LiveCapture) -> None:
    spawn(cap, ["sh"], "/bin/sh")
    cap.decoder.process(record("openat", CHILD, res=3, a=(-100, O_CLOEXEC, 0), strs=(s("/etc/a"),)))
    cap.decoder.process(record("openat", CHILD, res=4, a=(-100, 0, 0), strs=(s("/etc/b"),)))
    cap.decoder.process(exec_record(CHILD, ["cat"], [], "/usr/bin/cat", comm=b"cat"))
    fds = cap.state.threads[CHILD].proc.fds
    assert 3 not in fds and fds[4]["name"] == "/etc/b"


def test_chdir_replaces_shared_thread_section(cap: LiveCapture) -> None:
    spawn(cap, ["sh"], "/bin/sh")
    e1 = cap.decoder.process(record("openat", CHILD, res=3, a=(-100, 0, 0), strs=(s("a"),)))
    e2 = cap.decoder.process(record("openat", CHILD, res=4, a=(-100, 0, 0), strs=(s("b"),)))
    assert e1.thread is e2.thread                    # shared, not rebuilt
    ch = cap.decoder.process(record("chdir", CHILD, strs=(s("/tmp/x/.."),)))
    assert ch.thread["cwd"] == "/tmp/" and e1.thread["cwd"] == "/root/"
    e3 = cap.decoder.process(record("openat", CHILD, res=5, a=(-100, 0, 0), strs=(s("c"),)))
    assert e3.fd["name"] == "/tmp/c"
    fch = cap.decoder.process(record("fchdir", CHILD, a=(-1,), res=-9))
    assert fch.thread["cwd"] == "/tmp/"


def ipv4(ip: str, port: int) -> bytes:
    return struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + socket.inet_aton(ip) + b"\0" * 8


def test_socket_connect_tuple_client_to_server(cap: LiveCapture) -> None:
    spawn(cap, ["curl"], "/usr/bin/curl")
    ev = cap.decoder.process(record("socket", CHILD, res=3, a=(2, 1 | O_CLOEXEC, 0)))
    assert ev.fd["type"] == "ipv4" and ev.fd["l4proto"] == "tcp" and ev.args["flags"] == O_CLOEXEC
    local = struct.unpack("<I", socket.inet_aton("10.0.0.5"))[0]
    # a: fd, -, -, sock, saddr4, lport; s0 = sockaddr
    ev = cap.decoder.process(record("connect", CHILD, a=(3, 0, 0, 0xFFFF0000DEAD, local, 43210),
                             strs=(ipv4("93.184.216.34", 443),)))
    assert ev.args == {"res": 0, "tuple": "10.0.0.5:43210->93.184.216.34:443", "fd": 3,
                       "addr": "93.184.216.34:443"}
    fd = ev.fd
    assert (fd["cip"], fd["cport"], fd["sip"], fd["sport"]) == ("10.0.0.5", 43210, "93.184.216.34", 443)
    assert fd["is_server"] is False and fd["connected"] is True
    assert fd["name"] == "10.0.0.5:43210->93.184.216.34:443"


def test_bind_listen_accept_server_side(cap: LiveCapture) -> None:
    spawn(cap, ["nginx"], "/usr/sbin/nginx")
    cap.decoder.process(record("socket", CHILD, res=3, a=(2, 1, 6)))
    b = cap.decoder.process(record("bind", CHILD, a=(3,), strs=(ipv4("0.0.0.0", 8080)[:16],)))
    assert b.args["addr"] == "0.0.0.0:8080" and b.fd["name"] == "0.0.0.0:8080" and b.fd["is_server"]
    cap.decoder.process(record("listen", CHILD, a=(3, 128)))
    peer = ipv4("127.0.0.1", 51000)[:16]
    ev = cap.decoder.process(record("accept4", CHILD, res=4, a=(3, O_CLOEXEC), strs=(peer,)))
    assert ev.args["fd"] == 4 and ev.args["tuple"] == "127.0.0.1:51000->127.0.0.1:8080"
    assert ev.fd["is_server"] is True and ev.fd["cport"] == 51000 and ev.fd["sport"] == 8080
    assert ev.fd["flags"] & O_CLOEXEC


def test_pipe_dup_and_memfd_exec(cap: LiveCapture) -> None:
    spawn(cap, ["loader"], "/usr/bin/loader")
    ev = cap.decoder.process(record("pipe2", CHILD, a=(O_CLOEXEC,), strs=(struct.pack("<ii", 5, 6),)))
    assert ev.args["fd1"] == 5 and ev.args["fd2"] == 6 and ev.fd["type"] == "pipe"
    cap.decoder.process(record("openat", CHILD, res=3, a=(-100, O_CLOEXEC, 0), strs=(s("/etc/passwd"),)))
    d = cap.decoder.process(record("dup2", CHILD, res=0, a=(3, 0)))
    assert d.fd["num"] == 0 and d.fd["name"] == "/etc/passwd" and not d.fd["flags"] & O_CLOEXEC
    m = cap.decoder.process(record("memfd_create", CHILD, res=7, a=(0,), strs=(s("payload"),)))
    assert m.fd == {"num": 7, "type": "memfd", "name": "payload", "flags": 2}
    ev = cap.decoder.process(exec_record(CHILD, ["x"], [], "/proc/self/fd/7", comm=b"7"))
    assert ev.thread["exe_from_memfd"] is True and ev.thread["exepath"] == "memfd:payload"
    assert ev.args["flags"] & 4                      # PPM_EXE_FROM_MEMFD


def test_setuid_changes_user(cap: LiveCapture) -> None:
    spawn(cap, ["su"], "/bin/su")
    ev = cap.decoder.process(record("setuid", CHILD, a=(65534,)))
    assert ev.thread["uid"] == 65534 and ev.user["uid"] == 65534


def test_clone_thread_shares_process(cap: LiveCapture) -> None:
    spawn(cap, ["java"], "/usr/bin/java")
    tid = CHILD + 7
    cap.decoder.process(record("sched_fork", CHILD, a=(tid, 0x3D0F00, 1)))   # CLONE_THREAD|CLONE_FILES...
    ev = cap.decoder.process(record("clone3", tid, pid=CHILD, a=(0, 1)))          # child side
    assert ev.res == 0 and ev.thread["pid"] == CHILD and ev.thread["tid"] == tid
    cap.decoder.process(record("openat", tid, pid=CHILD, res=9, a=(-100, 0, 0), strs=(s("/x"),)))
    assert cap.state.threads[CHILD].proc.fds[9]["name"] == "/x"
    ex = cap.decoder.process(record("procexit", tid, pid=CHILD, a=(0, 0, 1)))
    assert ex.res is None and ex.args["ret"] == 0 and ex.thread["tid"] == tid
    # a record of the thread's last moments read after its exit record (another lane's
    # backlog) still finds it; once the grace period of event time is over, it is gone
    late = cap.decoder.process(record("openat", tid, pid=CHILD, res=-2, a=(-100, 0, 0), strs=(s("/y"),),
                                      ts=10**9 + 1))
    assert late.thread["exepath"] == "/usr/bin/java" and tid in cap.state.threads
    cap.decoder.process(record("close", CHILD, a=(1,), ts=10**9 + EXIT_GRACE_NS))
    assert tid not in cap.state.threads and CHILD in cap.state.threads


def test_unwanted_types_update_state_silently() -> None:
    c = LiveCapture({"execve"}, scan_proc=False)
    known = {INIT: procdata(INIT, 0, "systemd", []), SHELL: procdata(SHELL, INIT, "bash", [])}
    c.state = state.StateTable(proc_reader=fake_reader(known))
    assert "chdir" in c.attach and "openat" not in c.attach and "chdir" not in c.wanted
    assert c.decoder.process(record("chdir", SHELL, strs=(s("/srv"),))) is None
    ev = spawn(c, ["ls"], "/bin/ls")
    assert ev.thread["cwd"] == "/srv/" and c.stats["state_only"] >= 2


def test_unknown_thread_becomes_placeholder(cap: LiveCapture) -> None:
    ev = cap.decoder.process(record("openat", 5_100_000, res=3, a=(-100, 0, 0), strs=(s("/etc/x"),), comm=b"ghost", uid=33))
    assert ev.thread["comm"] == "ghost" and ev.thread["uid"] == 33 and ev.ancestors == []


def test_table_is_bounded() -> None:
    st = state.StateTable(max_threads=50, proc_reader=fake_reader({}))
    parent = st.thread(5_200_000, 5_200_000, "p")
    for i in range(1, 200):
        st.on_fork(parent, 5_200_000 + i, 0, 1)
    assert len(st.threads) <= 50


def test_capture_set_in_kernel_selection() -> None:
    only_exec = spec.capture_set({"execve"})
    assert "execve" in only_exec and "openat" not in only_exec and "close" not in only_exec
    with_fd = spec.capture_set({"connect"})
    assert {"socket", "close", "dup2", "openat"} <= with_fd
    assert spec.capture_set(None) >= set(spec.SYSCALLS) - {"init_module", "finit_module"} - spec.EXPLICIT_ONLY


def test_generated_probe_source_has_only_wanted_handlers() -> None:
    text, _missing, plain = kernel.build_source(spec.capture_set({"execve"}), offsets=[])
    assert "int sx_openat(" not in text and "sys_enter_execve)" in text and "openat" not in plain
    text, _missing, plain = kernel.build_source(spec.capture_set({"openat"}), offsets=[])
    assert "int sx_openat(" in text and "openat" in plain
    # arguments come from the kernel's own description of the syscall (tracefs format)
    body = text.split("int sx_openat(")[1].split("}")[0]
    assert "u64 arg1 = sys_arg(regs, 1);" in body and "STR(e, 0, arg1);" in body


def test_untracked_descriptor_is_not_kept_and_replaces_a_stale_one(cap: LiveCapture) -> None:
    """The probe sends the close of tracked descriptors only: an untracked one kept here would
    go stale; and a new descriptor under a known number means the old entry is gone."""
    cap.decoder.process(record("openat", SHELL, res=7, a=(-100, 0, 0), strs=(s("/etc/dir"),)))
    assert cap.state.threads[SHELL].proc.fds[7]["name"] == "/etc/dir"
    ev = cap.decoder.process(record("openat", SHELL, res=7, a=(-100, 0, 0), strs=(s("/tmp/x"),), rflags=0))
    assert ev.fd["name"] == "/tmp/x"                      # the event still describes its file
    assert 7 not in cap.state.threads[SHELL].proc.fds


def test_users_read_passwd_and_group(tmp_path: Any) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                             "www-data:x:33:33:www:/var/www:/usr/sbin/nologin\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\nadm:x:4:\n")
    users = UserDirectory(str(tmp_path))
    sec = users.user_section(33, 0)
    assert sec == {"uid": 33, "name": "www-data", "homedir": "/var/www", "shell": "/usr/sbin/nologin",
                   "loginname": "root"}
    assert users.user_section(33, 0) is sec
    assert users.group_section(4) == {"gid": 4, "name": "adm"}
    assert users.user_section(4242, -1) == {"uid": 4242}


def test_exec_of_a_child_gone_before_its_cgroup_was_read_keeps_its_container() -> None:
    """A short-lived program (`nc -e ...` that exits at once) may be gone between the reads of
    its /proc entry: the container it inherited at fork stands, it does not become "host"."""
    shell = procdata(SHELL, INIT, "bash", [])
    shell.container = ("0123456789ab", "0123456789ab" * 5 + "0123", "docker")
    child = procdata(CHILD, SHELL, "nc", ["-e", "/bin/sh"])
    child.container_read = False          # /proc/CHILD/cgroup vanished
    st = state.StateTable(proc_reader=fake_reader({INIT: procdata(INIT, 0, "systemd", []), SHELL: shell,
                                                   CHILD: child}))
    parent = st.thread(SHELL, SHELL, "bash")
    assert parent.proc.container["id"] == "0123456789ab"
    t = st.on_fork(parent, CHILD, 0, 1)
    t = st.on_exec(t, "nc", ["nc", "-e", "/bin/sh"], None, "/usr/bin/nc", 0, 0, lambda name: None)
    assert t.proc.container["id"] == "0123456789ab" and t.proc.exepath == "/usr/bin/nc"


# ---- facts the probe reads from the kernel at the time of the call (issue 13) -------------

GONE = 5_000_003            # a child whose /proc entry is gone before its exec is handled


def exec_record_with_kernel_facts(tid: int, caps: tuple[int, int, int], cgroups: list[list[str]],
                                  whole: bool = True) -> bytes:
    """An execve record as sched_process_exec sends it: the capabilities in a[2..4] (a[5] = 1),
    the cgroup paths innermost component first in slots 1 and 2, their depths in xptr."""
    slots = [b"/usr/bin/cat\0", b"", b""]
    info = 0
    for i, parts in enumerate(cgroups):
        names = list(reversed(parts))
        slots[i + 1] = b"".join(n.encode().ljust(128, b"\0") for n in names)
        info |= ((int(whole) << 8) | len(names)) << (16 * i)
    xptr = (1 << 32) | info
    hdr = kernel.HEADER.pack(10**9, tid, tid, 0, 0, spec.TYPE_NUMBERS["execve"], 1, len(slots[0]), 0, 0,
                             0, kernel.RF_TRACKED, 0, 0, 0, *caps, 1, xptr, 0, b"cat")
    head = (hdr + b"".join(x.ljust(kernel.STR_SZ, b"\0") for x in slots)).ljust(kernel.EXEC_LENS_OFF, b"\0")
    argv = b"cat\0/etc/shadow\0"
    return head + struct.pack("<II", len(argv), 0) + argv


def gone_child(cap: LiveCapture) -> None:
    assert cap.decoder.process(record("sched_fork", SHELL, a=(GONE, 0x1200011, 1))) is None


def test_exec_of_a_gone_process_takes_capabilities_and_container_from_the_record(cap: LiveCapture) -> None:
    """The parent has every capability and no container; the program it started was given
    none and was exec'd inside a docker cgroup, and is gone before /proc could be read."""
    gone_child(cap)
    cid = "ab" * 32
    ev = cap.decoder.process(exec_record_with_kernel_facts(GONE, (0, 0x3, 0x1), [["docker", cid]]))
    assert (ev.thread["cap_permitted"], ev.thread["cap_effective"], ev.thread["cap_inheritable"]) == (3, 1, 0)
    assert (ev.args["cap_permitted"], ev.args["cap_effective"]) == (3, 1)
    assert ev.container["id"] == cid[:12]
    assert ev.thread["exepath"] == "/usr/bin/cat" and ev.thread["exe_upper_layer"] is False


def test_exec_cgroup_walk_cut_short_is_not_trusted(cap: LiveCapture) -> None:
    """A path read only partly (deeper than the probe walks) could look like another layout:
    the container from fork stands."""
    gone_child(cap)
    ev = cap.decoder.process(exec_record_with_kernel_facts(GONE, (0, 0, 0), [["docker", "cd" * 32]],
                                                           whole=False))
    assert ev.container["id"] == "host"


def test_unconnected_udp_sendto_stays_unconnected_with_the_kernel_local_port(cap: LiveCapture) -> None:
    """Falco's `outbound` tells a datagram sent on an unconnected socket by fd.connected=false
    and fd.name_changed=true; the local port is the one the kernel bound at the send (a[2])."""
    spawn(cap, ["python3"], "/usr/bin/python3")
    cap.decoder.process(record("socket", CHILD, res=3, a=(2, 2, 17)))
    local = (2 << 48) | (40999 << 32)                      # AF_INET, port, address 0.0.0.0
    ev = cap.decoder.process(record("sendto", CHILD, res=1, a=(3, 1, local), strs=(ipv4("198.51.100.9", 5000),)))
    fd = ev.fd
    assert fd["connected"] is False and fd["name_changed"] is True and fd["l4proto"] == "udp"
    assert fd["name"] == "0.0.0.0:40999->198.51.100.9:5000"
    assert "data" not in ev.args                         # no rule asked for the payload


def test_recvfrom_payload_is_the_data_argument(cap: LiveCapture) -> None:
    spawn(cap, ["java"], "/usr/bin/java")
    cap.decoder.process(record("socket", CHILD, res=3, a=(2, 1, 6)))
    ev = cap.decoder.process(record("recvfrom", CHILD, res=6, a=(3, 4096, 0),
                                    strs=(b"", b"\xca\xfe\xba\xbe\x00\x00")))
    assert ev.args["data"] == b"\xca\xfe\xba\xbe\x00\x00" and ev.args["size"] == 4096


def test_dual_stack_connect_takes_the_local_address_from_the_ipv6_slot(cap: LiveCapture) -> None:
    spawn(cap, ["java"], "/usr/bin/java")
    cap.decoder.process(record("socket", CHILD, res=3, a=(10, 2, 17)))
    mapped = socket.inet_pton(socket.AF_INET6, "::ffff:192.0.2.2")
    peer = (struct.pack("<H", socket.AF_INET6) + struct.pack(">H", 9999) + b"\0" * 4
            + socket.inet_pton(socket.AF_INET6, "::ffff:198.51.100.23") + b"\0" * 4)
    ev = cap.decoder.process(record("connect", CHILD, a=(3, (1 << 32) | (2 << 16) | 17, 0, 0xFFFF0000BEEF, 0, 41000),
                                    strs=(peer, mapped)))
    assert ev.fd["name"] == "192.0.2.2:41000->198.51.100.23:9999" and ev.fd["l4proto"] == "udp"


def test_connect_takes_the_protocol_from_the_socket_when_its_creation_was_not_seen(cap: LiveCapture) -> None:
    spawn(cap, ["python3"], "/usr/bin/python3")          # fd 7: made before, never seen
    local = struct.unpack("<I", socket.inet_aton("192.0.2.2"))[0]
    ev = cap.decoder.process(record("connect", CHILD, a=(7, (1 << 32) | (2 << 16) | 17, 0, 0xFFFF0000BEEF, local, 41001),
                                    strs=(ipv4("198.51.100.23", 9999),)))
    assert ev.fd["l4proto"] == "udp" and ev.fd["name"] == "192.0.2.2:41001->198.51.100.23:9999"


def test_exec_of_a_gone_process_finds_its_layer_through_the_parent_mounts(cap: LiveCapture,
                                                                         monkeypatch: Any) -> None:
    """The overlay layer of the new program is looked up (the parent shares its mounts), not
    left at the old program's flags."""
    seen: list[tuple[int, str]] = []

    def layer(pid: int, exepath: str, container: dict[str, Any]) -> tuple[bool, bool]:
        seen.append((pid, exepath))
        return True, False
    monkeypatch.setattr(state, "overlay_layer", layer)
    gone_child(cap)
    ev = cap.decoder.process(exec_record_with_kernel_facts(GONE, (0, 0, 0), [["docker", "ef" * 32]]))
    assert seen == [(SHELL, "/usr/bin/cat")]
    assert ev.thread["exe_upper_layer"] is True and ev.args["flags"] & 2
