"""Running the hunt's tasks on Dask: an embedded local cluster, or an existing one.

Why Dask rather than a process pool of our own: the same code runs on one machine (a
`LocalCluster`, nothing to start) and on a real cluster (`--scheduler tcp://HOST:PORT`),
with Dask's scheduling, worker restarts and dashboards.  Results are yielded as tasks
finish, so progress shows while the hunt runs; the caller orders the alerts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator

from .files import Recording
from .task import FileResult, RuleSpec, hunt_file

INSTALL_HINT = "falcoish hunt needs Dask: pip install 'falcoish[hunt]'"


class DaskMissing(Exception):
    """Dask (`dask` + `distributed`) is not installed."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DaskMissing(INSTALL_HINT) from None
    return distributed


def check_dask() -> None:
    """Raise DaskMissing when the optional extra is not installed."""
    _distributed()


@dataclass
class Failed:
    """A task that raised (a worker crash, rules that differ on a worker): the file and why."""

    recording: Recording
    reason: str


class Cluster:
    """A Dask client: to `scheduler` when given, else to a new local cluster of `workers`
    processes (default: one per core) with one thread each.  `processes=False` keeps the
    workers in this process (tests, and hunts too small to be worth starting processes)."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 processes: bool = True) -> None:
        distributed = _distributed()
        self._cluster: Any = None
        if scheduler:
            self.client = distributed.Client(scheduler, timeout="30s")
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                processes=processes, dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = distributed.Client(self._cluster)

    def run(self, recordings: list[Recording], spec: RuleSpec, since: int | None = None,
            until: int | None = None) -> Iterator[FileResult | Failed]:
        """Hunt every recording, one task each; results as they finish."""
        distributed = _distributed()
        if not recordings:
            return
        futures = {self.client.submit(hunt_file, r.path, r.host, spec, since, until, pure=False,
                                      key=f"hunt-{i}-{os.path.basename(r.path)}"): r
                   for i, r in enumerate(recordings)}
        for future in distributed.as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # a task that raised must not end the hunt
                yield Failed(futures[future], f"{type(exc).__name__}: {exc}")
            finally:
                future.release()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
