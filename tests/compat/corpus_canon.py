"""Where the corpus is and how its manifest is read, for the tests.

The canonical, type-tagged form the manifest uses for decoded values is the corpus's own
(``canon()`` in ``corpus/verify.py``), so tests and the corpus agree on what "equal" means.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.compat.corpus.verify import canon, storage_key_rebase

__all__ = ["DEFAULT_CORPUS_DIR", "canon", "corpus_dir", "corpus_entries", "storage_key_rebase"]

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


def corpus_dir() -> Path:
    """Where the corpus is: PREFECT_CORPUS_DIR (another set of the same format), else the one in the tree."""
    return Path(os.environ.get("PREFECT_CORPUS_DIR") or DEFAULT_CORPUS_DIR)


def corpus_entries(root: Path) -> list[dict]:
    manifest = root / "manifest.jsonl"
    if not manifest.exists():
        return []
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
