"""The rules pipeline end to end: files -> items -> book -> resolved -> compiled -> RuleSet.

Why a facade: the CLI, the Python API and (later) hot reload all load rules the same way.
Problems are collected from every stage and every file; a broken item never hides the
others, and nothing is dropped silently: a rule that cannot be compiled is reported with
its file, line, column and name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..rulefiles.collector import KNOWN_SOURCES, Collector, RuleBook, check_plugin_requirements
from ..condition.compiler import Compiler, InMacro
from ..rulefiles.decls import RuleDecl
from ..errors import (ConditionSyntaxError, Location, Problem, Problems, RuleError, RulesLoadError,
                      did_you_mean)
from ..events.table import EVENT_NAMES
from ..condition.evttypes import event_types
from ..fields import bind
from ..fields.registry import field_names
from ..file_safety import insecure
from ..syntax.nodes import FieldRef
from ..config.append import (CONTAINER_INFO_WARNING, DEFAULT_APPEND, AppendOutput, rule_extra_fields,
                             rule_output)
from ..output.format import OutputFormat
from ..syntax.parser import parse_condition
from ..rulefiles.resolve import MacroError, Resolver
from ..rulefiles.exceptions import ExceptionError, with_exceptions
from ..rulefiles.rulefile import RawItem, read_rules_file
from .ruleset import CompiledRule, RuleSet

COMPILE_CONDITION = "LOAD_ERR_COMPILE_CONDITION"
#: a rules file or folder refused as root because another user could change it
INSECURE_FILE = "LOAD_ERR_FILE_PERMISSIONS"
_UNKNOWN_FILTER_MARKERS = ("nonexistent field", "invalid formatting token", "unknown event type",
                           "unknown filter:", "unknown event argument")


@dataclass
class LoadResult:
    """What a load produced: the rule set (only rules that compiled) and every problem."""

    ruleset: RuleSet
    problems: Problems
    book: RuleBook
    outputs: dict[str, OutputFormat]
    files: list[str]

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self.ruleset.rules

    @property
    def errors(self) -> list[Problem]:
        return self.problems.errors

    @property
    def warnings(self) -> list[Problem]:
        return self.problems.warnings

    @property
    def ok(self) -> bool:
        return not self.problems.errors

    def raise_for_errors(self) -> "LoadResult":
        if self.problems.errors:
            raise RulesLoadError(self.problems)
        return self


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files in load order: a folder contributes its *.yaml/*.yml files, sorted, no recursion."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(os.path.join(path, n) for n in sorted(os.listdir(path))
                         if n.endswith((".yaml", ".yml")) and os.path.isfile(os.path.join(path, n)))
        else:
            files.append(path)
    return files


def load_rules(paths: Sequence[str], suggested_output: bool = True,
               allow_insecure: bool = False,
               append_output: Sequence[AppendOutput] | None = None) -> LoadResult:
    """Load rules files in order, Falco-style, and compile every rule.

    As root, a rules file or folder that another user can change is an error and is not
    read (file_safety.py), unless `allow_insecure`.
    Never raises for bad rules: inspect `result.problems` (or call `raise_for_errors()`)."""
    problems = Problems()
    files = expand_paths(paths)
    collector = Collector(problems)
    seen: list[RawItem] = []
    for path in files if allow_insecure else _safe_files(paths, problems):
        items = read_rules_file(path, problems, seen)
        seen.extend(items)
        collector.add_file(items)
    book = collector.book
    check_plugin_requirements(book, problems)
    append = DEFAULT_APPEND if append_output is None else tuple(append_output)
    if not suggested_output:
        append = tuple(AppendOutput(a.extra_output, False, a.source, a.rule, a.tags, a.extra_fields) for a in append)
    failed = {(p.location.item_kind, p.location.item_name) for p in problems.errors}
    failed_texts = [_raw_text(i) for i in seen if (i.kind, i.name) in failed]
    return _compile_book(book, problems, files, append, failed_texts)


def _safe_files(paths: Sequence[str], problems: Problems) -> list[str]:
    """expand_paths, leaving out (as errors) what another user than root could change."""
    files: list[str] = []
    for path in paths:
        folder = os.path.isdir(path)
        reason = insecure(path, "rules folder" if folder else "rules file")
        if reason is not None:
            problems.error(INSECURE_FILE, reason, Location(path))
            continue
        for name in expand_paths([path]) if folder else [path]:
            reason = insecure(name, "rules file") if folder else None
            if reason is not None:
                problems.error(INSECURE_FILE, reason, Location(name))
            else:
                files.append(name)
    return files


def _raw_text(item: RawItem) -> str:
    """What an item refused before compilation (bad shape, bad priority, override of a
    missing rule...) names: its condition, list items and exception values."""
    values = item.values
    words = [str(values.get("condition", ""))] + [str(v) for v in values.get("items", ())]
    for exc in values.get("exceptions", ()):
        words.append(str(exc.get("values", "")))
    return " ".join(words)


def _compile_book(book: RuleBook, problems: Problems, files: list[str],
                  suggested: Sequence[AppendOutput], failed_texts: Sequence[str] = ()) -> LoadResult:
    """Resolve and compile the book.  `failed_texts`: the text of items that failed before
    this stage; what they name counts as used (no knock-on LOAD_UNUSED_* warnings)."""
    resolver = Resolver(book, parse_condition)
    for text in failed_texts:
        resolver.mark_referenced(text)
    for name, macro in book.macros.items():
        try:
            resolver.macro(name)
        except MacroError as err:
            _report_macro_error(book, err, problems)
            resolver.mark_referenced(macro.condition.text)
        except RuleError as err:      # a loop detected at this macro itself
            problems.error(err.code, err.reason, macro.location)
            resolver.mark_referenced(macro.condition.text)
    rules: list[CompiledRule] = []
    outputs: dict[str, OutputFormat] = {}
    for decl in sorted(book.rules.values(), key=lambda r: r.order):
        if decl.source not in KNOWN_SOURCES:
            problems.warning("LOAD_UNKNOWN_SOURCE", f"Unknown source {decl.source}, skipping", decl.location)
            continue
        compiled = _compile_rule(decl, book, resolver, problems, suggested)
        if compiled is not None:
            rules.append(compiled[0])
            outputs[decl.name] = compiled[1]
        else:
            resolver.mark_referenced(_written_text(decl))
    _report_near_misses(book, resolver, problems, rules)
    for name, macro in book.macros.items():
        if name not in resolver.used_macros:
            problems.warning("LOAD_UNUSED_MACRO", "Macro not referred to by any other rule/macro", macro.location)
    for name, lst in book.lists.items():
        if name not in resolver.used_lists:
            problems.warning("LOAD_UNUSED_LIST", "List not referred to by any other rule/macro", lst.location)
    return LoadResult(RuleSet(rules), problems, book, outputs, files)


def _report_near_misses(book: RuleBook, resolver: Resolver, problems: Problems,
                        rules: list[CompiledRule]) -> None:
    """Warn about words in value lists that look like misspelt list names (resolve.py),
    at the macro or rule that wrote them."""
    for name, macro in book.macros.items():
        for message, offset in resolver.near_misses.get(macro.condition.text, ()):
            problems.warning("LOAD_COMPILE_CONDITION", message,
                             _named(macro.condition.locate(offset), "macro", name))
    for rule in rules:
        decl = book.rules[rule.name]
        cond = with_exceptions(decl.condition, decl.exceptions)
        for message, offset in resolver.near_misses.get(cond.text, ()):
            problems.warning("LOAD_COMPILE_CONDITION", message, _named(cond.locate(offset), "rule", rule.name))


def _written_text(decl: RuleDecl) -> str:
    """A rule's condition and exception values as written: what it refers to by name."""
    words = [decl.condition.text]
    for exc in decl.exceptions:
        for value in exc.values:
            words.extend(value if isinstance(value, tuple) else (value,))
    return " ".join(str(w) for w in words)


def _report_macro_error(book: RuleBook, err: MacroError, problems: Problems) -> None:
    macro = book.macros[err.macro]
    where = macro.condition.locate(err.offset) if err.offset >= 0 else macro.location
    code = COMPILE_CONDITION if isinstance(err.error, ConditionSyntaxError) else err.code
    problems.error(code, err.reason, _named(where, "macro", err.macro))


def _named(loc: Location, kind: str, name: str) -> Location:
    return Location(loc.file, loc.line, loc.column, kind, name)


def _compile_rule(decl: RuleDecl, book: RuleBook, resolver: Resolver, problems: Problems,
                  suggested: Sequence[AppendOutput]) -> tuple[CompiledRule, OutputFormat] | None:
    here = _named(decl.location, "rule", decl.name)
    try:
        cond = with_exceptions(decl.condition, decl.exceptions)
        _check_exception_fields(decl)
    except ExceptionError as err:
        problems.error(err.code, err.reason, _named(err.exception.location, "rule", decl.name))
        return None
    text = cond.text
    warnings: list[tuple[str, int]] = []
    try:
        visible = lambda m: book.macro_files.get(m.name, 0) <= decl.file_index  # noqa: E731
        tree = resolver.resolve(text, visible)
        predicate = Compiler(warn=lambda msg, pos: warnings.append((msg, pos))).compile(tree)
    except MacroError as err:
        problems.error(err.code, f"Rule uses macro '{err.macro}', which has errors: {err.reason}", here)
        return None
    except InMacro as err:
        if not _skippable(decl, err, problems, here):
            macro = book.macros[err.macro]
            where = macro.condition.locate(err.offset) if err.offset >= 0 else macro.location
            problems.error(err.code, f"{err.reason} (in macro '{err.macro}')", _named(where, "rule", decl.name))
        return None
    except (ConditionSyntaxError, RuleError) as err:
        if not _skippable(decl, err, problems, here):
            code = getattr(err, "code", COMPILE_CONDITION)
            where = cond.locate(err.offset) if err.offset >= 0 else here
            problems.error(code, err.reason, _named(where, "rule", decl.name))
        return None
    try:
        text, container_info = rule_output(decl.output, decl.name, decl.source, decl.tags, suggested)
        output = OutputFormat(text, rule_extra_fields(decl.name, decl.source, decl.tags, suggested))
        if container_info:
            problems.warning("LOAD_DEPRECATED_ITEM", CONTAINER_INFO_WARNING, here)
    except RuleError as err:
        if not _skippable(decl, err, problems, here):
            problems.error("LOAD_ERR_COMPILE_OUTPUT", err.reason, _named(decl.output_location, "rule", decl.name))
        return None
    for message, pos in warnings:
        problems.warning("LOAD_COMPILE_CONDITION", message, _named(cond.locate(pos), "rule", decl.name))
    types = event_types(tree, EVENT_NAMES)
    all_types = types == EVENT_NAMES
    if all_types and decl.warn_evttypes:
        problems.warning("LOAD_NO_EVTTYPE", "Rule matches too many evt.type values. This has a "
                         "significant performance penalty.", here)
    rule = CompiledRule(decl.name, decl.priority, decl.desc, decl.output, decl.tags, decl.source,
                        decl.enabled, tree, predicate, types, all_types, decl.order, decl.location)
    return rule, output


def _skippable(decl: RuleDecl, err: ConditionSyntaxError | RuleError, problems: Problems, here: Location) -> bool:
    """`skip-if-unknown-filter: true` turns unknown-field errors into a warning."""
    if decl.skip_if_unknown_filter and any(m in err.reason for m in _UNKNOWN_FILTER_MARKERS):
        problems.warning("LOAD_UNKNOWN_FILTER", f"{err.reason} (rule skipped: skip-if-unknown-filter)", here)
        return True
    return False


def _check_exception_fields(decl: RuleDecl) -> None:
    for exc in decl.exceptions:
        names = (exc.fields,) if isinstance(exc.fields, str) else exc.fields
        for name in names:
            try:
                tree = parse_condition(f"{name} exists")
                lhs = getattr(tree, "lhs", None)
                if isinstance(lhs, FieldRef):
                    bind(lhs)
            except (ConditionSyntaxError, RuleError):
                raise ExceptionError(f"'{name}' is not a supported filter field"
                                     f"{did_you_mean(name, field_names())}", exc) from None
