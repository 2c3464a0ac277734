"""Rules-file items as written: lists, macros, rules and their exceptions, each with a Location.

Why a separate step: Falco first *collects* items across files (redefine, append, override,
enable by name) and only then compiles.  Declarations are what the collector works on; they
never hold compiled code ("...Decl" is as written, "Compiled..." is ready to run).

A condition is kept as `CondText`: the text plus a source map from offsets in the text to the
file positions of the fragments it was assembled from (an append in another file brings its
own location), so a syntax error at offset N points at the right file, line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location


@dataclass(frozen=True)
class Fragment:
    """A piece of condition text and where it came from.

    `raw` is the YAML source of the scalar starting at `location` (for folded or quoted
    scalars the parsed text differs from the source, so positions are aligned on demand)."""

    text: str
    location: Location
    raw: str = ""


@dataclass(frozen=True)
class CondText:
    """Condition text assembled from fragments joined by single blanks (Falco appends as
    `old + " " + new`)."""

    fragments: tuple[Fragment, ...]

    @property
    def text(self) -> str:
        return " ".join(f.text for f in self.fragments)

    def appended(self, other: "CondText") -> "CondText":
        return CondText(self.fragments + other.fragments)

    def locate(self, offset: int) -> Location:
        """File location of an offset in `text` (clamped into the text)."""
        start = 0
        for frag in self.fragments:
            end = start + len(frag.text)
            if offset <= end or frag is self.fragments[-1]:
                return _locate_in_fragment(frag, max(0, min(offset - start, len(frag.text))))
            start = end + 1
        return self.fragments[0].location if self.fragments else Location()


def _locate_in_fragment(frag: Fragment, offset: int) -> Location:
    """Map an offset in the parsed scalar text to the YAML source by aligning the two: they
    differ only in blanks, line folding, indentation and quoting."""
    loc = frag.location
    raw = frag.raw
    if not raw:
        before = frag.text[:offset]
        nl = before.rfind("\n")
        col = loc.column + offset if nl < 0 else offset - nl
        return loc.shifted(before.count("\n"), col)
    text = frag.text
    i = j = 0
    if raw[:1] in (">", "|"):                       # block scalar: skip the indicator line
        j = raw.find("\n") + 1 if "\n" in raw else len(raw)
    elif raw[:1] in ("'", '"'):
        j = 1
    while i < offset and j < len(raw):
        if text[i] == raw[j]:
            i += 1
            j += 1
        elif text[i].isspace():
            i += 1
        else:
            j += 1
    while j < len(raw) and raw[j] in " \t\n" and i < len(text):
        j += 1
    head = raw[:j]
    nl = head.rfind("\n")
    if nl < 0:
        return loc.shifted(0, loc.column + j)
    return loc.shifted(head.count("\n"), j - nl)


@dataclass(frozen=True)
class ListDecl:
    name: str
    items: tuple[str, ...]
    location: Location
    order: int          # first definition number (Falco keeps it on redefinition)
    last: int           # number of the latest definition or append


@dataclass(frozen=True)
class MacroDecl:
    name: str
    condition: CondText
    location: Location
    order: int
    last: int


@dataclass(frozen=True)
class ExceptionDecl:
    name: str
    fields: tuple[str, ...] | str          # list form, or the single-field form
    comps: tuple[str, ...] | str | None
    values: tuple[object, ...]             # tuples of (str | tuple[str, ...]) or scalars
    location: Location


@dataclass(frozen=True)
class RuleDecl:
    name: str
    condition: CondText
    output: str
    desc: str
    priority: str                          # canonical Falco name, e.g. "Informational"
    location: Location
    order: int
    last: int
    file_index: int                        # index of the file of the latest (re)definition
    source: str = "syscall"
    tags: frozenset[str] = frozenset()
    enabled: bool = True
    exceptions: tuple[ExceptionDecl, ...] = ()
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    output_location: Location = field(default_factory=Location, compare=False)
    extra: dict[str, object] = field(default_factory=dict, compare=False)
