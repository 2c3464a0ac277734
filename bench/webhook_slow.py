"""How long does `Outputs.emit` take when the webhook is slow, or down?

Detection calls `emit` once per alert; the promise is that it never waits for a channel.
This script measures it against a real HTTP server on 127.0.0.1 that answers each request
after a delay, with the queue large enough, with a small queue that overflows to the spool,
and with no server at all; and, for contrast, what a synchronous POST per alert would cost.

    .venv/bin/python bench/webhook_slow.py [--alerts 5000] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcoish.config.settings import load_config
from falcoish.output.dispatcher import build_outputs  # noqa: E402
from falcoish.output.format import Alert  # noqa: E402


def serve(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def alert(n: int) -> Alert:
    return Alert(time.time_ns(), "Terminal shell in container", "Notice", "syscall", ("container", "shell"),
                 f"A shell was spawned in a container (user=root shell=bash parent=runc cmdline=bash -i n={n})",
                 {"proc.name": "bash", "user.name": "root", "n": n}, "benchhost")


def figures(label: str, samples_ns: list[int], extra: str) -> None:
    samples = sorted(samples_ns)

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))] / 1000

    print(f"{label:<34} n={len(samples):<6} mean={statistics.fmean(samples) / 1000:8.1f}us "
          f"p50={pct(0.50):8.1f}us p99={pct(0.99):8.1f}us p99.9={pct(0.999):8.1f}us "
          f"max={samples[-1] / 1000:9.1f}us  {extra}")


def scenario(label: str, url: str, alerts: int, capacity: int, spool: Path) -> None:
    config = load_config(None, ["stdout_output.enabled=false", "http_output.enabled=true",
                                f"http_output.url={url}", "json_output=true",
                                f"outputs_queue.capacity={capacity}", f"outputs.spool_dir={spool}",
                                "outputs.retry_backoff=0.05", "outputs.retry_max_backoff=0.5",
                                "http_output.timeout=2"])
    outputs = build_outputs(config)
    samples = []
    start = time.perf_counter()
    for n in range(alerts):
        t0 = time.perf_counter_ns()
        outputs.emit(alert(n))
        samples.append(time.perf_counter_ns() - t0)
    emitted = time.perf_counter() - start
    stats = outputs.close(2.0)["http"]
    figures(label, samples, f"emit total={emitted * 1000:.0f}ms  after close(2s): " +
            " ".join(f"{k}={v}" for k, v in stats.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per request (s)")
    args = parser.parse_args()
    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))   # errors only

    slow = serve(args.delay)
    fast = serve(0.0)
    slow_url = f"http://127.0.0.1:{slow.server_address[1]}/hook"
    fast_url = f"http://127.0.0.1:{fast.server_address[1]}/hook"
    dead_url = "http://127.0.0.1:9/hook"          # discard port: nothing listens, connection refused
    print(f"python {sys.version.split()[0]}, {args.alerts} alerts, slow server delay {args.delay * 1000:.0f}ms")

    with httpx.Client() as client:
        sync = []
        for n in range(10):
            t0 = time.perf_counter_ns()
            client.post(slow_url, content=alert(n).json_line())
            sync.append(time.perf_counter_ns() - t0)
    figures("baseline: synchronous POST (slow)", sync, "(what emit would cost without a worker)")

    with tempfile.TemporaryDirectory() as tmp:
        scenario("fast server, queue 10000", fast_url, args.alerts, 10000, Path(tmp) / "a")
        scenario("slow server, queue 10000", slow_url, args.alerts, 10000, Path(tmp) / "b")
        scenario("slow server, queue 100 (spooling)", slow_url, args.alerts, 100, Path(tmp) / "c")
        scenario("server down, queue 10000", dead_url, args.alerts, 10000, Path(tmp) / "d")
        scenario("server down, queue 100 (spooling)", dead_url, args.alerts, 100, Path(tmp) / "e")
    slow.shutdown()
    fast.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
