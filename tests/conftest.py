from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "falco-rules"
CORPUS_FILES = [CORPUS / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")]


@pytest.fixture(scope="session")
def corpus_files() -> list[str]:
    missing = [str(p) for p in CORPUS_FILES if not p.exists()]
    if missing:
        pytest.skip(f"upstream corpus not found: {missing}")
    return [str(p) for p in CORPUS_FILES]
