"""Does a slow webhook slow detection?  Replay the same trace with and without one.

Runs the synthetic trace (bench/synthetic.py) through the default rules + upstream corpus
in-process, delivering every alert through the configured outputs, (a) with no channel at
all, (b) with an http_output whose server on 127.0.0.1 answers each request after DELAY
seconds.  The event loop (decode, evaluate, emit) is timed; closing the outputs (which waits
for or spools undelivered alerts) is reported apart.  Prints events/s for both and the ratio,
and exits 1 when the ratio is below --min-ratio (the benchmark's assertion).

    .venv/bin/python bench/replay_slow_webhook.py [--events 50000] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from falcoish import load_rules  # noqa: E402
from falcoish.config.settings import load_config
from falcoish.runtime.engine import Engine
from falcoish.output.dispatcher import build_outputs  # noqa: E402
from falcoish.sources.replay import read_events  # noqa: E402
from synthetic import generate  # noqa: E402
from webhook_slow import serve  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "falco-rules"


def replay(trace: str, overrides: list[str]) -> tuple[float, int, float, dict[str, dict[str, int]]]:
    rules = [str(REPO / "default_rules")] + [str(CORPUS / n) for n in
                                             ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")]
    result = load_rules(rules)
    engine = Engine.from_load(result)
    outputs = build_outputs(load_config(None, overrides))
    alerts = 0
    started = time.perf_counter()
    for event in read_events(trace, lambda n, r: None):
        for alert in engine.process(event):
            outputs.emit(alert)
            alerts += 1
    loop = time.perf_counter() - started
    started = time.perf_counter()
    stats = outputs.close(2.0)
    return loop, alerts, time.perf_counter() - started, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--min-ratio", type=float, default=0.7,
                        help="fail (exit 1) when the slow-webhook replay rate is below this share of the plain one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        with open(trace, "wb") as handle:
            handle.writelines(line + b"\n" for line in generate(args.events))
        quiet = ["stdout_output.enabled=false", f"outputs.spool_dir={tmp}/spool-a"]
        base_loop, alerts, _, _ = replay(trace, quiet)
        server = serve(args.delay)
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        hooked = ["stdout_output.enabled=false", "http_output.enabled=true", f"http_output.url={url}",
                  f"outputs.spool_dir={tmp}/spool-b"]
        slow_loop, _, close_s, stats = replay(trace, hooked)
        server.shutdown()
    rate_a, rate_b = args.events / base_loop, args.events / slow_loop
    print(f"events: {args.events}, alerts: {alerts}, webhook delay: {args.delay * 1000:.0f} ms per request")
    print(f"{'no output channel':<34} {rate_a:>10,.0f} events/s")
    print(f"{'slow webhook':<34} {rate_b:>10,.0f} events/s")
    print(f"{'ratio slow/none':<34} {rate_b / rate_a:>10.2f}")
    print(f"closing the outputs took {close_s:.1f} s; http channel: {stats.get('http', stats)}")
    ok = rate_b / rate_a >= args.min_ratio
    print(f"{'PASS' if ok else 'FAIL'}: ratio {rate_b / rate_a:.2f} {'>=' if ok else '<'} {args.min_ratio}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
