"""The rest of libsinsp's `proc.*` / `thread.*` table: process group leader, ancestors'
arguments, thread counts, memory and page-fault counters.

Pipeline step: field binding/extraction.  Why a module of its own: proc.py holds the fields
the stock rules use on every event; these are read from the same thread section and
ancestor chain, plus counters that libsinsp takes from the execve/clone events and /proc
(`vm_size`, `vm_rss`, `vm_swap` in kB, `pgft_maj`, `pgft_min`, `nthreads`, `nchilds`:
docs/events.md).  libsinsp gives the memory of a process to its main thread only
(`thread.vm*` is 0 for the other threads).

`thread.cpu*` exist only on procinfo events and `thread.exectime`/`thread.totexectime` only
on scheduler switch events; falcoish (like Falco's drivers) produces neither, so they are
listed as always absent.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.fieldtypes import BOOL, DOUBLE, RELTIME, STRING, UINT64
from .proc import _ancestor_family, _args, _comm, _exe, _exepath, _leader, _of
from .registry import simple


def _int(key: str) -> Callable[[Event], int | None]:
    return lambda ev: v if type(v := ev.thread.get(key)) is int else None


def _main_thread_only(key: str, scale: int = 1) -> Callable[[Event], int | None]:
    """The process's value on its main thread (tid == pid), 0 on the others."""
    def extract(ev: Event) -> int | None:
        t = ev.thread
        value, tid, pid = t.get(key), t.get("tid", ev.tid), t.get("pid")
        if type(value) is not int:
            return None
        return value * scale if tid == pid else 0
    return extract


# -- process group ------------------------------------------------------------------------------
_PGID = _leader("pgid", "pid")
simple("proc.pgid.name", STRING, "name of the process group leader (host pid namespace)",
       _of(_PGID, _comm))
simple("proc.pgid.exe", STRING, "argv[0] of the process group leader", _of(_PGID, _exe))
simple("proc.pgid.exepath", STRING, "executable path of the process group leader",
       _of(_PGID, _exepath))


def _is_pgid_leader(ev: Event) -> bool | None:
    pgid, pid = ev.thread.get("pgid"), ev.thread.get("pid")
    return None if type(pgid) is not int or type(pid) is not int else pgid == pid


simple("proc.is_pgid_leader", BOOL, "true if the process leads its process group (pgid == pid)",
       _is_pgid_leader)
_ancestor_family("proc.aargs", STRING, "arguments", _args)

# -- threads -------------------------------------------------------------------------------------
simple("proc.nthreads", UINT64, "threads the process has alive, the main thread included",
       _int("nthreads"))
simple("proc.nchilds", UINT64, "threads the process has alive, the main thread excluded",
       _int("nchilds"))


def _nametid(ev: Event) -> str | None:
    comm = _comm(ev.thread)
    return None if comm is None else f"{comm}{ev.tid}"


simple("thread.nametid", STRING, "proc.name followed by the thread id", _nametid)

# -- memory and page faults ---------------------------------------------------------------------
simple("proc.vmsize", UINT64, "virtual memory of the process (kB)", _int("vm_size"))
simple("proc.vmrss", UINT64, "resident memory of the process (kB)", _int("vm_rss"))
simple("proc.vmswap", UINT64, "swapped memory of the process (kB)", _int("vm_swap"))
simple("thread.vmsize", UINT64, "proc.vmsize on the main thread, 0 on the others (kB)",
       _main_thread_only("vm_size"))
simple("thread.vmrss", UINT64, "proc.vmrss on the main thread, 0 on the others (kB)",
       _main_thread_only("vm_rss"))
simple("thread.vmsize.b", UINT64, "thread.vmsize in bytes", _main_thread_only("vm_size", 1024))
simple("thread.vmrss.b", UINT64, "thread.vmrss in bytes", _main_thread_only("vm_rss", 1024))
simple("thread.pfmajor", UINT64, "major page faults since the thread started", _int("pgft_maj"))
simple("thread.pfminor", UINT64, "minor page faults since the thread started", _int("pgft_min"))

# -- only on event kinds falcoish does not produce ------------------------------------------------


def _never(ev: Event) -> Any:
    return None


for _name, _what in (("thread.cpu", "CPU"), ("thread.cpu.user", "user CPU"),
                     ("thread.cpu.system", "system CPU")):
    simple(_name, DOUBLE, f"{_what} the thread used in the last second (only on procinfo "
           "events, which are not produced)", _never, available=False)
simple("thread.exectime", RELTIME, "CPU time of the last scheduled thread (only on scheduler "
       "switch events, which are not captured)", _never, available=False)
simple("thread.totexectime", RELTIME, "CPU time of the thread since the capture began (only "
       "on scheduler switch events, which are not captured)", _never, available=False)
