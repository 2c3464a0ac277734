"""An ordinary developer workload on the host raises no alert from the default rules, live.

Why: a detector that cries wolf on every build gets switched off.  `falcoish run --json` (the
default rules, as `make run` starts it) watches while this test really does what a developer
does all day on a host: create a venv and pip-install a local wheel into it (offline), build a
tiny C project with gcc and make, git init/add/commit, run pytest on a trivial test file, ask
apt-get what an install would do and list packages with dpkg.  Then a barrier action with a
known alert (reading /etc/shadow with `cat`) proves every earlier event was judged; every other
alert *of the workload* is a false alarm and fails the test, listed whole.  The capture sees the
whole machine (other people's work too), so the workload's processes carry an environment
variable with this run's token and falcoish appends it to every output (`-p`, Falco's own
option); an alert also counts when its text names the workload's folder (whose name has the
token) for a process falcoish saw too briefly to read its environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.test_live_rules import TOKEN, Falcoish, live_run

pytestmark = pytest.mark.live

BARRIER_RULE = "Read credential file by untrusted program"
WORKLOAD_VAR = "FALCOISH_BENIGN_WORKLOAD"
STEP_TIMEOUT = 120


@pytest.fixture(scope="module")
def falco() -> Iterator[Falcoish]:
    # no -r: the default rules, as `make run`
    with live_run(["--json", "-p", f"workload=%proc.env[{WORKLOAD_VAR}]"], "falcoish-live-benign-") as env:
        yield env.falco


def _wheel(where: Path, name: str) -> Path:
    """A minimal pure-Python wheel built by hand (no setuptools needed offline)."""
    dist = f"{name}-0.1"
    files = {f"{name}/__init__.py": b"def answer():\n    return 42\n",
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
                                            "Version: 0.1\n".encode(),
             f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    whl = where / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return whl


def _run(cmd: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
         **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {}), "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", WORKLOAD_VAR: TOKEN}
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=STEP_TIMEOUT, **kw)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


# A small package whose exact installed version sits in apt's cache, so a real reinstall
# (dpkg unpacking over /usr/bin, maintainer scripts, triggers) works offline and changes nothing.
REINSTALL = "ninja-build"


def _reinstall_from_cache(work: Path) -> None:
    """`apt-get install --reinstall` for real when the cache allows it offline, else nothing."""
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", REINSTALL],
                             capture_output=True, text=True, timeout=20).stdout
    if not version:
        return
    deb = f"{REINSTALL}_{version.replace(':', '%3a')}_amd64.deb"
    if not (Path("/var/cache/apt/archives") / deb).exists():
        return
    _run(["apt-get", "install", "-y", "-q", "--reinstall", "--no-download", REINSTALL], work,
         env_extra={"DEBIAN_FRONTEND": "noninteractive"})


def _barrier(falco: Falcoish) -> str:
    m = f"{TOKEN}benign-barrier"
    subprocess.run(["cat", "/etc/shadow", f"/nonexistent-{m}"], capture_output=True, timeout=20)
    falco.wait_alert(BARRIER_RULE, m, timeout=30)
    return m


def _false_alarms(falco: Falcoish, barrier: str) -> list[str]:
    mine = [a for a in list(falco.alerts) if TOKEN in a.get("output", "")]
    return [f"{a.get('rule')}: {a.get('output')}" for a in mine
            if not (a.get("rule") == BARRIER_RULE and barrier in a.get("output", ""))]


def test_developer_workload_raises_no_alert(falco: Falcoish) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"falcoish-benign-{TOKEN}-"))
    try:
        # Python: a fresh venv, pip install of a local wheel (offline), pytest
        name = "benignpkg"
        whl = _wheel(work, name)
        _run([sys.executable, "-m", "venv", str(work / "venv")], work)
        vpy = str(work / "venv" / "bin" / "python")
        _run([vpy, "-m", "pip", "install", "--no-index", str(whl)], work)
        _run([vpy, "-c", f"import {name}; assert {name}.answer() == 42"], work)
        (work / "test_trivial.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
              "test_trivial.py"], work)
        # C: gcc + make
        src = work / "hello"
        src.mkdir()
        (src / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
        (src / "Makefile").write_text("hello: hello.c\n\tgcc -O2 -Wall -o hello hello.c\n")
        _run(["make"], src)
        assert _run(["./hello"], src).stdout == "hi\n"
        # git
        _run(["git", "init", "-q"], src)
        _run(["git", "add", "hello.c", "Makefile"], src)
        _run(["git", "commit", "-q", "-m", "first"], src)
        _run(["git", "log", "--oneline"], src)
        # packages: what an install would do, what is installed
        _run(["apt-get", "-s", "install", "--reinstall", "make"], work)
        _run(["dpkg", "-l", "make"], work)
        _reinstall_from_cache(work)

        barrier = _barrier(falco)
        alarms = _false_alarms(falco, barrier)
        assert not alarms, f"{len(alarms)} alerts on a benign workload:\n" + "\n".join(alarms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
