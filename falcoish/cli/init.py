"""`falcoish init`: lay out /etc/falcoish for a new installation, never overwriting anything.

Why: a Falco user tunes detection in `falco_rules.local.yaml` and `rules.d/`, and settings in
one commented configuration file.  falcoish loads `/etc/falcoish/falco_rules.local.yaml` and
`/etc/falcoish/rules.d/` after its own rules, and `/etc/falcoish/falcoish.yaml` as its
configuration, when they exist; `init` creates them: the local-rules template (the same file
as `local_rules/falco_rules.local.yaml`), an empty `rules.d/`, and a configuration file that
lists every key with its default and meaning, all commented out (generated from the
configuration schema, so it cannot drift from what falcoish accepts).  An existing file is
kept and named, so running `init` again is safe.  Files are made owner-writable only: as root,
falcoish refuses rules and config files that others can write.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from ..config.settings import SCHEMA
from .common import ETC, REPO_ROOT

TEMPLATE = REPO_ROOT / "local_rules" / "falco_rules.local.yaml"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("init", help="create /etc/falcoish: local rules template, rules.d/, "
                                         "commented configuration (never overwrites)")
    parser.add_argument("--prefix", default=str(ETC), metavar="DIR",
                        help=f"folder to lay out (default {ETC})")
    parser.set_defaults(func=run)


def _value(default: Any) -> str:
    """A default as YAML text on one line."""
    if isinstance(default, tuple):
        default = list(default)
    elif hasattr(default, "items"):
        default = dict(default)
    text: str = yaml.safe_dump(default, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").strip()


def commented_config() -> str:
    """Every configuration key, nested as YAML wants it, commented out, with its meaning."""
    lines = ["# falcoish configuration.  Every key is shown with its default, commented out:",
             "# uncomment and change what you need.  `falcoish run -o KEY=VALUE` overrides one",
             "# key for one run.  Setting `rules_files` replaces the default load order (falcoish's",
             "# rules, then falco_rules.local.yaml and rules.d/ in this folder).", ""]
    section = None
    for key, spec in SCHEMA.items():
        head, _, leaf = key.rpartition(".")
        if head != section:
            if head:
                lines += ["", f"# {head}:"]
            section = head
        indent = "  " * (head.count(".") + 1) if head else ""
        lines.append(f"# {indent}{leaf or key}: {_value(spec.default)}    # {spec.doc}")
    return "\n".join(lines) + "\n"


def _create(path: Path, text: str, done: list[str]) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        done.append(f"kept {path} (it exists)")
        return
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o644)
    done.append(f"created {path}")


def run(args: argparse.Namespace) -> int:
    root = Path(args.prefix)
    done: list[str] = []
    try:
        for folder in (root, root / "rules.d"):
            if folder.is_dir():
                done.append(f"kept {folder}/ (it exists)")
            else:
                folder.mkdir(mode=0o755, parents=folder == root)
                os.chmod(folder, 0o755)
                done.append(f"created {folder}/")
        _create(root / "falco_rules.local.yaml", TEMPLATE.read_text(encoding="utf-8"), done)
        _create(root / "falcoish.yaml", commented_config(), done)
    except OSError as exc:
        print("\n".join(done))
        print(f"falcoish: init: {exc.filename or root}: {exc.strerror or exc}")
        return 2
    print("\n".join(done))
    return 0
