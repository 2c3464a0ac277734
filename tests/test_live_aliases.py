"""Path aliases, live: a file opened through another spelling is still that file.

`fd.name` of an open comes from the kernel's struct file (falcoish/sources/live/kpath.c), so
`/proc/self/root/etc/shadow`, `/proc/<pid>/root/etc/shadow` and a symlinked directory all
read /etc/shadow and must raise "Read sensitive file untrusted" with fd.name=/etc/shadow,
while `fd.nameraw` keeps the spelling the caller used.  Near misses: the same aliases to a
file that is not sensitive (/etc/hostname).  One real `falcoish run` with the upstream
falco_rules.yaml; `-p` appends fd.nameraw to the output so the alert carries it.  The near
misses run before the positives (records arrive in order: see test_live_rules.py), so once
the positives' alerts are in, any alert of a near miss would be too.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from .test_live_rules import START_WAIT, Falcoish, fields, run

pytestmark = pytest.mark.live

RULE = "Read sensitive file untrusted"
TOKEN = "fa" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def live(corpus_files: list[str]) -> Iterator[tuple[Falcoish, Path]]:
    from falcoish.sources.live.capture import check_live_support
    reason = check_live_support()
    if reason is not None:
        pytest.skip(reason)
    rules = [f for f in corpus_files if f.endswith("/falco_rules.yaml")]
    assert rules, corpus_files
    work = Path(tempfile.mkdtemp(prefix="falcoish-live-aliases-"))
    (work / "etclink").symlink_to("/etc")          # created before the run
    cmd = [sys.executable, "-m", "falcoish.cli.main", "run", "--no-defaults", "-r", rules[0], "--json",
           "--rule", RULE, "-p", "raw=%fd.nameraw"]
    falco = Falcoish(cmd)
    try:
        falco.wait_started(START_WAIT)
        yield falco, work
    finally:
        falco.stop()
        shutil.rmtree(work, ignore_errors=True)


def _prefix(alias: str, work: Path) -> str:
    """A spelling of /etc: through this process's root, its parent's (the test process is the
    parent of `cat`), or a symlinked directory made before the run."""
    return {"self": "/proc/self/root/etc", "parent": f"/proc/{os.getpid()}/root/etc",
            "symlinkdir": f"{work}/etclink"}[alias]


@pytest.mark.parametrize("alias", ["self", "parent", "symlinkdir"])
def test_alias_of_a_sensitive_file_alerts_with_the_canonical_name(live: tuple[Falcoish, Path], alias: str) -> None:
    falco, work = live
    prefix = _prefix(alias, work)
    miss = f"{TOKEN}miss{alias}"                   # near miss first: not a sensitive file
    run(["cat", f"{prefix}/hostname", f"/nonexistent-{miss}"])
    m = f"{TOKEN}hit{alias}"
    run(["cat", f"{prefix}/shadow", f"/nonexistent-{m}"])
    f = fields(falco.wait_alert(RULE, m))
    assert f["fd.name"] == "/etc/shadow", f
    assert f["fd.nameraw"] == f"{prefix}/shadow", f
    assert f["proc.name"] == "cat"
    got = falco.matching(RULE, miss)
    assert not got, f"near miss {miss} alerted: {got[0].get('output')}"
