"""The /proc reader and the cgroup -> container id parser (no BPF needed)."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

from falcoish.sources.live import containers, procscan

DOCKER_ID = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e"


def test_reads_this_process() -> None:
    data = procscan.read_thread(os.getpid())
    assert data is not None
    assert data.pid == data.tid == os.getpid()
    assert data.ppid == os.getppid()
    with open("/proc/self/comm") as fh:
        assert data.comm == fh.read().strip()
    assert data.cwd == os.getcwd().rstrip("/") + "/"
    assert data.uid == os.geteuid() and data.gid == os.getegid()
    assert data.exepath == os.path.realpath("/proc/self/exe")
    assert data.exe and data.args                 # argv[0] + the pytest arguments
    assert any(e.startswith("PATH=") for e in data.env)
    assert data.start_ts > procscan.BOOT_NS
    assert data.exe_ino == os.stat("/proc/self/exe").st_ino


def test_gone_process_is_none() -> None:
    assert procscan.read_thread(2 ** 22 + 12345) is None


def test_open_file_appears_in_fd_table() -> None:
    with tempfile.NamedTemporaryFile(prefix="falcoish-scan-") as tmp:
        fds = procscan.read_fds(os.getpid(), procscan.SocketTables())
        fd = fds[tmp.fileno()]
        assert fd["type"] == "file"
        assert fd["name"] == os.path.realpath(tmp.name)
        assert fd["num"] == tmp.fileno()


def test_directory_and_pipe_descriptors() -> None:
    dfd = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    r, w = os.pipe()
    try:
        fds = procscan.read_fds(os.getpid(), procscan.SocketTables())
        assert fds[dfd]["type"] == "directory" and fds[dfd]["name"] == "/tmp"
        assert fds[dfd]["flags"] & os.O_DIRECTORY
        assert fds[r]["type"] == "pipe" and fds[r]["name"].startswith("pipe:[")
    finally:
        for fd in (dfd, r, w):
            os.close(fd)


def test_sockets_listening_and_connected() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    acc, peer = srv.accept()
    try:
        fds = procscan.read_fds(os.getpid(), procscan.SocketTables())
        listening = fds[srv.fileno()]
        assert listening["type"] == "ipv4" and listening["is_server"]
        assert listening["name"] == f"127.0.0.1:{port}" and listening["sport"] == port
        client = fds[cli.fileno()]
        assert client["type"] == "ipv4" and client["l4proto"] == "tcp"
        assert (client["cip"], client["cport"], client["sip"], client["sport"]) == \
            ("127.0.0.1", cli.getsockname()[1], "127.0.0.1", port)
        assert client["is_server"] is False
        # the accepted end is flipped to client->server order (its local port is listening)
        server_end = fds[acc.fileno()]
        assert server_end["cport"] == peer[1] and server_end["sport"] == port
        assert server_end["is_server"] is True
        assert server_end["name"] == f"127.0.0.1:{peer[1]}->127.0.0.1:{port}"
    finally:
        for s in (acc, cli, srv):
            s.close()


def test_unix_socket_and_memfd() -> None:
    a, b = socket.socketpair()
    mfd = os.memfd_create("jit-cache")
    try:
        fds = procscan.read_fds(os.getpid(), procscan.SocketTables())
        assert fds[a.fileno()]["type"] == "unix"
        assert fds[mfd]["type"] == "memfd" and "jit-cache" in fds[mfd]["name"]
    finally:
        a.close()
        b.close()
        os.close(mfd)


def test_scan_sees_this_process_and_threads() -> None:
    me = os.getpid()
    seen = [(d, f) for d, f in procscan.scan() if d.pid == me]
    assert any(d.tid == me and f is not None for d, f in seen)


def test_memfd_exe_link_normalised() -> None:
    assert procscan.normalize_memfd("/memfd:runc_cloned:/proc/self/exe (deleted)") == \
        "memfd:runc_cloned:/proc/self/exe"


@pytest.mark.parametrize("line, short, kind", [
    (f"0::/system.slice/docker-{DOCKER_ID}.scope", DOCKER_ID[:12], "docker"),
    (f"12:cpuset:/docker/{DOCKER_ID}", DOCKER_ID[:12], "docker"),
    (f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/"
     f"cri-containerd-{DOCKER_ID}.scope", DOCKER_ID[:12], "containerd"),
    (f"0::/kubepods/besteffort/pod1234/{DOCKER_ID}", DOCKER_ID[:12], "containerd"),
    (f"0::/kubepods.slice/kubepods-pod1.slice/crio-{DOCKER_ID}.scope", DOCKER_ID[:12], "cri-o"),
    (f"0::/machine.slice/libpod-{DOCKER_ID}.scope", DOCKER_ID[:12], "podman"),
    (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{DOCKER_ID}.scope/container",
     DOCKER_ID[:12], "podman"),
    (f"1:name=systemd:/system.slice/containerd.service/kubepods-burstable-podabc.slice:cri-containerd:{DOCKER_ID}",
     DOCKER_ID[:12], "containerd"),
])
def test_container_ids(line: str, short: str, kind: str) -> None:
    found = containers.container_from_cgroup_text(line + "\n")
    assert found is not None
    assert found[0] == short and found[1] == DOCKER_ID and found[2] == kind


@pytest.mark.parametrize("text", [
    "0::/user.slice/user-1000.slice/session-3.scope\n",
    "0::/init.scope\n",
    "0::/\n",
    "12:cpuset:/\n11:memory:/system.slice/sshd.service\n",
])
def test_host_cgroups(text: str) -> None:
    assert containers.container_from_cgroup_text(text) is None
    assert containers.container_section(None) == {"id": "host", "name": "host"}


def test_container_section_is_shared() -> None:
    found = containers.container_from_path(f"/docker/{DOCKER_ID}")
    a, b = containers.container_section(found), containers.container_section(found)
    assert a is b and a["id"] == DOCKER_ID[:12] and a["full_id"] == DOCKER_ID


def test_a_zombie_has_no_trustworthy_container() -> None:
    """An exiting process is moved to the root cgroups before it becomes a zombie: its
    /proc/N/cgroup then says "no container" whatever container it ran in, so the read is
    marked unreliable (the state table keeps the container inherited at fork)."""
    import subprocess
    import time
    child = subprocess.Popen(["/bin/true"])
    try:
        for _ in range(200):
            with open(f"/proc/{child.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        data = procscan.read_thread(child.pid)
        assert data is not None and data.container is None and data.container_read is False
    finally:
        child.wait()
    me = procscan.read_thread(os.getpid())
    assert me is not None and me.container_read is True
