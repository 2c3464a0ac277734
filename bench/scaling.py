"""Replay events/s as the number of loaded rules grows (10, 100, 1,000 generated rules).

The generated rules imitate the upstream corpus: the same event types (open*, execve,
connect, rename/unlink, mkdir, chmod, symlink, dup*, ptrace), the same fields and operators
(`startswith`, `in` lists, `contains`, `pmatch`, `glob`, `endswith`, ancestors, IP lists,
ports), the same habit of starting from a few shared macros (`open_write`-like guards) and
ending with `not proc.name in (...)`-style exceptions.  Names and values are numbered, so no
two rules are the same check; a few rules in fifty use common values and do fire.

Mix of templates (share of rules): open write 22 %, open read 13 %, spawn 18 %, shell in
container 6 %, ancestry 6 %, outbound connect 8 %, rename/unlink 9 %, mkdir 5 %, chmod 4 %,
symlink 3 %, dup 3 %, ptrace 3 %.

Usage:
    python bench/scaling.py --write 1000 OUT.yaml       # just the rules file
    python bench/scaling.py [--sizes 10,100,1000] [--trace FILE] [--events N] [--reps R]

`replay_rate` (the timing of one `falcoish run -e` configuration, shared with run.py) runs
the CLI on the trace and on an empty file, and divides the events by the difference of the
median wall times: the load and compile time and the interpreter start cancel out.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FALCOISH = str(REPO / ".venv" / "bin" / "falcoish")

MACROS = """\
- macro: bench_open_write
  condition: (evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)
- macro: bench_open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- macro: bench_spawned
  condition: (evt.type in (execve, execveat))
- macro: bench_shell
  condition: (proc.name in (ash, bash, csh, ksh, sh, tcsh, zsh, dash))
- macro: bench_outbound
  condition: (evt.type = connect and fd.typechar in (4, 6) and (fd.ip != 127.0.0.1 and fd.net != 127.0.0.0/8))
- macro: bench_modify
  condition: (evt.type in (rename, renameat, renameat2, unlink, unlinkat))
- macro: bench_mkdir
  condition: (evt.type in (mkdir, mkdirat))
- macro: bench_in_container
  condition: (container.id != host)
"""

# (weight, template); `{i}` is the rule number, other fields come from _values().
TEMPLATES: list[tuple[int, str, str]] = [
    (22, "open write", "bench_open_write and fd.name startswith {dir}/ and not proc.name in ({prog}, {prog}-helper, dpkg)"),
    (13, "open read", "bench_open_read and (fd.name in ({dir}/secret, {dir}/key.pem) or fd.directory = {dir}/private) "
                      "and not proc.pname in (sshd, {prog})"),
    (18, "spawn", "bench_spawned and proc.name = {prog} and proc.pname in (bash, sh, {parent}) "
                  "and proc.cmdline contains \"--{word}\""),
    (6, "shell in container", "bench_spawned and bench_shell and bench_in_container and proc.pname = {prog} "
                              "and not container.image.repository in ({image})"),
    (6, "ancestry", "bench_spawned and proc.aname[2] = {parent} and proc.args icontains {word}"),
    (8, "outbound", "bench_outbound and fd.sport = {port} and not fd.sip in ({ip}) and not proc.name in ({prog})"),
    (9, "modify", "bench_modify and fs.path.name pmatch ({dir}, /srv/{word}) and not proc.name in ({prog})"),
    (5, "mkdir", "bench_mkdir and fs.path.name glob {dir}/*/cache and proc.name != {prog}"),
    (4, "chmod", "evt.type in (chmod, fchmod, fchmodat) and fs.path.name endswith .{word} and evt.arg.mode contains S_IX"),
    (3, "symlink", "evt.type in (symlink, symlinkat) and fs.path.target startswith {dir} and user.uid != {uid}"),
    (3, "dup", "evt.type in (dup, dup2, dup3) and fd.num in (0, 1, 2) and proc.name = {prog} and fd.typechar = 4"),
    (3, "ptrace", "evt.type = ptrace and proc.name = {prog} and not proc.pname in ({parent}, gdb)"),
]

# Values that real events carry, used by one rule in fifty so that some rules fire.
COMMON = {"dir": "/etc", "prog": "bash", "parent": "bash", "word": "c", "port": 443, "ip": "10.0.0.5",
          "uid": 12345, "image": "docker.io/library/nginx"}


def _values(i: int, rng: random.Random) -> dict[str, Any]:
    if i % 50 == 7:
        return dict(COMMON)
    return {"dir": f"/{rng.choice(['etc', 'var/lib', 'opt', 'srv', 'usr/local'])}/app{i}",
            "prog": f"tool{i}", "parent": f"daemon{i}", "word": f"opt{i}",
            "port": 1024 + (i * 37) % 60000, "ip": f"10.{i % 250}.{(i // 250) % 250}.{1 + i % 200}",
            "uid": 2000 + i, "image": f"registry.example/app{i}"}


def generate_rules(n: int, seed: int = 11) -> str:
    """A rules file (YAML text) with the bench macros and `n` generated rules."""
    rng = random.Random(seed)
    weights = [w for w, _, _ in TEMPLATES]
    out = [MACROS]
    priorities = ["WARNING", "NOTICE", "ERROR", "CRITICAL", "INFORMATIONAL"]
    for i in range(n):
        # the first rules walk through every template, so even 10 rules cover several types
        _, kind, template = TEMPLATES[i] if i < len(TEMPLATES) else rng.choices(TEMPLATES, weights)[0]
        cond = template.format(i=i, **_values(i, rng))
        out.append(f"- rule: Bench {kind} {i:04d}\n"
                   f"  desc: generated rule {i} ({kind})\n"
                   f"  condition: >\n    {cond}\n"
                   f"  output: \"bench {i} %evt.type %proc.name %fd.name\"\n"
                   f"  priority: {priorities[i % len(priorities)]}\n"
                   f"  tags: [bench, {kind.replace(' ', '_')}]\n")
    return "\n".join(out)


# -- timing ------------------------------------------------------------------------------------


def _wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed


def replay_command(rule_args: list[str], events_file: str) -> list[str]:
    return [FALCOISH, "run", "--no-defaults", *rule_args, "--watch", "off", "-e", events_file]


def replay_rate(rule_args: list[str], trace: str, events: int, reps: int, empty: str) -> dict[str, Any]:
    """events/s of `falcoish run --no-defaults <rule_args> -e trace > /dev/null`: events over
    (median wall of the run - median wall of the same command on an empty file)."""
    full, base = [], []
    for _ in range(reps):          # interleaved, so drifts hit both
        base.append(_wall(replay_command(rule_args, empty)))
        full.append(_wall(replay_command(rule_args, trace)))
    full_s, base_s = statistics.median(full), statistics.median(base)
    work = max(full_s - base_s, 1e-9)
    return {"events": events, "reps": reps, "wall_s": full_s, "empty_wall_s": base_s, "replay_s": work,
            "events_per_s": events / work, "all_wall_s": full, "all_empty_wall_s": base}


def count_events(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def run_scaling(trace: str, sizes: list[int], reps: int, workdir: str,
                log: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    events = count_events(trace)
    empty = os.path.join(workdir, "empty.jsonl")
    Path(empty).touch()
    rows = []
    for n in sizes:
        path = os.path.join(workdir, f"rules_{n}.yaml")
        Path(path).write_text(generate_rules(n))
        log(f"scaling: {n} rules on {os.path.basename(trace)}")
        row = replay_rate(["-r", path], trace, events, reps, empty)
        row["rules"] = n
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", nargs=2, metavar=("N", "OUT"), help="write N generated rules to OUT and exit")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--trace", help="events file (plain JSON lines); default: a synthetic trace")
    parser.add_argument("--events", type=int, default=200_000, help="synthetic trace size")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.write:
        Path(args.write[1]).write_text(generate_rules(int(args.write[0])))
        return
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="falcoish-scaling-") as tmp:
        trace = args.trace
        if trace is None:
            sys.path.insert(0, str(BENCH))
            from synthetic import generate
            trace = os.path.join(tmp, "synthetic.jsonl")
            with open(trace, "wb") as handle:
                for line in generate(args.events):
                    handle.write(line + b"\n")
        rows = run_scaling(trace, [int(s) for s in args.sizes.split(",")], args.reps, tmp,
                           lambda s: print(s, file=sys.stderr))
    for row in rows:
        print(f"{row['rules']:>6} rules: {row['events_per_s']:>10,.0f} events/s "
              f"(run {row['wall_s']:.2f} s, empty {row['empty_wall_s']:.2f} s)")


if __name__ == "__main__":
    main()
