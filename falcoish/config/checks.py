"""Checks of settings that depend on each other, made once when the configuration is loaded.

Why at load time: a channel that cannot work (a program that does not exist, a pipeline handed
to a run without a shell) would otherwise fail once per alert, after detection has started, and
every alert would end in the spool.  Failing at start names the key and the fix while the user
is still looking.  Some combinations work but are probably not what the user wants (text
alerts POSTed to a JSON consumer): those are warnings, printed once at start.

Each check returns problems as (key, origin, reason) triples; config.py turns them into
errors or warnings and reports all of them at once.
"""

from __future__ import annotations

import os
import shlex
import shutil
from typing import Any

Problem = tuple[str, str, str]

#: tokens that only mean something to a shell
_SHELL_OPERATORS = frozenset({"|", "||", "&", "&&", ";", ";;", "<", ">", ">>", "<<", "(", ")",
                              ">&", "<&", "|&", "&>"})
#: first words a shell runs itself (no program to look for)
_SHELL_BUILTINS = frozenset({"exec", "cd", "if", "for", "while", "until", "case", "{", "(", "!",
                             "set", "export", "eval", "command", "true", ":", "test", "[",
                             "echo", "printf", "read", "ulimit", "umask", "trap"})


def together(values: dict[str, Any], origins: dict[str, str]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the settings taken together."""
    errors: list[Problem] = []
    warnings: list[Problem] = []

    def at(*keys: str) -> str:
        return next((origins[k] for k in keys if k in origins), "defaults")

    for enabled, key in (("file_output.enabled", "file_output.filename"),
                         ("program_output.enabled", "program_output.program"),
                         ("http_output.enabled", "http_output.url")):
        if values[enabled] and not values[key]:
            errors.append((key, at(enabled), f"required when {enabled} is true"))
    if values["program_output.enabled"] and values["program_output.program"]:
        reason = program_problem(values["program_output.program"], values["program_output.shell"])
        if reason:
            errors.append(("program_output.program",
                           at("program_output.program", "program_output.enabled"), reason))
    if values["http_output.template"] and values["http_output.template_file"]:
        errors.append(("http_output.template_file", origins["http_output.template_file"],
                       "give http_output.template or http_output.template_file, not both"))
    if values["outputs.retry_max_backoff"] < values["outputs.retry_backoff"]:
        errors.append(("outputs.retry_max_backoff",
                       at("outputs.retry_max_backoff", "outputs.retry_backoff"),
                       "must be >= outputs.retry_backoff"))
    if (values["http_output.enabled"] and not values["json_output"]
            and not values["http_output.template"] and not values["http_output.template_file"]):
        warnings.append(("http_output.enabled", at("http_output.enabled"),
                         "alerts are POSTed as text lines because json_output is false; a JSON "
                         "consumer (falcosidekick and the like) rejects them: set "
                         "json_output: true or give http_output.template"))
    return errors, warnings


def program_problem(program: str, shell: bool) -> str | None:
    """Why `program` cannot be started, or None.  Without `shell`, a shell operator means the
    command was written for Falco, which runs it through /bin/sh: say how to get that."""
    try:
        words = shlex.split(program)
        tokens = _tokens(program, posix=False)    # quotes kept: a quoted '|' is no operator
    except ValueError as exc:
        return f"cannot split {program!r} into arguments: {exc}"
    if not words:
        return "the command is empty"
    operator = next((t for t in tokens if t in _SHELL_OPERATORS), None)
    if operator is not None and not shell:
        return (f"uses the shell operator '{operator}', but falcoish runs the program without a "
                "shell: set program_output.shell: true to run it with /bin/sh -c as Falco does")
    if shell:
        words = _tokens(program, posix=True)
    first = next((w for w in words if not _is_assignment(w)), "") if shell else words[0]
    if not first or (shell and first in _SHELL_BUILTINS):
        return None
    return _missing_program(first)


def _tokens(program: str, posix: bool) -> list[str]:
    lexer = shlex.shlex(program, posix=posix, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _is_assignment(word: str) -> bool:
    name, sep, _ = word.partition("=")
    return bool(sep) and name.isidentifier()


def _missing_program(name: str) -> str | None:
    if "/" in name:
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return None
        return f"program {name} does not exist or is not executable"
    if shutil.which(name) is None:
        return f"program '{name}' not found in PATH ({os.environ.get('PATH', '')})"
    return None
