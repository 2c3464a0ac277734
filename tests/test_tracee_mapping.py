"""Tracee input: how each record becomes a falcoish event (context, arguments, process state,
record shapes, bad records)."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from falcoish.rules.loader import LoadResult
from falcoish.sources.tracee import read_tracee_events

from .tracee_kit import (CID, IN_POD, TS, SHAPES, V, ev, exec_, fired, load_default_rules, one, read,
                         records, trc_rules, tracee, write_jsonl)


@pytest.fixture(scope="module")
def default_rules() -> LoadResult:
    return load_default_rules()


@pytest.mark.parametrize("shape", SHAPES)
def test_context_sections(tmp_path: Path, shape: str) -> None:
    e = one(tmp_path, tracee(shape, "ptrace", [("request", "long", V("PTRACE_TRACEME", 0))],
                             comm="sample", pid=5001, vpid=57, ppid=5000, vppid=1, uid=1000,
                             container=IN_POD, exe="/opt/sample"))
    assert (e.type, e.tid, e.res, e.ts, e.num) == ("ptrace", 5001, 0, TS, 1)
    assert e.args == {"request": 0}
    expected = {"comm": "sample", "pid": 5001, "vpid": 57, "tid": 5001, "vtid": 57, "ppid": 5000,
                "uid": 1000}
    if shape == "nested":
        expected["exepath"] = "/opt/sample"
    assert e.thread == expected
    assert e.ancestors == [{"pid": 5000, "vpid": 1}]
    assert e.user == {"uid": 1000}
    assert e.container == {
        "id": CID[:12], "full_id": CID, "name": "k8s_web_web-1_default",
        "image": "docker.io/library/nginx:1.25", "image_repository": "docker.io/library/nginx",
        "image_tag": "1.25", "k8s_pod_name": "web-1", "k8s_ns_name": "default",
        "k8s_pod_uid": "5d1b6b3e-1111-2222-3333-444455556666"}
    assert (e.tracee_name, e.process_name, e.host_name) == ("ptrace", "sample", "node-1")


@pytest.mark.parametrize("shape", SHAPES)
def test_host_process_has_host_container(tmp_path: Path, shape: str) -> None:
    e = one(tmp_path, tracee(shape, "close", [("fd", "int", 3)]))
    assert e.container == {"id": "host"}


def test_flags_given_as_text_are_parsed(tmp_path: Path) -> None:
    e = one(tmp_path, tracee("flat", "security_file_open", [
        ("pathname", "const char*", "/etc/shadow"), ("flags", "int", "o_rdwr|O_CREAT|O_CLOEXEC")]))
    assert e.type == "openat"
    assert e.args["flags"] == 0o2000102
    assert e.fd == {"name": "/etc/shadow", "type": "file", "flags": 0o2000102}
    assert e.res is None and e.args["fd"] is None        # the hook reports no descriptor
    # A flag name falcoish does not know makes the whole value unknown, not a partial one.
    e = one(tmp_path, tracee("flat", "security_file_open", [
        ("pathname", "const char*", "/etc/shadow"), ("flags", "int", "O_WRONLY|O_BOGUS")]))
    assert "flags" not in e.args


def test_openat_syscall_keeps_its_descriptor(tmp_path: Path) -> None:
    e = one(tmp_path, tracee("nested", "openat", [
        ("dirfd", "int", -100), ("pathname", "const char*", "/var/log/../log/syslog"),
        ("flags", "int", 0o200000), ("mode", "mode_t", 0)], ret=7))
    assert e.res == 7 and e.args["dirfd"] == -100
    assert e.fd == {"name": "/var/log/syslog", "type": "directory", "num": 7, "flags": 0o200000}
    failed = one(tmp_path, tracee("nested", "openat", [
        ("dirfd", "int", -100), ("pathname", "const char*", "/root/x"), ("flags", "int", 0)], ret=-13))
    assert failed.res == -13 and failed.fd is None


def test_old_v05_record(tmp_path: Path) -> None:
    """v0.4-v0.5: float timestamp (milliseconds), no host ids, `ContainerID`, string sockaddr."""
    rec = {"timestamp": 5123456.789, "processId": 77, "threadId": 78, "parentProcessId": 1,
           "userId": 0, "mountNamespace": 4026531840, "pidNamespace": 4026531836,
           "processName": "nc", "hostName": "box", "ContainerID": "", "eventId": "42",
           "eventName": "connect", "argsNum": 2, "returnValue": 0,
           "args": [{"name": "sockfd", "type": "int", "value": 1},
                    {"name": "addr", "type": "struct sockaddr*",
                     "value": "{'sa_family': 'AF_INET','sin_port': '53','sin_addr': '10.225.0.2'}"}]}
    e = one(tmp_path, rec)
    assert e.ts == 5_123_456_789_000 and e.tid == 78
    assert e.thread == {"comm": "nc", "vpid": 77, "vtid": 78, "uid": 0}
    assert e.ancestors == [{"vpid": 1}]
    assert e.container == {"id": "host"}
    assert e.args == {"fd": 1, "addr": "10.225.0.2:53"}
    assert e.fd == {"type": "ipv4", "num": 1, "sip": "10.225.0.2", "sport": 53, "is_server": False}


def test_magic_write_becomes_a_write_with_its_data(tmp_path: Path) -> None:
    elf = b"\x7fELF\x02\x01\x01" + bytes(9)
    e = one(tmp_path, tracee("nested", "magic_write", [
        ("pathname", "const char*", "/tmp/x"), ("bytes", "bytes", base64.b64encode(elf).decode()),
        ("dev", "dev_t", 45), ("inode", "unsigned long", 9)], container=IN_POD, syscall="pwrite64"))
    assert e.type == "pwrite64" and e.res is None
    assert e.args == {"data": elf.decode("latin-1"), "pos": 0}
    assert e.fd == {"name": "/tmp/x", "type": "file", "dev": 45, "ino": 9}


def test_exec_replaces_the_program_and_later_events_inherit_it(tmp_path: Path) -> None:
    recs = records("flat", [
        ev("close", [("fd", "int", 1)], comm="bash", pid=900, ppid=800),
        exec_("/usr/bin/curl", ["curl", "-s", "http://x"], ["A=1"], pid=901, ppid=900),
        ev("close", [("fd", "int", 5)], comm="curl", pid=901, ppid=900),
        ev("sched_process_exit", [("exit_code", "long", 0), ("process_group_exit", "bool", True)],
           comm="curl", pid=901, ppid=900),
        ev("close", [("fd", "int", 5)], comm="curl", pid=901, ppid=900),
    ])
    evs, bad = read(write_jsonl(tmp_path / "s.jsonl", recs))
    assert bad == []
    execd, later, exited, reused = evs[1:]
    assert execd.type == "execve" and execd.res == 0
    assert execd.args["filename"] == "/usr/bin/curl" and execd.args["args"] == "-s\0http://x"
    assert execd.thread["exepath"] == "/usr/bin/curl" and execd.thread["env"] == ["A=1"]
    assert execd.ancestors[0]["comm"] == "bash"
    assert later.thread["args"] == ["-s", "http://x"] and later.thread["exe"] == "curl"
    assert exited.type == "procexit"
    assert "args" not in reused.thread                    # the process ended: nothing carried over


def test_exec_ctime_is_the_executables_inode_ctime(tmp_path: Path) -> None:
    """v0.2x sched_process_exec gives the executable's inode ctime: `proc.exe_ino.ctime` (of
    the exec and of the process' later events)."""
    ctime = TS - 3_600_000_000_000
    exec_rec = exec_("/tmp/dropped", ["dropped"], pid=901)
    exec_rec["args"].append(("ctime", "unsigned long", ctime))
    evs, bad = read(write_jsonl(tmp_path / "c.jsonl", records("nested", [
        exec_rec, ev("close", [("fd", "int", 5)], comm="dropped", pid=901)])))
    assert bad == []
    assert evs[0].args["exe_ino_ctime"] == ctime and evs[0].thread["exe_ino_ctime"] == ctime
    assert evs[1].thread["exe_ino_ctime"] == ctime


def test_pid_reuse_is_recognised_by_process_identity(tmp_path: Path) -> None:
    first = tracee("nested", "sched_process_exec", [("pathname", "const char*", "/usr/bin/a"),
                                                    ("argv", "const char**", ["a", "-x"])], comm="a")
    second = tracee("nested", "close", [("fd", "int", 3)], comm="b")
    second["processEntityId"] += 1
    evs, _ = read(write_jsonl(tmp_path / "r.jsonl", [first, second]))
    assert "args" not in evs[1].thread and evs[1].thread["comm"] == "b"


def test_failed_execve_keeps_the_old_program(tmp_path: Path) -> None:
    e = one(tmp_path, tracee("nested", "execve", [("pathname", "const char*", "/nope"),
                                                   ("argv", "const char**", ["nope"])],
                             comm="bash", ret=-2, exe="/usr/bin/bash"))
    assert e.res == -2 and e.thread["comm"] == "bash" and e.thread["exepath"] == "/usr/bin/bash"
    assert e.args["filename"] == "/nope"


def test_protobuf_shaped_events(tmp_path: Path, default_rules: LoadResult) -> None:
    """Tracee main's JSON: RFC 3339 time, `workload`, `data` entries (plain or typed values)."""
    workload = {"process": {"executable": {"path": "/usr/bin/sample"}, "unique_id": 99, "host_pid": 5001,
                            "pid": 57, "real_user": {"id": 0},
                            "thread": {"name": "sample", "host_tid": 5001, "tid": 57, "syscall": "ptrace"},
                            "ancestors": [{"host_pid": 5000, "pid": 1, "thread": {"name": "bash"}}]},
                "container": {"id": CID, "name": "web", "image": {"id": "sha256:ab", "name": "nginx:1.25"},
                              "started": True},
                "k8s": {"pod": {"name": "web-1", "uid": "u-1"}, "namespace": {"name": "default"}}}
    recs = [
        {"timestamp": "2023-11-14T22:13:20.000000123Z", "id": 101, "name": "ptrace", "workload": workload,
         "data": [{"name": "request", "value": 0}, {"name": "pid", "int32": 0}]},
        {"timestamp": "2023-11-14T22:13:21Z", "id": 1067, "name": "security_inode_rename",
         "workload": workload, "data": [{"name": "old_path", "str": "/tmp/a"},
                                        {"name": "new_path", "str": "/sys/fs/cgroup/x/release_agent"}]},
        {"timestamp": "2023-11-14T22:13:22Z", "id": 1035, "name": "security_socket_connect",
         "workload": workload, "data": [{"name": "sockfd", "int32": 0},
                                        {"name": "remote_addr", "sockaddr": {"sa_family": 2,
                                                                             "sin_addr": "203.0.113.7",
                                                                             "sin_port": 4444}}]},
    ]
    evs, bad = read(write_jsonl(tmp_path / "p.jsonl", recs))
    assert bad == []
    ptrace_ev = evs[0]
    assert ptrace_ev.ts == 1_700_000_000_000_000_123 and ptrace_ev.tid == 5001
    assert ptrace_ev.args == {"request": 0, "pid": 0}
    assert ptrace_ev.thread["exepath"] == "/usr/bin/sample"
    assert ptrace_ev.ancestors == [{"pid": 5000, "vpid": 1, "comm": "bash"}]
    assert ptrace_ev.container["id"] == CID[:12] and ptrace_ev.container["image_tag"] == "1.25"
    assert ptrace_ev.container["k8s_pod_name"] == "web-1"
    assert evs[2].fd is not None and evs[2].fd["sip"] == "203.0.113.7"
    tags = fired(default_rules, evs)
    for trc in ("TRC-1", "TRC-2", "TRC-14"):
        if trc in trc_rules(default_rules):
            assert trc in tags


def test_protobuf_shaped_derived_and_lsm_events(tmp_path: Path, default_rules: LoadResult) -> None:
    """Tracee main's shape for the events tracee-rules relies on: typed `data` values (`bytes`
    base64, `str`, `int32`), the parent from `ancestors`."""
    def workload(name: str, host_pid: int, container: bool, ancestors: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"process": {"host_pid": host_pid, "pid": host_pid, "real_user": {"id": 0},
                                           "thread": {"name": name, "host_tid": host_pid, "tid": host_pid},
                                           "ancestors": ancestors}}
        if container:
            out["container"] = {"id": CID, "name": "web", "image": {"name": "nginx:1.25"}, "started": True}
        return out
    nginx = [{"host_pid": 300, "pid": 300, "thread": {"name": "nginx"}}]
    elf = base64.b64encode(b"\x7fELF\x02\x01\x01\x00" + bytes(12)).decode()
    recs = [
        {"timestamp": "2023-11-14T22:13:20Z", "name": "magic_write",
         "workload": workload("curl", 5001, True, []),
         "data": [{"name": "pathname", "str": "/tmp/kinsing"}, {"name": "bytes", "bytes": elf},
                  {"name": "dev", "u_int32": 45}, {"name": "inode", "u_int64": "99881"}]},
        {"timestamp": "2023-11-14T22:13:21Z", "name": "security_bprm_check",
         "workload": workload("nginx", 301, False, nginx),
         "data": [{"name": "pathname", "str": "/usr/bin/bash"}, {"name": "dev", "u_int32": 2049},
                  {"name": "inode", "u_int64": "788"}]},
        {"timestamp": "2023-11-14T22:13:22Z", "name": "security_file_open",
         "workload": workload("injector", 5002, False, []),
         "data": [{"name": "pathname", "str": "/proc/1234/mem"}, {"name": "flags", "int32": 2},
                  {"name": "dev", "u_int32": 5}, {"name": "inode", "u_int64": "1"}]},
    ]
    evs, bad = read(write_jsonl(tmp_path / "p.jsonl", recs))
    assert bad == []
    assert [e.type for e in evs] == ["write", "execve", "openat"]
    assert evs[0].args["data"].encode("latin-1").startswith(b"\x7fELF")
    for event, trc in zip(evs, ("TRC-9", "TRC-12", "TRC-3")):
        assert fired(default_rules, [event]) == {trc}


def test_bad_and_unmapped_records(tmp_path: Path) -> None:
    good = tracee("flat", "close", [("fd", "int", 3)])
    lines = [
        orjson.dumps(good),
        b"{not json",
        b"",
        b"[1, 2]",
        orjson.dumps({"timestamp": 1, "threadId": 1}),
        orjson.dumps({**good, "timestamp": "soon"}),
        orjson.dumps({**good, "args": {"fd": 3}}),
        orjson.dumps({k: v for k, v in good.items() if k not in ("threadId", "hostThreadId")}),
        orjson.dumps(tracee("flat", "hooked_syscalls", [("hooked_syscalls", "[]trace.HookedSymbolData",
                                                         [{"SymbolName": "kill", "ModuleOwner": "rk"}])])),
        orjson.dumps(good),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad: list[tuple[int, str]] = []
    unmapped: list[tuple[int, str]] = []
    evs = list(read_tracee_events(str(path), lambda n, r: bad.append((n, r)),
                                  on_unmapped=lambda n, name: unmapped.append((n, name))))
    assert [e.num for e in evs] == [1, 10]
    assert [n for n, _ in bad] == [2, 4, 5, 6, 7, 8]
    assert "not valid JSON" in bad[0][1] and "expected a JSON object" in bad[1][1]
    assert "not a Tracee event" in bad[2][1] and "'timestamp'" in bad[3][1]
    assert "'args'" in bad[4][1] and "thread id" in bad[5][1]
    assert unmapped == [(9, "hooked_syscalls")]


def test_gzip_input(tmp_path: Path) -> None:
    path = tmp_path / "events.json"                     # compression found by magic, not name
    path.write_bytes(gzip.compress(orjson.dumps(tracee("nested", "close", [("fd", "int", 3)])) + b"\n"))
    evs, bad = read(path)
    assert bad == [] and [e.type for e in evs] == ["close"]


def test_missing_file_raises_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_tracee_events(str(tmp_path / "nope.json"), lambda n, r: None)


def test_thread_names_do_not_rename_the_process(tmp_path: Path) -> None:
    recs = records("nested", [
        ev("close", [("fd", "int", 3)], comm="java", pid=300, ppid=1),
        ev("close", [("fd", "int", 4)], comm="C2 CompilerThre", pid=300, tid=310, ppid=1),
        exec_("/usr/bin/sh", ["sh", "-c", "id"], pid=301, ppid=300),
    ])
    evs, _ = read(write_jsonl(tmp_path / "t.jsonl", recs))
    assert evs[1].thread["comm"] == "C2 CompilerThre" and evs[1].tid == 310
    assert evs[2].ancestors[0]["comm"] == "java"


def test_security_bprm_check_does_not_guess_the_new_name(tmp_path: Path) -> None:
    """The LSM hook runs before the exec: the new program's task name is not reported (a
    symlink such as /bin/sh -> dash would make a guess from the resolved path wrong)."""
    e = one(tmp_path, tracee("flat", "security_bprm_check", [
        ("pathname", "const char*", "/usr/bin/dash"), ("dev", "dev_t", 2049),
        ("inode", "unsigned long", 788)], comm="nginx"))
    assert e.type == "execve" and e.res == 0
    assert e.thread["exepath"] == "/usr/bin/dash" and "comm" not in e.thread
    assert e.process_name == "nginx"


def test_docs_list_every_mapped_event() -> None:
    from falcoish.sources.tracee import TRACEE_EVENT_TYPES
    text = (Path(__file__).parents[1] / "docs" / "tracee.md").read_text()
    missing = [name for name in TRACEE_EVENT_TYPES if f"`{name}`" not in text]
    assert missing == []


@pytest.mark.parametrize(("alert", "etype"), [
    ("Mmaped region with W+E permissions!", "mmap"), (1, "mmap"),
    ("Protection changed to Executable!", "mprotect"),
    ("Protection changed from W+E to E! Saving data to bin.1628094500", "mprotect"), (4, "mprotect")])
def test_mem_prot_alert_kinds(tmp_path: Path, alert: Any, etype: str) -> None:
    e = one(tmp_path, tracee("flat", "mem_prot_alert", [("alert", "alert_t", alert)]))
    assert e.type == etype and e.args == {}
