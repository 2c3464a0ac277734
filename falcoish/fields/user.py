"""`user.*` and `group.*` fields: the thread's effective user and group.

Pipeline step: field binding/extraction.  Why names come from the record: Falco resolves uids
against the passwd/group files *of the process' container*; the capture does that lookup once
and records the names in the `user`/`group` sections.  Falco reports uid 0 as `root` even
without a passwd entry and an unset login uid (4294967295) as -1; both are reproduced here.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.fieldtypes import INT64, STRING, UINT32
from .registry import simple
from .render import u32


def _uid(ev: Event) -> int | None:
    v = ev.user.get("uid")
    return u32(v if type(v) is int else ev.thread.get("uid"))


def _gid(ev: Event) -> int | None:
    v = ev.group.get("gid")
    return u32(v if type(v) is int else ev.thread.get("gid"))


def _named(section: Callable[[Event], dict[str, Any]], key: str,
           ident: Callable[[Event], int | None]) -> Callable[[Event], str | None]:
    """The recorded name, or `root` for id 0 when the record has no name."""
    def extract(ev: Event) -> str | None:
        v = section(ev).get(key)
        if type(v) is str:
            return v
        return "root" if ident(ev) == 0 else None
    return extract


def _loginuid(ev: Event) -> int | None:
    v = ev.thread.get("loginuid")
    if type(v) is not int:
        return None
    return -1 if v == 0xFFFFFFFF else v


def _user(ev: Event) -> dict[str, Any]:
    return ev.user


def _group(ev: Event) -> dict[str, Any]:
    return ev.group


def _str(key: str) -> Callable[[Event], str | None]:
    return lambda ev: v if type(v := ev.user.get(key)) is str else None


simple("user.uid", UINT32, "effective user id", _uid)
simple("user.name", STRING, "effective user name", _named(_user, "name", _uid))
simple("user.homedir", STRING, "home directory of the user", _str("homedir"))
simple("user.shell", STRING, "login shell of the user", _str("shell"))
simple("user.loginuid", INT64, "audit login uid (-1 when unset)", _loginuid)
simple("user.loginname", STRING, "name of the login user", _named(_user, "loginname", _loginuid))
simple("group.gid", UINT32, "effective group id", _gid)
simple("group.name", STRING, "effective group name", _named(_group, "name", _gid))
