"""Make BCC usable here, or say exactly why it cannot be and how to fix it.

BCC is a Debian package (python3-bpfcc), not a PyPI one (the PyPI project called `bcc` is an
unrelated library: never install it).  Its module lives in the system dist-packages folder,
which the venv does not see, so `import_bcc` adds exactly that folder to sys.path.  BCC
compiles the probe against kernel headers found through /lib/modules/$(uname -r)/build; when
the running kernel is newer than any packaged headers, linking the installed headers there
works because the probe reads no kernel structure whose layout comes from those headers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

DIST_PACKAGES = "/usr/lib/python3/dist-packages"
APT_PACKAGES = ("python3-bpfcc", "linux-headers-amd64")
TRACING = Path("/sys/kernel/tracing")
DEBUGFS = Path("/sys/kernel/debug")


class LiveUnavailable(RuntimeError):
    """Live capture cannot run here; the message says why and how to fix it."""


def import_bcc() -> ModuleType:
    """Import the system BCC module from the venv."""
    if "bcc" in sys.modules:
        return sys.modules["bcc"]
    if os.path.isdir(os.path.join(DIST_PACKAGES, "bcc")) and DIST_PACKAGES not in sys.path:
        sys.path.append(DIST_PACKAGES)   # appended: venv packages keep priority
    try:
        import bcc
    except ImportError as exc:
        raise LiveUnavailable(
            f"BCC python module not found ({exc}). Fix: apt-get update && apt-get install -y "
            f"{' '.join(APT_PACKAGES)}  (or run `python -m falcoish.sources.live`)") from exc
    if not isinstance(bcc, ModuleType) or not hasattr(bcc, "BPF"):
        raise LiveUnavailable("the `bcc` module found is not BCC (the PyPI package of that name is "
                              "unrelated): pip uninstall bcc, then apt-get install python3-bpfcc")
    return bcc


def _headers_dir() -> Path:
    return Path("/lib/modules") / os.uname().release / "build"


def _installed_headers() -> tuple[Path, Path] | None:
    """The newest installed (arch, common) linux-headers folders."""
    src = Path("/usr/src")
    arch = sorted(src.glob("linux-headers-*-amd64"), reverse=True) if src.is_dir() else []
    for a in arch:
        common = Path(str(a)[: -len("-amd64")] + "-common")
        if (a / "include").exists() or (a / "Makefile").exists():
            return a, common
    return None


def _mount_tracefs() -> None:
    if not (TRACING / "events").is_dir():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACING)], check=False,
                       capture_output=True)
    if DEBUGFS.is_dir() and not any(DEBUGFS.iterdir()):
        subprocess.run(["mount", "-t", "debugfs", "nodev", str(DEBUGFS)], check=False,
                       capture_output=True)


def link_headers() -> None:
    """Point /lib/modules/$(uname -r)/{build,source} at the installed headers if missing."""
    build = _headers_dir()
    if (build / "include").exists() or (build / "Makefile").exists():
        return
    found = _installed_headers()
    if found is None:
        return
    arch, common = found
    build.parent.mkdir(parents=True, exist_ok=True)
    for link, target in ((build, arch), (build.parent / "source", common)):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def check_live_support() -> str | None:
    """None if live capture can work here, else a human reason with the fix."""
    if os.geteuid() != 0:
        return "live capture needs root (CAP_BPF + CAP_PERFMON/SYS_ADMIN). Fix: run as root (sudo)."
    if sys.platform != "linux":
        return "live capture needs Linux eBPF."
    link_headers()        # harmless, idempotent fixes first
    _mount_tracefs()
    try:
        import_bcc()
    except LiveUnavailable as exc:
        return str(exc)
    if not (TRACING / "events" / "syscalls").is_dir():
        if not (TRACING / "events").is_dir():
            return ("tracefs is not mounted. Fix: mount -t tracefs nodev /sys/kernel/tracing "
                    "(or run `python -m falcoish.sources.live`)")
        return ("this kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS off): "
                "live capture cannot work on it.")
    build = _headers_dir()
    if not ((build / "include").exists() or (build / "Makefile").exists()):
        return (f"kernel headers missing at {build}. Fix: apt-get install -y linux-headers-amd64, "
                f"then ln -s /usr/src/linux-headers-<ver>-amd64 {build} and "
                f"ln -s /usr/src/linux-headers-<ver>-common {build.parent / 'source'} "
                "(`python -m falcoish.sources.live` does all of it)")
    return _probe_bpf()


_BPF_OK: list[str | None] = []


def _probe_bpf() -> str | None:
    """Load a trivial tracepoint program once: proves bpf() and tracepoints work."""
    if _BPF_OK:
        return _BPF_OK[0]
    bcc = import_bcc()
    text = (b"BPF_RINGBUF_OUTPUT(rb, 1);\n"
            b"TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }\n")
    reason: str | None = None
    try:
        b = bcc.BPF(text=text)
        b.cleanup()
    except Exception as exc:  # noqa: BLE001 - any failure means BPF is unusable here
        reason = (f"BPF is unavailable: loading a test program failed ({exc}). Needs kernel >= 5.8 "
                  "with BPF ring buffers, syscall tracepoints, and bpf() allowed (not blocked by a "
                  "seccomp profile or container).")
    _BPF_OK.append(reason)
    return reason


def ensure_live_support(install: bool = True) -> str | None:
    """Install BCC and headers (apt), link headers, mount tracefs; then check."""
    if os.geteuid() != 0:
        return check_live_support()
    need_apt = not os.path.isdir(os.path.join(DIST_PACKAGES, "bcc")) or _installed_headers() is None
    if install and need_apt and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=False, env=env,
                       capture_output=True)
    link_headers()
    _mount_tracefs()
    return check_live_support()


def main() -> int:
    reason = ensure_live_support()
    if reason is None:
        print("live capture: ready")
        return 0
    print(f"live capture: unavailable: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
