"""falcoish.yaml: the settings of a run, checked against one schema table.

Step 0 of the pipeline (configured): before rules are loaded or an event is read, the run's
settings are merged from three layers -- built-in defaults, then the YAML file
(`/etc/falcoish/falcoish.yaml` or `-c PATH`), then each `-o key=value` in command-line order --
and checked against `SCHEMA`.  Why a table: the keys, their types, defaults and checks live in
one place, so an unknown key or a wrong type is an error that names the key and where it was
written (`file:line` or the `-o` text), docs/outputs.md can be checked against it, and the rest
of falcoish reads a frozen `Config` that cannot be half-valid.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any, Iterator, Mapping, Sequence

import yaml

from .checks import together
from .falco import falco_only, ignored_warnings, map_stock_rules
from .schema import SCHEMA as SCHEMA, SECTIONS as SECTIONS
from .schema import _LIST_KEYS, _MAP_KEYS, _TEXT_CHECKS
from .values import Key, _Bad, _template
from ..errors import FalcoishError, closest
from ..file_safety import insecure

DEFAULT_PATH = "/etc/falcoish/falcoish.yaml"


class ConfigError(FalcoishError):
    """A bad setting.  `key` is the dotted key (None for file-level problems), `origin` says
    where it was written: `path:line`, `path`, or `-o key=value`."""

    def __init__(self, key: str | None, origin: str, reason: str,
                 more: Sequence["ConfigError"] = ()) -> None:
        self.key = key
        self.origin = origin
        self.reason = reason
        #: every problem found in the one pass over the settings, this one first
        self.errors: tuple[ConfigError, ...] = (self, *more)
        where = f"{origin}: key '{key}'" if key else origin
        #: this one problem, on one line
        self.line = f"{where}: {reason}"
        super().__init__("\n".join([self.line, *(e.line for e in more)]))


# -- the frozen result ----------------------------------------------------------------------

class Section:
    """Read-only attribute access to one level of settings (`cfg.http_output.url`)."""

    __slots__ = ("_prefix", "_values")

    def __init__(self, prefix: str, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no config key '{self._prefix}{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("falcoish configuration is read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self._values.items():
            if isinstance(value, Section):
                out[name] = value.to_dict()
            elif isinstance(value, Mapping):
                out[name] = dict(value)
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out


class Config(Section):
    """The merged, checked settings of a run.  `source` is the file read, if any; `warnings`
    what loading found worth telling but not fatal."""

    __slots__ = ("source", "warnings")

    def __init__(self, values: dict[str, Any], source: str | None,
                 warnings: tuple[str, ...] = ()) -> None:
        nested: dict[str, Any] = {}
        for key, value in values.items():
            if "." in key:
                section, name = key.split(".", 1)
                nested.setdefault(section, {})[name] = value
            else:
                nested[key] = value
        for section in SECTIONS:
            nested[section] = Section(section + ".", nested[section])
        super().__init__("", nested)
        object.__setattr__(self, "source", source)
        #: what loading found worth telling but not fatal (Falco keys ignored, ...), printed once at start
        object.__setattr__(self, "warnings", warnings)

    def get(self, key: str) -> Any:
        """A value by dotted key (`cfg.get("http_output.url")`)."""
        if key not in SCHEMA:
            raise KeyError(key)
        value: Any = self
        for part in key.split("."):
            value = getattr(value, part)
        return value


def defaults() -> Config:
    return Config({key: spec.default for key, spec in SCHEMA.items()}, None)


# -- loading --------------------------------------------------------------------------------

def load_config(path: str | None, overrides: list[str], allow_insecure: bool = False) -> Config:
    """Defaults, then the file (`path`, or DEFAULT_PATH when it exists), then `-o` overrides.
    As root, a config file another user could change is refused unless `allow_insecure`
    (file_safety.py: the config names programs root runs).

    Every problem is found in one pass and raised together (ConfigError.errors): fixing a
    copied falco.yaml must not take one run per key.  Falco's keys that falcoish lacks are
    warnings (Config.warnings), not errors."""
    state = _Load()
    source = path
    if source is None and os.path.exists(DEFAULT_PATH):
        source = DEFAULT_PATH
    if source is not None:
        reason = None if allow_insecure else insecure(source, "config file")
        if reason is not None:
            raise ConfigError(None, source, reason)
        _read_file(source, state)
    for item in overrides:
        _apply_override(item, state)
    state.finish()
    if state.errors:
        first = state.errors[0]
        raise ConfigError(first.key, first.origin, first.reason, state.errors[1:])
    return Config(state.values, source, tuple(state.warnings))


class _Load:
    """The settings being merged, and every error and warning met so far."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {key: spec.default for key, spec in SCHEMA.items()}
        self.origins: dict[str, str] = {}
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        #: Falco's keys met that falcoish ignores: (origin, table key), each once
        self.ignored: list[tuple[str, str]] = []

    def error(self, key: str | None, origin: str, reason: str) -> None:
        self.errors.append(ConfigError(key, origin, reason))

    def set(self, key: str, value: Any, origin: str) -> None:
        spec = SCHEMA.get(key)
        if spec is None:
            self.unknown(key, origin)
            return
        try:
            self.values[key] = spec.check(value)
        except _Bad as exc:
            self.error(key, origin, str(exc))
            return
        self.origins[key] = origin

    def unknown(self, key: str, origin: str) -> None:
        """A key falcoish lacks: Falco's are warned about once each, the rest are errors."""
        entry = falco_only(key)
        if entry is None:
            self.error(key, origin, "unknown key" + suggest(key))
        elif all(entry != met for _, met in self.ignored):
            self.ignored.append((origin, entry))

    def finish(self) -> None:
        """The checks that need every setting: Falco's stock rule paths, then combinations."""
        self.warnings[:0] = ignored_warnings(self.ignored)
        if not self.errors:
            paths, notes = map_stock_rules(self.values["rules_files"],
                                           self.origins.get("rules_files", "defaults"))
            self.values["rules_files"] = paths
            self.warnings.extend(notes)
        if self.errors:      # the combinations of values that failed their own check mean nothing
            return
        errors, cautions = together(self.values, self.origins)
        for key, origin, reason in errors:
            self.error(key, origin, reason)
        self.warnings.extend(f"{origin}: key '{key}': {reason}" for key, origin, reason in cautions)
        if self.values["http_output.template_file"]:
            _check_template_file(self.values["http_output.template_file"],
                                 self.origins["http_output.template_file"], self)


def suggest(key: str) -> str:
    """` (did you mean ...?)` for an unknown dotted key, or "".  Inside a known section only its
    own keys are offered (`http_output.urll` -> `http_output.url`), never the section itself
    (`http_output.echo` is not a typo of `http_output`); failing that, the same name where
    falcoish has it (`program_output.url` -> `http_output.url`)."""
    section, dot, leaf = key.rpartition(".")
    if section in SECTIONS:
        found = [f"{section}.{name}" for name in
                 closest(leaf, [k.split(".", 1)[1] for k in SCHEMA if k.startswith(section + ".")])]
    elif not dot:
        found = closest(key, [k for k in SCHEMA if "." not in k] + sorted(SECTIONS))
    else:
        found = closest(key, [k for k in SCHEMA if "." in k])
    found = found or [k for k in SCHEMA if k.rsplit(".", 1)[-1] == leaf and k != key]
    return " (did you mean " + " or ".join(f"'{k}'" for k in found) + "?)" if found else ""


def _read_file(path: str, state: _Load) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(None, path, f"cannot read config file: {exc.strerror or exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ConfigError(None, path, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(None, _at(path, root), "the file must be a mapping of keys to values")
    for key, key_node, node in _pairs(loader, root, "", path, state):
        origin = _at(path, key_node)
        if key not in SECTIONS:
            if key in SCHEMA:
                _set_node(loader, key, node, path, origin, state)
            else:
                state.unknown(key, origin)
            continue
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            continue
        if not isinstance(node, yaml.MappingNode):
            state.error(key, origin, "expected a mapping of settings")
            continue
        for sub, sub_key_node, sub_node in _pairs(loader, node, key + ".", path, state):
            full, sub_origin = f"{key}.{sub}", _at(path, sub_key_node)
            if full in SCHEMA:
                _set_node(loader, full, sub_node, path, sub_origin, state)
            else:
                state.unknown(full, sub_origin)


def _set_node(loader: yaml.SafeLoader, key: str, node: yaml.Node, path: str, origin: str,
              state: _Load) -> None:
    try:
        value = _construct(loader, node, path)
    except ConfigError as err:
        state.errors.append(err)
        return
    state.set(key, value, origin)


def _pairs(loader: yaml.SafeLoader, node: yaml.MappingNode, prefix: str, path: str,
           state: _Load) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    seen: set[str] = set()
    for key_node, value_node in node.value:
        try:
            key = _construct(loader, key_node, path)
        except ConfigError as err:
            state.errors.append(err)
            continue
        if not isinstance(key, str):
            state.error(f"{prefix}{key}", _at(path, key_node), "keys must be strings")
        elif key in seen:
            state.error(prefix + key, _at(path, key_node), "duplicate key")
        else:
            seen.add(key)
            yield key, key_node, value_node


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: str) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(None, _at(path, node), f"not valid YAML: {exc}") from None


def _at(path: str, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


#: Falco's list syntax for -o: `key[N]=value`, `key[N].sub.key=value`; `key[]` appends
_INDEXED = re.compile(r"(?P<base>[A-Za-z_][\w.]*?)\[(?P<index>\d*)\](?P<rest>(?:\.\w+)*)")
#: append_output entry keys whose values are text, taken verbatim like other string keys
_ENTRY_TEXT = frozenset({"extra_output", "source", "rule"})


def _apply_override(item: str, state: _Load) -> None:
    origin = f"-o {item}"
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        state.error(key or None, origin, "expected -o key=value")
        return
    indexed = _INDEXED.fullmatch(key)
    if indexed is not None:
        _apply_indexed(indexed, text, origin, state)
        return
    if key in SECTIONS:
        parsed = _yaml_value(text)
        if not isinstance(parsed, dict):
            state.error(key, origin, "a section is set with a {key: value, ...} mapping")
            return
        for sub, value in parsed.items():
            state.set(f"{key}.{sub}", value, origin)
        return
    map_key = next((k for k in _MAP_KEYS if key.startswith(k + ".")), None)
    if map_key is not None:
        merged = dict(state.values[map_key])
        merged[key[len(map_key) + 1:]] = text
        state.set(map_key, merged, origin)
        return
    spec = SCHEMA.get(key)
    if spec is None:
        state.unknown(key, origin)
    else:
        state.set(key, _override_value(key, spec, text), origin)


def _apply_indexed(match: re.Match[str], text: str, origin: str, state: _Load) -> None:
    """`-o key[N]...=value`: replace entry N of a list key (N = its length, or `[]`, appends);
    `.sub.key` after the index sets one key inside an `append_output` entry."""
    base, rest = match["base"], match["rest"]
    if base not in SCHEMA:
        state.unknown(base, origin)
        return
    if base not in _LIST_KEYS and base != "append_output":
        state.error(base, origin, "is not a list: [N] only applies to rules_files and append_output")
        return
    entries = list(state.values[base])
    index = len(entries) if match["index"] == "" else int(match["index"])
    if index > len(entries):
        state.error(base, origin, f"index {index} is past the end of the list ({len(entries)} "
                                  f"entries): use [{len(entries)}] or [] to append")
        return
    if base in _LIST_KEYS:
        if rest:
            state.error(base, origin, f"{base} entries are paths, not mappings")
            return
        value: Any = text
    elif rest:
        value = copy.deepcopy(entries[index]) if index < len(entries) else {}
        *parents, leaf = rest[1:].split(".")
        node = value
        for name in parents:
            if not isinstance(node.get(name), dict):
                node[name] = {}
            node = node[name]
        node[leaf] = text if leaf in _ENTRY_TEXT else _yaml_value(text)
    else:
        value = _yaml_value(text)
    if index < len(entries):
        entries[index] = value
    else:
        entries.append(value)
    state.set(base, entries, origin)


def _override_value(key: str, spec: Key, text: str) -> Any:
    stripped = text.strip()
    if spec.check in _TEXT_CHECKS and not stripped.startswith(("'", '"')):
        return text
    if key in _LIST_KEYS and not stripped.startswith("["):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return _yaml_value(text)


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def _check_template_file(path: str, origin: str, state: _Load) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        state.error("http_output.template_file", origin, f"cannot read {path}: {exc.strerror or exc}")
        return
    try:
        _template(text)
    except _Bad as exc:
        state.error("http_output.template_file", origin, f"{path}: {exc}")
