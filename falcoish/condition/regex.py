"""The `regex` operator: RE2 in POSIX mode, longest match, anchored at both ends (libsinsp's).

Why its own module: one operator with its own engine (google-re2) and its own way of
turning a field value into the bytes RE2 reads; operators.py calls `compile_regex` once per
rule constant.
"""

from __future__ import annotations

from typing import Any, Callable

import re2

from ..errors import RuleError

Predicate = Callable[[Any], bool]


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.posix_syntax = True
_RE2_OPTIONS.longest_match = True
_RE2_OPTIONS.log_errors = False

try:  # the binding's core object: one C call per match instead of ~4 us of Python wrapper
    from re2 import _re2 as _re2_core

    _ANCHOR_BOTH = _re2_core.RE2.Anchor.ANCHOR_BOTH
    _CORE_OPTIONS = re2.Options()
    _CORE_OPTIONS.posix_syntax = True
    _CORE_OPTIONS.longest_match = True
    _CORE_OPTIONS.log_errors = False
    _CORE_OPTIONS.never_capture = True
except (ImportError, AttributeError):  # pragma: no cover - other google-re2 layouts
    _re2_core = None


def _utf8(value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: libsinsp sanitizes to valid UTF-8 first
        return value.encode("utf-8", "replace")


def _regex_error(pattern: str, detail: object) -> RuleError:
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return RuleError(f"invalid regular expression '{pattern}': {detail}")


def compile_regex(pattern: str) -> Predicate:
    """Falco's `regex`: RE2, POSIX syntax, leftmost-longest, matched against the whole value."""
    if _re2_core is not None:
        core = _re2_core.RE2(pattern.encode("utf-8", "surrogateescape"), _CORE_OPTIONS)
        if not core.ok():
            raise _regex_error(pattern, core.error())
        match = core.Match
        anchor = _ANCHOR_BOTH

        def matches_core(value: Any) -> bool:
            try:
                data = value.encode()
            except UnicodeEncodeError:
                data = _utf8(value)
            return bool(match(anchor, data, 0, len(data))[0][0] >= 0)
        return matches_core
    try:
        compiled = re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as err:
        raise _regex_error(pattern, err.args[0] if err.args else err) from None
    fullmatch = compiled.fullmatch
    return lambda value: fullmatch(_utf8(value).decode("utf-8")) is not None


