"""Options shared by the subcommands: configuration, which rules files, Falco's rule selection.

Load order (what `run` loads is exactly what `validate`, `rules` and `events` load): the
config's `rules_files` when it names any, else falcoish's default rules, then
`/etc/falcoish/falco_rules.local.yaml` and `/etc/falcoish/rules.d/` when present; then every
`-r` file, in order.  `--no-defaults` loads only the `-r` files.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from ..rulefiles.collector import PRIORITIES, RuleBook, parse_priority
from ..config.settings import Config, ConfigError, load_config
from ..config.values import _address
from ..errors import Location, Problems, did_you_mean
from ..rules.loader import LoadResult, load_rules
from ..config.append import AppendOutput, from_print_option, parse_append_output
from ..rules.ruleset import RuleSet

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
ETC = Path("/etc/falcoish")


def default_rules_paths() -> list[str]:
    """falcoish's own rules ($FALCOISH_DEFAULT_RULES or `default_rules/`), then the local
    tuning file and folder under /etc/falcoish when they exist."""
    paths = [os.environ.get("FALCOISH_DEFAULT_RULES") or str(REPO_ROOT / "default_rules")]
    for local in (ETC / "falco_rules.local.yaml", ETC / "rules.d"):
        if local.exists():
            paths.append(str(local))
    return paths


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="configuration file (default: /etc/falcoish/falcoish.yaml when present)")
    parser.add_argument("-o", "--option", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one configuration key (repeatable), e.g. -o json_output=true")
    parser.add_argument("--allow-insecure-files", action="store_true",
                        help="as root, accept rules files, rules folders and a config file that are not "
                             "owned by root or that group/others can write (refused by default)")


def add_rules_options(parser: argparse.ArgumentParser, selection: bool = True) -> None:
    add_config_options(parser)
    parser.add_argument("-r", "--rules", action="append", default=[], metavar="PATH",
                        help="rules file or folder loaded after the default rules; repeat to load "
                             "several, in order")
    parser.add_argument("--no-defaults", action="store_true",
                        help="load only the -r files (not the default and local rules)")
    parser.add_argument("-p", "--print", dest="print_additional", default=None, metavar="FORMAT",
                        help="Falco's deprecated -p: append FORMAT to every rule's output "
                             "(-pc / -pk add nothing: the container fields are appended already)")
    if not selection:
        return
    parser.add_argument("-D", dest="disable", action="append", default=[], metavar="SUBSTRING",
                        help="disable rules whose name contains SUBSTRING (one that matches no rule is a warning)")
    parser.add_argument("-T", dest="disable_tag", action="append", default=[], metavar="TAG",
                        help="disable rules with this tag (a tag no rule has is an error)")
    parser.add_argument("-t", dest="only_tag", action="append", default=[], metavar="TAG",
                        help="enable only rules with this tag (a TRC id works too; a tag no rule has is an error)")
    parser.add_argument("--rule", dest="only_rule", action="append", default=[], metavar="NAME",
                        help="enable only the named rule (repeatable; a TRC id works too; a name no rule has, "
                             "or a selection that leaves no rule enabled, is an error: exit 2)")
    parser.add_argument("--min-priority", type=priority_arg, default=None, metavar="PRIORITY",
                        help="drop rules less severe than this (" + ", ".join(p.lower() for p in PRIORITIES) + ")")


def priority_arg(text: str) -> str:
    """argparse type for a Falco priority (case-insensitive, `info` alias)."""
    priority = parse_priority(text)
    if priority is None:
        raise argparse.ArgumentTypeError(f"unknown priority '{text}': must be one of "
                                         + ", ".join(p.lower() for p in PRIORITIES))
    return priority


def port_arg(text: str) -> int:
    """argparse type for a TCP port (1-65535)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got '{text}'") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {port}")
    return port


def address_arg(text: str) -> str:
    """argparse type for an address to listen on (an IP address or a host name)."""
    try:
        return _address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_or_exit(args: argparse.Namespace) -> Config:
    """The run's settings; every config error at once and exit 2, or the config's warnings on
    stderr -- each once per process, though a run loads its config more than once."""
    try:
        config = load_config(getattr(args, "config", None), getattr(args, "overrides", []),
                             allow_insecure=getattr(args, "allow_insecure_files", False))
    except ConfigError as err:
        for problem in err.errors:
            print(f"falcoish: {problem.line}", file=sys.stderr)
        if len(err.errors) > 1:
            print(f"falcoish: {len(err.errors)} errors in the configuration",
                  file=sys.stderr)
        raise SystemExit(2) from None
    for warning in config.warnings:
        if warning not in _CONFIG_WARNED:
            _CONFIG_WARNED.add(warning)
            print(f"falcoish: warning: {warning}", file=sys.stderr)
    return config


_CONFIG_WARNED: set[str] = set()


def rules_paths(args: argparse.Namespace, config: Config) -> list[str]:
    if args.no_defaults:
        base: list[str] = []
    else:
        base = list(config.rules_files) or default_rules_paths()
    return base + list(args.rules)


def load(args: argparse.Namespace) -> LoadResult:
    config = config_or_exit(args)
    paths = rules_paths(args, config)
    if not paths:
        print("falcoish: no rules files: give -r PATH (or drop --no-defaults)", file=sys.stderr)
        raise SystemExit(2)
    return load_rules(paths, allow_insecure=getattr(args, "allow_insecure_files", False),
                      append_output=append_output(args, config))


def reload_rules(args: argparse.Namespace) -> LoadResult:
    """`load` for a hot reload, in its own thread: a config file that became unreadable,
    invalid or unsafe is an error of this reload (the running rules stay), not an exit."""
    try:
        config = load_config(getattr(args, "config", None), getattr(args, "overrides", []),
                             allow_insecure=getattr(args, "allow_insecure_files", False))
    except ConfigError as err:
        problems = Problems()
        problems.error("LOAD_ERR_CONFIG", str(err), Location(err.origin))
        return LoadResult(RuleSet(()), problems, RuleBook(), {}, [])
    return load_rules(rules_paths(args, config), allow_insecure=getattr(args, "allow_insecure_files", False),
                      append_output=append_output(args, config))


def append_output(args: argparse.Namespace, config: Config) -> tuple[AppendOutput, ...]:
    """The config's `append_output` entries, then what `-p` adds (Falco's order)."""
    return (parse_append_output(config.append_output)
            + from_print_option(getattr(args, "print_additional", None)))


def select(args: argparse.Namespace, result: LoadResult, config: Config | None = None,
           check: bool = True) -> RuleSet:
    """The enabled rules: Falco's -D/-T/-t/--rule, and the priority threshold (from
    --min-priority, else the config's `priority`).  Names given to --rule or -t may be TRC
    ids (`TRC-2`): those select the rules tagged with them.

    With `check` (at start, not on a hot reload): a --rule, -t or -T that names no loaded
    rule or tag, or a selection that leaves no rule enabled, is a mistake, not a quiet run
    that can never alert: print why (with the closest names) and exit 2.  A -D substring
    that matches no rule name is only warned about (Falco's -D is a loose substring)."""
    config = config or config_or_exit(args)
    floor = args.min_priority or parse_priority(str(config.priority))
    only_tags = ([t.upper() if _is_trc(t) else t for t in args.only_tag]
                 + [r.upper() for r in args.only_rule if _is_trc(r)])
    only_rules = [r for r in args.only_rule if not _is_trc(r)]
    if check:
        _check_names(result.ruleset, only_rules, only_tags + list(args.disable_tag), args.disable)
    chosen = result.ruleset.select(
        disable_substrings=args.disable, disable_tags=args.disable_tag,
        only_tags=only_tags, only_rules=only_rules, min_priority=floor)
    selecting = args.disable or args.disable_tag or only_tags or only_rules or args.min_priority
    if check and selecting and result.ruleset.enabled and not chosen.enabled:
        _selection_error(f"the selection (-D/-T/-t/--rule/--min-priority) leaves none of the "
                         f"{len(result.ruleset.rules)} loaded rules enabled")
    return chosen


def _check_names(ruleset: RuleSet, rules: list[str], tags: list[str], substrings: list[str]) -> None:
    names = [r.name for r in ruleset.rules]
    counts = Counter(t for r in ruleset.rules for t in r.tags)
    errors = [f"no rule named '{n}'{did_you_mean(n, names)}" for n in rules if n not in names]
    for tag in tags:
        if tag not in counts:
            hint = did_you_mean(tag, counts) or (
                " (tags: " + ", ".join(t for t, _ in counts.most_common(8)) + ", ...)" if counts else "")
            errors.append(f"no rule has tag '{tag}'{hint}")
    for text in substrings:
        if not any(text in n for n in names):
            print(f"falcoish: warning: -D '{text}' matches no rule name{did_you_mean(text, names)}",
                  file=sys.stderr)
    if errors:
        _selection_error("; ".join(errors))


def _selection_error(message: str) -> None:
    print(f"falcoish: {message}", file=sys.stderr)
    raise SystemExit(2)


def _is_trc(name: str) -> bool:
    return name.upper().startswith("TRC-") and name[4:].isdigit()


def load_or_exit(args: argparse.Namespace, files: bool = False, warnings: bool = False) -> LoadResult:
    """Load rules; print every error and exit 1 if there are any (like Falco at start-up).

    `files` prints Falco's "Loading rules from file" line for each file read, in load order
    (folders expanded); `warnings` prints every load warning: a tuning file that silently
    replaced a list because of a misspelt key must be visible when it starts running."""
    result = load(args)
    if files:
        for path in result.files:
            print(f"Loading rules from file {path}", file=sys.stderr)
    for problem in result.problems if warnings else result.problems.errors:
        print(problem, file=sys.stderr)
    if result.problems.errors:
        print(f"falcoish: {len(result.problems.errors)} error(s) in rules; nothing was run", file=sys.stderr)
        raise SystemExit(1)
    return result
