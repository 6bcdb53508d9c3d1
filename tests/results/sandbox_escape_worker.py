"""A sandbox worker for tests only: it runs the Python source it is given, as code that got past the
allowlist would, inside the same isolation and confinement as the decode worker.

Started by ``sandbox_run(worker="tests.results.sandbox_escape_worker", ...)``; the production code has
no way to run source. stdin: one JSON line ``{"source", "targets", "confine"}``; stdout: the JSON of
the ``outcomes`` dict the source fills in.
"""

from __future__ import annotations

import json
import sys

from apps.results.preview.isolation import process_confine


def main() -> int:
    header = json.loads(sys.stdin.buffer.readline())
    layers = process_confine() if header["confine"] else []
    namespace = {"targets": header["targets"], "outcomes": {}, "layers": layers}
    exec(header["source"], namespace)  # noqa: S102 - the point of this test worker
    sys.stdout.write(json.dumps({"layers": layers, "outcomes": namespace["outcomes"]}))
    return 0
