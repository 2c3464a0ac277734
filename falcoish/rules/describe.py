"""A rule's effective definition after every file was loaded, and where each part came from.

Why: Falco users tune the stock rules from `falco_rules.local.yaml` (overrides, appends,
exceptions, disabling) and then need to see what a rule has become: its condition as the
appends left it, the same condition with every macro and list resolved (what actually runs,
exceptions included), the output with what `append_output`/`-p` added, and each file:line
that defined, appended to or overrode it.  `falcoish rules NAME` prints this; `--json` the
same as one object per rule.
"""

from __future__ import annotations

from typing import Any, Iterable

import orjson

from ..rulefiles.collector import Change, RuleBook
from ..rulefiles.decls import ExceptionDecl
from ..errors import ConditionSyntaxError, RuleError, closest
from .loader import LoadResult
from ..syntax.parser import parse_condition
from ..rulefiles.resolve import Resolver
from ..rulefiles.exceptions import with_exceptions
from .ruleset import CompiledRule


def find_rules(rules: Iterable[CompiledRule], name: str) -> list[CompiledRule]:
    """The rule called `name`, or the rules tagged with it when it is a TRC id (`TRC-2`)."""
    rules = list(rules)
    exact = [r for r in rules if r.name == name]
    if exact:
        return exact
    upper = name.upper()
    if upper.startswith("TRC-") and upper[4:].isdigit():
        return [r for r in rules if any(t.upper() == upper for t in r.tags)]
    return []


def not_found_message(name: str, rules: Iterable[CompiledRule]) -> str:
    """Falco-style "no rule named 'X'; did you mean 'Y'?" (the same suggestions as load errors)."""
    close = closest(name, (r.name for r in rules))
    hint = "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else ""
    return f"no rule named '{name}'{hint}"


def describe_rule(result: LoadResult, rule: CompiledRule) -> dict[str, Any]:
    """Everything `rules NAME --json` shows for one rule (JSON-ready)."""
    book = result.book
    decl = book.rules.get(rule.name)
    output = result.outputs.get(rule.name)
    macros, lists = _uses(book, rule.name)
    return {
        "rule": rule.name,
        "enabled": rule.enabled,
        "priority": rule.priority,
        "source": rule.source,
        "tags": sorted(rule.tags),
        "desc": rule.desc.strip(),
        "condition": decl.condition.text.strip() if decl else "",
        "condition_expanded": rule.condition.render(),
        "output": output.text if output is not None else rule.output,
        "output_as_written": rule.output,
        "exceptions": [exception_json(e) for e in (decl.exceptions if decl else ())],
        "history": history_json(book, "rule", rule.name),
        "macros": [_item_json(book, "macro", name) for name in macros],
        "lists": [_item_json(book, "list", name) for name in lists],
    }


def exception_json(exc: ExceptionDecl) -> dict[str, Any]:
    return {"name": exc.name, "fields": exc.fields, "comps": exc.comps, "values": exc.values}


def history_json(book: RuleBook, kind: str, name: str) -> list[dict[str, Any]]:
    return [_change_json(c) for c in book.history.get((kind, name), ())]


def _change_json(change: Change) -> dict[str, Any]:
    return {"file": change.location.file, "line": change.location.line, "action": change.action,
            "fields": list(change.fields)}


def _item_json(book: RuleBook, kind: str, name: str) -> dict[str, Any]:
    """A macro or list: where it was last (re)defined, and its whole history."""
    history = book.history.get((kind, name), ())
    defined = [c for c in history if c.action in ("define", "redefine")]
    last = defined[-1] if defined else None
    return {kind: name, "file": last.location.file if last else "", "line": last.location.line if last else 0,
            "history": [_change_json(c) for c in history]}


def _uses(book: RuleBook, rule_name: str) -> tuple[list[str], list[str]]:
    """The macros and lists the rule's condition (exceptions included) reaches, directly or
    through other macros and lists: resolved again on a fresh resolver, which records them."""
    decl = book.rules.get(rule_name)
    if decl is None:
        return [], []
    resolver = Resolver(book, parse_condition)
    try:
        resolver.resolve(with_exceptions(decl.condition, decl.exceptions).text)
    except (ConditionSyntaxError, RuleError):   # it compiled at load; nothing more to learn here
        pass
    return sorted(resolver.used_macros), sorted(resolver.used_lists)


def render_text(info: dict[str, Any]) -> str:
    """The human view of `describe_rule`'s result."""
    lines = [
        f"rule:       {info['rule']}",
        f"enabled:    {'yes' if info['enabled'] else 'no'}",
        f"priority:   {info['priority']}",
        f"source:     {info['source']}",
        f"tags:       {', '.join(info['tags']) or '-'}",
        f"desc:       {' '.join(info['desc'].split())}",
        "condition (as written):",
        _indent(info["condition"]),
        "condition (expanded: macros, lists and exceptions resolved):",
        _indent(info["condition_expanded"]),
    ]
    if info["output"] != info["output_as_written"]:
        lines += ["output (as written):", _indent(info["output_as_written"]),
                  "output (with what append_output / -p add):", _indent(info["output"])]
    else:
        lines += ["output:", _indent(info["output"])]
    if info["exceptions"]:
        lines.append("exceptions:")
        for exc in info["exceptions"]:
            lines.append(f"    - name: {exc['name']}")
            lines.append(f"      fields: {_short(exc['fields'])}")
            if exc["comps"] is not None:
                lines.append(f"      comps: {_short(exc['comps'])}")
            lines.append(f"      values: {_short(exc['values'])}")
    lines.append("history:")
    lines.extend(f"    {h['file']}:{h['line']}  {_action(h)}" for h in info["history"])
    for kind in ("macros", "lists"):
        if info[kind]:
            lines.append(f"{kind}:")
            for item in info[kind]:
                name = item[kind[:-1]]
                appends = [f"{h['file']}:{h['line']}" for h in item["history"]
                           if h["action"] not in ("define", "redefine")]
                more = f"  (then appended/overridden at {', '.join(appends)})" if appends else ""
                lines.append(f"    {name}  {item['file']}:{item['line']}{more}")
    return "\n".join(lines)


def _action(change: dict[str, Any]) -> str:
    words = {"define": "defined", "redefine": "redefined", "enable": "enabled", "disable": "disabled"}
    action = str(change["action"])
    return " ".join([words.get(action, action), ", ".join(change["fields"])]).strip() \
        if action in ("append", "override") else words.get(action, action)


def _indent(text: str) -> str:
    return "\n".join("    " + line.strip() for line in text.strip().splitlines() if line.strip()) or "    -"


def _short(value: Any) -> str:
    """A one-line view of exception fields/comps/values: JSON, so that a value with blanks,
    commas or brackets (attacker-chosen command lines) reads unambiguously."""
    return orjson.dumps(value).decode()
