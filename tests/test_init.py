"""`falcoish init`: the layout it creates is what `run` then loads, and it never overwrites."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from falcoish.cli.init import commented_config
from falcoish.config.settings import SCHEMA, load_config

ROOT = Path(__file__).resolve().parent.parent


def init(prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falcoish.cli.main", "init", "--prefix", str(prefix)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_init_creates_the_layout_and_keeps_what_exists(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "falcoish"
    got = init(etc)
    assert got.returncode == 0, got.stderr
    assert (etc / "rules.d").is_dir() and (etc / "falco_rules.local.yaml").is_file()
    assert (etc / "falco_rules.local.yaml").read_text() == (ROOT / "local_rules" / "falco_rules.local.yaml").read_text()
    for path in (etc, etc / "rules.d", etc / "falcoish.yaml", etc / "falco_rules.local.yaml"):
        assert path.stat().st_mode & 0o022 == 0, path          # nobody else can write them
    assert f"created {etc / 'falcoish.yaml'}" in got.stdout
    (etc / "falcoish.yaml").write_text("json_output: true\n")
    again = init(etc)
    assert again.returncode == 0 and f"kept {etc / 'falcoish.yaml'} (it exists)" in again.stdout
    assert (etc / "falcoish.yaml").read_text() == "json_output: true\n"


def test_commented_config_lists_every_key_and_uncommented_it_is_valid(tmp_path: Path) -> None:
    text = commented_config()
    for key in SCHEMA:
        assert f" {key.rpartition('.')[2]}: " in text, key
    # uncommented, every default is accepted and equals the built-in default
    plain = "\n".join(line[2:].split("    # ")[0] for line in text.splitlines() if line.startswith("# ")
                      and ":" in line and not line.startswith("# falcoish") and "`" not in line)
    data = yaml.safe_load(plain)
    path = tmp_path / "falcoish.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(str(path), [])
    assert bool(config.json_output) is False and int(config.syscall_flood.threshold) == 50000


def test_init_into_a_place_it_cannot_write_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    got = init(blocker / "falcoish")
    assert got.returncode == 2 and "falcoish: init:" in got.stdout
