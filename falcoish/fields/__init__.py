"""The field registry of the syscall source: names, types, extractors and renderers.

Pipeline step: binding (compiler, step 4; output formatter, step 8).  Public API:

* `bind(FieldRef) -> BoundField`: canonical key, type, multiplicity, extractor (`Event` ->
  value or None when absent) and renderer (value -> Falco's output text); RuleError for an
  unknown field or a bad argument.
* `catalogue() -> list[FieldSpec]`: every field, for `falcoish fields`.
* `is_field_name(text) -> bool`: for the "may be a valid field misused as a const string
  value" warning.

Importing the class modules registers their fields.
"""

from __future__ import annotations

# Registration order is the catalogue order.
from . import evt, proc, user, fd, fspath, container  # noqa: F401,I001
from . import evt_more, proc_more, fdtable  # noqa: F401,I001
from .registry import BoundField, FieldSpec, bind, catalogue, is_field_name

__all__ = ["BoundField", "FieldSpec", "bind", "catalogue", "is_field_name"]
