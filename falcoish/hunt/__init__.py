"""Hunting: rules evaluated over a fleet's recordings (`falcoish hunt`), one Dask task per
recording file; files the sidecar index rules out are skipped without being opened.

Why a stage after `sources`: a task replays a recording (`sources/replay`) through the
engine (`runtime`), and the alerts go out through `output`.  Dask is imported only when a
hunt runs (`cluster.py`), so it stays an optional extra.
"""
