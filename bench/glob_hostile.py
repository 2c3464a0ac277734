"""How long does `glob` take on a value chosen to stall it?  falcoish, glibc, a regex.

Falco's `glob` is glibc `fnmatch(3)`.  Until issue 12 falcoish translated a pattern with `?`
or `[` into a Python regular expression (`*` -> `.*`), which backtracks: on `*a*a*...*[b]`
against a run of `a`s it tries every way of sharing the run among the `*`s.  falcoish now
matches with an automaton (falcoish/condition/glob_match.py).  This prints, for each hostile pattern
and value length, the time of one match by falcoish, by glibc 2.36 (through ctypes; it
gives up on earlier `*`s once a later one matched, so it does not blow up either), and by
that kind of regex translation (Python `re`), side by side in one process.  The regex is
only tried on lengths that finish: once one takes over --cap seconds, longer ones are
skipped.

    .venv/bin/python bench/glob_hostile.py [--cap 2]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import locale
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcoish.condition.glob_match import compile_glob

PATTERNS = ["*a*a*a*a*a*a*a*a*a*a*[b]", "*a*a*a*a*a*a*[a]*?b", "*[a]*[a]*[a]*[a]*[a]*[a]*c"]
LENGTHS = [12, 16, 20, 24, 28, 32, 40, 54, 80, 100_000, 1_000_000]


def naive_regex(pattern: str) -> "re.Pattern[str]":
    """The backtracking translation: `*` -> `.*`, `?` -> `.`, brackets kept as classes."""
    out = []
    for piece in re.findall(r"\[[^]]*\]|.", pattern):
        out.append(".*" if piece == "*" else "." if piece == "?" else piece if piece.startswith("[")
                   else re.escape(piece))
    return re.compile("".join(out), re.DOTALL)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:10.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=2.0, help="skip the regex on longer values after this")
    args = parser.parse_args()
    locale.setlocale(locale.LC_ALL, "C")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    fnmatch = libc.fnmatch
    fnmatch.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    print(f"{'pattern':38} {'length':>9} {'falcoish':>13} {'glibc fnmatch':>13} {'backtracking re':>15}")
    for pattern in PATTERNS:
        ours = compile_glob(pattern)
        regex = naive_regex(pattern)
        regex_ok = True
        for length in LENGTHS:
            value = "a" * length
            start = time.perf_counter()
            matched = ours(value)
            took = time.perf_counter() - start
            start = time.perf_counter()
            theirs = fnmatch(pattern.encode(), value.encode(), 0) == 0
            glibc = time.perf_counter() - start
            assert theirs == matched, (pattern, length)
            slow = "skipped"
            if regex_ok:
                start = time.perf_counter()
                assert (regex.fullmatch(value) is not None) == matched, (pattern, length)
                spent = time.perf_counter() - start
                slow = ms(spent)
                regex_ok = spent < args.cap
            print(f"{pattern:38} {length:>9,} {ms(took)} {ms(glibc)} {slow:>15}")


if __name__ == "__main__":
    main()
