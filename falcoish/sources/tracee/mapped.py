"""What a Tracee event becomes (`_Mapped`), and the table of one-to-one system call events.

Why apart from the handlers: the table is data (Tracee argument -> Falco parameter and value
parser), read by the handlers, the documentation test and `TRACEE_EVENT_TYPES`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ...events.event import Section
from .records import _Rec
from .values import (_BPF, _CLONE, _FAMILIES, _FILE_MODE, _FINIT, _LINKAT, _MEMFD, _MMAP, _MOUNT,
                     _PROT, _PTRACE, _RENAME, _SIGNALS, _SOCKET_TYPES, _UNLINKAT, Names, _num,
                     _put, _str, _strings)


class _Mapped:
    """What one Tracee event becomes.  `program`: for exec events, the new program's thread
    keys (comm, exe, exepath, args, env, cwd), which replace the process's old ones."""

    __slots__ = ("type", "args", "res", "fd", "program")

    def __init__(self, type: str, args: Section, res: int | None, fd: Section | None = None,
                 program: Section | None = None) -> None:
        self.type = type
        self.args = args
        self.res = res
        self.fd = fd
        self.program = program


# Syscall events whose arguments map one to one: Tracee name -> (Falco type, {Tracee arg:
# (Falco parameter, value parser)}).
Parser = Callable[[Any], Any]


def _p(names: Names | None = None, octal: bool = False) -> Parser:
    return lambda v: _num(v, names, octal)


_INT, _MODE = _p(), _p(_FILE_MODE, True)
_SIMPLE: dict[str, tuple[str, dict[str, tuple[str, Parser]]]] = {
    "unlink": ("unlink", {"pathname": ("path", _str)}),
    "unlinkat": ("unlinkat", {"dirfd": ("dirfd", _INT), "pathname": ("name", _str),
                              "flags": ("flags", _p(_UNLINKAT))}),
    "rmdir": ("rmdir", {"pathname": ("path", _str)}),
    "mkdir": ("mkdir", {"pathname": ("path", _str), "mode": ("mode", _MODE)}),
    "mkdirat": ("mkdirat", {"dirfd": ("dirfd", _INT), "pathname": ("path", _str),
                            "mode": ("mode", _MODE)}),
    "chmod": ("chmod", {"pathname": ("filename", _str), "mode": ("mode", _MODE)}),
    "fchmod": ("fchmod", {"fd": ("fd", _INT), "mode": ("mode", _MODE)}),
    "fchmodat": ("fchmodat", {"dirfd": ("dirfd", _INT), "pathname": ("filename", _str),
                              "mode": ("mode", _MODE)}),
    "rename": ("rename", {"oldpath": ("oldpath", _str), "newpath": ("newpath", _str)}),
    "security_inode_rename": ("rename", {"old_path": ("oldpath", _str),
                                         "new_path": ("newpath", _str)}),
    "renameat": ("renameat", {"olddirfd": ("olddirfd", _INT), "oldpath": ("oldpath", _str),
                              "newdirfd": ("newdirfd", _INT), "newpath": ("newpath", _str)}),
    "renameat2": ("renameat2", {"olddirfd": ("olddirfd", _INT), "oldpath": ("oldpath", _str),
                                "newdirfd": ("newdirfd", _INT), "newpath": ("newpath", _str),
                                "flags": ("flags", _p(_RENAME))}),
    "link": ("link", {"oldpath": ("oldpath", _str), "newpath": ("newpath", _str)}),
    "linkat": ("linkat", {"olddirfd": ("olddir", _INT), "oldpath": ("oldpath", _str),
                          "newdirfd": ("newdir", _INT), "newpath": ("newpath", _str),
                          "flags": ("flags", _p(_LINKAT))}),
    "symlink": ("symlink", {"target": ("target", _str), "linkpath": ("linkpath", _str)}),
    "symlinkat": ("symlinkat", {"target": ("target", _str), "newdirfd": ("linkdirfd", _INT),
                                "linkpath": ("linkpath", _str)}),
    "ptrace": ("ptrace", {"request": ("request", _p(_PTRACE)), "pid": ("pid", _INT),
                          "addr": ("addr", _INT), "data": ("data", _INT)}),
    "process_vm_writev": ("process_vm_writev", {}),
    "process_vm_readv": ("process_vm_readv", {}),
    "init_module": ("init_module", {"len": ("length", _INT), "param_values": ("uargs", _str)}),
    "finit_module": ("finit_module", {"fd": ("fd", _INT), "param_values": ("uargs", _str),
                                      "flags": ("flags", _p(_FINIT))}),
    "mount": ("mount", {"source": ("dev", _str), "target": ("dir", _str),
                        "filesystemtype": ("type", _str), "mountflags": ("flags", _p(_MOUNT))}),
    "security_sb_mount": ("mount", {"dev_name": ("dev", _str), "path": ("dir", _str),
                                    "type": ("type", _str), "flags": ("flags", _p(_MOUNT))}),
    "umount2": ("umount2", {"target": ("name", _str)}),
    "memfd_create": ("memfd_create", {"name": ("name", _str),
                                      "flags": ("flags", _p(_MEMFD))}),
    "mprotect": ("mprotect", {"addr": ("addr", _INT), "len": ("length", _INT),
                              "prot": ("prot", _p(_PROT))}),
    "mmap": ("mmap", {"addr": ("addr", _INT), "length": ("length", _INT),
                      "prot": ("prot", _p(_PROT)), "flags": ("flags", _p(_MMAP)),
                      "fd": ("fd", _INT), "off": ("offset", _INT)}),
    "setuid": ("setuid", {"uid": ("uid", _INT)}),
    "kill": ("kill", {"pid": ("pid", _INT), "sig": ("sig", _p(_SIGNALS))}),
    "chdir": ("chdir", {"path": ("path", _str)}),
    "bpf": ("bpf", {"cmd": ("cmd", _p(_BPF))}),
    "unshare": ("unshare", {"flags": ("flags", _p(_CLONE))}),
    "setns": ("setns", {"fd": ("fd", _INT), "nstype": ("nstype", _p(_CLONE))}),
    "socket": ("socket", {"domain": ("domain", _p(_FAMILIES)),
                          "type": ("type", _p(_SOCKET_TYPES)), "protocol": ("proto", _INT)}),
    "listen": ("listen", {"sockfd": ("fd", _INT), "backlog": ("backlog", _INT)}),
}


def _simple_args(rec: _Rec, spec: Mapping[str, tuple[str, Parser]]) -> Section:
    args: Section = {}
    for tracee_name, (falco_name, parse) in spec.items():
        if tracee_name in rec.args:
            _put(args, falco_name, parse(rec.args[tracee_name]))
    return args


def _argv_program(argv: list[str] | None, env: list[str] | None) -> Section:
    prog: Section = {}
    if argv is not None:
        if argv:
            prog["exe"] = argv[0]
        prog["args"] = argv[1:]
    if env is not None:
        prog["env"] = env
    return prog


def _exec_args(prog: Section, filename: str | None) -> Section:
    """execve/execveat parameters (Falco names) from the new program's thread keys."""
    args: Section = {}
    _put(args, "filename", filename)
    _put(args, "exe", prog.get("exe"))
    if "args" in prog:
        args["args"] = "\0".join(prog["args"])
    if "env" in prog:
        args["env"] = "\0".join(prog["env"])
    _put(args, "comm", prog.get("comm"))
    _put(args, "cwd", prog.get("cwd"))
    _put(args, "trusted_exepath", prog.get("exepath"))
    _put(args, "exe_ino", prog.get("exe_ino"))
    _put(args, "exe_ino_ctime", prog.get("exe_ino_ctime"))
    return args


def _exec_event(rec: _Rec, argv_key: str, env_key: str) -> tuple[Section, str | None]:
    argv, env = _strings(rec.args.get(argv_key)), _strings(rec.args.get(env_key))
    return _argv_program(argv, env), _str(rec.args.get("pathname")) or None
