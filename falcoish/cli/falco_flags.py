"""Falco's command-line flags, as aliases of falcoish commands.

Why: a Falco user types `falco -r rules.yaml`, `falco -V rules.yaml`, `falco -L`, `falco
--list -N`.  falcoish has commands instead (`run`, `validate`, `rules`, `fields`, ...), so the
argument list is rewritten before argparse sees it, by one table (`FLAGS`): Falco flag ->
falcoish command, what the flag's value becomes, and what is added.  Every other argument
goes to that command unchanged, so it is checked by that command's parser and an unknown
flag still gets argparse's own error.

The rewrite applies only when the first argument is not a command word (nor `-h`/`--help`):
`falcoish rules ...` is never touched.  Arguments with no Falco flag among them are `run`'s:
`falcoish -r x.yaml -e trace.jsonl` is `falcoish run -r x.yaml -e trace.jsonl`.

Values are never mistaken for commands, nor commands for values: the scan knows which
options take a value (from the commands' own parsers), so in `falcoish -r run` the word `run`
is the rules file `-r` names, as in argparse and in Falco.  A command word that is not an
option's value, as in `falcoish -r x.yaml run`, is an error that says to put the command
first: guessing whether the user meant `run -r x.yaml` or a file named `run` would hide the
mistake.  Falco's optional `--list SOURCE` takes the next word as the source only when it
does not start with `-`; `fields` then rejects a source it does not know.

Two different Falco actions together (`-L --version`) are an error, as they would be if
spelled as falcoish commands.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

import yaml

__all__ = ["FLAGS", "FalcoFlag", "FlagError", "option_arity", "translate"]


@dataclass(frozen=True)
class FalcoFlag:
    """One Falco flag.  `value` is "none", "required" or "optional"; the value becomes
    `value_option VALUE` when `value_option` is set, else a positional argument of the
    command; `lead` is added right after the command; `json_switch` adds `--json` when
    `-o json_output=true` is given (Falco's -L/-l print JSON then)."""

    names: tuple[str, ...]
    command: str
    value: str = "none"
    value_option: str | None = None
    lead: tuple[str, ...] = ()
    json_switch: bool = False
    meaning: str = ""
    metavar: str = ""


FLAGS: tuple[FalcoFlag, ...] = (
    FalcoFlag(("--version",), "version", meaning="falcoish version"),
    FalcoFlag(("-V", "--validate"), "validate", "required", "-r", ("--no-defaults",),
              meaning="falcoish validate --no-defaults -r FILE", metavar="FILE"),
    FalcoFlag(("-L",), "rules", json_switch=True, meaning="falcoish rules"),
    FalcoFlag(("-l",), "rules", "required", json_switch=True, meaning="falcoish rules RULE",
              metavar="RULE"),
    FalcoFlag(("--list",), "fields", "optional", meaning="falcoish fields [SOURCE] (-N: names only)",
              metavar="SOURCE"),
    FalcoFlag(("--list-events",), "events", lead=("--all",), meaning="falcoish events --all"),
    FalcoFlag(("--support",), "support", meaning="falcoish support"),
)
_BY_NAME = {name: flag for flag in FLAGS for name in flag.names}


class FlagError(ValueError):
    """Arguments that cannot be rewritten; main reports it as an argparse usage error."""


def option_arity(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Option string -> whether it takes a value, over every command's parser (`run`'s
    first: its options are the ones a command-less argument list is checked against)."""
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    ordered = ([commands["run"]] if "run" in commands else []) + list(commands.values())
    arity: dict[str, bool] = {}
    for sub in ordered:
        for action in sub._actions:
            for option in action.option_strings:
                arity.setdefault(option, action.nargs != 0)
    return arity


def translate(argv: Sequence[str], commands: Collection[str], arity: Mapping[str, bool]) -> list[str]:
    """`argv` with Falco's flags rewritten into a falcoish command line (see the module doc)."""
    if not argv or argv[0] in commands or argv[0] in ("-h", "--help"):
        return list(argv)
    found: list[tuple[FalcoFlag, str | None]] = []
    rest: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        match = _falco_flag(argv, i)
        if match is not None:
            flag, value, used = match
            found.append((flag, value))
            i += used
            continue
        name, value = _option_value(token, arity)
        if name is not None and value is None and arity.get(name) and i + 1 < len(argv):
            value = argv[i + 1]
            rest.extend(argv[i:i + 2])
            i += 2
        else:
            if name is None and token in commands:
                raise FlagError(f"'{token}' is a command: put it first "
                                f"({shlex.join(['falcoish', token, *argv[:i], *argv[i + 1:]])})")
            rest.append(token)
            i += 1
        if name in ("-o", "--option") and value is not None:
            overrides.append(value)
    return _rewrite(found, rest, overrides)


def _falco_flag(argv: Sequence[str], i: int) -> tuple[FalcoFlag, str | None, int] | None:
    """The Falco flag at argv[i] with its value and how many arguments they take, or None.
    Accepts `-V FILE`, `-VFILE`, `--validate FILE`, `--validate=FILE`, `--list`,
    `--list=SOURCE`, `--list SOURCE`."""
    token = argv[i]
    name, eq, attached = token.partition("=") if token.startswith("--") else (token, "", "")
    flag = _BY_NAME.get(name)
    if flag is None and not token.startswith("--") and token[:2] in _BY_NAME and len(token) > 2:
        candidate = _BY_NAME[token[:2]]
        if candidate.value != "none":
            flag, eq, attached = candidate, "=", token[2:]
    if flag is None:
        return None
    if eq:
        if flag.value == "none":
            raise FlagError(f"{name} takes no value")
        return flag, attached, 1
    following = argv[i + 1] if i + 1 < len(argv) else None
    if flag.value == "required":
        if following is None or (following.startswith("-") and following != "-"):
            raise FlagError(f"{name} needs a value")          # as argparse: `-l -r x` is a slip
        return flag, following, 2
    if flag.value == "optional" and following is not None and not following.startswith("-"):
        return flag, following, 2
    return flag, None, 1


def _option_value(token: str, arity: Mapping[str, bool]) -> tuple[str | None, str | None]:
    """(option name, value attached to it) for an option token, (None, None) otherwise."""
    if not token.startswith("-") or token == "-":
        return None, None
    if token.startswith("--"):
        name, eq, value = token.partition("=")
        return name, (value if eq else None)
    if token[:2] in arity and len(token) > 2 and arity[token[:2]]:
        return token[:2], token[2:]
    return token, None


def _rewrite(found: list[tuple[FalcoFlag, str | None]], rest: list[str], overrides: list[str]) -> list[str]:
    if not found:
        return ["run", *rest]
    flag = found[0][0]
    for other, _ in found[1:]:
        if other is not flag:
            raise FlagError(f"{flag.names[0]} and {other.names[0]} cannot be combined")
    values = [v for _, v in found if v is not None]
    args = [flag.command, *flag.lead]
    if flag.value_option is not None:
        for value in values:
            args += [flag.value_option, value]
        values = []
    args += rest
    if flag.json_switch and "--json" not in rest and _json_output(overrides):
        args.append("--json")
    if any(v.startswith("-") for v in values) and "--" not in rest:
        args.append("--")           # a rule named `-x` is a name, not an option
    return args + values


def _json_output(overrides: list[str]) -> bool:
    """Whether the last `-o json_output=...` sets it true (YAML's spelling, as the config)."""
    wanted = False
    for override in overrides:
        key, eq, value = override.partition("=")
        if eq and key.strip() == "json_output":
            try:
                wanted = yaml.safe_load(value) is True
            except yaml.YAMLError:
                wanted = False
    return wanted


def epilog() -> str:
    """The `falcoish --help` paragraph that lists the Falco flags falcoish accepts."""
    lines = ["Falco's flags work too (without a command):"]
    for flag in FLAGS:
        value = {"none": "", "required": f" {flag.metavar}", "optional": f" [{flag.metavar}]"}[flag.value]
        spelled = ", ".join(flag.names) + value
        lines.append(f"  {spelled:<22} = {flag.meaning}")
    lines.append(f"  {'-r FILE, -c FILE, ...':<22} = falcoish run -r FILE, ... (any run option)")
    return "\n".join(lines)
