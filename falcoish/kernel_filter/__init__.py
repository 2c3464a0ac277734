"""Rule-derived kernel filtering: from the enabled rules, a necessary condition per event type
that the eBPF probe can test, so that events no rule could match never leave the kernel.

Pipeline stage between the resolved rules and the live source: `relax` turns each rule's
condition (specialised for one event type) into a formula of kernel tests (`ir`) implied by
the rule, and `plan` combines the rules of each type, keeps the formula within the probe's
limits, and says which rule term keeps a type wide open.  What a field means in the kernel is
the live source's business (sources/live/kfields.py), passed in as a `FieldMapper`.
"""

from .ir import DNF, FALSE, TRUE, IntTest, Literal, StrTest, Untestable
from .plan import TypeFilter, plan_filters
from .relax import FieldMapper, Relaxer

__all__ = ["DNF", "FALSE", "TRUE", "IntTest", "Literal", "StrTest", "Untestable", "TypeFilter",
           "plan_filters", "FieldMapper", "Relaxer"]
