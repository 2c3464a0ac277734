"""Hunting on Dask (issue 17): events/s with 1 and with 2 worker processes, and the
scheduling overhead per file.

    .venv/bin/python bench/hunt.py [--hosts 2] [--files 20] [--rules PATH ...]

The fleet: `bench/data/live_trace.jsonl.gz` (about 55k events) re-recorded once as a
self-contained fleet file, then copied under HOSTS host folders, FILES files each, with a
sidecar index per copy naming its host (2 x 20 = 40 files, about 2.2M events).  Rules:
falcoish's default rules (what `falcoish hunt` loads without -r), all enabled.

For each worker count: a fresh `LocalCluster` (worker processes, one thread each) is started
(not timed), then every file is hunted as one task, as `falcoish hunt` does (`hunt/cluster.py`,
`hunt/task.py`); timed from the first submit to the last result.  Reported:

* events/s = events hunted / that wall time (rule compiling on each worker included);
* worker busy = the sum of the tasks' own durations measured inside the workers;
* overhead per file = (wall x workers - worker busy) / files: what scheduling, sending the
  task and its result, and idle workers cost per file, beyond the hunting itself.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcoish.cli.common import default_rules_paths  # noqa: E402
from falcoish.hunt.cluster import Cluster  # noqa: E402
from falcoish.hunt.files import Recording  # noqa: E402
from falcoish.hunt.task import FileResult, RuleSpec, files_digest  # noqa: E402
from falcoish.rules.loader import load_rules  # noqa: E402
from falcoish.sources.fleet import RecordingIndex, write_index  # noqa: E402
from falcoish.sources.record import EventWriter  # noqa: E402
from falcoish.sources.replay import read_events  # noqa: E402

TRACE = Path(__file__).resolve().parent / "data" / "live_trace.jsonl.gz"
HOUR = 3600 * 1_000_000_000


def build_fleet(root: Path, hosts: int, files: int) -> tuple[list[Recording], int]:
    """HOSTS x FILES copies of one re-recorded trace; the recordings and events per file."""
    events = list(read_events(str(TRACE), lambda n, r: None))
    master = root / "master.jsonl.gz"
    with EventWriter(str(master)) as writer:
        for event in events:
            writer.write(event)
    types = dict(Counter(e.type for e in events))
    recordings = []
    for h in range(hosts):
        host = f"bench-host-{h + 1}"
        (root / host).mkdir()
        for f in range(files):
            name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(f * 900)) + "-" + \
                time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(f * 900 + 899)) + ".jsonl.gz"
            path = root / host / name
            shutil.copyfile(master, path)
            write_index(str(path), RecordingIndex(host, name, events[0].ts, events[-1].ts, len(events), types))
            recordings.append(Recording(str(path), host))
    return recordings, len(events)


def measure(workers: int, recordings: list[Recording], spec: RuleSpec) -> dict[str, float]:
    with Cluster(workers=workers) as cluster:
        cluster.client.wait_for_workers(workers)
        started = time.perf_counter()
        results = [r for r in cluster.run(recordings, spec) if isinstance(r, FileResult)]
        wall = time.perf_counter() - started
    assert len(results) == len(recordings), "some task failed"
    events = sum(r.events for r in results)
    busy = sum(r.seconds for r in results)
    return {"workers": workers, "wall": wall, "events": events, "rate": events / wall, "busy": busy,
            "per_worker": events / busy, "overhead_ms": (wall * workers - busy) / len(results) * 1000,
            "task_ms": busy / len(results) * 1000, "alerts": sum(len(r.alerts) for r in results),
            "compiled": sum(r.compiled for r in results)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rules", nargs="*", default=None, help="rules files (default: falcoish's defaults)")
    args = parser.parse_args()
    paths = args.rules or default_rules_paths()
    loaded = load_rules(paths)
    spec = RuleSpec(tuple(loaded.files), files_digest(loaded.files),
                    frozenset(r.name for r in loaded.ruleset.rules if r.enabled))
    with tempfile.TemporaryDirectory(prefix="falcoish-hunt-bench-") as tmp:
        recordings, per_file = build_fleet(Path(tmp), args.hosts, args.files)
        print(f"fleet: {args.hosts} hosts x {args.files} files, {per_file:,} events per file, "
              f"{len(recordings) * per_file:,} events")
        rows = [measure(w, recordings, spec) for w in (1, 2)]
    print(f"{'workers':>7} {'wall s':>7} {'events/s':>10} {'per worker busy ev/s':>21} "
          f"{'task ms':>8} {'overhead ms/file':>17} {'alerts':>7} {'compiled':>8}")
    for row in rows:
        print(f"{row['workers']:>7} {row['wall']:>7.2f} {row['rate']:>10,.0f} {row['per_worker']:>21,.0f} "
              f"{row['task_ms']:>8.0f} {row['overhead_ms']:>17.1f} {row['alerts']:>7.0f} {row['compiled']:>8.0f}")
    print(f"speed-up, 2 workers / 1 worker: {rows[1]['rate'] / rows[0]['rate']:.2f}x (target >= 1.8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
