#!/usr/bin/env python3
"""Make the corpus of result files written by real Prefect 2.20.27 and 3.9.1 (tests/compat/corpus).

Builds (once, cached under .cache/) a throwaway venv for each Prefect version with
scripts/prefect_venv.py, runs scripts/corpus/gen_v2.py and gen_v3.py in them against a fresh
folder, merges their manifests, and checks the result with the corpus's own verify.py in this
venv, which has no prefect. ``--install`` then replaces the files in tests/compat/corpus, but
only when the new set covers every (prefect version, serializer, value, layout, writer) the
installed one has. The folder's hand-written files (README.md, verify.py, corpus_types.py) are
the sources the generators use, and are copied, never generated.

    python scripts/make_corpus.py                    # builds in $TMPDIR/prefect-corpus/corpus
    python scripts/make_corpus.py --install          # and replaces tests/compat/corpus
    python scripts/make_corpus.py --compare OTHER    # coverage against another corpus folder
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from prefect_venv import PREFECT2_VERSION, PREFECT_VERSION, prefect_venv_ensure

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = PROJECT_ROOT / "tests" / "compat" / "corpus"
GENERATORS = Path(__file__).resolve().parent / "corpus"
SOURCES = ("README.md", "verify.py", "corpus_types.py")
COVERAGE_FIELDS = ("prefect_version", "serializer_id", "value_id", "layout", "writer")


def jsonl_read(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def generator_run(
    *,
    python: Path,
    script: str,
    root: Path,
    home: Path,
    extra_env: dict[str, str],
    options: tuple[str, ...] = (),
) -> None:
    """One generator in its Prefect venv, with a private PREFECT_HOME and no API URL."""
    home.mkdir(parents=True, exist_ok=True)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PREFECT_HOME": str(home),
        "PYTHONPATH": str(root),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **extra_env,
    }
    # Migrating the fresh API database here, not in the first API call: Prefect 2 gives its
    # in-process API 30 s to start, too little for the migrations on a busy machine.
    upgrade = [str(python.parent / "prefect"), "server", "database", "upgrade", "-y"]
    command = [str(python), str(GENERATORS / script), "--root", str(root), *options]
    # The commands are built here from constants and paths, never from outside input.
    for step in (upgrade, command):
        subprocess.run(step, check=True, env=environment, cwd=GENERATORS)  # noqa: S603


def corpus_make(*, work: Path, split_metadata: bool = False) -> Path:
    """A complete corpus folder under ``work`` (emptied first); returns it."""
    python2 = prefect_venv_ensure(version=PREFECT2_VERSION)
    python3 = prefect_venv_ensure(version=PREFECT_VERSION)
    shutil.rmtree(work, ignore_errors=True)
    root = work / "corpus"
    root.mkdir(parents=True)
    for name in SOURCES:
        shutil.copy2(CORPUS_DIR / name, root / name)
    generator_run(python=python2, script="gen_v2.py", root=root, home=work / "home2", extra_env={})
    generator_run(
        python=python3,
        script="gen_v3.py",
        root=root,
        home=work / "home3",
        extra_env={
            "PREFECT_LOCAL_STORAGE_PATH": str(root / "v3-default-storage"),
            # Prefect 3 starts a temporary API server; a busy machine needs more than its 20 s.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        },
        options=("--split-metadata",) if split_metadata else (),
    )
    manifests_merge(root=root)
    # verify.py decodes every file without prefect: this venv has none.
    subprocess.run([sys.executable, str(root / "verify.py"), str(root)], check=True)  # noqa: S603
    return root


def manifests_merge(*, root: Path) -> None:
    """manifest.jsonl and unwritable.jsonl from the generators' per-version parts."""
    for name in ("manifest", "unwritable"):
        parts = [root / f"{name}-v2.jsonl", root / f"{name}-v3.jsonl"]
        rows = [row for part in parts for row in jsonl_read(part)]
        if name == "manifest":
            rows.sort(key=lambda row: row["path"])
        (root / f"{name}.jsonl").write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        )
        for part in parts:
            part.unlink()


def coverage_missing(*, made: Path, reference: Path) -> list[tuple]:
    """The coverage keys of ``reference`` that ``made`` lacks."""

    def keys(folder: Path) -> set[tuple]:
        return {
            tuple(entry[field] for field in COVERAGE_FIELDS)
            for entry in jsonl_read(folder / "manifest.jsonl")
        }

    return sorted(keys(reference) - keys(made))


def corpus_install(*, made: Path) -> None:
    """Replace the generated files of tests/compat/corpus with those of ``made``."""
    for path in CORPUS_DIR.iterdir():
        if path.name not in SOURCES:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in made.iterdir():
        if path.name not in SOURCES and path.name != "__pycache__":
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, CORPUS_DIR / path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "prefect-corpus",
        help="scratch folder, emptied first (default: $TMPDIR/prefect-corpus)",
    )
    parser.add_argument("--compare", type=Path, default=CORPUS_DIR, help="default: tests/compat/corpus")
    parser.add_argument(
        "--install", action="store_true", help="replace tests/compat/corpus when it covers it"
    )
    parser.add_argument(
        "--split-metadata",
        action="store_true",
        help="add 3.x files written with a separate metadata_storage (left out of the installed set: "
        "tests/results/test_indexing.py counts the files a second index run finds known, metadata included)",
    )
    arguments = parser.parse_args()
    made = corpus_make(work=arguments.work.resolve(), split_metadata=arguments.split_metadata)
    entries, refused = jsonl_read(made / "manifest.jsonl"), jsonl_read(made / "unwritable.jsonl")
    print(f"made {made}: {len(entries)} files, {len(refused)} refused writes")
    missing = coverage_missing(made=made, reference=arguments.compare)
    for key in missing:
        print("not covered:", dict(zip(COVERAGE_FIELDS, key, strict=True)))
    print(f"covers {arguments.compare}: {'yes' if not missing else f'no, {len(missing)} missing'}")
    if arguments.install:
        if missing:
            raise SystemExit("not installed: the new set does not cover the installed one")
        corpus_install(made=made)
        print(f"installed into {CORPUS_DIR}")


if __name__ == "__main__":
    main()
