"""falcoish.yaml loading: defaults -> file -> -o, and errors that name the key and where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from falcoish.config import settings as config_mod
from falcoish.config.settings import SCHEMA, ConfigError, load_config


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_mod, "DEFAULT_PATH", str(tmp_path / "absent" / "falcoish.yaml"))


def write(tmp_path: Path, text: str, name: str = "falcoish.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_without_any_file() -> None:
    cfg = load_config(None, [])
    assert cfg.source is None
    assert cfg.priority == "Debug"
    assert cfg.json_output is False
    assert cfg.json_include_output_property is True
    assert cfg.json_include_tags_property is True
    assert cfg.stdout_output.enabled is True
    assert cfg.syslog_output.enabled is False
    assert cfg.http_output.enabled is False
    assert cfg.outputs.rate == 0.0 and cfg.outputs.max_burst == 1000
    assert cfg.rules_files == ()
    assert dict(cfg.http_output.headers) == {}


def test_default_path_is_used_when_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, "json_output: true\n")
    monkeypatch.setattr(config_mod, "DEFAULT_PATH", path)
    cfg = load_config(None, [])
    assert cfg.source == path and cfg.json_output is True


def test_file_values_nested_sections_and_normalisation(tmp_path: Path) -> None:
    path = write(tmp_path, """
rules_files:
  - /etc/falcoish/rules.yaml
  - /etc/falcoish/rules.d
priority: WARNING
rule_matching: All
json_output: true
time_format_iso_8601: true
buffered_outputs: true
outputs:
  rate: 2
  max_burst: 5
outputs_queue:
  capacity: 0
file_output:
  enabled: true
  filename: /var/log/falcoish.log
  keep_alive: true
http_output:
  enabled: true
  url: https://hooks.example.com/falco
  headers:
    Authorization: Bearer abc
    X-Retry: 3
  template: '{"text": {{ .Output | json }}}'
syslog_output:
""")
    cfg = load_config(path, [])
    assert cfg.rules_files == ("/etc/falcoish/rules.yaml", "/etc/falcoish/rules.d")
    assert cfg.priority == "Warning"
    assert cfg.rule_matching == "all"
    assert cfg.outputs.rate == 2.0 and isinstance(cfg.outputs.rate, float)
    assert cfg.outputs.max_burst == 5
    assert cfg.outputs_queue.capacity == 0
    assert cfg.file_output.keep_alive is True
    assert cfg.http_output.headers == {"Authorization": "Bearer abc", "X-Retry": "3"}
    assert cfg.get("http_output.url") == "https://hooks.example.com/falco"
    assert cfg.syslog_output.enabled is False


@pytest.mark.parametrize("text, key, line", [
    ("json_outptu: true\n", "json_outptu", 1),
    ("priority: debug\nhttp_output:\n  enabled: false\n  urll: http://x\n", "http_output.urll", 4),
    ("grpc_output:\n  enabled: true\n", "grpc_output", 1),
])
def test_unknown_keys_are_errors_naming_key_file_and_line(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, [])
    assert info.value.key == key
    assert info.value.origin == f"{path}:{line}"
    assert f"key '{key}'" in str(info.value) and "unknown key" in str(info.value)


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'json_output'"):
        load_config(write(tmp_path, "json_outptu: true\n"), [])


@pytest.mark.parametrize("text, key, reason", [
    ("json_output: maybe\n", "json_output", "expected true or false"),
    ("outputs:\n  max_burst: lots\n", "outputs.max_burst", "expected an integer"),
    ("outputs:\n  max_burst: 0\n", "outputs.max_burst", "must be >= 1"),
    ("outputs:\n  rate: -1\n", "outputs.rate", "must be >= 0"),
    ("priority: loud\n", "priority", "unknown priority 'loud'"),
    ("rules_files: {a: 1}\n", "rules_files", "expected a list of strings"),
    ("http_output: true\n", "http_output", "expected a mapping"),
    ("http_output:\n  url: ftp://example.com\n", "http_output.url", "http:// or https://"),
    ("http_output:\n  headers: [a, b]\n", "http_output.headers", "mapping of names"),
    ("http_output:\n  template: '{{ .Rul }}'\n", "http_output.template", "unknown field '.Rul'"),
    ("program_output:\n  program: \"echo 'unclosed\"\n", "program_output.program", "cannot split"),
    ("json_output: true\njson_output: false\n", "json_output", "duplicate key"),
])
def test_wrong_values_name_the_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, [])
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}:")


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "json_output: [true\n")
    with pytest.raises(ConfigError, match=re.escape(path) + r".*not valid YAML"):
        load_config(path, [])


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), [])


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "nope.yaml"), [])


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing\n"), []).json_output is False


def test_overrides_parse_yaml_scalars_and_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "json_output: false\noutputs:\n  rate: 1\n")
    cfg = load_config(path, ["json_output=true", "outputs.rate=0.5", "outputs.max_burst=7",
                             "priority=error", "http_output.enabled=yes",
                             "http_output.url=http://127.0.0.1:9/hook?a=b&c=d"])
    assert cfg.json_output is True
    assert cfg.outputs.rate == 0.5
    assert cfg.outputs.max_burst == 7
    assert cfg.priority == "Error"
    assert cfg.http_output.enabled is True
    assert cfg.http_output.url == "http://127.0.0.1:9/hook?a=b&c=d"


def test_overrides_apply_in_order() -> None:
    assert load_config(None, ["json_output=true", "json_output=false"]).json_output is False


def test_override_lists_maps_and_sections() -> None:
    cfg = load_config(None, ["rules_files=a.yaml, b.yaml,rules.d",
                             "http_output.headers.Authorization=Bearer x=y",
                             "http_output.headers.X-Team=sec",
                             "file_output={enabled: true, filename: /tmp/a.log}"])
    assert cfg.rules_files == ("a.yaml", "b.yaml", "rules.d")
    assert cfg.http_output.headers == {"Authorization": "Bearer x=y", "X-Team": "sec"}
    assert cfg.file_output.enabled is True and cfg.file_output.filename == "/tmp/a.log"
    assert load_config(None, ["rules_files=[x.yaml]"]).rules_files == ("x.yaml",)


def test_string_keys_keep_override_text_verbatim() -> None:
    cfg = load_config(None, ["program_output.program=yes", "file_output.filename=123",
                             "http_output.user_agent='quoted agent'"])
    assert cfg.program_output.program == "yes"
    assert cfg.file_output.filename == "123"
    assert cfg.http_output.user_agent == "quoted agent"


@pytest.mark.parametrize("item, key, reason", [
    ("json_output", "json_output", "expected -o key=value"),
    ("nosuch=1", "nosuch", "unknown key"),
    ("http_output.nosuch=1", "http_output.nosuch", "unknown key"),
    ("json_output=maybe", "json_output", "expected true or false"),
    ("outputs.max_burst=1.5", "outputs.max_burst", "expected an integer"),
    ("http_output=true", "http_output", "{key: value"),
])
def test_bad_overrides_name_the_key_and_the_option(item: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [item])
    assert info.value.key == key
    assert info.value.origin == f"-o {item}"
    assert reason in info.value.reason


@pytest.mark.parametrize("items, key", [
    (["http_output.enabled=true"], "http_output.url"),
    (["file_output.enabled=true"], "file_output.filename"),
    (["program_output.enabled=true"], "program_output.program"),
    (["outputs.retry_backoff=5", "outputs.retry_max_backoff=1"], "outputs.retry_max_backoff"),
])
def test_settings_that_need_each_other(items: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, items)
    assert info.value.key == key


def test_template_file_is_checked(tmp_path: Path) -> None:
    good = write(tmp_path, '{"rule": {{ .Rule | json }}}', "good.tmpl")
    assert load_config(None, [f"http_output.template_file={good}"]).http_output.template_file == good
    bad = write(tmp_path, "{{ .Nope }}", "bad.tmpl")
    with pytest.raises(ConfigError, match="unknown field"):
        load_config(None, [f"http_output.template_file={bad}"])
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(None, [f"http_output.template_file={tmp_path / 'missing.tmpl'}"])
    with pytest.raises(ConfigError, match="not both"):
        load_config(None, [f"http_output.template_file={good}", "http_output.template=x"])


def test_config_is_read_only() -> None:
    cfg = load_config(None, [])
    with pytest.raises(AttributeError):
        cfg.json_output = True
    with pytest.raises(AttributeError):
        cfg.http_output.url = "http://x"
    with pytest.raises(TypeError):
        cfg.http_output.headers["X"] = "y"
    with pytest.raises(AttributeError, match="no config key 'http_output.nope'"):
        cfg.http_output.nope


def test_to_dict_round_trips_through_a_file(tmp_path: Path) -> None:
    import yaml
    cfg = load_config(None, ["json_output=true", "http_output.headers.A=b"])
    path = write(tmp_path, yaml.safe_dump(cfg.to_dict()))
    assert load_config(path, []).to_dict() == cfg.to_dict()


def test_every_key_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "outputs.md").read_text()
    missing = [key for key in SCHEMA if f"`{key}`" not in doc]
    assert not missing, f"keys missing from docs/outputs.md: {missing}"
