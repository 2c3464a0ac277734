"""Peak memory: of a replay run, and of a live state table holding 20,000 processes.

* `peak_rss(cmd)`: runs `cmd` (stdout to /dev/null) from a small fresh interpreter and reads
  the child's own peak resident set size from `wait4(2)`'s rusage (`ru_maxrss`, KiB on
  Linux): only that process, not the caller nor other children.
* `state_table(n)`: in a fresh interpreter (`python bench/memory.py state N`), fills
  `falcoish.sources.live.state.StateTable` with `n` synthetic processes the way a /proc scan
  does (`load_scan`), then builds every thread's event section and ancestor list as events
  would, and reports the resident set size before and after (VmRSS) and the peak (VmHWM).

  The synthetic host: init, 50 daemons, 950 shells/servers under them, the rest workers under
  those (depth 3-4); every process has 4 to 8 arguments, 25 environment variables (~1.3 KB,
  distinct strings per process as /proc reads give), 8 descriptors (tty/pipes, files, a TCP
  socket) and one thread; every tenth process has 4 more threads.  No /proc access: the
  table's reader is stubbed to "gone".  The processes are made one at a time while the table
  loads, so the growth of the resident set is what the table keeps (plus allocator slack).

Usage:
    python bench/memory.py state [N]           # JSON on stdout
    python bench/memory.py replay -- CMD ...   # JSON on stdout
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def _child_peak(cmd: list[str]) -> dict[str, Any]:
    """Run `cmd`, return its peak RSS (KiB) from wait4's rusage of that child alone."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return {"peak_rss_kib": usage.ru_maxrss, "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def peak_rss(cmd: list[str], python: str = sys.executable) -> dict[str, Any]:
    """Peak RSS (KiB) of one run of `cmd` (stdout to /dev/null).

    Measured from a small fresh interpreter (`memory.py replay -- CMD`), not from the caller:
    Linux starts an exec'd child's `ru_maxrss` at the high-water mark of the process it was
    forked from, so a child of a large process would report at least that process's size."""
    out = subprocess.run([python, str(Path(__file__).resolve()), "replay", "--", *cmd], check=True,
                         capture_output=True, text=True, cwd=str(REPO))
    return dict(json.loads(out.stdout))


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


ENV_NAMES = ["PATH", "HOME", "LANG", "TERM", "SHELL", "USER", "LOGNAME", "PWD", "OLDPWD", "SHLVL",
             "HOSTNAME", "LC_ALL", "TZ", "MAIL", "EDITOR", "PAGER", "XDG_RUNTIME_DIR", "XDG_SESSION_ID",
             "SSH_CONNECTION", "SSH_CLIENT", "DBUS_SESSION_BUS_ADDRESS", "JAVA_HOME", "GOPATH",
             "PYTHONPATH", "KUBERNETES_SERVICE_HOST"]
PROGRAMS = ["bash", "sh", "python3", "node", "java", "nginx", "postgres", "sshd", "cron", "containerd-shim",
            "gunicorn", "celery", "redis-server", "php-fpm", "ruby", "sleep", "tail", "make", "gcc", "git"]


def _synthetic_processes(n: int, seed: int = 5) -> Iterator[tuple[Any, Any]]:
    """(ProcData, fds) pairs as `procscan.scan()` yields them, made one at a time."""
    from falcoish.sources.live.procscan import ProcData

    rng = random.Random(seed)
    boot = 1_732_000_000_000_000_000
    next_tid = n + 1000
    for index in range(n):
        pid = index + 1
        if pid == 1:
            ppid = 0
        elif pid <= 51:
            ppid = 1
        elif pid <= 1001:
            ppid = rng.randint(2, 51)
        else:
            ppid = rng.randint(52, 1001)
        prog = "systemd" if pid == 1 else rng.choice(PROGRAMS)
        args = [f"--{rng.choice(['config', 'port', 'workers', 'log'])}={pid}-{rng.randrange(10**6)}"
                for _ in range(rng.randint(4, 8))]
        env = [f"{name}=/{name.lower()}/value/{pid}/{rng.randrange(10**9)}" + "v" * rng.randint(10, 50)
               for name in ENV_NAMES]
        data = ProcData(tid=pid, pid=pid, ppid=ppid, comm=prog[:15], exe=prog, args=args, env=env,
                        exepath=f"/usr/bin/{prog}", cwd=f"/srv/app{pid % 97}/", uid=rng.choice([0, 33, 1000]),
                        gid=0, loginuid=rng.choice([0xFFFFFFFF, 1000]), caps=(0, 0x1FFFFFFFFFF, 0x1FFFFFFFFFF),
                        vtid=pid, vpid=pid, pgid=pid, vpgid=pid, sid=ppid, tty=0, start_ts=boot + pid * 10**6,
                        exe_ino=100000 + pid % 5000, exe_mode=0o755, exe_uid=0, exe_gid=0)
        fds = {0: {"num": 0, "type": "file", "name": "/dev/null", "flags": 0},
               1: {"num": 1, "type": "pipe", "name": f"pipe:[{400000 + pid}]", "flags": 1},
               2: {"num": 2, "type": "pipe", "name": f"pipe:[{500000 + pid}]", "flags": 1},
               3: {"num": 3, "type": "file", "name": f"/var/log/app{pid % 97}/out.log", "flags": 0o2001},
               4: {"num": 4, "type": "file", "name": f"/srv/app{pid % 97}/data/{pid}.db", "flags": 0o2},
               5: {"num": 5, "type": "directory", "name": f"/srv/app{pid % 97}/", "flags": 0o200000},
               6: {"num": 6, "type": "ipv4", "l4proto": "tcp", "cip": "10.0.0.5", "cport": 30000 + pid % 30000,
                   "sip": "10.0.1.9", "sport": 5432, "is_server": False, "connected": True,
                   "name": f"10.0.0.5:{30000 + pid % 30000}->10.0.1.9:5432", "flags": 2},
               7: {"num": 7, "type": "eventpoll", "name": "", "flags": 0o2000000}}
        yield data, fds
        if pid % 10 == 0:
            for _ in range(4):
                extra = ProcData(tid=next_tid, pid=pid, ppid=ppid, comm=prog[:15], uid=data.uid, gid=0,
                                 caps=data.caps, vtid=next_tid, start_ts=data.start_ts + 1000)
                yield extra, None
                next_tid += 1


def state_table(n: int) -> dict[str, Any]:
    """Measure in this process (call it in a fresh interpreter: see `state_table_subprocess`)."""
    from falcoish.sources.live.state import StateTable

    before = _status_kib("VmRSS")
    table = StateTable(proc_reader=lambda *args, **kwargs: None)
    table.load_scan(_synthetic_processes(n))
    for thread in list(table.threads.values()):
        table.section(thread)
        table.ancestors(thread)
    after = _status_kib("VmRSS")
    peak = _status_kib("VmHWM")   # this exec's own high-water mark (ru_maxrss would include the parent's)
    return {"processes": len(table.procs), "threads": len(table.threads),
            "fds": sum(len(p.fds) for p in table.procs.values()),
            "rss_before_kib": before, "rss_after_kib": after, "table_kib": after - before,
            "peak_rss_kib": peak}


def state_table_subprocess(n: int, python: str = sys.executable) -> dict[str, Any]:
    out = subprocess.run([python, str(Path(__file__).resolve()), "state", str(n)], check=True,
                         capture_output=True, text=True, cwd=str(REPO))
    return dict(json.loads(out.stdout))


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "state":
        print(json.dumps(state_table(int(args[1]) if len(args) > 1 else 20_000)))
    elif args and args[0] == "replay":
        cmd = args[2:] if len(args) > 1 and args[1] == "--" else args[1:]
        print(json.dumps(_child_peak(cmd)))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
