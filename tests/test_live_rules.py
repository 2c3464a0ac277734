"""Upstream Falco rules, live: real actions on this machine must raise real alerts.

One `falcoish run` (the CLI, no `-e`: eBPF capture) runs for the whole module with the three
upstream rule files, `--json --rule-matching all` and `--rule NAME` for every rule tested here
(which also turns on rules the files ship disabled).  Each test really performs an attack-like
action in a child process and waits (bounded) for the alert of the named rule on falcoish's
stdout, tied to the action by a unique marker put into the child's arguments or file names; it
also performs one or more *near misses* (the same kind of action differing in the one detail the
rule cares about) and checks that they raised no alert of that rule.

Ordering makes the near-miss checks sound without sleeping: the near misses run (and exit)
before the positive action starts, the kernel ring buffer hands records over in the order they
were written, and falcoish evaluates and prints in that order.  So once the positive's alert
has been read, any alert the near misses would have raised has been read too.  Where no
positive of the same kind follows, `barrier()` plays that role with a known alert.

Set FALCOISH_LIVE_RECORD=FILE to also have falcoish record the events it saw (`--record`), to
replay a failure with `falcoish run -e FILE`.

Everything created lives in a temporary folder (plus one file in /dev/shm and one in
/var/log), removed at the end.  Skipped only when live capture is impossible here (the reason
is printed).  This machine is NOT a container (a Firecracker VM whose cgroups merely look like
ids): rules that require `container` are exercised in a fake runtime cgroup
(`tests/fakecgroup.py`: a real cgroup at docker's path), and the same action on the host is
their near miss.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

pytestmark = pytest.mark.live

RULES = [
    "Read sensitive file untrusted",
    "Run shell untrusted",
    "Create Symlink Over Sensitive Files",
    "Execution from /dev/shm",
    "Fileless execution via memfd_create",
    "Clear Log Activities",
    "Search Private Keys or Passwords",
    "Create Hardlink Over Sensitive Files",
    "Directory traversal monitored file read",
    "PTRACE anti-debug attempt",
    "Netcat Remote Code Execution in Container",
    "Remove Bulk Data from Disk",
    "Delete or rename shell history",
    "Find AWS Credentials",
    "Set Setuid or Setgid bit",
    "Linux Kernel Module Injection Detected",
    "User mgmt binaries",
]

ALERT_WAIT = 10.0        # seconds an alert may take to arrive
START_WAIT = 90.0        # compiling and attaching the probe, scanning /proc
TOKEN = "fz" + uuid.uuid4().hex[:8]   # unique to this run: alerts of other runs never match
CAP_SYS_MODULE = 16


def _comm() -> str:
    with open("/proc/self/comm") as fh:
        return fh.read().strip()


def _cap_effective() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


class Falcoish:
    """The `falcoish run` process: collects its JSON alerts and its stderr in threads."""

    def __init__(self, cmd: list[str]) -> None:
        env = dict(os.environ)
        # Alerts must stream through a pipe as they happen (like `falcoish run | jq`), so the
        # test does not force unbuffered output on falcoish.
        env.pop("PYTHONUNBUFFERED", None)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     start_new_session=True)
        self.alerts: list[dict[str, Any]] = []
        self.bad_lines: list[bytes] = []
        self.stderr: list[str] = []
        self.started = threading.Event()
        self._cv = threading.Condition()
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                alert = orjson.loads(line)
            except orjson.JSONDecodeError:
                with self._cv:
                    self.bad_lines.append(line)
                continue
            with self._cv:
                self.alerts.append(alert)
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr.append(line)
            if "live capture started" in line:
                self.started.set()
        self.started.set()          # also on exit, so waiting ends; the caller checks poll()

    def wait_started(self, timeout: float) -> None:
        self.started.wait(timeout)
        if self.proc.poll() is not None or not any("live capture started" in s for s in self.stderr):
            self.stop()
            tail = "\n".join(self.stderr[-30:])
            raise AssertionError(f"falcoish did not start live capture within {timeout}s "
                                 f"(exit code {self.proc.returncode}); stderr:\n{tail}")

    def matching(self, rule: str, marker: str) -> list[dict[str, Any]]:
        with self._cv:
            return [a for a in self.alerts if a.get("rule") == rule and marker in a.get("output", "")]

    def wait_alert(self, rule: str, marker: str, timeout: float = ALERT_WAIT) -> dict[str, Any]:
        """The first alert of `rule` whose output mentions `marker`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for a in self.alerts:
                    if a.get("rule") == rule and marker in a.get("output", ""):
                        return a
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    same_rule = [a.get("output", "")[:300] for a in self.alerts if a.get("rule") == rule][-5:]
                    raise AssertionError(
                        f"no alert of {rule!r} mentioning {marker!r} within {timeout}s "
                        f"(falcoish {'exited' if self.proc.poll() is not None else 'running'}; "
                        f"{len(self.alerts)} alerts so far); latest of that rule: {same_rule}; "
                        f"{self._drops()}")
                self._cv.wait(min(left, 0.5))

    def _drops(self) -> str:
        """Ask a running falcoish for its summary (SIGUSR1) and return the drop counters."""
        if self.proc.poll() is None:
            n = len(self.stderr)
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and not any("Dropped in user" in s for s in self.stderr[n:]):
                time.sleep(0.05)
        lines = [s.strip() for s in self.stderr if s.startswith("Dropped in")][-2:]
        text = "; ".join(lines) or f"stderr tail: {self.stderr[-5:]}"
        if any(re.fullmatch(r"Dropped in kernel: [1-9]\d*", s) for s in lines):
            text += (" -- the capture was overloaded and lost records (another heavy workload on "
                     "this machine?), so the action's events may be among them")
        return text

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for t in self._threads:
            t.join(timeout=5)
        return self.proc.returncode


class Env:
    """What the tests share: the running falcoish, a scratch folder, marker making."""

    def __init__(self, falco: Falcoish, work: Path) -> None:
        self.falco = falco
        self.work = work
        self._n = 0
        self.my_comm = _comm()

    def marker(self, what: str) -> str:
        self._n += 1
        return f"{TOKEN}{self._n:02d}{what}"

    def dir(self, marker: str) -> Path:
        d = self.work / marker
        d.mkdir()
        return d

    def barrier(self) -> None:
        """Return once falcoish has handled every event that happened before this call."""
        m = self.marker("barrier")
        run(["cat", "/etc/shadow", f"/nonexistent-{m}"])
        self.falco.wait_alert("Read sensitive file untrusted", m)

    def assert_silent(self, rule: str, *markers: str) -> None:
        for m in markers:
            got = self.falco.matching(rule, m)
            assert not got, f"{rule!r} fired on the near miss {m!r}: {got[0].get('output')}"


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """Run one action to completion (its exit status does not matter: failing syscalls count)."""
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, **kw)


def create(path: Path, data: str | bytes = b"") -> Path:
    """Create a new file without O_TRUNC (the test's own writes must not look like log or
    history clearing)."""
    with open(path, "xb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    return path


def py(code: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """Run Python code in a child process (`sys.argv[1:]` = args)."""
    return run([sys.executable, "-c", textwrap.dedent(code), *args], **kw)


def real_python() -> str:
    """The real interpreter binary (not a venv or pyenv shim) to link under another name."""
    return os.path.realpath(sys.executable)


def falcoish_cmd(*args: str) -> list[str]:
    """`falcoish ARGS` as this environment runs it (the installed script, else the module)."""
    exe = Path(sys.executable).with_name("falcoish")
    return [*([str(exe)] if exe.exists() else [sys.executable, "-m", "falcoish.cli.main"]), *args]


@contextlib.contextmanager
def live_run(args: list[str], prefix: str, local_rules: str | None = None, rules: tuple[str, ...] = (),
             unavailable: str | None = None) -> Iterator[Env]:
    """One `falcoish run ARGS` watching this host for a test module, with a scratch folder:
    `local_rules` is written there and loaded last, `--rule NAME` is added for each of `rules`.
    Skips, saying why, only where live capture is not possible (or `unavailable` says so)."""
    from falcoish.sources.live.capture import check_live_support
    reason = check_live_support() or unavailable
    if reason is not None:
        print(f"live capture unavailable: {reason}")
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    cmd = falcoish_cmd("run", *args)
    if local_rules is not None:
        local = work / "local_rules.yaml"
        local.write_text(local_rules)
        cmd += ["-r", str(local)]
    for name in rules:
        cmd += ["--rule", name]
    falco = Falcoish(cmd)
    try:
        falco.wait_started(START_WAIT)
        yield Env(falco, work)
    finally:
        falco.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def env(corpus_files: list[str]) -> Iterator[Env]:
    args = ["--no-defaults"]                       # exactly the three upstream files
    for f in corpus_files:
        args += ["-r", f]
    args += ["--json", "--rule-matching", "all", "-M", "600"]
    if os.environ.get("FALCOISH_LIVE_RECORD"):
        args += ["--record", os.environ["FALCOISH_LIVE_RECORD"]]
    with live_run(args, "falcoish-live-rules-", rules=tuple(RULES)) as e:
        yield e


def fields(alert: dict[str, Any]) -> dict[str, Any]:
    out = alert.get("output_fields")
    assert isinstance(out, dict), alert
    return out


# --------------------------------------------------------------------------------------------
# falco_rules.yaml
# --------------------------------------------------------------------------------------------

def test_read_sensitive_file_untrusted(env: Env) -> None:
    rule = "Read sensitive file untrusted"
    # near misses: a file that is not sensitive; a program trusted to read /etc/shadow (`ps`
    # is in read_sensitive_file_binaries: cat run through a link named ps)
    miss_file = env.marker("passwd")
    run(["cat", "/etc/passwd", f"/nonexistent-{miss_file}"])
    d = env.dir(env.marker("trusted"))
    (d / "ps").symlink_to(shutil.which("cat") or "/bin/cat")
    miss_trusted = env.marker("ps")
    run([str(d / "ps"), "/etc/shadow", f"/nonexistent-{miss_trusted}"])

    m = env.marker("shadow")
    run(["cat", "/etc/shadow", f"/nonexistent-{m}"])
    alert = env.falco.wait_alert(rule, m)
    f = fields(alert)
    assert f["fd.name"] == "/etc/shadow"
    assert f["proc.name"] == "cat"
    assert f["proc.cmdline"] == f"cat /etc/shadow /nonexistent-{m}"
    assert f["proc.pname"] == env.my_comm
    assert f["evt.type"] in ("open", "openat", "openat2")
    assert f["user.uid"] == os.geteuid() and f["user.name"] == pwd.getpwuid(os.geteuid()).pw_name
    assert alert["priority"] == "Warning" and alert["source"] == "syscall"
    assert "file=/etc/shadow" in alert["output"]
    env.assert_silent(rule, miss_file, miss_trusted)


def test_run_shell_untrusted(env: Env) -> None:
    """A shell whose parent is a web server (protected_shell_spawner: proc.aname in
    http_server_binaries) and whose command line is not a known harmless one."""
    rule = "Run shell untrusted"
    d = env.dir(env.marker("web"))
    for name in ("nginx", "node"):
        (d / name).symlink_to(real_python())   # the process is named after the link
    # the parent runs argv[2:]; argv[1] is the marker (in proc.pcmdline, part of the output)
    spawn = "import subprocess, sys; subprocess.run(sys.argv[2:])"
    # near misses: a parent that is not a protected shell spawner; a known harmless command
    # line; nginx running something that is not a shell
    miss_parent = env.marker("node")
    run([str(d / "node"), "-c", spawn, miss_parent, "sh", "-c", "echo hello"])
    miss_known = env.marker("known")
    run([str(d / "nginx"), "-c", spawn, miss_known, "sh", "-c", "uname -a 2>&1"])
    miss_noshell = env.marker("echo")
    run([str(d / "nginx"), "-c", spawn, miss_noshell, "echo", "hello"])

    m = env.marker("sh")
    run([str(d / "nginx"), "-c", spawn, m, "sh", "-c", f"echo {m}"])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.name"] == "sh"
    assert f["proc.cmdline"] == f"sh -c echo {m}"
    assert f["proc.pname"] == "nginx"
    assert f["proc.pcmdline"].startswith("nginx -c import subprocess")
    assert f["proc.pexepath"] == real_python()
    assert f["proc.aname[2]"] == env.my_comm
    assert f["evt.type"] in ("execve", "execveat")
    env.assert_silent(rule, miss_parent, miss_known, miss_noshell)


def test_create_symlink_over_sensitive_files(env: Env) -> None:
    rule = "Create Symlink Over Sensitive Files"
    miss = env.marker("hostname")
    run(["ln", "-s", "/etc/hostname", str(env.work / f"{miss}-link")])
    miss_etc_sub = env.marker("ssl")
    run(["ln", "-s", "/etc/ssl", str(env.work / f"{miss_etc_sub}-link")])

    m = env.marker("shadow")
    link = env.work / f"{m}-link"
    run(["ln", "-s", "/etc/shadow", str(link)])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["evt.arg.target"] == "/etc/shadow"
    assert f["evt.arg.linkpath"] == str(link)
    assert f["proc.name"] == "ln"
    assert f["evt.type"] in ("symlink", "symlinkat")
    # a sensitive directory, linked by Python's os.symlink
    m2 = env.marker("root")
    link2 = env.work / f"{m2}-link"
    py("import os, sys; os.symlink('/root', sys.argv[1])", str(link2))
    f2 = fields(env.falco.wait_alert(rule, m2))
    assert f2["evt.arg.target"] == "/root" and f2["evt.arg.linkpath"] == str(link2)
    env.assert_silent(rule, miss, miss_etc_sub)


def test_execution_from_dev_shm(env: Env) -> None:
    rule = "Execution from /dev/shm"
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    miss = env.marker("t")
    tmp_copy = env.work / miss
    shutil.copy(true, tmp_copy)
    m = env.marker("t")
    shm_copy = Path("/dev/shm") / m
    shutil.copy(true, shm_copy)
    try:
        os.chmod(tmp_copy, 0o755)
        os.chmod(shm_copy, 0o755)
        run([str(tmp_copy)])           # near miss: the same binary run from /tmp

        proc = run([str(shm_copy), "--version"])
        assert proc.returncode == 0, proc.stderr   # /dev/shm must not be mounted noexec here
        f = fields(env.falco.wait_alert(rule, m))
        assert f["proc.exepath"] == str(shm_copy)
        assert f["proc.name"] == m[:15]           # comm: the file name, cut to 15 characters
        assert f["proc.cmdline"] == f"{m[:15]} --version"
        assert f["evt.type"] in ("execve", "execveat")
        assert f["proc.cwd"] == os.getcwd().rstrip("/") + "/"
    finally:
        shm_copy.unlink(missing_ok=True)
    env.assert_silent(rule, miss)


def test_fileless_execution_via_memfd_create(env: Env) -> None:
    rule = "Fileless execution via memfd_create"
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    # near miss: the same exec through /proc/self/fd/N, but N is the regular file /bin/true
    miss = env.marker("regular")
    py("""
        import os, sys
        fd = os.open(sys.argv[1], os.O_RDONLY)
        os.execv(f"/proc/self/fd/{fd}", ["regular", sys.argv[2]])
    """, true, miss)

    m = env.marker("memfd")
    proc = py("""
        import os, sys
        fd = os.memfd_create(sys.argv[2], 0)
        with open(sys.argv[1], "rb") as fh:
            os.write(fd, fh.read())
        os.execv(f"/proc/self/fd/{fd}", ["fileless", sys.argv[2]])
    """, true, m)
    assert proc.returncode == 0, proc.stderr
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.exepath"].startswith(f"memfd:{m}")
    assert f["proc.cmdline"].endswith(f" {m}")
    assert f["proc.pname"] == env.my_comm
    assert "EXE_FROM_MEMFD" in (f.get("evt.arg.flags") or "")
    env.assert_silent(rule, miss)


def test_clear_log_activities(env: Env) -> None:
    rule = "Clear Log Activities"
    miss_append = env.marker("append")
    appended = env.dir(miss_append) / "syslog"
    create(appended, "old entries\n")
    py("import sys; open(sys.argv[1], 'a').write('more\\n')", str(appended))
    miss_other = env.marker("notes")
    other = env.dir(miss_other) / "notes.txt"
    create(other, "old\n")
    run(["cp", "/dev/null", str(other)])

    # a log file by name (fd.filename in log_files), emptied by `cp /dev/null`
    m = env.marker("syslog")
    log = env.dir(m) / "syslog"
    create(log, "Jan  1 00:00:00 host sshd[1]: Accepted password for root\n")
    run(["cp", "/dev/null", str(log)])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["fd.name"] == str(log)
    assert f["proc.name"] == "cp"
    assert f["proc.cmdline"] == f"cp /dev/null {log}"
    assert log.stat().st_size == 0
    # a file directly below /var/log (fd.directory in log_directories), truncated by Python
    m2 = env.marker("varlog")
    varlog = Path("/var/log") / f"{m2}.log"
    create(varlog, "entry\n")
    try:
        py("import sys; open(sys.argv[1], 'w').close()", str(varlog))
        f2 = fields(env.falco.wait_alert(rule, m2))
        assert f2["fd.name"] == str(varlog) and f2["proc.name"].startswith("python")
    finally:
        varlog.unlink(missing_ok=True)
    env.assert_silent(rule, miss_append, miss_other)


def test_search_private_keys_or_passwords(env: Env) -> None:
    rule = "Search Private Keys or Passwords"
    miss_grep = env.marker("password")
    run(["grep", "-ri", "password", str(env.dir(miss_grep))])
    miss_find = env.marker("pem")
    run(["find", str(env.dir(miss_find)), "-name", "*.pem"])

    m = env.marker("grep")
    d = env.dir(m)
    create(d / "key", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
    proc = run(["grep", "-rl", "BEGIN OPENSSH PRIVATE", str(d)])
    assert proc.stdout.decode().strip() == str(d / "key")
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.name"] == "grep"
    assert f["proc.cmdline"] == f"grep -rl BEGIN OPENSSH PRIVATE {d}"
    m2 = env.marker("find")
    run(["find", str(env.dir(m2)), "-name", "id_ed25519"])
    f2 = fields(env.falco.wait_alert(rule, m2))
    assert f2["proc.name"] == "find" and f2["proc.exepath"].endswith("/find")
    env.assert_silent(rule, miss_grep, miss_find)


def test_create_hardlink_over_sensitive_files(env: Env) -> None:
    rule = "Create Hardlink Over Sensitive Files"
    miss = env.marker("passwd")
    run(["ln", "/etc/passwd", str(env.work / f"{miss}-hard")])

    m = env.marker("shadow")
    link = env.work / f"{m}-hard"
    try:
        run(["ln", "/etc/shadow", str(link)])   # may fail (EXDEV) if /tmp is another filesystem
        f = fields(env.falco.wait_alert(rule, m))
        assert f["evt.arg.oldpath"] == "/etc/shadow"
        assert f["evt.arg.newpath"] == str(link)
        assert f["proc.name"] == "ln" and f["evt.type"] in ("link", "linkat")
    finally:
        link.unlink(missing_ok=True)
    env.assert_silent(rule, miss)


def test_directory_traversal_monitored_file_read(env: Env) -> None:
    rule = "Directory traversal monitored file read"
    deep = env.work / "a" / "b" / "c"
    deep.mkdir(parents=True)
    up = "../" * (len(deep.parts) + 2)         # more than enough to reach /
    read = "import sys; open(sys.argv[1]).read()"
    # near misses: no traversal; traversal to a file that is not monitored; traversal by a
    # program whose parent is a shell (`; true` keeps sh from exec-ing cat in its place)
    miss_abs = env.marker("abs")
    py(read, "/etc/passwd", miss_abs, cwd=deep)
    miss_unmonitored = env.marker("unmon")
    create(env.work / miss_unmonitored, "x\n")
    py(read, f"../../../{miss_unmonitored}", cwd=deep)
    miss_shell = env.marker("shell")
    run(["sh", "-c", f"cat {up}etc/passwd /nonexistent-{miss_shell}; true"], cwd=deep)

    m = env.marker("trav")
    py(read, f"{up}etc/passwd", m, cwd=deep)
    f = fields(env.falco.wait_alert(rule, m))
    assert f["fd.name"] == "/etc/passwd"
    assert f["fd.nameraw"] == f"{up}etc/passwd"
    assert f["proc.pname"] == env.my_comm
    assert f["evt.type"] in ("open", "openat", "openat2")
    env.assert_silent(rule, miss_abs, miss_unmonitored, miss_shell)


def test_netcat_remote_code_execution_in_container(env: Env) -> None:
    """`nc -e` in a container (a fake docker cgroup).  No netcat is installed here: a small
    program named nc that only lingers a moment is enough (the rule judges the process name
    and command line).  Near misses: a port scan in the container, `nc -e` on the host."""
    from tests.fakecgroup import RuntimeCgroup, lingering_program, unavailable
    if (why := unavailable()) is not None:
        pytest.skip(why)
    rule = "Netcat Remote Code Execution in Container"
    d = env.dir(env.marker("nc"))
    nc = str(lingering_program(d / "nc", 500))
    miss_host = env.marker("host")
    run([nc, "-e", "/bin/sh", "127.0.0.1", "9", miss_host])
    with RuntimeCgroup("docker") as cg:
        miss = env.marker("scan")
        cg.run([nc, "-zv", "127.0.0.1", "9", miss])
        m = env.marker("exec")
        cg.run([nc, "-e", "/bin/sh", "127.0.0.1", "9", m])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.name"] == "nc"
    assert f["proc.cmdline"] == f"nc -e /bin/sh 127.0.0.1 9 {m}"
    assert f["container.id"] == cg.id
    env.assert_silent(rule, miss, miss_host)


def test_remove_bulk_data_from_disk(env: Env) -> None:
    rule = "Remove Bulk Data from Disk"
    miss = env.marker("rm")
    create(env.work / miss, b"x" * 4096)
    run(["rm", "-f", str(env.work / miss)])

    m = env.marker("shred")
    target = env.work / m
    create(target, b"secret" * 1024)
    run(["shred", "-u", "-z", str(target)])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.name"] == "shred"
    assert f["proc.cmdline"] == f"shred -u -z {target}"
    assert not target.exists()
    env.assert_silent(rule, miss)


def test_ptrace_anti_debug_attempt(env: Env) -> None:
    rule = "PTRACE anti-debug attempt"
    # near miss: a real PTRACE_ATTACH (of a child of the tracer), not PTRACE_TRACEME
    miss = env.marker("attach")
    proc = py("""
        import ctypes, os, signal, sys, time
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        assert libc.ptrace(16, pid, None, None) == 0, ctypes.get_errno()    # PTRACE_ATTACH
        os.waitpid(pid, 0)
        libc.ptrace(17, pid, None, None)                                     # PTRACE_DETACH
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    """, miss)
    assert proc.returncode == 0, proc.stderr

    m = env.marker("traceme")
    proc = py("""
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        sys.exit(libc.ptrace(0, 0, None, None))                              # PTRACE_TRACEME
    """, m)
    assert proc.returncode == 0, proc.stderr
    f = fields(env.falco.wait_alert(rule, m))
    assert f["evt.type"] == "ptrace"
    assert f["proc.cmdline"].endswith(f" {m}") and f["proc.name"].startswith("python")
    assert f["proc.pname"] == env.my_comm
    env.assert_silent(rule, miss)


FINIT_MODULE = """
    import ctypes, errno, os, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(sys.argv[1], os.O_RDONLY)
    assert libc.syscall(313, fd, b"", 0) == -1, "a bogus module was loaded?!"   # finit_module
    print(errno.errorcode[ctypes.get_errno()], flush=True)
    time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


def test_linux_kernel_module_injection(env: Env) -> None:
    """finit_module of a bogus file by a process of a container (a fake docker cgroup).  The
    syscall fails (ENOEXEC: not a module; ENOSYS on a kernel built without modules, as here),
    but the rule does not look at the result: it needs CAP_SYS_MODULE in the thread's effective
    set.  Near misses: the same program in the container started by `setpriv --bounding-set
    -sys_module`, so it lacks the capability; the same program with it, on the host."""
    from tests.fakecgroup import RuntimeCgroup, unavailable
    if (why := unavailable()) is not None:
        pytest.skip(why)
    rule = "Linux Kernel Module Injection Detected"
    miss = env.marker("nocap")
    nocap = create(env.work / f"{miss}.ko", b"\x7fELF not a kernel module\n")
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed"
    with RuntimeCgroup("docker") as cg:
        proc = run([setpriv, "--bounding-set", "-sys_module", "--",
                    *cg.argv([sys.executable, "-c", textwrap.dedent(FINIT_MODULE), str(nocap), "1"])])
    assert proc.returncode == 0 and proc.stdout.strip() in (b"EPERM", b"ENOSYS"), proc
    miss_host = env.marker("host")
    host_ko = create(env.work / f"{miss_host}.ko", b"\x7fELF not a kernel module\n")
    assert py(FINIT_MODULE, str(host_ko), "1").returncode == 0

    m = env.marker("ko")
    bogus = create(env.work / f"{m}.ko", b"\x7fELF not a kernel module\n")
    with RuntimeCgroup("docker") as cg:
        proc = cg.run([sys.executable, "-c", textwrap.dedent(FINIT_MODULE), str(bogus), "1"])
    assert proc.returncode == 0, proc.stderr
    err = proc.stdout.decode().strip()          # ENOEXEC; ENOSYS on a kernel without modules
    if _cap_effective() & (1 << CAP_SYS_MODULE):
        assert err != "EPERM"
        f = fields(env.falco.wait_alert(rule, m))
        assert f["proc.args"].endswith(f"{bogus} 1") and f["evt.type"] == "finit_module"
        assert f["evt.res"] == err
        assert f["proc.name"].startswith("python") and f["container.id"] == cg.id
    else:                                             # this machine cannot load modules at all
        assert err == "EPERM"
        env.barrier()
        env.assert_silent(rule, m)
    env.assert_silent(rule, miss, miss_host)


def test_kernel_module_near_miss_of_a_process_gone_before_falcoish_sees_its_exec(env: Env) -> None:
    """The near miss of test_linux_kernel_module_injection, made deterministic: falcoish is
    paused (SIGSTOP) while the programs run in a (fake docker) container and exit, then
    resumed, so /proc has nothing left to say about them.  Falco takes the capabilities and
    the cgroup from the exec itself; so must falcoish.  The program started without
    CAP_SYS_MODULE must not alert; the same program with it must (which also proves the
    container was recognised from the exec-time cgroup, so the silence is not for that)."""
    from tests.fakecgroup import RuntimeCgroup, unavailable
    if (why := unavailable()) is not None:
        pytest.skip(why)
    rule = "Linux Kernel Module Injection Detected"
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed"
    miss = env.marker("gone")
    ko = create(env.work / f"{miss}.ko", b"\x7fELF not a kernel module\n")
    m = env.marker("gonecap")
    ko_cap = create(env.work / f"{m}.ko", b"\x7fELF not a kernel module\n")
    os.kill(env.falco.proc.pid, signal.SIGSTOP)
    try:
        with RuntimeCgroup("docker") as cg:
            proc = run([setpriv, "--bounding-set", "-sys_module", "--",
                        *cg.argv([sys.executable, "-c", textwrap.dedent(FINIT_MODULE), str(ko)])])
            with_cap = cg.run([sys.executable, "-c", textwrap.dedent(FINIT_MODULE), str(ko_cap)])
    finally:
        os.kill(env.falco.proc.pid, signal.SIGCONT)
    assert proc.returncode == 0 and proc.stdout.strip() in (b"EPERM", b"ENOSYS"), proc
    assert with_cap.returncode == 0, with_cap.stderr
    if _cap_effective() & (1 << CAP_SYS_MODULE):
        f = fields(env.falco.wait_alert(rule, m))
        assert f["container.id"] == cg.id
    env.barrier()
    env.assert_silent(rule, miss)


# --------------------------------------------------------------------------------------------
# falco-incubating_rules.yaml
# --------------------------------------------------------------------------------------------

def test_user_mgmt_binaries_run_on_the_host(env: Env) -> None:
    """A host-only rule (`not container`): a shadow-utils program run on the host.  It never
    fired here while every host process was taken for a container (issue 13).  Near misses:
    `chage -l` (listing is excluded by the rule) and the same program in a (fake docker)
    container."""
    from tests.fakecgroup import RuntimeCgroup, unavailable
    if (why := unavailable()) is not None:
        pytest.skip(why)
    rule = "User mgmt binaries"
    miss_list = env.marker("chagel")
    run(["chage", "-l", miss_list])
    miss_ct = env.marker("inct")
    with RuntimeCgroup("docker") as cg:
        cg.run(["pwck", "-r", f"/nonexistent-{miss_ct}"])
    m = env.marker("pwck")
    run(["pwck", "-r", f"/nonexistent-{m}"])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.name"] == "pwck" and f["container.id"] == "host"
    env.assert_silent(rule, miss_list, miss_ct)


def test_delete_or_rename_shell_history(env: Env) -> None:
    rule = "Delete or rename shell history"
    miss_rc = env.marker("bashrc")
    d = env.dir(miss_rc)
    create(d / ".bashrc", "alias ll='ls -l'\n")
    run(["rm", "-f", str(d / ".bashrc")])
    miss_append = env.marker("append")
    hist = env.dir(miss_append) / ".bash_history"
    create(hist, "ls\n")
    py("import sys; open(sys.argv[1], 'a').write('id\\n')", str(hist))

    m = env.marker("rm")
    h = env.dir(m) / ".bash_history"
    create(h, "cat /etc/shadow\n")
    run(["rm", "-f", str(h)])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["evt.arg.name"] == str(h)
    assert f["proc.name"] == "rm" and f["evt.type"] in ("unlink", "unlinkat")
    # renamed away
    m2 = env.marker("mv")
    z = env.dir(m2) / ".zsh_history"
    create(z, "whoami\n")
    run(["mv", str(z), str(z.with_name("old"))])
    f2 = fields(env.falco.wait_alert(rule, m2))
    assert f2["evt.arg.oldpath"] == str(z) and f2["evt.type"].startswith("rename")
    # truncated
    m3 = env.marker("trunc")
    t = env.dir(m3) / ".bash_history"
    create(t, "sudo -i\n")
    py("import sys; open(sys.argv[1], 'w').close()", str(t))
    f3 = fields(env.falco.wait_alert(rule, m3))
    assert f3["fd.name"] == str(t) and f3["evt.type"] in ("open", "openat", "openat2")
    env.assert_silent(rule, miss_rc, miss_append)


def test_find_aws_credentials(env: Env) -> None:
    rule = "Find AWS Credentials"
    miss = env.marker("region")
    run(["grep", "-rn", "AWS_REGION", str(env.dir(miss))])
    miss_find = env.marker("config")
    run(["find", str(env.dir(miss_find)), "-path", "*/.aws/config"])

    m = env.marker("grep")
    d = env.dir(m)
    create(d / "credentials", "aws_secret_access_key = x\n")
    run(["grep", "-rn", "aws_secret_access_key", str(d)])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["proc.name"] == "grep"
    assert f["proc.cmdline"] == f"grep -rn aws_secret_access_key {d}"
    assert f["proc.cwd"] == os.getcwd().rstrip("/") + "/"
    m2 = env.marker("find")
    run(["find", str(env.dir(m2)), "-path", "*/.aws/credentials"])
    assert fields(env.falco.wait_alert(rule, m2))["proc.name"] == "find"
    env.assert_silent(rule, miss, miss_find)


def test_set_setuid_or_setgid_bit(env: Env) -> None:
    rule = "Set Setuid or Setgid bit"
    miss = env.marker("755")
    create(env.work / miss, b"")
    run(["chmod", "755", str(env.work / miss)])

    m = env.marker("suid")
    target = env.work / m
    create(target, b"")
    run(["chmod", "u+s", str(target)])
    f = fields(env.falco.wait_alert(rule, m))
    assert f["evt.arg.filename"] == str(target)
    assert "S_ISUID" in f["evt.arg.mode"]
    assert f["proc.name"] == "chmod" and f["evt.type"] in ("chmod", "fchmodat", "fchmod")
    assert target.stat().st_mode & 0o4000
    # setgid through Python's os.chmod
    m2 = env.marker("sgid")
    t2 = env.work / m2
    create(t2, b"")
    py("import os, sys; os.chmod(sys.argv[1], 0o2755)", str(t2))
    f2 = fields(env.falco.wait_alert(rule, m2))
    assert "S_ISGID" in f2["evt.arg.mode"] and f2["evt.arg.filename"] == str(t2)
    env.assert_silent(rule, miss)


# --------------------------------------------------------------------------------------------
# last: falcoish's own health over the whole module
# --------------------------------------------------------------------------------------------

def test_zz_clean_exit_and_summary(env: Env) -> None:
    """SIGTERM ends the capture cleanly; the summary counts events, drops and alerts per rule;
    stdout carried nothing but alerts."""
    code = env.falco.stop()
    assert code == 0, "\n".join(env.falco.stderr[-30:])
    err = "\n".join(env.falco.stderr)
    assert not env.falco.bad_lines, env.falco.bad_lines[:3]
    assert "Traceback" not in err and "Exception ignored" not in err, err
    events = re.search(r"Events processed: (\d+)", err)
    kernel = re.search(r"Dropped in kernel: (\d+)", err)
    user = re.search(r"Dropped in user space: (\d+)", err)
    assert events and kernel and user, err
    assert int(events.group(1)) > 0
    seen_rules = {a["rule"] for a in env.falco.alerts}
    for rule in seen_rules:
        n = sum(1 for a in env.falco.alerts if a["rule"] == rule)
        assert re.search(rf"^\s+{re.escape(rule)}: {n}$", err, re.M), (rule, n, err)
    assert set(env.falco.alerts[0]) >= {"rule", "priority", "output", "output_fields", "time"}
