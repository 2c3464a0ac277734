"""Socket syscalls: the descriptor table learns addresses, ports and which end is local.

Mixed into RecordDecoder (decoder.py); the handlers have its signature.
"""

from __future__ import annotations

from typing import Any, Callable

from . import net
from .rawargs import DECODERS as _DECODERS, values as _values
from .state import O_CLOEXEC, Section, StateTable, Thread

O_NONBLOCK = 0o4000
EINPROGRESS = -115


class NetHandlers:
    """socket, bind, listen, connect, accept, sendto/recvfrom/sendmsg/recvmsg."""

    state: StateTable
    _created: Callable[[Thread, Section], Section]     # RecordDecoder's

    def _socket(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        vals["flags"] = vals["type"] & (O_CLOEXEC | O_NONBLOCK)
        sec = None
        if res >= 0:
            sec = {"num": res, "type": net.family_type(vals["domain"]), "name": "",
                   "flags": vals["flags"] | 2}
            if sec["type"] in ("ipv4", "ipv6"):
                proto = net.l4proto(vals["type"], vals["proto"])
                if proto is not None:
                    sec["l4proto"] = proto
            self._created(t, sec)
        return vals, sec, t

    def _bind(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        addr = net.parse_sockaddr(vals.get("addr", b""))
        vals["addr"] = net.addr_text(addr) if addr is not None else ""
        sec = self.state.fd(t, vals["fd"])
        if res == 0 and addr is not None:
            sec = dict(sec) if sec is not None else {"num": vals["fd"], "type": net.family_type(addr.family)}
            if addr.family == net.AF_UNIX:
                sec["name"] = addr.ip
            elif addr.family in (net.AF_INET, net.AF_INET6):
                port = addr.port or self._kernel_port(t, vals["fd"], "sport")
                sec.update(type=net.family_type(addr.family), sip=addr.ip, sport=port,
                           name=f"{addr.ip}:{port}")
                if port > 0:
                    sec["is_server"] = True
            self.state.set_fd(t, sec)
        return vals, sec, t

    def _kernel_port(self, t: Thread, num: int, key: str) -> int:
        """A port the kernel chose (bind to port 0, implicit bind), read from /proc."""
        seen = self.state.kernel_view(t, num)
        if seen is None:
            return 0
        port = seen.get(key if "cip" in seen else "sport", 0)
        return port if isinstance(port, int) else 0

    def _listen(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        sec = self.state.fd(t, vals["fd"])
        if res == 0 and sec is not None:
            new = dict(sec, is_server=True)
            port = vals.get("_lport", 0) & 0xFFFF
            if port and not sec.get("sport"):
                ip = sec.get("sip") or ("::" if sec.get("type") == "ipv6" else "0.0.0.0")
                new.update(sip=ip, sport=port, name=f"{ip}:{port}")
            sec = self.state.set_fd(t, new)
        return vals, sec, t

    def _connect(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        num = vals["fd"]
        remote = net.parse_sockaddr(vals.get("_addr", b""))
        vals["addr"] = net.addr_text(remote) if remote is not None else ""
        sec = self.state.fd(t, num)
        if remote is None:
            return vals, sec, t
        if remote.family == net.AF_UNIX:
            new = dict(sec) if sec is not None else {"num": num, "type": "unix", "flags": 0}
            new.update(name=remote.ip, is_server=False, connected=True)
            vals["tuple"] = remote.ip
        elif remote.family in (net.AF_INET, net.AF_INET6):
            lip, lport = self._local_end(vals, remote.family, sec)
            if lport == 0 and res == 0:
                lport = self._kernel_port(t, num, "cport")
            new = dict(sec) if sec is not None else {"num": num, "flags": 0}
            kind = vals.get("_sktype", 0)
            if kind >> 32:              # the socket's own type and protocol (probe.c)
                proto = net.l4proto((kind >> 16) & 0xFFFF, kind & 0xFFFF)
                if proto is not None:
                    new["l4proto"] = proto
            new.setdefault("l4proto", "tcp")
            new.update(type=net.family_type(remote.family), cip=lip, cport=lport, sip=remote.ip,
                       sport=remote.port, is_server=False, connected=True,
                       name=net.tuple_text(lip, lport, remote.ip, remote.port))
            vals["tuple"] = new["name"]
        else:
            return vals, sec, t
        if res == 0 or res == EINPROGRESS:
            sec = self.state.set_fd(t, new)
        else:
            sec = sec if sec is not None else new
        return vals, sec, t

    @staticmethod
    def _local_end(vals: dict[str, Any], family: int, sec: Section | None) -> tuple[str, int]:
        port = vals.get("_lport", 0) & 0xFFFF
        if vals.get("_sk"):
            # The socket's family decides where the probe put the address, not the peer's:
            # a dual-stack (AF_INET6) socket reaching an IPv4 peer (`::ffff:a.b.c.d`, as Java
            # and many runtimes do) has its local address in the IPv6 slot, IPv4-mapped.
            raw = vals.get("_saddr6", b"")
            if len(raw) >= 16:
                return net.ip6_from_bytes(raw), port
            if family == net.AF_INET:
                return net.ip4_from_u32(vals.get("_saddr4", 0)), port
        if sec is not None and "sip" in sec and sec.get("is_server"):
            return sec["sip"], sec.get("sport", 0)       # bound before connecting
        return ("0.0.0.0" if family == net.AF_INET else "::"), port

    def _accept(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        lsec = self.state.fd(t, vals["_lfd"]) if vals["_lfd"] >= 0 else None
        peer = net.parse_sockaddr(vals.get("_peer", b""))
        if res < 0:
            return vals, None, t
        flags = vals.get("flags", 0) & (O_CLOEXEC | O_NONBLOCK)
        sec: Section = {"num": res, "flags": flags | 2}
        if peer is not None and peer.family in (net.AF_INET, net.AF_INET6):
            sip = lsec.get("sip") if lsec is not None else None
            sport = lsec.get("sport", 0) if lsec is not None else 0
            if sip in (None, "0.0.0.0", "::"):
                sip = _wildcard_local(peer)
            sec.update(type=net.family_type(peer.family), l4proto="tcp", cip=peer.ip, cport=peer.port,
                       sip=sip, sport=sport, is_server=True, connected=True,
                       name=net.tuple_text(peer.ip, peer.port, sip, sport))
            vals["tuple"] = sec["name"]
        else:
            sec.update(type=lsec.get("type", "unix") if lsec is not None else "unix",
                       name=lsec.get("name", "") if lsec is not None else "", is_server=True,
                       connected=True)
            vals["tuple"] = sec["name"]
        self._created(t, sec)
        return vals, sec, t

    def _sendrecv(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        """A datagram sent to or received from an address: the descriptor's tuple follows it
        (`fd.name_changed` when it moved).  The local end is the socket's as the probe read it
        when the call returned (an unbound socket is bound by its first send), so it is right
        even when the process is gone before the record is read.  A datagram does not connect
        the socket: `fd.connected` stays what connect() made it (Falco's `outbound` macro
        tells sendto on an unconnected socket by that)."""
        vals = _values(rec, hdr, _DECODERS[name])
        local = vals.pop("_local", 0)
        sec = self.state.fd(t, vals["fd"])
        addr = net.parse_sockaddr(vals.get("_addr", b""))
        if sec is not None and res >= 0 and addr is not None and addr.family in (net.AF_INET, net.AF_INET6):
            new = dict(sec, connected=bool(sec.get("connected")))
            new.pop("name_changed", None)
            if sec.get("is_server"):
                new.update(cip=addr.ip, cport=addr.port)
            else:
                lip, lport = net.sock_local(local)
                wildcard = "0.0.0.0" if addr.family == net.AF_INET else "::"
                if lip is not None:
                    new["cip"] = lip
                else:
                    new.setdefault("cip", wildcard)
                if lport:
                    new["cport"] = lport
                elif not new.get("cport"):
                    new["cport"] = self._kernel_port(t, vals["fd"], "cport") if name.startswith("send") else 0
                new.update(sip=addr.ip, sport=addr.port, is_server=False)
            new["name"] = net.tuple_text(new["cip"], new["cport"], new["sip"], new["sport"])
            changed = new["name"] != sec.get("name")
            self.state.set_fd(t, new)
            sec = dict(new, name_changed=True) if changed else new
        if sec is not None and "->" in sec.get("name", ""):
            vals["tuple"] = sec["name"]
        return vals, sec, t


def _wildcard_local(peer: net.Addr) -> str:
    """Local address of a socket accepted on a wildcard listener: only loopback is certain."""
    if peer.family == net.AF_INET:
        return peer.ip if peer.ip.startswith("127.") else "0.0.0.0"
    return "::1" if peer.ip == "::1" else "::"


