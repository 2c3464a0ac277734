"""`falcoish hunt`: run rules over a fleet's recordings, on Dask.

The question it answers is "did this already happen anywhere?" when a new rule appears: every
recording under PATHS (`HOST/START-END.jsonl.gz`, as `run --record` keeps them) is replayed
through the rules, one Dask task per file, and the alerts come out as `run` delivers them,
sorted by time, each with the recording and `evt.num` it came from.  Files the sidecar index
shows to be outside `--since/--until`, of another `--host`, or without any event type the
rules need are skipped without being opened.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timezone

from ..config.settings import Config
from ..hunt.cluster import Cluster, DaskMissing, check_dask
from ..hunt.files import Filters, Recording, choose, expand
from ..hunt.report import ProgressLine, Tally
from ..hunt.task import FileResult, HuntAlert, RuleSpec, files_digest
from ..output.dispatcher import build_outputs
from ..output.format import escape_controls
from ..sources.replay import ReplayLimits
from .common import add_rules_options, append_output, config_or_exit, load_or_exit, select


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("hunt", help="evaluate rules over recordings (files, folders, globs) on Dask")
    add_rules_options(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="recording files (.jsonl, .jsonl.gz), folders (searched recursively) or globs")
    parser.add_argument("--since", type=time_arg, metavar="T",
                        help="only events at or after T (ISO 8601, e.g. 2026-12-05T18:00:00Z; UTC when no zone)")
    parser.add_argument("--until", type=time_arg, metavar="T", help="only events at or before T")
    parser.add_argument("--host", metavar="GLOB", help="only recordings of hosts matching GLOB")
    parser.add_argument("--json", action="store_true", help="alerts in Falco's JSON shape (= -o json_output=true)")
    parser.add_argument("--rule-matching", choices=("first", "all"), default=None,
                        help="fire only the first matching rule per event (Falco's default) or all")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="an existing Dask scheduler (default: a local cluster, one worker per core)")
    parser.add_argument("--workers", type=int, metavar="N", help="local cluster: N worker processes")
    parser.set_defaults(func=run)


def time_arg(text: str) -> int:
    """argparse type: ISO 8601 time (or `YYYYMMDDTHHMMSSZ`) -> ns since the epoch."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = datetime.strptime(text, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a time like 2026-12-05T18:00:00Z, got '{text}'") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def run(args: argparse.Namespace) -> int:
    try:
        check_dask()
    except DaskMissing as err:
        print(f"falcoish: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.overrides.append("json_output=true")
    if args.workers is not None and args.workers < 1:
        print("falcoish: --workers must be at least 1", file=sys.stderr)
        return 2
    config = config_or_exit(args)
    result = load_or_exit(args)
    ruleset = select(args, result, config)
    limits = ReplayLimits(int(config.replay.max_line_bytes), int(config.replay.max_shared_sections),
                          int(config.replay.max_shared_bytes))
    spec = RuleSpec(tuple(result.files), files_digest(result.files),
                    frozenset(r.name for r in ruleset.rules if r.enabled),
                    append_output(args, config), bool(args.allow_insecure_files),
                    args.rule_matching or str(config.rule_matching), limits)
    paths, missing = expand(args.paths)
    for given in missing:
        print(f"falcoish: {escape_controls(given)}: no such file, folder or match", file=sys.stderr)
    if missing and not paths:
        return 2
    filters = Filters(args.since, args.until, args.host, ruleset.needed_event_types())
    chosen = [r for r in (choose(p, filters) for p in paths) if r is not None]
    tally = Tally(total=len(chosen), skipped=len(paths) - len(chosen))
    results = _hunt(args, chosen, spec, tally)
    if results is None:
        return 2
    return _deliver(args, config, results, tally)


def _hunt(args: argparse.Namespace, chosen: list[Recording], spec: RuleSpec,
          tally: Tally) -> dict[str, FileResult] | None:
    progress = ProgressLine()
    done: dict[str, FileResult] = {}
    try:
        with Cluster(args.scheduler, args.workers) as cluster:
            for outcome in cluster.run(chosen, spec, args.since, args.until):
                progress.clear()
                tally.add(outcome, sys.stderr)
                if isinstance(outcome, FileResult):
                    done[outcome.path] = outcome
                progress.show(tally)
    except OSError as exc:   # no scheduler at that address
        progress.clear()
        print(f"falcoish: cannot reach the Dask scheduler {args.scheduler}: {exc}", file=sys.stderr)
        return None
    progress.clear()
    return done


def _deliver(args: argparse.Namespace, config: Config, results: dict[str, FileResult], tally: Tally) -> int:
    """Every alert through `run`'s output channels, sorted by time; per file order is kept
    (a stable sort of the files' alerts taken in path order)."""
    alerts: list[HuntAlert] = [a for path in sorted(results) for a in results[path].alerts]
    alerts.sort(key=lambda a: a.time_ns)
    if not config.json_output:
        alerts = [replace(a, origin_in_text=True) for a in alerts]
    outputs = build_outputs(config)
    for alert in alerts:
        outputs.emit(alert)
        if outputs.stdout_closed:
            break
    sys.stdout.flush()
    delivered = outputs.close(5.0)
    for line in tally.summary() + outputs.report():
        print(line, file=sys.stderr)
    failed = sum(counts.get("failed", 0) for counts in delivered.values())
    return 1 if failed else 0
