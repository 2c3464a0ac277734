"""Which cgroup paths are containers, and what /proc tells about a container (live capture).

Real-world /proc/PID/cgroup lines from systemd hosts, Kubernetes nodes (cgroup v1 and v2, both
kubelet cgroup drivers), docker, podman, containerd, CRI-O, LXC and libvirt, and the host paths
that merely look like ids (this very machine: `/process_api/<32 hex>`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from falcoish.sources.live import containers

ID = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e"
OTHER = "0c1ee1f4a2c5b8e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8"
POD = "b9b8d1a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize("line, full, kind", [
    # docker, cgroupfs driver (v1) and systemd driver (v1 and v2), rootless
    (f"12:pids:/docker/{ID}", ID, "docker"),
    (f"0::/system.slice/docker-{ID}.scope", ID, "docker"),
    (f"1:name=systemd:/system.slice/docker-{ID}.scope", ID, "docker"),
    (f"0::/user.slice/user-1000.slice/user@1000.service/docker-{ID}.scope", ID, "docker"),
    # systemd running inside a docker container: the container is the innermost match
    (f"0::/system.slice/docker-{ID}.scope/init.scope", ID, "docker"),
    # Kubernetes: cgroupfs driver (v1), systemd driver with containerd and CRI-O (v2)
    (f"4:memory:/kubepods/besteffort/pod{POD}/{ID}", ID, "containerd"),
    (f"0::/kubepods/burstable/pod{POD}/{ID}", ID, "containerd"),
    (f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD.replace('-', '_')}"
     f".slice/cri-containerd-{ID}.scope", ID, "containerd"),
    (f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD.replace('-', '_')}"
     f".slice/crio-{ID}.scope", ID, "cri-o"),
    (f"3:cpuset:/kubepods/besteffort/pod{POD}/crio-{ID}", ID, "cri-o"),
    (f"1:name=systemd:/system.slice/containerd.service/kubepods-burstable-pod{POD.replace('-', '_')}"
     f".slice:cri-containerd:{ID}", ID, "containerd"),
    # kind: a Kubernetes node that is itself a docker container -> the pod's container
    (f"0::/docker/{OTHER}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     f"kubelet-kubepods-besteffort-pod{POD.replace('-', '_')}.slice/cri-containerd-{ID}.scope",
     ID, "containerd"),
    # podman: systemd (root and rootless, crun's /container leaf), cgroupfs, --cgroups=split
    (f"0::/machine.slice/libpod-{ID}.scope", ID, "podman"),
    (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container",
     ID, "podman"),
    (f"5:pids:/libpod_parent/libpod-{ID}", ID, "podman"),
    (f"0::/system.slice/app.service/libpod-payload-{ID}", ID, "podman"),
    # containerd without Kubernetes (ctr/nerdctl), docker's own containerd namespace
    (f"0::/default/{ID}", ID, "containerd"),
    (f"0::/system.slice/nerdctl-{ID}.scope", ID, "containerd"),
    (f"0::/moby/{ID}", ID, "docker"),
])
def test_runtime_layouts_are_containers(line: str, full: str, kind: str) -> None:
    found = containers.container_from_cgroup_text(line + "\n")
    assert found == (full[:12], full, kind)


@pytest.mark.parametrize("line, name, kind", [
    ("9:memory:/lxc/web01", "web01", "lxc"),
    ("0::/lxc.payload.web01", "web01", "lxc"),
    ("0::/lxc.payload/web01/init.scope", "web01", "lxc"),
    ("0::/machine.slice/machine-lxc\\x2d2293906\\x2dweb01.scope", "2293906\\x2dweb01", "libvirt-lxc"),
    ("0::/machine.slice/machine-lxc\\x2d2293906\\x2dweb01.scope/libvirt", "2293906\\x2dweb01",
     "libvirt-lxc"),
    ("4:cpu:/machine/web01.libvirt-lxc", "web01", "libvirt-lxc"),
    ("4:cpu:/libvirt/lxc/web01", "web01", "libvirt-lxc"),
])
def test_lxc_and_libvirt_lxc_are_named_containers(line: str, name: str, kind: str) -> None:
    assert containers.container_from_cgroup_text(line + "\n") == (name, name, kind)


@pytest.mark.parametrize("text", [
    # this machine (a Firecracker VM) and its like: a word and a short hex id
    "9:name=systemd:/\n4:memory:/process_api/58dc40f06121327f48083d6beb17486e\n0::/\n",
    "0::/process_api/58dc40f06121\n",
    f"0::/sandbox/{ID[:63]}\n",                            # 63 hex: not a runtime id
    f"0::/sandbox/{ID}0\n",                                # 65 hex
    f"0::/docker/{ID.upper()}\n",                          # runtimes write lowercase
    # systemd hosts
    "0::/user.slice/user-1000.slice/session-3.scope\n",
    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope\n",
    "0::/system.slice/docker.service\n",
    "0::/system.slice/containerd.service\n",
    "0::/init.scope\n", "0::/\n", "12:cpuset:/\n11:memory:/system.slice/sshd.service\n",
    # the runtimes' own host-side processes
    f"0::/system.slice/crio-conmon-{ID}.scope\n",
    f"0::/machine.slice/libpod-conmon-{ID}.scope\n",
    "0::/lxc.monitor.web01\n",
    # virtual machines and systemd-nspawn (no container engine of Falco knows them)
    "0::/machine.slice/machine-qemu\\x2d1\\x2dwin10.scope/libvirt/emulator\n",
    "0::/machine.slice/machine-debian12.scope/payload\n",
    "0::/machine.slice/systemd-nspawn@debian12.service/payload\n",
    # pod slices themselves (the pod cgroup, not a container of it)
    f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD.replace('-', '_')}.slice\n",
    f"0::/kubepods/besteffort/pod{POD}\n",
    "garbage without colons\n", "0::relative/path\n", "",
])
def test_host_paths_are_the_host(text: str) -> None:
    assert containers.container_from_cgroup_text(text) is None


def test_first_matching_line_wins() -> None:
    text = f"12:pids:/docker/{ID}\n11:memory:/docker/{OTHER}\n0::/\n"
    assert containers.container_from_cgroup_text(text) == (ID[:12], ID, "docker")


def test_host_section() -> None:
    assert containers.container_section(None) == {"id": "host", "name": "host"}


def test_this_process_is_on_the_host() -> None:
    """The test runner itself is a host process (whatever odd cgroups this machine uses)."""
    assert containers.read_container(os.getpid()) is None


# ---- privileged / host_* from /proc ---------------------------------------------------------

def _child_traits(prefix: list[str]) -> dict[str, bool] | None:
    """Facts of a child started through `prefix` (e.g. setpriv), read while it lives."""
    child = subprocess.Popen([*prefix, sys.executable, "-c",
                              "import time; print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        return containers._traits(child.pid)
    finally:
        child.kill()
        child.wait()


def test_full_caps_no_seccomp_and_host_devices_is_privileged() -> None:
    traits = _child_traits([])
    assert traits == {"privileged": True, "host_pid": True, "host_network": True,
                      "host_ipc": True}


def test_a_smaller_bounding_set_is_not_privileged() -> None:
    traits = _child_traits(["setpriv", "--bounding-set", "-sys_admin", "--"])
    assert traits is not None and traits["privileged"] is False


def _traits_when_ready(argv: list[str]) -> dict[str, Any]:
    """The container traits falcoish reads for a child once it prints `ready` (it is killed
    afterwards)."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        traits = containers._traits(child.pid)
        assert traits is not None
        return traits
    finally:
        child.kill()
        child.wait()


def test_a_seccomp_filter_is_not_privileged() -> None:
    """A seccomp filter (as Docker's default profile installs) means not privileged; the
    filter here allows everything, it only has to exist."""
    code = ("import ctypes, sys, time; libc = ctypes.CDLL(None, use_errno=True); "
            "prog = (ctypes.c_uint64 * 1)(0x7fff000000000006); "          # RET ALLOW
            "fprog = (ctypes.c_ushort * 8)(); "
            "import struct; buf = ctypes.create_string_buffer(struct.pack('HxxxxxxQ', 1, "
            "ctypes.addressof(prog))); "
            "assert libc.prctl(38, 1, 0, 0, 0) == 0; "                     # NO_NEW_PRIVS
            "assert libc.prctl(22, 2, buf, 0, 0) == 0, ctypes.get_errno(); "  # SECCOMP_MODE_FILTER
            "print('ready', flush=True); time.sleep(30)")
    assert _traits_when_ready([sys.executable, "-c", code])["privileged"] is False


def test_only_oci_default_devices_is_not_privileged(tmp_path: Path) -> None:
    """A process whose root has only the OCI default devices in /dev does not see the host's."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        os.mknod(dev / name, 0o666 | 0o020000, os.stat(f"/dev/{name}").st_rdev)
    (dev / "pts").mkdir()
    (dev / "shm").mkdir()
    os.symlink("/proc/self/fd", dev / "fd")
    argv = ["unshare", "--mount", "--", "sh", "-c", f"mount --bind {dev} /dev && echo ready && exec sleep 30"]
    assert _traits_when_ready(argv)["privileged"] is False


def test_a_new_network_namespace_is_not_host_network() -> None:
    traits = _child_traits(["unshare", "--net", "--ipc", "--"])
    assert traits is not None
    assert traits["host_network"] is False and traits["host_ipc"] is False
    assert traits["host_pid"] is True


def test_facts_reach_the_section_once_known() -> None:
    found = (OTHER[:12], OTHER, "docker")
    before = containers.container_section(found)
    assert "privileged" not in before
    containers.note_traits(OTHER, os.getpid())
    after = containers.container_section(found)
    assert after["privileged"] is True and after["host_network"] is True
    assert containers.container_section(found) is after


# ---- through the CLI: the fields a rule sees ------------------------------------------------

def test_fields_through_the_cli(tmp_path: Path) -> None:
    from tests.eventkit import record
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: Privileged container shell\n  desc: t\n"
        "  condition: evt.type=getpid and container.privileged=true\n"
        "  output: priv %container.id %container.host_network %container.host_pid\n"
        "  priority: WARNING\n"
        "- rule: Host network not privileged\n  desc: t\n"
        "  condition: evt.type=getpid and not container.privileged=true\n"
        "  output: nopriv %container.id %container.privileged %container.host_network\n"
        "  priority: WARNING\n")
    recs = [
        record("getpid", container={"id": ID[:12], "full_id": ID, "type": "docker",
                                    "privileged": True, "host_pid": False,
                                    "host_network": True, "host_ipc": False}),
        record("getpid", num=2, container={"id": "host"}),
        record("getpid", num=3, container={"id": OTHER[:12], "full_id": OTHER, "type": "docker"}),
    ]
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = subprocess.run([sys.executable, "-m", "falcoish.cli.main", "run", "--no-defaults",
                           "-r", str(rules), "-e", str(events)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = [line.split(": ", 1)[1] for line in proc.stdout.splitlines() if ": " in line]
    assert any(f"Warning priv {ID[:12]} true false " in o for o in out), proc.stdout
    assert any("Warning nopriv host false false " in o for o in out), proc.stdout
    assert any(f"Warning nopriv {OTHER[:12]} <NA> <NA> " in o for o in out), proc.stdout
    assert len(out) == 3, proc.stdout


# ---- live: real processes, real cgroups, a real `falcoish run` ------------------------------

LIVE_RULES = """
- rule: Test privileged container process
  desc: a process of a privileged container (live test of container.privileged)
  condition: spawned_process and container and proc.name = nc
  output: >
    container process (privileged=%container.privileged host_network=%container.host_network
    host_pid=%container.host_pid type=%container.type full_id=%container.full_id
    cmd=%proc.cmdline)
  priority: NOTICE
"""
LIVE_RULE_NAMES = ["Launch Suspicious Network Tool on Host",
                   "Launch Suspicious Network Tool in Container",
                   "Netcat Remote Code Execution in Container",
                   "Test privileged container process"]


@pytest.fixture(scope="module")
def live(corpus_files: list[str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A `falcoish run` with the upstream rules (+ one test rule) and a lingering `nc`."""
    from falcoish.sources.live.capture import check_live_support
    from tests import fakecgroup
    from tests.test_live_rules import START_WAIT, Falcoish
    reason = check_live_support() or fakecgroup.unavailable()
    if reason is not None:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("live-containers")
    rules = work / "test_rules.yaml"
    rules.write_text(LIVE_RULES)
    nc = fakecgroup.lingering_program(work / "nc", 800)
    cmd = [sys.executable, "-m", "falcoish.cli.main", "run", "--no-defaults"]
    for f in [*corpus_files, str(rules)]:
        cmd += ["-r", f]
    cmd += ["--json", "--rule-matching", "all"]
    for name in LIVE_RULE_NAMES:
        cmd += ["--rule", name]
    falco = Falcoish(cmd)
    try:
        falco.wait_started(START_WAIT)
        yield falco, nc
    finally:
        falco.stop()


def _fields(alert: dict[str, object]) -> dict[str, object]:
    out = alert.get("output_fields")
    assert isinstance(out, dict), alert
    return out


@pytest.mark.live
def test_live_a_host_process_is_not_in_a_container(live: tuple[Any, Path]) -> None:
    """(a) On this host (whose cgroups look like `/process_api/<32 hex>`) a network tool is a
    host process: the host-only rule fires, the container rules stay silent."""
    from tests.fakecgroup import RuntimeCgroup
    from tests.test_live_rules import TOKEN
    falco, nc = live
    m = f"{TOKEN}host{secrets_hex()}"
    subprocess.run([str(nc), "-e", "/bin/sh", "127.0.0.1", "9", m], timeout=20)
    f = _fields(falco.wait_alert("Launch Suspicious Network Tool on Host", m))
    assert f["container.id"] == "host" and f["proc.name"] == "nc"
    # the same action in a container, afterwards: once its alert is read, any alert of the
    # host action has been read too (events are handled in order)
    mc = f"{TOKEN}ctr{secrets_hex()}"
    with RuntimeCgroup("docker") as cg:
        cg.run([str(nc), "-e", "/bin/sh", "127.0.0.1", "9", mc])
    falco.wait_alert("Launch Suspicious Network Tool in Container", mc)
    for rule in ("Launch Suspicious Network Tool in Container",
                 "Netcat Remote Code Execution in Container", "Test privileged container process"):
        assert not falco.matching(rule, m), f"{rule!r} fired for a host process"
    assert not falco.matching("Launch Suspicious Network Tool on Host", mc)


@pytest.mark.live
@pytest.mark.parametrize("layout", ["docker", "kubepods"])
def test_live_b_a_process_in_a_runtime_cgroup_is_in_a_container(live: tuple[Any, Path],
                                                                 layout: str) -> None:
    """(b) A process really placed in a cgroup of a runtime's layout (cgroup v1 docker, cgroup
    v2 Kubernetes/containerd) is a container process with the id from the path; with the
    host's devices, every capability and no seccomp it is privileged; the same in a container
    entered with a smaller bounding set is not (near miss)."""
    from tests.fakecgroup import RuntimeCgroup
    from tests.test_live_rules import TOKEN
    falco, nc = live
    miss = f"{TOKEN}nopriv{secrets_hex()}"
    with RuntimeCgroup(layout) as cg_miss:
        subprocess.run(["setpriv", "--bounding-set", "-sys_admin", "--",
                        *cg_miss.argv([str(nc), "-e", "/bin/sh", "127.0.0.1", "9", miss])],
                       timeout=20, check=True)
    m = f"{TOKEN}priv{secrets_hex()}"
    with RuntimeCgroup(layout) as cg:
        cg.run([str(nc), "-e", "/bin/sh", "127.0.0.1", "9", m])
    f = _fields(falco.wait_alert("Netcat Remote Code Execution in Container", m))
    assert f["container.id"] == cg.id and f["proc.name"] == "nc"
    p = falco.wait_alert("Test privileged container process", m)["output"]
    assert f"privileged=true host_network=true host_pid=true type={cg.type} " \
           f"full_id={cg.full_id} " in p, p
    assert not falco.matching("Launch Suspicious Network Tool on Host", m)
    near = falco.matching("Test privileged container process", miss)
    assert len(near) == 1 and "privileged=false " in near[0]["output"], near
    assert cg_miss.full_id in near[0]["output"]


def secrets_hex() -> str:
    import secrets
    return secrets.token_hex(3)


def test_a_runtime_init_is_not_read_for_facts() -> None:
    """runc's init sits in the container's cgroup before it enters the container's root and
    drops capabilities: its facts would say "privileged" for every container."""
    code = ("import ctypes, time; ctypes.CDLL(None).prctl(15, b'runc:[2:INIT]', 0, 0, 0); "
            "print('ready', flush=True); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert containers._traits(child.pid) is None
    finally:
        child.kill()
        child.wait()
