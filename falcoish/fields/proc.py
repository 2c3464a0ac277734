"""`proc.*` and `thread.*` fields: the calling thread, its process and its ancestors.

Pipeline step: field binding/extraction.  Why ancestors are read from the record: libsinsp
walks its thread table (parent, grandparent...) when a rule asks `proc.aname[2]`; falcoish
records that chain in the event (`ancestors`, parent first), so `proc.aname[N]` is an index
into a list decided at bind time, and bare `proc.aname` yields every ancestor's value (from the
parent up) for the "any ancestor matches" semantics.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.fieldtypes import ABSTIME, BOOL, INT64, RELTIME, STRING, UINT32, UINT64, FType
from .names import caps_text
from .registry import ArgValue, Binding, family, simple
from .render import u32

Proc = dict[str, Any]
View = Callable[[Proc], Any]


_KEYED: dict[View, tuple[str, type]] = {}


def _key(key: str, kind: type) -> View:
    """The value at `key` when it has the expected type (a hand-written record may not)."""
    view: View = lambda p: v if type(v := p.get(key)) is kind else None  # noqa: E731
    _KEYED[view] = (key, kind)
    return view


_comm, _exe, _exepath = _key("comm", str), _key("exe", str), _key("exepath", str)
_pid, _vpid = _key("pid", int), _key("vpid", int)


def _arglist(p: Proc) -> list[str] | None:
    v = p.get("args")
    return v if isinstance(v, list) else None


def _join(items: list[Any]) -> str:
    try:
        return " ".join(items)
    except TypeError:          # a non-string element in a hand-written record
        return " ".join(map(str, items))


def _args(p: Proc) -> str | None:
    v = _arglist(p)
    return None if v is None else _join(v)


def _cmdline(p: Proc) -> str | None:
    comm = p.get("comm")
    if type(comm) is not str:
        return None
    args = p.get("args")
    return f"{comm} {_join(args)}" if args and isinstance(args, list) else comm


def _envlist(p: Proc) -> list[str] | None:
    v = p.get("env")
    return v if isinstance(v, list) else None


def _env(p: Proc) -> str | None:
    v = _envlist(p)
    return None if v is None else _join(v)


def _thread(view: View) -> Callable[[Event], Any]:
    if view in _KEYED:   # one closure instead of two on the hot path
        key, kind = _KEYED[view]
        return lambda ev: v if type(v := ev.thread.get(key)) is kind else None
    return lambda ev: view(ev.thread)


def _parent(view: View) -> Callable[[Event], Any]:
    if view in _KEYED:
        key, kind = _KEYED[view]
        return lambda ev: (v if type(v := a[0].get(key)) is kind else None) if (a := ev.ancestors) else None
    return lambda ev: view(a[0]) if (a := ev.ancestors) else None


def _nth(view: View, n: int) -> Callable[[Event], Any]:
    if n == 0:
        return _thread(view)
    i = n - 1
    return lambda ev: view(a[i]) if len(a := ev.ancestors) > i else None


def _every(view: View) -> Callable[[Event], Any]:
    def extract(ev: Event) -> tuple[Any, ...] | None:
        values = tuple(map(view, ev.ancestors))
        if None in values:
            values = tuple(v for v in values if v is not None)
        return values or None
    return extract


def _ancestor_family(name: str, ftype: FType, what: str, view: View) -> None:
    def make(arg: ArgValue) -> Any:
        if arg is None:
            return _every(view)
        assert isinstance(arg, int)
        return Binding(_nth(view, arg), scalar=True)
    family(name, ftype, f"{what} of ancestor N ([0] = this process, [1] = parent); bare: any "
           "ancestor from the parent up", make, arg="optional_index", multi="any", no_rhs=True,
           no_transformer=True)


# -- the process ----------------------------------------------------------------------------------
simple("proc.name", STRING, "process name (comm, at most 15 characters)", _thread(_comm))
simple("proc.exe", STRING, "first command-line argument (argv[0])", _thread(_exe))
simple("proc.exepath", STRING, "full path of the executable", _thread(_exepath))
simple("proc.cmdline", STRING, "proc.name followed by the arguments", _thread(_cmdline))
simple("proc.exeline", STRING, "proc.exe followed by the arguments",
       _thread(lambda p: None if (e := _exe(p)) is None else _join([e, *(_arglist(p) or [])])))
simple("proc.cmdnargs", UINT64, "number of command-line arguments",
       _thread(lambda p: None if (a := _arglist(p)) is None else len(a)))
simple("proc.cmdlenargs", UINT64, "total length of the arguments (without separators)",
       _thread(lambda p: None if (a := _arglist(p)) is None else sum(len(str(x)) for x in a)))


def _args_family(arg: ArgValue) -> Any:
    if arg is None:
        return _thread(_args)
    i = int(arg)
    return lambda ev: str(a[i]) if (a := _arglist(ev.thread)) is not None and len(a) > i else None


family("proc.args", STRING, "arguments after argv[0] joined by spaces; [N]: the N-th (from 0)",
       _args_family, arg="optional_index")


def _env_family(arg: ArgValue) -> Any:
    if arg is None:
        return _thread(_env)
    if isinstance(arg, int):
        i = arg
        return lambda ev: str(e[i]) if (e := _envlist(ev.thread)) is not None and len(e) > i else None
    return _thread(_env_lookup(arg))


def _env_lookup(name: str) -> Callable[[Proc], str | None]:
    prefix = name + "="

    def lookup(p: Proc) -> str | None:
        env = _envlist(p)
        if env is None:
            return None
        for entry in env:
            if isinstance(entry, str) and entry.startswith(prefix):
                return entry[len(prefix):].strip(" ")
        return ""
    return lookup


family("proc.env", STRING, "environment as NAME=value pairs separated by spaces; [NAME]: one "
       "variable's value ('' when unset)", _env_family, arg="index_or_key", arg_optional=True)


def _aenv_family(arg: ArgValue) -> Any:
    if arg is None:
        return _every(_env)
    if isinstance(arg, int):
        return Binding(_nth(_env, arg), scalar=True)
    lookup = _env_lookup(arg)

    def first(ev: Event) -> str | None:
        for p in ev.ancestors[:20]:
            value = lookup(p)
            if value:
                return value
        return None
    return Binding(first, scalar=True)


family("proc.aenv", STRING, "[EXPERIMENTAL] ancestors' environment: bare = any ancestor's, "
       "[N] = ancestor N's, [NAME] = first value found from the parent up", _aenv_family,
       arg="index_or_key", arg_optional=True, multi="any", no_rhs=True, no_transformer=True)
simple("proc.cwd", STRING, "current working directory (ends with '/')",
       _thread(_key("cwd", str)))
simple("proc.tty", UINT32, "controlling terminal (encoded device number), 0 for none",
       _thread(lambda p: u32(p.get("tty"))))
simple("proc.pid", INT64, "process id", _thread(_pid))
simple("proc.vpid", INT64, "process id inside its pid namespace", _thread(_vpid))
simple("proc.ppid", INT64, "parent process id",
       lambda ev: v if type(v := ev.thread.get("ppid")) is int else _parent(_pid)(ev))
simple("proc.pvpid", INT64, "parent process id inside its pid namespace", _parent(_vpid))
simple("proc.sid", INT64, "session id", _thread(_key("sid", int)))
simple("proc.pgid", INT64, "process group id", _thread(_key("pgid", int)))
simple("proc.vpgid", INT64, "process group id inside its pid namespace",
       _thread(_key("vpgid", int)))

# -- parent and ancestors -------------------------------------------------------------------------
simple("proc.pname", STRING, "name of the parent process", _parent(_comm))
simple("proc.pexe", STRING, "argv[0] of the parent process", _parent(_exe))
simple("proc.pexepath", STRING, "executable path of the parent process", _parent(_exepath))
simple("proc.pcmdline", STRING, "command line of the parent process", _parent(_cmdline))
_ancestor_family("proc.aname", STRING, "name", _comm)
_ancestor_family("proc.aexe", STRING, "argv[0]", _exe)
_ancestor_family("proc.aexepath", STRING, "executable path", _exepath)
_ancestor_family("proc.acmdline", STRING, "command line", _cmdline)
_ancestor_family("proc.apid", INT64, "pid", _pid)


def _leader(own: str, match: str) -> Callable[[Event], Proc | None]:
    """The leader of the thread's session/group: the process whose `match` id equals the
    thread's `own` id, else the eldest contiguous ancestor sharing it."""
    def find(ev: Event) -> Proc | None:
        ident = ev.thread.get(own)
        if type(ident) is not int:
            return None
        chain = (ev.thread, *ev.ancestors)
        for p in chain:
            if p.get(match) == ident:
                return p
        last = None
        for p in chain:
            if p.get(own) != ident:
                break
            last = p
        return last
    return find


def _of(find: Callable[[Event], Proc | None], view: View) -> Callable[[Event], Any]:
    return lambda ev: None if (p := find(ev)) is None else view(p)


_SID, _VPGID = _leader("sid", "pid"), _leader("vpgid", "vpid")
simple("proc.sname", STRING, "name of the session leader", _of(_SID, _comm))
simple("proc.sid.exe", STRING, "argv[0] of the session leader", _of(_SID, _exe))
simple("proc.sid.exepath", STRING, "executable path of the session leader", _of(_SID, _exepath))
simple("proc.vpgid.name", STRING, "name of the process group leader", _of(_VPGID, _comm))
simple("proc.vpgid.exe", STRING, "argv[0] of the process group leader", _of(_VPGID, _exe))
simple("proc.vpgid.exepath", STRING, "executable path of the process group leader",
       _of(_VPGID, _exepath))


def _same(a: str, b: str, fa: str, fb: str) -> Callable[[Event], bool | None]:
    """thread[a] == thread[b] (falling back to fa/fb, the host-namespace ids)."""
    def test(ev: Event) -> bool | None:
        t = ev.thread
        x = t.get(a, t.get(fa))
        y = t.get(b, t.get(fb))
        return None if type(x) is not int or type(y) is not int else x == y
    return test


simple("proc.is_sid_leader", BOOL, "true if the process leads its session (sid == vpid)",
       _same("sid", "vpid", "sid", "pid"))
simple("proc.is_vpgid_leader", BOOL, "true if the process leads its process group "
       "(vpgid == vpid)", _same("vpgid", "vpid", "pgid", "pid"))


def _loginshell(ev: Event) -> int | None:
    found = None
    for p in (ev.thread, *ev.ancestors):
        comm = _comm(p)
        if comm is not None and comm.endswith("sh"):
            found = _pid(p)
    return found


simple("proc.loginshellid", INT64, "pid of the eldest shell among the process and its ancestors",
       _loginshell)

# -- times and executable ---------------------------------------------------------------------
_start = _key("start_ts", int)


def _since(view: View, parent: bool = False) -> Callable[[Event], int | None]:
    def extract(ev: Event) -> int | None:
        p = (ev.ancestors[0] if ev.ancestors else None) if parent else ev.thread
        t = None if p is None else view(p)
        return None if t is None else ev.ts - t
    return extract


simple("proc.duration", RELTIME, "nanoseconds since the thread was created", _since(_start))
simple("proc.start_ts", ABSTIME, "creation time of the thread (ns since the epoch)",
       _thread(_start))
simple("proc.pid.ts", RELTIME, "start of the process (ns since the epoch)", _thread(_start))
simple("proc.ppid.ts", RELTIME, "start of the parent process (ns since the epoch)",
       _parent(_start))
simple("proc.ppid.duration", RELTIME, "nanoseconds since the parent process started",
       _since(_start, parent=True))
simple("proc.pidns_init_start_ts", UINT64, "start of the pid namespace's init (ns since epoch)",
       _thread(_key("pidns_init_start_ts", int)))
simple("proc.exe_ino", INT64, "inode of the executable (absent when unknown)",
       _thread(lambda p: v if type(v := p.get("exe_ino")) is int and v != 0 else None))
_ctime = _key("exe_ino_ctime", int)
simple("proc.exe_ino.ctime", ABSTIME, "status change time of the executable's inode",
       _thread(_ctime))
simple("proc.exe_ino.mtime", ABSTIME, "modification time of the executable's inode",
       _thread(_key("exe_ino_mtime", int)))


def _ctime_to_start(p: Proc) -> int | None:
    c, s = _ctime(p), _start(p)
    return None if c is None or s is None else s - c


def _pidns_to_ctime(p: Proc) -> int | None:
    c, n = _ctime(p), p.get("pidns_init_start_ts")
    return c - n if c is not None and type(n) is int and c > n else None


simple("proc.exe_ino.ctime_duration_proc_start", ABSTIME, "process start minus executable "
       "ctime (ns)", _thread(_ctime_to_start))
simple("proc.exe_ino.ctime_duration_pidns_start", ABSTIME, "executable ctime minus pid "
       "namespace start, when later (ns)", _thread(_pidns_to_ctime))
simple("proc.is_exe_writable", BOOL, "executable is writable by the process' user",
       _thread(_key("exe_writable", bool)))
simple("proc.is_exe_upper_layer", BOOL, "executable is in the upper (writable) overlayfs layer",
       _thread(_key("exe_upper_layer", bool)))
simple("proc.is_exe_lower_layer", BOOL, "executable is in a lower (image) overlayfs layer",
       _thread(_key("exe_lower_layer", bool)))


def _memfd(p: Proc) -> bool | None:
    v = p.get("exe_from_memfd")
    if type(v) is bool:
        return v
    path = _exepath(p)
    return None if path is None else path.startswith("memfd:")


simple("proc.is_exe_from_memfd", BOOL, "executable is an anonymous memfd (fileless exec)",
       _thread(_memfd))
for _probe in ("healthcheck", "liveness_probe", "readiness_probe"):
    simple(f"proc.is_container_{_probe}", BOOL, f"process runs as the container's {_probe} "
           "(needs runtime metadata)", lambda ev: None, available=False)

# -- thread ---------------------------------------------------------------------------------------
simple("thread.tid", INT64, "thread id", lambda ev: ev.tid)
simple("thread.vtid", INT64, "thread id inside its pid namespace", _thread(_key("vtid", int)))
simple("thread.ismain", BOOL, "true for the main thread of the process",
       lambda ev: None if (p := _pid(ev.thread)) is None else ev.tid == p)
for _set in ("permitted", "effective", "inheritable"):
    simple(f"thread.cap_{_set}", STRING, f"{_set} capabilities, names separated by spaces",
           _thread((lambda key: lambda p: caps_text(v) if type(v := p.get(key)) is int
                    else None)(f"cap_{_set}")))


def _cgroups(p: Proc) -> list[str] | None:
    """The thread's `subsys=path` entries (record key `cgroups`, as execve's parameter)."""
    v = p.get("cgroups")
    return v if isinstance(v, list) else None


def _cgroup(arg: ArgValue) -> Callable[[Event], str | None]:
    prefix = f"{arg}="

    def extract(ev: Event) -> str | None:
        for entry in _cgroups(ev.thread) or ():
            if isinstance(entry, str) and entry.startswith(prefix):
                return entry[len(prefix):]
        return None
    return extract


simple("thread.cgroups", STRING, "all cgroups of the thread as subsys=path separated by spaces",
       _thread(lambda p: None if not (c := _cgroups(p)) else _join(c)))
family("thread.cgroup", STRING, "thread.cgroup.SUBSYS: the cgroup of the thread in one subsystem",
       _cgroup, arg="required", dotted="only")
