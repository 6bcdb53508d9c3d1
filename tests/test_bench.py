"""Every benchmark in bench/ runs in its smoke mode against the real services and prints its table.

Smoke sizes say nothing about speed, so nothing here is timed, and the load's error counts are
figures like its timings (a machine busy enough can time a request out): a benchmark passes
when it exits 0 and prints the lines with our own figures and the ratio against the baseline it
measured in the same run. A new benchmark without its expected lines here fails the coverage test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"\d+(?:\.\d+)?"
# Only a guard against a hang: no assertion is made on how long a benchmark takes.
HANG_GUARD_S = 600

EXPECTED = {
    "store": [
        rf"^small dict write\s+\| {NUMBER} ms\s+\| -\s+\| {NUMBER} ms\s+\| -\s+\| {NUMBER}x",
        rf"^small dict read\s+\| {NUMBER} ms",
        rf"^bytes pickle write\s+\| {NUMBER} s\s+\| -\s+\| {NUMBER} s\s+\| -\s+\| {NUMBER}x\s+\| {NUMBER} MB",
        rf"^array compressed/pickle write\+read\s+\| {NUMBER} s",
        r"^prefect: skipped in smoke mode",
        r"^\d+ targets met, \d+ missed$",
    ],
    "engine": [
        rf"^\s+20  ms per task \(in flow, wall\)\s+{NUMBER}\s+-\s+{NUMBER}x",
        rf"^\s+20  floor: ms per task, no engine\s+{NUMBER}\s+{NUMBER}x",
        rf"^\s+20  whole process, s\s+{NUMBER}",
        r"^\s+20  ms per task, 10 log lines\s+\d+\.\d+\s+-\s+-  \(Prefect not measured\)",
        rf"^\s+20    of which the lines, ms\s+-?{NUMBER}\s+-\s+{NUMBER}x  \(ours with the lines",
        r"prefect: skipped in smoke mode",
        rf"^\s+60  flows/s, 2 workers x 2 prefork\s+{NUMBER} .*\(60 completed",
        rf"baseline: in-process serial\s+{NUMBER}\s+{NUMBER}x",
        r"^OVERALL: (PASS|FAIL)$",
    ],
    "preview": [
        rf"^full\s+read of the whole file, streamed \(the baseline\): {NUMBER} MiB",
        rf"^local\s+size\s+{NUMBER} MiB, read {NUMBER} MiB .* vs the full read: {NUMBER}x the time",
        rf"^s3\s+size\s+{NUMBER} MiB, read {NUMBER} MiB .* vs the full read: {NUMBER}x the time",
    ],
    "pages": [
        r"^  \(base: the same page at 1,000 flow runs; measured: at 5,000\)$",
        rf"^runs list, first page\s+{NUMBER}\s+{NUMBER}\s+\d+\s+50\s+{NUMBER}\s+\d+\s+{NUMBER}x  (PASS|FAIL)",
        rf"^run detail \(3 task runs\)\s+{NUMBER}\s+{NUMBER}\s+\d+\s+3\s",
        rf"^extra: results list, first page\s+{NUMBER}\s+{NUMBER}\s+\d+\s+50\s",
        r"^  \(wide run: 300 task runs, base 3; log run: 3,000 lines, base 30\)$",
        rf"^run page of the wide run \(task runs\)\s+{NUMBER}\s+{NUMBER}\s+\d+\s+300\s+{NUMBER}\s+\d+\s",
        rf"^run logs section \(htmx\)\s+{NUMBER}\s+{NUMBER}\s+\d+\s+200\s+{NUMBER}\s+\d+\s+{NUMBER}x",
        rf"^API run logs, first page\s+{NUMBER}\s+{NUMBER}\s+\d+\s+200\s+{NUMBER}\s+\d+\s+{NUMBER}x",
    ],
    "purge": [
        rf"^naive one-by-one DeleteObject:\s+100 objects in\s+{NUMBER} s",
        rf"^expired_purge \(batches of 100\):\s+500 objects in\s+{NUMBER} s",
        rf"^speed-up over naive: {NUMBER}x",
    ],
    "prefect_sync": [
        r"^filled: 40 flow runs and 120 task runs in ",
        rf"^bare client: 40 flow runs \+ 120 task runs in {NUMBER} s = {NUMBER} runs/s \(\d+ requests\)",
        rf"^full sync: 40 flow runs \+ 120 task runs in {NUMBER} s = {NUMBER} runs/s \(\d+ requests\)",
        rf"^sync / bare: {NUMBER}x \(target >= 0.5\) (PASS|FAIL)",
        r"^incremental sync after 5 new flow runs: \d+ requests \(target <= 10\) (PASS|FAIL)",
    ],
    "load": [
        rf"^home\s+\|\s+{NUMBER} /\s+{NUMBER} /\s+{NUMBER}\s+\d+\s+\d+ \|\s+{NUMBER} /",
        rf"^runs list, parameter search\s+\|\s+{NUMBER} /",
        rf"^result preview, table\s+\|\s+{NUMBER} /\s+{NUMBER} /\s+{NUMBER}\s+\d+\s+\d+ \|",
        # Our figures, the baseline's, their ratio and the queries at both data sizes.
        rf"^API result detail\s+\|\s+{NUMBER} / .* \|\s+{NUMBER} / .*{NUMBER}x \|\s+\d+ / \d+",
        rf"^gunicorn\s+\d+ requests in\s+{NUMBER} s =\s+{NUMBER} requests/s, \d+ errors",
        rf"^runserver\s+\d+ requests in\s+{NUMBER} s =\s+{NUMBER} requests/s, \d+ errors",
        r"^targets \(0 errors, p95 <= 300 ms, queries do not grow\): (PASS|FAIL)",
    ],
}


def benchmarks() -> list[str]:
    """The scripts of bench/ (the modules run as a program), not its shared helpers."""
    return sorted(
        path.stem
        for path in (ROOT / "bench").glob("*.py")
        if 'if __name__ == "__main__":' in path.read_text()
    )


def test_every_benchmark_has_a_smoke_check():
    assert benchmarks() == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_smoke_prints_its_table(name):
    for variable in ("DATABASE_URL", "REDIS_URL", "TEST_S3_ENDPOINT_URL"):
        assert os.environ.get(variable), f"{variable} is not set: run the suite through scripts/test.sh"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--smoke"],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    output = completed.stdout
    assert completed.returncode == 0, (
        f"{name} --smoke exited {completed.returncode}:\n{output}\n{completed.stderr}"
    )
    missing = [pattern for pattern in EXPECTED[name] if not re.search(pattern, output, re.MULTILINE)]
    assert not missing, f"{name} --smoke did not print {missing}:\n{output}"
