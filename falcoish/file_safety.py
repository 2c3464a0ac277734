"""Refuse, as root, rules and config files that someone other than root can change.

Why: falcoish usually runs as root.  Its config can name a program to run for every alert
(`program_output.program`), and its rules decide what is detected; a rules file, rules
folder or config file that another user can write is therefore a way for that user to run
code as root or to blind detection.  As root (effective uid 0) such a file is refused unless
the operator says `--allow-insecure-files`.  Only the file itself is checked (and a rules
folder, since anyone who can write it can add a rules file), not the folders above it:
that keeps /tmp and similar shared folders usable for root-owned files, as Falco does not
check parents either.  Run as another user, nothing is checked: that user can change what
it runs anyway.
"""

from __future__ import annotations

import os
import pwd
import stat

#: the override, named in every refusal
OVERRIDE = "--allow-insecure-files"


def insecure(path: str, what: str) -> str | None:
    """Why `path` (a `what`: "rules file", "rules folder", "config file") is unsafe to use as
    root, with the command that fixes it; None when it is safe or we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # the reader reports a missing or unreadable file in its own words
    if st.st_uid != 0:
        return (f"{what} {path} is owned by {_user(st.st_uid)}, not root, and falcoish runs as root: "
                f"that user could change what root runs or detects. Fix: chown root {path} "
                f"(or pass {OVERRIDE})")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = " and ".join(w for bit, w in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "every user"))
                           if st.st_mode & bit)
        return (f"{what} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o}) and falcoish "
                f"runs as root: anyone who can write it could change what root runs or detects. "
                f"Fix: chmod go-w {path} (or pass {OVERRIDE})")
    return None


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
