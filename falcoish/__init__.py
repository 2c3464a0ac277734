"""falcoish: a runtime-security detection engine that speaks Falco's rules language.

Public API:
    parse_condition(text) -> syntax tree (raises ConditionSyntaxError)
    compile_condition(text, macros={...}, lists={...}) -> CompiledCondition (.evaluate(fields))
    load_rules(paths) -> LoadResult (.ruleset, .problems)
"""

from .api import CompiledCondition, compile_condition
from .errors import ConditionSyntaxError, FalcoishError, Problem, RuleError, RulesLoadError
from .events.event import BadRecord, Event
from .rules.loader import LoadResult, load_rules
from .syntax.parser import parse_condition

__all__ = [
    "BadRecord", "CompiledCondition", "ConditionSyntaxError", "Event", "FalcoishError",
    "LoadResult", "Problem", "RuleError", "RulesLoadError", "compile_condition", "load_rules",
    "parse_condition",
]
__version__ = "0.1.0"
