"""`glob` cannot be stalled by a value an attacker chooses.

Any process chooses its own command line, so a rule such as
`proc.cmdline glob "*a*a*a*a*a*a*a*a*a*a*[b]"` must not let one crafted `exec` stall
detection for everyone.  The patterns below made the former backtracking translation (and
glibc's own `fnmatch`) try every way of splitting a run of `a`s among the `*`s: 54
characters did not finish in a minute.  Here they run through `falcoish run`, in a
subprocess whose timeout is only a hang guard, and the one matching command line among the
hostile ones must still alert.  Agreement with glibc on generated patterns is the property
test in `test_operators.py` (`test_glob_matches_glibc_fnmatch`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from .eventkit import exec_process

ROOT = Path(__file__).resolve().parent.parent

HOSTILE = [
    ("glob", "*a*a*a*a*a*a*a*a*a*a*[b]"),
    ("glob", "*a*a*a*a*a*a*a*a*a*a*?b"),
    ("iglob", "*A*A*A*A*A*A*A*A*A*A*[B]"),
    ("glob", "*[a]*[a]*[a]*[a]*[a]*[a]*[a]*[a]*[a]*c"),
    ("glob", "*\\a*\\a*\\a*\\a*\\a*\\a*\\a*\\a*\\a*b!"),
]


def run_rule(tmp: Path, op: str, pattern: str, cmdlines: list[str]) -> list[dict[str, object]]:
    rule = (f"- rule: Crafted command line\n  desc: x\n"
            f"  condition: evt.type = execve and proc.cmdline {op} {json.dumps(pattern)}\n"
            f"  output: crafted (event=%evt.num)\n  priority: warning\n")
    (tmp / "rules.yaml").write_text(rule)
    (tmp / "c.yaml").write_text("{}\n")
    records = [exec_process("a", [arg], num=i + 1) for i, arg in enumerate(cmdlines)]
    (tmp / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    done = subprocess.run(
        [sys.executable, "-m", "falcoish.cli.main", "run", "-c", str(tmp / "c.yaml"), "--no-defaults",
         "-r", str(tmp / "rules.yaml"), "-e", str(tmp / "e.jsonl"), "--json", "--watch", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize(("op", "pattern"), HOSTILE)
def test_hostile_command_lines_do_not_stall_a_glob(tmp_path: Path, op: str, pattern: str) -> None:
    # `a` + " " + the argument is the command line; 54 and 80 characters stalled the former
    # matcher, 100,000 is what a process can pass in one argument.
    tail = "c" if pattern.endswith("c") else ("b!" if pattern.endswith("b!") else "xb")
    matching = "a" * 40 + tail
    cmdlines = ["a" * 52, "a" * 78, "a" * 100_000, matching, "a" * 100_000 + "!"]
    alerts = run_rule(tmp_path, op, pattern, cmdlines)
    # only the fourth command line (event 4) matches
    assert [a["output_fields"]["evt.num"] for a in alerts] == [4]
