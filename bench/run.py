"""falcoish benchmark suite (issue 6): one table of figures with targets, and a JSON file.

    python bench/run.py [--quick] [--json OUT] [--trace FILE.jsonl.gz] [--profile]

Repetitions: 7 cold loads, 5 runs of each replay and ceiling, 3 per scaling point (--quick:
3, 1, 1), smaller samples with --quick.  Everything runs pinned to one core (CPU 1 when the machine has two or more: the runner sets
its own affinity, which every subprocess inherits, like `taskset -c 1`).  Rules for the
replay, ceiling, baseline and memory figures: falcoish's default rules plus the three
upstream Falco files (`../shared/corpus/falco-rules`), i.e. `--no-defaults -r default_rules
-r falco_rules.yaml -r falco-incubating_rules.yaml -r falco-sandbox_rules.yaml`.

Figures and where they come from:

* load: a cold `python -c` per repetition times `import falcoish` + `load_rules(...)` (all
  files read, parsed, resolved and compiled) inside the process; median.  Reported beside it:
  the whole CLI process on an empty events file (interpreter start + imports + load), and the
  one-off cost of planning the decision tree of each event type of the live trace (falcoish
  plans a type's tree when events of that type arrive; this figure plans them at once, on
  guessed odds, from a cold process).
* replay: `falcoish run --no-defaults -r ... --watch off -e FILE > /dev/null` (alerts are
  formatted and written to /dev/null).  events/s = events / (median wall of the run - median
  wall of the same command on an empty file); the subtraction removes interpreter start,
  imports and rule loading.  Traces: the live recording (bench/data/live_trace.jsonl.gz,
  decompressed first: the replay reads plain JSON lines) and a synthetic trace
  (bench/synthetic.py `generate(n)`, its event-type mix is in its docstring).
* ceiling: in this process, on the same plain file: iterate the file's lines (buffered binary
  reads), `orjson.loads` each, `Event.from_record` each (shared sections resolved); nothing
  else (no rules, no output).  The strict ceiling stops after `orjson.loads`.  Medians of the
  repetitions; ratio = replay / ceiling, reported against both.
* baseline: bench/naive.py walks each enabled rule's resolved condition tree per event, with
  no index and constants converted per comparison.  On a sample of each trace (evenly spaced
  events of the live trace, the first events of the synthetic one), both evaluators find
  every matching rule (rule_matching=all); events are decoded and evaluated one at a time
  (as in a replay: no decoded event is kept), decoding and evaluation timed separately;
  falcoish is timed on a second pass (its per-type matchers are built by a first pass).
  Reported: both evaluation-only rates and their ratio; the naive end-to-end rate (decode +
  walk, measured on the sample) and the ratio of falcoish's CLI replay rate to it; and the
  agreement (events on which both found exactly the same rules).
* memory: peak RSS of one replay run of each trace (wait4 rusage of that child alone); a live
  StateTable filled with 20,000 synthetic processes (bench/memory.py, fresh interpreter).
* scaling: bench/scaling.py generates 10, 100 and 1,000 rules (loaded alone, with
  `--no-defaults`) and measures the replay rate as above, on the synthetic trace (and, without
  --quick, on the live trace).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import orjson  # noqa: E402

import memory  # noqa: E402
import scaling  # noqa: E402
from naive import NaiveEvaluator  # noqa: E402

PY = str(REPO / ".venv" / "bin" / "python")
CORPUS = REPO.parent / "shared" / "corpus" / "falco-rules"
CORPUS_FILES = [str(CORPUS / n) for n in ("falco_rules.yaml", "falco-incubating_rules.yaml",
                                          "falco-sandbox_rules.yaml")]
DEFAULT_RULES = str(REPO / "default_rules")
RULE_PATHS = [DEFAULT_RULES, *CORPUS_FILES]
RULE_ARGS = [arg for path in RULE_PATHS for arg in ("-r", path)]
LIVE_TRACE = BENCH / "data" / "live_trace.jsonl.gz"

LOAD_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
import falcoish
from falcoish.runtime.engine import Engine
from falcoish.events.event import Event
t1 = time.perf_counter()
result = falcoish.load_rules(sys.argv[2:])
t2 = time.perf_counter()
import orjson
firsts = [Event.from_record(orjson.loads(l), i) for i, l in enumerate(open(sys.argv[1], 'rb'), 1) if l.strip()]
from falcoish.rules.ruleset import RuleSet
engine = Engine(RuleSet(result.ruleset.rules, learn_after=0), result.outputs)  # plan at once
t3 = time.perf_counter()
for e in firsts:
    engine.matching_rules(e)
t4 = time.perf_counter()
for e in [Event.from_record(orjson.loads(l), i) for i, l in enumerate(open(sys.argv[1], 'rb'), 1) if l.strip()]:
    engine.matching_rules(e)
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "rules": len(result.rules),
                  "enabled": sum(1 for r in result.rules if r.enabled), "errors": len(result.errors),
                  "types": len(firsts), "first_events_s": (t4 - t3) - (t5 - t4)}))
"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- inputs -----------------------------------------------------------------------------------


def prepare_traces(tmp: str, trace_gz: Path, synthetic_n: int) -> dict[str, Any]:
    """Plain copies of the live and synthetic traces, an empty file, first event per type."""
    from synthetic import MIX, generate

    from falcoish.sources.replay import read_events

    live = os.path.join(tmp, "live.jsonl")
    firsts: dict[str, bytes] = {}
    live_n = 0
    with gzip.open(trace_gz, "rb") as src, open(live, "wb") as dst:
        for line in src:
            if line.strip():
                dst.write(line if line.endswith(b"\n") else line + b"\n")
    # the first event of each type, self-contained (its shared sections written inline)
    for event in read_events(live, lambda number, reason: None):
        live_n += 1
        if event.type not in firsts and len(firsts) < 400:
            firsts[event.type] = orjson.dumps(event.to_record())
    firsts_path = os.path.join(tmp, "live_firsts.jsonl")
    Path(firsts_path).write_bytes(b"\n".join(firsts.values()) + b"\n")
    synth = os.path.join(tmp, "synthetic.jsonl")
    with open(synth, "wb") as dst:
        for line in generate(synthetic_n):
            dst.write(line + b"\n")
    empty = os.path.join(tmp, "empty.jsonl")
    Path(empty).touch()
    return {"live": live, "live_events": live_n, "live_bytes": os.path.getsize(live),
            "live_gz_bytes": trace_gz.stat().st_size, "live_types": len(firsts), "firsts": firsts_path,
            "synthetic": synth, "synthetic_events": synthetic_n, "synthetic_bytes": os.path.getsize(synth),
            "synthetic_mix": {t: w for t, w in MIX}, "empty": empty}


def machine() -> dict[str, Any]:
    model = cores = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                model = value.strip()
            elif key.strip() == "CPU(s)":
                cores = value.strip()
    except OSError:
        pass
    mem_kib = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    pyver = subprocess.run([PY, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                           text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True, cwd=REPO).stdout.strip()
    return {"cpu_model": model or platform.processor(), "cpus": cores or str(os.cpu_count()),
            "pinned_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "ram_gib": round(mem_kib / 1024 / 1024, 1), "kernel": platform.release(), "python": pyver,
            "commit": commit + ("+uncommitted changes" if dirty else "")}


# -- measurements -----------------------------------------------------------------------------


def measure_load(firsts: str, reps: int) -> dict[str, Any]:
    runs = []
    for _ in range(reps):
        started = time.perf_counter()
        out = subprocess.run([PY, "-c", LOAD_SNIPPET, firsts, *RULE_PATHS], capture_output=True, text=True,
                             check=True, cwd=str(REPO))
        data = json.loads(out.stdout)
        data["process_wall_s"] = time.perf_counter() - started
        runs.append(data)

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    return {"reps": reps, "import_s": med("import_s"), "load_s": med("load_s"),
            "import_load_s": statistics.median(r["import_s"] + r["load_s"] for r in runs),
            "first_events_s": med("first_events_s"), "types": runs[0]["types"],
            "rules": runs[0]["rules"], "enabled": runs[0]["enabled"], "errors": runs[0]["errors"], "runs": runs}


class Decoder:
    """orjson.loads + Event.from_record for one line, keeping the shared-section definitions
    (docs/events.md) that later lines refer to; None for a definition line."""

    def __init__(self) -> None:
        from falcoish.events.event import Event
        from falcoish.sources.replay import define_shared
        self.build = Event.from_record
        self.define = define_shared
        self.defs: dict[int, Any] = {}

    def __call__(self, line: bytes, number: int) -> Any:
        record = orjson.loads(line)
        if "def" in record:
            self.define(record, self.defs)
            return None
        return self.build(record, number, self.defs)


def measure_ceiling(path: str, reps: int) -> dict[str, Any]:
    """Two ceilings: reading + orjson.loads alone (the strict one: "only reading and
    JSON-decoding"), and the same plus building the events (what replay cannot avoid)."""
    loads = orjson.loads
    strict = []
    for _ in range(reps):
        started = time.perf_counter()
        with open(path, "rb", buffering=1 << 16) as handle:
            for line in handle:
                loads(line)
        strict.append(time.perf_counter() - started)
    times = []
    count = 0
    for _ in range(reps):
        decode = Decoder()
        started = time.perf_counter()
        count = 0
        with open(path, "rb", buffering=1 << 16) as handle:
            for number, line in enumerate(handle, 1):
                if decode(line, number) is not None:
                    count += 1
        times.append(time.perf_counter() - started)
    typical = statistics.median(times)
    return {"events": count, "reps": reps, "seconds": typical, "events_per_s": count / typical, "all_s": times,
            "loads_only_per_s": count / statistics.median(strict), "loads_only_all_s": strict}


def _sample_lines(path: str, total: int, want: int, spread: bool) -> list[bytes]:
    """Every definition line (later events may need it) and `want` event lines, spread
    over the file or the first ones."""
    step = max(1, total // want) if spread else 1
    out: list[bytes] = []
    index = taken = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"def":'):
                out.append(line)
                continue
            if index % step == 0 and taken < want:
                out.append(line)
                taken += 1
            index += 1
    return out


def measure_baseline(result: Any, path: str, total: int, want: int, spread: bool) -> dict[str, Any]:
    from falcoish.runtime.engine import Engine

    lines = _sample_lines(path, total, want, spread)
    clock = time.perf_counter

    def stream(evaluate: Callable[[Any], Any]) -> tuple[list[Any], list[str], float, float]:
        """Decode and evaluate one event at a time (nothing but the results is kept, as in a
        replay), timing decoding and evaluation separately."""
        results, types = [], []
        decode_s = eval_s = 0.0
        decode = Decoder()
        for number, line in enumerate(lines, 1):
            t0 = clock()
            event = decode(line, number)
            t1 = clock()
            if event is None:
                decode_s += t1 - t0
                continue
            results.append(evaluate(event))
            t2 = clock()
            decode_s += t1 - t0
            eval_s += t2 - t1
            types.append(event.type)
        return results, types, decode_s, eval_s

    engine = Engine.from_load(result, rule_matching="all")
    naive = NaiveEvaluator(result.rules)
    _, _, _, cold_s = stream(engine.matching_rules)      # first pass: builds the per-type matchers
    fast, types, _, fast_s = stream(engine.matching_rules)
    slow, _, decode_s, naive_s = stream(naive.matching)
    agree = 0
    disagreements: list[dict[str, Any]] = []
    for index, (a, b) in enumerate(zip(fast, slow)):
        names_a = sorted(rule.name for rule in a)
        if names_a == sorted(b):
            agree += 1
        elif len(disagreements) < 10:
            disagreements.append({"event": index + 1, "type": types[index], "falcoish": names_a,
                                  "naive": sorted(b)})
    n = len(fast)
    return {"events": n, "sampling": f"every {max(1, total // want)}th event" if spread else f"first {n} events",
            "falcoish_eval_per_s": n / fast_s, "falcoish_cold_eval_per_s": n / cold_s,
            "naive_eval_per_s": n / naive_s, "eval_ratio": naive_s / fast_s,
            "decode_per_s": n / decode_s, "naive_e2e_per_s": n / (decode_s + naive_s),
            "matches": sum(len(a) for a in fast), "events_with_matches": sum(1 for a in fast if a),
            "agree": agree, "disagreements": disagreements}


def profile_replay(result: Any, path: str, reps: int) -> dict[str, Any]:
    """Where replay time goes, in stages (each stage includes the ones before it), in this
    process: read lines; + orjson.loads; + Event.from_record (falcoish's read_events);
    + rule matching (Engine.matching_rules); + alerts (Engine.process).  Then the top
    functions of a cProfile of the CLI replay (profiling inflates Python-level calls
    relative to C calls such as orjson.loads: read it for the ranking inside evaluation)."""
    from falcoish.runtime.engine import Engine
    from falcoish.sources.replay import read_events

    def stage(name: str) -> float:
        engine = Engine.from_load(result)
        started = time.perf_counter()
        if name in ("read", "loads"):
            loads = orjson.loads
            with open(path, "rb", buffering=1 << 16) as handle:
                for line in handle:
                    if name == "loads":
                        loads(line)
        else:
            for event in read_events(path, lambda number, reason: None):
                if name == "match":
                    engine.matching_rules(event)
                elif name == "process":
                    engine.process(event)
        return time.perf_counter() - started

    names = ["read", "loads", "events", "match", "process"]
    stages = {name: min(stage(name) for _ in range(reps)) for name in names}   # least disturbed run
    prof = os.path.join(tempfile.gettempdir(), f"falcoish-bench-{os.getpid()}.prof")
    cmd = [PY, "-m", "cProfile", "-o", prof, *scaling.replay_command(RULE_ARGS, path)]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=str(REPO))
    import io
    import pstats
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
    os.unlink(prof)
    top = [line.rstrip() for line in text.getvalue().splitlines() if line.strip()][-16:]
    return {"stages_s": stages, "cprofile_top": top}


def render_profile(p: dict[str, Any], events: int) -> str:
    labels = {"read": "read lines", "loads": "+ orjson.loads", "events": "+ Event.from_record (read_events)",
              "match": "+ rule matching (Engine.matching_rules)", "process": "+ alerts (Engine.process)"}
    out = [f"where the replay time goes (live trace, {events:,} events, in-process, best of runs):"]
    previous = 0.0
    for name, label in labels.items():
        total = p["stages_s"][name]
        out.append(f"  {label:<42} {total:7.3f} s cumulative  ({total - previous:+.3f} s, "
                   f"{events / total:>9,.0f} ev/s)")
        previous = total
    out.append("cProfile of the CLI replay, top functions by own time:")
    out.extend("  " + line for line in p["cprofile_top"])
    return "\n".join(out)


# -- table ------------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, key: str, label: str, value: float | None, fmt: str, unit: str = "",
            target: str = "", ok: bool | None = None) -> None:
        text = "n/a" if value is None else format(value, fmt) + (f" {unit}" if unit else "")
        self.rows.append({"key": key, "figure": label, "value": value, "unit": unit, "text": text,
                          "target": target, "pass": ok})

    def render(self) -> str:
        head = ("figure", "value", "target", "result")
        cells = [(r["figure"], r["text"], r["target"], "" if r["pass"] is None else ("pass" if r["pass"] else "MISS"))
                 for r in self.rows]
        widths = [max(len(str(c[i])) for c in [head, *cells]) for i in range(4)]

        def line(c: tuple[Any, ...]) -> str:
            return "| " + " | ".join(str(x).ljust(w) for x, w in zip(c, widths)) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(head), sep, *(line(c) for c in cells)])


def build_table(d: dict[str, Any]) -> Table:
    t = Table()
    load = d["load"]
    t.add("load_s", "load+compile: import + load_rules (defaults + 3 corpus files), cold process",
          load["import_load_s"], ".3f", "s", "<= 0.3 s", load["import_load_s"] <= 0.3)
    t.add("load_cli_s", "  whole CLI process on an empty events file (start + imports + load)",
          d["replay"]["live"]["empty_wall_s"], ".3f", "s")
    t.add("first_events_s", f"  planning the decision trees of the live trace's {load['types']} types (once)",
          load["first_events_s"], ".3f", "s")
    for name, label in (("live", "recorded live trace"), ("synthetic", "synthetic trace")):
        rep, ceil = d["replay"][name], d["ceiling"][name]
        ratio = rep["events_per_s"] / ceil["events_per_s"]
        if name == "live":
            t.add("replay_live", f"replay, {label} ({rep['events']:,} events), full corpus", rep["events_per_s"],
                  ",.0f", "ev/s", ">= 300,000 ev/s", rep["events_per_s"] >= 300_000)
        else:
            t.add("replay_synthetic", f"replay, {label} ({rep['events']:,} events), full corpus",
                  rep["events_per_s"], ",.0f", "ev/s")
        t.add(f"ceiling_{name}", f"  ceiling: read + orjson.loads + Event.from_record, {name}",
              ceil["events_per_s"], ",.0f", "ev/s")
        t.add(f"ceiling_ratio_{name}", f"  replay / ceiling, {name}", ratio, ".2f", "",
              ">= 0.40" if name == "live" else "", (ratio >= 0.4) if name == "live" else None)
        strict = rep["events_per_s"] / ceil["loads_only_per_s"]
        t.add(f"ceiling_strict_{name}", f"  strict ceiling: read + orjson.loads only, {name}",
              ceil["loads_only_per_s"], ",.0f", "ev/s")
        t.add(f"ceiling_strict_ratio_{name}", f"  replay / strict ceiling, {name}", strict, ".2f", "",
              ">= 0.40" if name == "live" else "", (strict >= 0.4) if name == "live" else None)
    for name in ("live", "synthetic"):
        b = d["baseline"][name]
        e2e = d["replay"][name]["events_per_s"] / b["naive_e2e_per_s"]
        t.add(f"naive_{name}", f"naive tree walk, eval only, {name} sample ({b['events']:,} ev)",
              b["naive_eval_per_s"], ",.0f", "ev/s")
        t.add(f"falcoish_eval_{name}", "  falcoish eval only (warm), same sample", b["falcoish_eval_per_s"],
              ",.0f", "ev/s")
        t.add(f"naive_ratio_{name}", f"  falcoish / naive, eval only, {name}", b["eval_ratio"], ".1f", "x",
              ">= 10 x", b["eval_ratio"] >= 10)
        t.add(f"naive_e2e_ratio_{name}", f"  falcoish replay / naive end to end (read+decode+walk), {name}",
              e2e, ".1f", "x", ">= 10 x", e2e >= 10)
        t.add(f"agree_{name}", f"  agreement naive = falcoish (same rules matched), {name}",
              100.0 * b["agree"] / b["events"], ".2f", f"% of {b['events']:,} ev ({b['matches']:,} matches)",
              "100 %", b["agree"] == b["events"])
    mem = d["memory"]
    t.add("rss_replay_live", "peak RSS, replay of the live trace (full corpus)", mem["replay_live"]["peak_rss_kib"] / 1024,
          ".1f", "MiB", "<= 150 MiB", mem["replay_live"]["peak_rss_kib"] / 1024 <= 150)
    t.add("rss_replay_synthetic", "peak RSS, replay of the synthetic trace (full corpus)",
          mem["replay_synthetic"]["peak_rss_kib"] / 1024, ".1f", "MiB")
    st = mem["state_table"]
    t.add("rss_state_table", f"state table: {st['processes']:,} processes / {st['threads']:,} threads / "
          f"{st['fds']:,} fds, RSS growth", st["table_kib"] / 1024, ".1f", "MiB")
    t.add("rss_state_table_peak", "  peak RSS of that process", st["peak_rss_kib"] / 1024, ".1f", "MiB")
    for trace, rows in d["scaling"].items():
        rates = {r["rules"]: r["events_per_s"] for r in rows}
        for n, rate in rates.items():
            t.add(f"scaling_{trace}_{n}", f"scaling, {trace} trace: {n:,} generated rules", rate, ",.0f", "ev/s")
        if 100 in rates and 1000 in rates:
            cost = rates[100] / rates[1000]
            t.add(f"scaling_{trace}_cost", f"  events/s at 100 rules / at 1,000 rules, {trace}", cost, ".2f", "x",
                  "< 2 x", cost < 2)
    return t


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="falcoish benchmark suite (issue 6)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller samples")
    parser.add_argument("--json", metavar="OUT",
                        default=os.path.join(tempfile.gettempdir(), "falcoish-bench-results.json"),
                        help="where to write the figures as JSON (default: falcoish-bench-results.json "
                             "in the temp folder)")
    parser.add_argument("--trace", default=str(LIVE_TRACE), help="the live recording (.jsonl.gz)")
    parser.add_argument("--profile", action="store_true",
                        help="also break the live replay down by stage and print a cProfile summary")
    args = parser.parse_args()
    quick = args.quick
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})   # one core for this process and every subprocess
    missing = [p for p in CORPUS_FILES if not os.path.exists(p)]
    if missing:
        print(f"bench: upstream corpus not found: {missing}", file=sys.stderr)
        return 2
    if not Path(args.trace).exists():
        print(f"bench: no live trace at {args.trace} (bash bench/record_trace.sh records one)", file=sys.stderr)
        return 2
    reps = 1 if quick else 5
    started = time.time()
    data: dict[str, Any] = {"command": " ".join(shlex.quote(a) for a in ["python", "bench/run.py", *sys.argv[1:]]),
                            "quick": quick, "machine": machine(), "rules": RULE_PATHS}
    with tempfile.TemporaryDirectory(prefix="falcoish-bench-") as tmp:
        log("preparing traces")
        traces = prepare_traces(tmp, Path(args.trace), 50_000 if quick else 200_000)
        data["traces"] = {k: v for k, v in traces.items() if k not in ("live", "synthetic", "empty", "firsts")}
        files = {"live": (traces["live"], traces["live_events"]),
                 "synthetic": (traces["synthetic"], traces["synthetic_events"])}

        log("load: cold processes")
        data["load"] = measure_load(traces["firsts"], 3 if quick else 7)

        data["replay"], data["ceiling"] = {}, {}
        for name, (path, n) in files.items():
            log(f"replay: {name} ({n:,} events) x{reps}")
            data["replay"][name] = scaling.replay_rate(RULE_ARGS, path, n, reps, traces["empty"])
            log(f"ceiling: {name}")
            data["ceiling"][name] = measure_ceiling(path, reps)

        log("baseline: naive tree walk")
        import falcoish
        result = falcoish.load_rules(RULE_PATHS)
        data["baseline"] = {
            "live": measure_baseline(result, traces["live"], traces["live_events"], 1500 if quick else 6000, True),
            "synthetic": measure_baseline(result, traces["synthetic"], traces["synthetic_events"],
                                          2000 if quick else 10000, False)}

        log("memory")
        data["memory"] = {
            f"replay_{name}": memory.peak_rss(scaling.replay_command(RULE_ARGS, path))
            for name, (path, _) in files.items()}
        data["memory"]["state_table"] = memory.state_table_subprocess(20_000, PY)

        if args.profile:
            log("profile: live replay by stage, cProfile")
            data["profile"] = profile_replay(result, traces["live"], min(reps, 3))

        data["scaling"] = {}
        scale_traces = ["synthetic"] if quick else ["synthetic", "live"]
        for name in scale_traces:
            log(f"scaling: {name}")
            data["scaling"][name] = scaling.run_scaling(files[name][0], [10, 100, 1000], min(reps, 3), tmp,
                                                        lambda s: log(s))
    data["elapsed_s"] = time.time() - started
    table = build_table(data)
    data["figures"] = table.rows
    rendered = table.render()
    print(rendered)
    m = data["machine"]
    print(f"\nmachine: {m['cpu_model']}, {m['cpus']} CPUs (pinned to {m['pinned_cpus']}), {m['ram_gib']} GiB RAM, "
          f"kernel {m['kernel']}, Python {m['python']}, falcoish {m['commit']}")
    print(f"command: {data['command']}  ({data['elapsed_s']:.0f} s)")
    if "profile" in data:
        print()
        print(render_profile(data["profile"], data["replay"]["live"]["events"]))
    for name, b in data["baseline"].items():
        for item in b["disagreements"]:
            print(f"disagreement ({name}): {item}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
