"""A synthetic event trace with a stated event-type mix, for replay benchmarks.

Mix (share of events): openat 45 %, execve 12 %, connect 8 %, accept4 3 %, unlinkat 5 %,
renameat2 3 %, symlinkat 2 %, chmod 2 %, setuid 2 %, ptrace 1 %, mkdir 2 %, procexit 5 %,
clone 5 %, dup2 3 %, memfd_create 1 %, sendto 1 %.  Processes, paths and peers are drawn from
realistic pools with a fixed seed, so the file is reproducible; a few events are attacks.

Usage: python bench/synthetic.py OUT.jsonl [N]
"""

from __future__ import annotations

import random
import sys
from typing import Any

import orjson

MIX = [("openat", 45), ("execve", 12), ("connect", 8), ("accept4", 3), ("unlinkat", 5),
       ("renameat2", 3), ("symlinkat", 2), ("chmod", 2), ("setuid", 2), ("ptrace", 1),
       ("mkdir", 2), ("procexit", 5), ("clone", 5), ("dup2", 3), ("memfd_create", 1), ("sendto", 1)]
PROCS = ["bash", "sh", "python3", "node", "java", "nginx", "postgres", "cat", "ls", "grep", "find",
         "curl", "wget", "sshd", "systemd", "cron", "dockerd", "containerd", "apt", "dpkg", "gcc", "make",
         "git", "vim", "tar", "gzip", "nc", "perl", "ruby", "php-fpm"]
PATHS = ["/etc/passwd", "/etc/shadow", "/etc/hosts", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/tmp/build/a.o",
         "/var/log/syslog", "/home/alice/.ssh/id_rsa", "/root/.bash_history", "/proc/self/status",
         "/usr/bin/ls", "/dev/null", "/var/lib/dpkg/status", "/etc/ld.so.cache", "/srv/app/config.yml",
         "/usr/share/zoneinfo/UTC", "/etc/kubernetes/pki/ca.key", "/dev/shm/x", "/etc/sudoers"]
PEERS = [("10.0.0.5", 443), ("93.184.216.34", 80), ("127.0.0.1", 5432), ("10.96.0.1", 443),
         ("203.0.113.7", 4444), ("192.168.1.10", 22), ("8.8.8.8", 53)]
CONTAINERS = [{"id": "host"}, {"id": "3ad7b26ded6d", "name": "web-1", "image_repository": "docker.io/library/nginx",
                               "image_tag": "1.27", "privileged": False}]
BASE_TS = 1_732_450_000_000_000_000


def _proc(rng: random.Random, pid: int) -> dict[str, Any]:
    name = rng.choice(PROCS)
    return {"pid": pid, "tid": pid, "ppid": pid - 1, "comm": name, "exe": name, "exepath": f"/usr/bin/{name}",
            "args": [rng.choice(PATHS)] if rng.random() < 0.5 else [], "cwd": "/root/",
            "tty": 34816 if rng.random() < 0.3 else 0, "sid": 100, "pgid": pid, "vpid": pid, "vpgid": pid,
            "loginuid": rng.choice([0, 1000, -1]), "uid": rng.choice([0, 1000, 33]), "gid": 0,
            "start_ts": BASE_TS - 10**9, "env": ["PATH=/usr/bin", "HOME=/root"]}


def _event(rng: random.Random, i: int, evtype: str) -> dict[str, Any]:
    pid = 1000 + rng.randrange(500)
    thread = _proc(rng, pid)
    ancestors = [_proc(rng, pid - 1), _proc(rng, pid - 2), {"pid": 1, "comm": "systemd", "exepath": "/sbin/init"}]
    rec: dict[str, Any] = {"num": i, "ts": BASE_TS + i * 1000, "type": evtype, "tid": pid, "res": 0, "args": {},
                           "thread": thread, "ancestors": ancestors,
                           "user": {"uid": thread["uid"], "name": {0: "root", 1000: "alice", 33: "www-data"}[thread["uid"]]},
                           "group": {"gid": 0, "name": "root"}, "container": rng.choice(CONTAINERS)}
    if evtype == "openat":
        path = rng.choice(PATHS)
        flags = rng.choice([0, 0o2000000, 0o1 | 0o100 | 0o1000, 0o2, 0o2000 | 0o1])
        fd = rng.randrange(3, 100)
        rec["args"] = {"fd": fd, "dirfd": -100, "name": path, "flags": flags, "mode": 0o644}
        rec["res"] = fd
        rec["fd"] = {"num": fd, "type": "file", "name": path, "flags": flags}
    elif evtype == "execve":
        rec["args"] = {"exe": thread["exe"], "args": "\0".join(thread["args"]), "filename": thread["exepath"],
                       "pid": pid, "tid": pid, "ptid": pid - 1, "cwd": "/root/", "uid": thread["uid"], "gid": 0,
                       "flags": 0, "env": "PATH=/usr/bin"}
    elif evtype in ("connect", "accept4", "sendto"):
        ip, port = rng.choice(PEERS)
        fd = rng.randrange(3, 100)
        rec["args"] = {"fd": fd, "addr": f"{ip}:{port}", "tuple": f"172.17.0.2:40000->{ip}:{port}"}
        rec["fd"] = {"num": fd, "type": "ipv4", "l4proto": "tcp", "cip": "172.17.0.2", "cport": 40000,
                     "sip": ip, "sport": port, "is_server": evtype == "accept4", "connected": True,
                     "name": f"172.17.0.2:40000->{ip}:{port}"}
        rec["res"] = fd if evtype == "accept4" else 0
    elif evtype in ("unlinkat", "mkdir", "chmod"):
        key = {"unlinkat": "name", "mkdir": "path", "chmod": "filename"}[evtype]
        rec["args"] = {key: rng.choice(PATHS), "dirfd": -100, "mode": 0o755, "flags": 0}
    elif evtype in ("renameat2", "symlinkat"):
        rec["args"] = {"oldpath": rng.choice(PATHS), "newpath": rng.choice(PATHS), "target": rng.choice(PATHS),
                       "linkpath": rng.choice(PATHS), "olddirfd": -100, "newdirfd": -100, "linkdirfd": -100}
    elif evtype == "setuid":
        rec["args"] = {"uid": rng.choice([0, 1000])}
    elif evtype == "ptrace":
        rec["args"] = {"request": rng.choice([0, 16, 4]), "pid": pid + 1}
    elif evtype == "clone":
        rec["args"] = {"flags": 0x01200011}
        rec["res"] = pid + 1
    elif evtype == "dup2":
        rec["args"] = {"oldfd": 5, "newfd": rng.choice([0, 1, 2, 7])}
        rec["res"] = rec["args"]["newfd"]
        rec["fd"] = {"num": rec["res"], "type": "ipv4", "l4proto": "tcp", "cip": "172.17.0.2", "cport": 40000,
                     "sip": "203.0.113.7", "sport": 4444, "is_server": False, "connected": True}
    elif evtype == "memfd_create":
        rec["args"] = {"name": "payload", "flags": 1}
        rec["res"] = 9
        rec["fd"] = {"num": 9, "type": "memfd", "name": "memfd:payload"}
    return rec


def generate(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    return [orjson.dumps(_event(rng, i, rng.choices(types, weights)[0])) for i in range(1, n + 1)]


def main() -> None:
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    with open(out, "wb") as handle:
        for line in generate(n):
            handle.write(line + b"\n")
    print(f"wrote {n} events to {out}")


if __name__ == "__main__":
    main()
