"""`falcoish run` on stderr and in its exit status: the start banner, progress lines, -M on a
replay that blocks, --dry-run, -U, and exit status 1 when alerts could not be delivered.

Through the CLI, in subprocesses (signals, timers and exit status are the point).
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "falcoish" / "data" / "sample_trace.jsonl"
FALCOISH = [sys.executable, "-m", "falcoish.cli.main"]


def falcoish(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FALCOISH, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          **kw)  # type: ignore[call-overload]


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "falcoish.yaml"
    path.write_text(f"outputs:\n  spool_dir: {tmp_path / 'spool'}\n")
    return str(path)


def test_banner_names_version_config_rules_and_source(config: str) -> None:
    got = falcoish("run", "-c", config, "-e", str(SAMPLE), "--watch", "off")
    assert got.returncode == 0, got.stderr
    from falcoish import __version__
    assert f"falcoish version: {__version__}" in got.stderr
    assert f"Configuration: {config}" in got.stderr
    assert f"Events: replay of {SAMPLE} (falcoish format)" in got.stderr
    assert "Rules: " in got.stderr and " enabled of " in got.stderr
    quiet = falcoish("run", "-q", "-c", config, "-e", str(SAMPLE), "--watch", "off")
    assert "falcoish version:" not in quiet.stderr and quiet.stdout == got.stdout


def _replay_slowly(config: str, *extra: str) -> str:
    """stderr of a `-e -` replay fed one event every 0.15 s once falcoish is ready (its
    banner's last line, "Events: ...", is printed just before it reads)."""
    lines = SAMPLE.read_text().splitlines(keepends=True)[:12]
    proc = subprocess.Popen([*FALCOISH, "run", "-c", config, "-e", "-", "--watch", "off", *extra], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stderr is not None
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)   # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 60
    while "-q" not in extra and not any(line.startswith("Events: ") for line in err):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(err)
        time.sleep(0.05)
    for line in lines:
        proc.stdin.write(line)
        proc.stdin.flush()
        time.sleep(0.15)
    proc.stdin.close()
    assert proc.wait(60) == 0
    reader.join(10)
    return "".join(err)


def test_progress_lines_during_a_long_replay(config: str) -> None:
    err = _replay_slowly(config, "--progress", "0.3")
    progress = [line for line in err.splitlines() if line.startswith("progress: events ")]
    assert len(progress) >= 2, err
    assert "/s)" in progress[-1] and "alerts" in progress[-1] and "drops" in progress[-1]
    assert "progress:" not in _replay_slowly(config, "-q", "--progress", "0.3")


def test_duration_ends_a_replay_whose_input_blocks(config: str) -> None:
    """-M 1 on `-e -` fed by a pipe that never writes: the run ends on time, exit 0."""
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE)
    started = time.monotonic()
    try:
        got = falcoish("run", "-c", config, "-e", "-", "--watch", "off", "-M", "1", stdin=silent.stdout,
                       timeout=30)
    finally:
        silent.kill()
    assert got.returncode == 0, got.stderr
    assert time.monotonic() - started < 20
    assert "Events processed: 0" in got.stderr


def test_dry_run_loads_everything_and_processes_nothing(config: str) -> None:
    got = falcoish("run", "--dry-run", "-c", config, "-e", str(SAMPLE), "--watch", "off")
    assert got.returncode == 0, got.stderr
    assert got.stdout == "" and "dry run" in got.stderr
    broken = Path(config).with_name("broken.yaml")
    broken.write_text("- rule: r\n  desc: d\n  condition: evt.type = open and\n  output: o\n  priority: WARNING\n")
    bad = falcoish("run", "--dry-run", "-c", config, "-r", str(broken), "-e", str(SAMPLE))
    assert bad.returncode == 1 and "broken.yaml" in bad.stderr


def test_unbuffered_is_buffered_outputs_false(config: str) -> None:
    short = falcoish("run", "-U", "-c", config, "-e", str(SAMPLE), "--watch", "off")
    long = falcoish("run", "-c", config, "-o", "buffered_outputs=false", "-e", str(SAMPLE), "--watch", "off")
    assert short.returncode == long.returncode == 0 and short.stdout == long.stdout != ""


class _Rejecting(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(400)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def rejecting_hook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Rejecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_exit_status_is_1_when_alerts_are_dead_lettered(config: str, rejecting_hook: str) -> None:
    got = falcoish("run", "-c", config, "-e", str(SAMPLE), "--watch", "off", "-o", "stdout_output.enabled=false",
                   "-o", "http_output.enabled=true", "-o", f"http_output.url={rejecting_hook}",
                   "-o", "json_output=true")
    assert got.returncode == 1, got.stderr
    assert "could not be delivered" in got.stderr
    ok = falcoish("run", "-c", config, "-e", str(SAMPLE), "--watch", "off")
    assert ok.returncode == 0
