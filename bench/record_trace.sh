#!/usr/bin/env bash
# Re-record bench/data/live_trace.jsonl.gz: a live eBPF capture of this machine doing real
# work (a package install into a fresh venv, C compiles, part of falcoish's test suite, an
# apt reinstall, some shell work), with the three upstream Falco rule files loaded after the
# default rules (so the capture attaches every event type the full corpus needs).
#
# Needs root and working live capture (see README "Live capture").  Usage:
#     bash bench/record_trace.sh [OUT.jsonl.gz]        (default bench/data/live_trace.jsonl.gz)
# Knobs (environment): MAX_SECONDS (the recorder's -M safety stop, default 300),
# MAX_EVENTS (cap on kept events, default 150000), SKIP_NET=1 (no pip/apt downloads),
# CORPUS (folder of the upstream rule files, default ../shared/corpus/falco-rules).
#
# What is kept (the post-processing step at the end):
#   * only events of the workload's process tree (the workload shell and its descendants),
#     so other sessions on the machine do not leak into the trace;
#   * every `NAME=VALUE` environment entry keeps its name, and its value only when NAME is on
#     a short allow-list of harmless variables; other values become as many `x` characters,
#     so a record keeps its size (hence its decoding cost) but carries no host secret.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
OUT="${1:-$HERE/data/live_trace.jsonl.gz}"
MAX_SECONDS="${MAX_SECONDS:-300}"
MAX_EVENTS="${MAX_EVENTS:-150000}"
CORPUS="${CORPUS:-$REPO/../shared/corpus/falco-rules}"
FALCOISH="$REPO/.venv/bin/falcoish"
PY="$REPO/.venv/bin/python"

if [ "$(id -u)" != 0 ]; then echo "record_trace.sh: live capture needs root" >&2; exit 2; fi
for f in falco_rules.yaml falco-incubating_rules.yaml falco-sandbox_rules.yaml; do
    [ -f "$CORPUS/$f" ] || { echo "record_trace.sh: missing $CORPUS/$f" >&2; exit 2; }
done

WORK="$(mktemp -d /tmp/falcoish-bench-rec.XXXXXX)"
RAW="$WORK/raw.jsonl.gz"
LOG="$WORK/recorder.log"
REC_PID=""
cleanup() {
    if [ -n "$REC_PID" ] && kill -0 "$REC_PID" 2>/dev/null; then kill -TERM "$REC_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "recording: falcoish run -r <3 corpus files> --record $RAW -M $MAX_SECONDS" >&2
"$FALCOISH" run -r "$CORPUS/falco_rules.yaml" -r "$CORPUS/falco-incubating_rules.yaml" \
    -r "$CORPUS/falco-sandbox_rules.yaml" --watch off --record "$RAW" -M "$MAX_SECONDS" \
    >"$WORK/alerts.txt" 2>"$LOG" &
REC_PID=$!

# Wait until the probes are attached (the recorder logs "live capture started").
for _ in $(seq 1 120); do
    grep -q "live capture started" "$LOG" 2>/dev/null && break
    kill -0 "$REC_PID" 2>/dev/null || { cat "$LOG" >&2; echo "record_trace.sh: recorder died" >&2; exit 1; }
    sleep 0.5
done
grep -q "live capture started" "$LOG" || { cat "$LOG" >&2; echo "record_trace.sh: capture did not start" >&2; exit 1; }
sleep 1

# ---- the workload, in a clean environment; its pid roots the kept process tree -----------
cat >"$WORK/workload.sh" <<'WORKLOAD'
set -u
cd "$WORK"
step() { echo "workload: $*" >&2; }

step "package install: fresh venv, pip download + pip install"
python3 -m venv "$WORK/venv" >/dev/null 2>&1 || true
if [ -z "$SKIP_NET" ] && [ -x "$WORK/venv/bin/pip" ]; then
    "$WORK/venv/bin/pip" download -q --no-cache-dir --no-deps -d "$WORK/dl" six >/dev/null 2>&1 || true
    "$WORK/venv/bin/pip" install -q --no-cache-dir idna >/dev/null 2>&1 || true
    "$WORK/venv/bin/python" -c "import idna; idna.encode('example.org')" >/dev/null 2>&1 || true
fi

step "compile: gcc at five optimisation levels, run each binary"
printf '%s\n' \
    '#include <stdio.h>' \
    '#include <stdlib.h>' \
    'static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }' \
    'int main(int argc, char **argv) {' \
    '    int n = argc > 1 ? atoi(argv[1]) : 1000, *v = malloc(sizeof *v * n);' \
    '    for (int i = 0; i < n; i++) v[i] = (i * 7919) % 1009;' \
    '    qsort(v, n, sizeof *v, cmp);' \
    '    FILE *f = fopen("out.txt", "w");' \
    '    if (f) { fprintf(f, "%d %d\n", v[0], v[n - 1]); fclose(f); }' \
    '    free(v);' \
    '    return 0;' \
    '}' >"$WORK/prog.c"
for opt in -O0 -O1 -O2 -O3 -Os; do
    gcc $opt -Wall -o "$WORK/prog" "$WORK/prog.c" && "$WORK/prog" 5000 || true
done

step "test suite: pytest -q tests/test_parser.py"
(cd "$REPO" && "$REPO/.venv/bin/pytest" -q -p no:cacheprovider tests/test_parser.py >/dev/null 2>&1) || true

if [ -z "$SKIP_NET" ] && command -v apt-get >/dev/null; then
    step "apt-get install --reinstall -y hostname"
    apt-get install --reinstall -y -o DPkg::Lock::Timeout=30 hostname >/dev/null 2>&1 || true
fi

step "shell work: find | tar, grep"
find /usr/include -name '*.h' 2>/dev/null | head -200 | tar -czf "$WORK/inc.tgz" -T - 2>/dev/null || true
grep -r -l define /usr/include/linux 2>/dev/null | head -50 >/dev/null || true
ls -la /etc >/dev/null
WORKLOAD

env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    TERM=dumb DEBIAN_FRONTEND=noninteractive WORK="$WORK" REPO="$REPO" SKIP_NET="${SKIP_NET:-}" \
    bash "$WORK/workload.sh" &
ROOT_PID=$!
wait "$ROOT_PID" || true
sleep 1

kill -TERM "$REC_PID" 2>/dev/null || true
wait "$REC_PID" 2>/dev/null || true
REC_PID=""
echo "--- recorder summary ---" >&2
grep -v '^[[:space:]]*$' "$LOG" | tail -15 >&2 || true

# ---- keep the workload's tree, scrub environment values ---------------------------------
mkdir -p "$(dirname "$OUT")"
cat >"$WORK/keep.py" <<'KEEP'
import sys

from falcoish.sources.record import EventWriter
from falcoish.sources.replay import read_events

raw, out, root, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ALLOWED = {"PATH", "HOME", "LANG", "TERM", "PWD", "OLDPWD", "SHLVL", "_", "SHELL", "USER",
           "LOGNAME", "DEBIAN_FRONTEND", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE",
           "PYTHONUNBUFFERED", "WORK", "REPO", "SKIP_NET"}


def scrub_entry(entry):
    name, eq, value = entry.partition("=")
    if not eq or name in ALLOWED:
        return entry
    return name + "=" + "x" * len(value)


def scrub(section):
    env = section.get("env")
    if isinstance(env, list):
        section["env"] = [scrub_entry(e) if isinstance(e, str) else e for e in env]


def on_bad(number, reason):
    print(f"recording line {number}: {reason}", file=sys.stderr)


kept = total = 0
with EventWriter(out, compresslevel=9) as dst:  # shared sections, as --record writes them
    for event in read_events(raw, on_bad):
        total += 1
        if event.thread.get("pid") != root and not any(a.get("pid") == root for a in event.ancestors):
            continue
        for section in [event.thread, *event.ancestors]:
            scrub(section)
        kept += 1
        event.num = kept
        dst.write(event)
        if kept >= cap:
            break
print(f"kept {kept} of {total} recorded events (process tree of workload pid {root})", file=sys.stderr)
KEEP
PYTHONPATH="$REPO" "$PY" "$WORK/keep.py" "$RAW" "$OUT" "$ROOT_PID" "$MAX_EVENTS"
SIZE=$(stat -c %s "$OUT")
echo "wrote $OUT ($SIZE bytes)" >&2
if [ "$SIZE" -gt $((20 * 1024 * 1024)) ]; then
    echo "record_trace.sh: $OUT is over 20 MB; lower MAX_EVENTS" >&2
    exit 1
fi
