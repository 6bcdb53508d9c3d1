"""A full disk on local storage: the write fails with a clear storage error and leaves no partial
or temporary file behind. The disk is filled with a file-size limit (RLIMIT_FSIZE) in a child
process, which makes the kernel refuse a write past the limit with EFBIG, as a full disk refuses
one with ENOSPC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024

CHILD = r"""
import json, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
from apps.blocks.filesystems import LocalFileSystem, StorageError
fs = LocalFileSystem(basepath=sys.argv[1])
if sys.argv[4] == "unnamed-off":
    fs._unnamed_temp_files = False
content = b"x" * int(sys.argv[3])
try:
    if sys.argv[5] == "stream":
        with fs.open_write("deep/result") as stream:
            for start in range(0, len(content), 4096):
                stream.write(content[start : start + 4096])
    else:
        fs.write_path("deep/result", content)
except StorageError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
except BaseException as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc), "unclear": True}))
else:
    print(json.dumps({"written": True}))
"""


def write_with_limit(base: Path, size: int, *, temp: str, mode: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(base), str(LIMIT), str(size), temp, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def files_under(base: Path) -> list[str]:
    return sorted(str(path.relative_to(base)) for path in base.rglob("*") if path.is_file())


@pytest.mark.parametrize(
    ("temp", "mode"),
    [("unnamed-on", "bytes"), ("unnamed-off", "bytes"), ("unnamed-off", "stream")],
)
def test_a_write_that_does_not_fit_fails_clearly_and_leaves_nothing(tmp_path, temp, mode):
    outcome = write_with_limit(tmp_path, LIMIT * 4, temp=temp, mode=mode)

    assert outcome.get("error") == "NotWritableError", outcome
    assert "full" in outcome["message"] and str(tmp_path) in outcome["message"], outcome
    assert files_under(tmp_path) == []


def test_a_write_that_fits_under_the_same_limit_is_stored(tmp_path):
    outcome = write_with_limit(tmp_path, LIMIT // 2, temp="unnamed-off", mode="bytes")

    assert outcome == {"written": True}
    assert files_under(tmp_path) == ["deep/result"]
