"""Run a command inside a real cgroup laid out as a container runtime lays it out.

Why: falcoish decides "container" from a process' cgroup paths, as Falco's container plugin
does.  No container runtime works on the test machine (the docker client is installed but no
daemon or containerd), so live tests create the cgroup a runtime would create (same path, on
the real cgroup filesystem) and move the child into it before it execs the action: from the
kernel's point of view the process is then exactly where a container's process would be.

Layouts:
* `docker`: cgroup v1 cgroupfs driver, `/sys/fs/cgroup/pids/docker/<64 hex>`;
* `kubepods`: cgroup v2 with the systemd driver and containerd,
  `.../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/
  cri-containerd-<64 hex>.scope` in the unified hierarchy.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

V1_PIDS = Path("/sys/fs/cgroup/pids")
V2 = Path("/sys/fs/cgroup/unified")

# Moves itself into the cgroup (writing 0 to cgroup.procs means "the writer"), then execs.
_ENTER = ("import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b'0'); "
          "os.close(fd); os.execvp(sys.argv[2], sys.argv[2:])")


def unavailable() -> str | None:
    """Why fake runtime cgroups cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    for root in (V1_PIDS, V2):
        if not (root / "cgroup.procs").exists() or not os.access(root, os.W_OK):
            return f"no writable cgroup hierarchy at {root}"
    return None


class RuntimeCgroup:
    """One fake container: a cgroup at a runtime's path; removed (with any parent folder this
    made) on exit, after killing whatever still runs in it."""

    def __init__(self, layout: str = "docker") -> None:
        self.full_id = secrets.token_hex(32)
        self.id = self.full_id[:12]
        if layout == "docker":
            self.root, rel = V1_PIDS, f"docker/{self.full_id}"
            self.type = "docker"
        elif layout == "kubepods":
            pod = str(uuid.uuid4()).replace("-", "_")
            self.root = V2
            rel = (f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{pod}.slice/"
                   f"cri-containerd-{self.full_id}.scope")
            self.type = "containerd"
        else:
            raise ValueError(layout)
        self.path = self.root / rel
        self._made: list[Path] = []

    def __enter__(self) -> RuntimeCgroup:
        missing = []
        p = self.path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._made.append(d)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def argv(self, cmd: list[str]) -> list[str]:
        """`cmd` run inside this cgroup (prefix with setpriv etc. to change what enters)."""
        return [sys.executable, "-c", _ENTER, str(self.path / "cgroup.procs"), *cmd]

    def run(self, cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
        """Run `cmd` to completion inside this cgroup (its exit status does not matter)."""
        return subprocess.run(self.argv(cmd), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=20)

    def close(self) -> None:
        for d in reversed(self._made):      # innermost first
            deadline = time.monotonic() + 5
            while True:
                procs = (d / "cgroup.procs").read_text().split() if d.exists() else []
                for pid in procs:
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
                try:
                    if d.exists():
                        d.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        self._made.clear()


_LINGER_C = r"""
#include <unistd.h>
int main(void) { usleep(LINGER_MS * 1000); return 0; }
"""


def lingering_program(path: Path, ms: int = 1000) -> Path:
    """A tiny binary at `path` that only waits `ms` and exits 0: named like a tool (`nc`), it
    stands for the tool while living long enough for falcoish to read its /proc entry."""
    build = Path(tempfile.mkdtemp(prefix="falcoish-linger-"))
    try:
        src = build / "linger.c"
        src.write_text(_LINGER_C.replace("LINGER_MS", str(ms)))
        subprocess.run(["gcc", "-O1", "-o", str(path), str(src)], check=True, capture_output=True,
                       timeout=60)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return path
