"""The types of the keys inside an event's context sections (docs/events.md, event.schema.json).

Why this exists: a field reads `thread["comm"]` and treats anything but a string as absent,
so a record with `"comm": 5` used to be evaluated with `<NA>` values -- fewer alerts, and no
word that the record was damaged.  Replay now checks every documented key of every section
and skips the record as bad, naming the key, as it does for a wrong top-level key.

Why tables and one plain loop: the check runs per event on the replay hot path.  A section
shared by number (`{"def": N, ...}`) is checked once, when it is defined, against every
section kind it could stand for (`UNION`: no key has two different types across kinds), so
the shared form that `--record` writes pays only for the sections always written inline
(`fd`, `resolved`).  Keys not in a table are ignored, as the format says; `null` is the same
as a missing key.  tests/test_hardening_inputs.py keeps these tables and the JSON Schema
file in step.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Union

#: what is wrong below a key: (the rest of its path, e.g. `[0].source`, and the problem)
Bad = tuple[str, str]
Check = Callable[[Any], Union[Bad, None]]
#: key -> the exact Python type of its value, or a check saying what is wrong (None = fine)
Table = Mapping[str, Union[type, Check]]

_NAMES = {int: "an integer", str: "a string", bool: "a boolean"}


def typename(value: Any) -> str:
    """The type of a decoded JSON value for messages, as the other record errors name it."""
    return "null" if value is None else type(value).__name__


def _strings(value: Any) -> Bad | None:
    if type(value) is not list:
        return "", f"must be an array of strings, got {typename(value)}"
    try:
        "".join(value)      # one C-level pass; raises TypeError on the first non-string
    except TypeError:
        i = next(i for i, item in enumerate(value) if type(item) is not str)
        return f"[{i}]", f"must be a string, got {typename(value[i])}"
    return None


def _string_map(value: Any) -> Bad | None:
    if type(value) is not dict:
        return "", f"must be an object, got {typename(value)}"
    return strings_bad(value)


def _mounts(value: Any) -> Bad | None:
    if type(value) is not list:
        return "", f"must be an array of objects, got {typename(value)}"
    return list_bad(value, MOUNT)


def _fd_table(value: Any) -> Bad | None:
    if type(value) is not list:
        return "", f"must be an array of objects, got {typename(value)}"
    return list_bad(value, FD_ENTRY)


def _ints(*keys: str) -> dict[str, type]:
    return dict.fromkeys(keys, int)


def _strs(*keys: str) -> dict[str, type]:
    return dict.fromkeys(keys, str)


def _bools(*keys: str) -> dict[str, type]:
    return dict.fromkeys(keys, bool)


THREAD: Table = {
    **_ints("pid", "tid", "ppid", "vpid", "vtid", "vpgid", "sid", "pgid", "tty", "loginuid",
            "uid", "gid", "cap_permitted", "cap_effective", "cap_inheritable", "start_ts",
            "pidns_init_start_ts", "exe_ino", "exe_ino_ctime", "exe_ino_mtime", "fdlimit",
            "nthreads", "nchilds", "cpu", "vm_size", "vm_rss", "vm_swap", "pgft_maj", "pgft_min"),
    **_strs("comm", "exe", "exepath", "cwd"),
    **_bools("exe_writable", "exe_upper_layer", "exe_lower_layer", "exe_from_memfd"),
    "args": _strings, "env": _strings, "cgroups": _strings, "fds": _fd_table,
}
FD: Table = {
    **_ints("num", "flags", "cport", "sport", "dev", "ino"),
    **_strs("type", "name", "nameraw", "l4proto", "cip", "sip"),
    **_bools("is_server", "connected", "name_changed", "created", "upper_layer", "lower_layer"),
}
#: one entry of a thread's `fds` (its open descriptors)
FD_ENTRY: Table = {**_ints("num"), **_strs("type", "name")}
USER: Table = {**_ints("uid"), **_strs("name", "homedir", "shell", "loginname")}
GROUP: Table = {**_ints("gid"), **_strs("name")}
MOUNT: Table = _strs("source", "dest")
CONTAINER: Table = {
    **_strs("id", "full_id", "name", "type", "image", "image_repository", "image_tag", "image_id",
            "image_digest", "k8s_ns_name", "k8s_pod_name", "k8s_pod_uid"),
    "privileged": bool, "host_pid": bool, "host_network": bool, "host_ipc": bool,
    "mounts": _mounts, "labels": _string_map,
}
#: what a shared object section is checked against: it may stand for any of these kinds
UNION: Table = {**THREAD, **USER, **GROUP, **CONTAINER}
#: the tables by the event key that holds such a section (ancestors: a list of THREAD)
SECTIONS: dict[str, Table] = {"thread": THREAD, "fd": FD, "user": USER, "group": GROUP,
                              "container": CONTAINER}


def first_bad(section: dict[str, Any], table: Table) -> Bad | None:
    """(path, problem) of the first badly typed key of `section` (`comm`, `must be a string,
    got integer`), or None.  The common case costs one lookup and one type test per key
    (remembering verdicts per shape of section was tried: building the shape costs as much)."""
    get = table.get
    for key, value in section.items():
        want = get(key)
        if type(value) is want or want is None or value is None:
            continue
        if isinstance(want, type):
            return key, f"must be {_NAMES[want]}, got {typename(value)}"
        bad = want(value)
        if bad is not None:
            return key + bad[0], bad[1]
    return None


def list_bad(sections: list[Any], table: Table) -> Bad | None:
    """The same for a list of sections (`ancestors`); the path starts with the index."""
    for i, section in enumerate(sections):
        if type(section) is not dict:
            return f"[{i}]", f"must be an object, got {typename(section)}"
        bad = first_bad(section, table)
        if bad is not None:
            return f"[{i}].{bad[0]}", bad[1]
    return None


def strings_bad(section: dict[str, Any]) -> Bad | None:
    """An object whose values are all texts (`resolved`, container `labels`)."""
    for key, value in section.items():
        if type(value) is not str:
            return f".{key}", f"must be a string, got {typename(value)}"
    return None


def describe(key: str, bad: Bad) -> str:
    """The reason a record is skipped: `'thread.comm' must be a string, got integer`."""
    path = bad[0]
    sep = "" if path.startswith(("[", ".")) or not path else "."
    return f"'{key}{sep}{path}' {bad[1]}"
