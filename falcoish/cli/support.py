"""`falcoish version` and `falcoish support`: what falcoish says about itself.

Why: Falco users report problems with `falco --version` and `falco --support`; falcoish
answers the same two questions (Falco's flags are aliases, see falco_flags.py).  `support`
prints one JSON document: version, the system (uname), the command line, the configuration
file with its content, and every rules file that would be loaded (folders expanded, in load
order) with its size and SHA-256 digest, so two hosts' rules can be compared without pasting
the rules themselves.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import platform
import shlex
import stat
import sys
from typing import Any

import orjson

from .. import __version__
from ..rulefiles.collector import ENGINE_VERSION, KNOWN_SOURCES
from ..config.settings import DEFAULT_PATH
from ..rules.loader import expand_paths
from .common import add_rules_options, config_or_exit, rules_paths


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    version = sub.add_parser("version", help="print the version and the engine facts (Falco's --version)")
    version.set_defaults(func=print_version)
    parser = sub.add_parser("support", help="print support information as JSON (Falco's --support); "
                                            "it contains the config file as is: check it for secrets "
                                            "before sharing")
    add_rules_options(parser, selection=False)
    parser.set_defaults(func=print_support)


def falcoish_version() -> str:
    """The installed package's version; the source tree's when it is not installed."""
    try:
        return importlib.metadata.version("falcoish")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def facts() -> dict[str, str]:
    """One entry per line of `falcoish --version`."""
    return {
        "falcoish version": f"{falcoish_version()} ({platform.machine()})",
        "Engine version": ".".join(map(str, ENGINE_VERSION)),
        "Rules language": "Falco (rules, macros, lists, exceptions, append/override)",
        "Event sources": ", ".join(sorted(KNOWN_SOURCES)),
        "Capture": "live: eBPF syscall tracepoints (BCC); replay: falcoish JSON lines, Tracee JSON",
        "Python": platform.python_version(),
    }


def print_version(args: argparse.Namespace) -> int:
    for key, value in facts().items():
        print(f"{key + ':':<17} {value}")
    return 0


def print_support(args: argparse.Namespace) -> int:
    config = config_or_exit(args)
    config_path = args.config or (DEFAULT_PATH if os.path.exists(DEFAULT_PATH) else None)
    uname = platform.uname()
    document = {
        "version": falcoish_version(),
        "engine_info": {"engine_version": ".".join(map(str, ENGINE_VERSION))},
        "system_info": {"sysname": uname.system, "nodename": uname.node, "release": uname.release,
                        "version": uname.version, "machine": uname.machine},
        "cmdline": shlex.join(["falcoish", *getattr(args, "argv", sys.argv[1:])]),
        "config": {"path": config_path, "content": _text(config_path) if config_path else None},
        "rules_files": [_digest(path) for path in expand_paths(rules_paths(args, config))],
    }
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    return 0


def _text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _digest(path: str) -> dict[str, Any]:
    """Name, size and SHA-256 of one rules file, or the reason it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):     # a FIFO would block the read
            return {"name": path, "error": "not a regular file"}
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 16):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        return {"name": path, "error": exc.strerror or str(exc)}
    return {"name": path, "size": size, "sha256": digest.hexdigest()}
