"""Which I/O payloads the probe copies: only for event types whose enabled rules read them.

No BPF here: the choice is made from the rules (snaplen.py), and the exit programs read a
payload only through `PAYLOAD`, which looks at the per-type snapshot length set from it.
"""

from __future__ import annotations

from pathlib import Path

from falcoish import load_rules
from falcoish.sources.live import kernel, snaplen, spec

RULE = """
- rule: {name}
  desc: test
  condition: {condition}
  output: "{output}"
  priority: WARNING
"""


def ruleset(tmp_path: Path, *rules: tuple[str, str]) -> object:
    text = "".join(RULE.format(name=f"r{i}", condition=c, output=o) for i, (c, o) in enumerate(rules))
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    result = load_rules([str(path)])
    assert len(result.rules) == len(rules), result.problems
    return result.ruleset


def test_only_types_whose_rules_read_the_payload(tmp_path: Path) -> None:
    rs = ruleset(tmp_path,
                 ("evt.type=recvfrom and proc.name=java and evt.buffer bcontains cafebabe", "%proc.name"),
                 ("evt.type=sendto and fd.l4proto=udp", "sent %fd.name"),
                 ("evt.type=openat and fd.name=/etc/shadow", "%evt.args"))
    assert snaplen.payload_types(rs, spec.SUPPORTED) == {"recvfrom"}      # type: ignore[arg-type]


def test_an_output_that_shows_the_arguments_needs_the_payload(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, ("evt.type in (sendto, recvfrom) and fd.sport=4444", "%evt.type %evt.arg.data"))
    assert snaplen.payload_types(rs, {"sendto", "recvfrom", "openat"}) == {"sendto", "recvfrom"}  # type: ignore[arg-type]


def test_no_payload_rule_no_payload(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, ("evt.type=connect and fd.sport=4444", "%fd.name"))
    assert snaplen.payload_types(rs, spec.SUPPORTED) == frozenset()       # type: ignore[arg-type]
    assert snaplen.payload_types(None, {"recvfrom", "openat"}) == {"recvfrom"}


def test_field_names_that_merely_start_alike_do_not_count() -> None:
    assert snaplen.reads_payload("evt.buffer bcontains cafebabe")
    assert snaplen.reads_payload("%evt.rawarg.data") and snaplen.reads_payload("evt.arg[1] = x")
    assert not snaplen.reads_payload("evt.buflen > 10 and evt.arg.dataset = 1 and evt.argsfoo")


def test_payload_read_only_in_the_exit_programs_of_payload_types() -> None:
    index = {"fd": 0, "ubuf": 1, "size": 2, "flags": 3, "addr": 4, "addr_len": 5}
    text = kernel.gen_exit_program(spec.SYSCALLS["recvfrom"], index)
    assert "PAYLOAD(e, 1, arg1, ret)" in text and "sock_local((s64)(s32)arg0)" in text
    source, _missing, _plain = kernel.build_source({"openat", "close", "recvfrom"}, offsets=[])
    openat = source[source.index("int sx_openat("):]
    assert "PAYLOAD" not in openat[:openat.index("PLAIN_EXIT_END")]
    assert spec.DATA_TYPES == {"read", "recvfrom", "sendto", "recvmsg", "sendmsg", "write", "pwrite64", "writev",
                               "pwritev"}


def test_send_payloads_are_read_at_entry_only_where_the_rules_need_them() -> None:
    index = {"fd": 0, "buff": 1, "len": 2, "flags": 3, "addr": 4, "addr_len": 5}
    text = kernel.gen_exit_program(spec.SYSCALLS["sendto"], index)
    assert "PAYLOAD_SENT(e, 1, arg1, ret);" in text          # takes (and drops) the entry read
    wanted = {"sendto", "sendmsg", "recvfrom"}
    source, _m, _p = kernel.build_source(wanted, offsets=[], entry_payloads={"sendto"})
    assert "#define ENTER_PAYLOAD_sendto 1" in source and "ENTER_PAYLOAD_sendmsg 1" not in source
    source, _m, _p = kernel.build_source(wanted, offsets=[])
    assert "#define ENTER_PAYLOAD_" not in source


def test_read_is_attached_only_when_a_rule_names_it() -> None:
    assert "read" not in spec.capture_set(None)                 # a rule for every type
    assert "read" in spec.capture_set({"read"}) and "read" not in spec.capture_set({"openat"})


def test_write_payloads_are_read_at_entry_when_a_rule_reads_them(tmp_path: Path) -> None:
    """The write family's payload is the caller's: read at entry (as a send's), and only for
    the types whose rules read it (the default rules' TRC-9 reads all four)."""
    index = {"fd": 0, "buf": 1, "count": 2}
    assert "PAYLOAD_SENT(e, 0, arg1, ret);" in kernel.gen_exit_program(spec.SYSCALLS["write"], index)
    rs = ruleset(tmp_path, ("evt.type in (write, writev) and evt.buffer bstartswith 7f454c46", "%fd.name"),
                 ("evt.type = pwrite64 and fd.name = /etc/passwd", "%fd.name"))
    wanted = snaplen.payload_types(rs, spec.SUPPORTED)          # type: ignore[arg-type]
    assert wanted == {"write", "writev"}
    source, missing, plain = kernel.build_source({"write", "writev", "pwrite64"}, offsets=[], entry_payloads=wanted)
    assert "#define ENTER_PAYLOAD_write 1" in source and "#define ENTER_PAYLOAD_writev 1" in source
    assert "ENTER_PAYLOAD_pwrite64 1" not in source and not missing
    assert {"write", "writev", "pwrite64"} <= set(plain)


def test_the_write_family_is_attached_only_when_a_rule_names_it() -> None:
    for name in ("write", "pwrite64", "writev", "pwritev"):
        assert name not in spec.capture_set(None) and name not in spec.capture_set({"openat"})
        assert name in spec.capture_set({name})
    assert spec.SYSCALL_ALIASES_X86_64["pwritev"] == (328,)     # pwritev2 is reported as pwritev
