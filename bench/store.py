"""Benchmark: our ResultStore against real Prefect 3.9.1's, side by side in one run.

    .venv/bin/python bench/store.py            # everything (Prefect's compressed 50 MiB case takes ~1 min)
    .venv/bin/python bench/store.py --quick    # skip Prefect's slow compressed large cases

Workloads: 1000 small dicts written then read (per-operation ms); a 50 MiB ``os.urandom`` bytes
value and a 1e7-element float64 array, each written and read with "pickle" and "compressed/pickle".
The floor is what the format itself costs: the serializer's own ``dumps`` plus one plain file write
(and one plain file read plus ``loads``). Every measurement runs in a fresh subprocess (ours and the
floor in this venv, Prefect in its own venv from scripts/prefect_venv.py); memory is measured in a
subprocess of its own per operation: the growth of peak RSS over the RSS just before the operation
(the kernel's high-water mark is reset first), and tracemalloc's peak of Python allocations.

Reads use a fresh store with the in-memory cache off, so they measure storage, not a dict lookup.
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

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
from prefect_venv import prefect_venv_ensure  # noqa: E402

MIB = 1024 * 1024
LARGE_WORKLOADS = {"bytes": 50 * MIB, "array": 10_000_000 * 8}
SMOKE_WORKLOADS = {"bytes": 1 * MIB, "array": 100_000 * 8}
SMOKE_SMALL_COUNT = 50
PREFECT_TIMEOUT_S = 1800.0
LARGE_SERIALIZERS = ("pickle", "compressed/pickle")
TARGET_SMALL_SPEEDUP = 5.0
TARGET_FLOOR_RATIO = 1.2
TARGET_MEMORY_RATIO = 2.0
TARGET_COMPRESSED_SPEEDUP = 10.0
# Measured earlier for Prefect 3.9.1 on this kind of machine, printed for reference.
PREFECT_REFERENCE = (
    "Prefect reference: small 0.25 ms write / 0.14 ms read; 50 MiB pickle 0.55 s / 0.39 s, 449 MB peak"
)

WORKER = r'''
import gc, json, os, resource, statistics, sys, time

args = json.loads(sys.argv[1])
impl, mode, workload, serializer_name = args["impl"], args["mode"], args["workload"], args["serializer"]
directory = args["dir"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_now():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def peak_reset():
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def large_value():
    if workload == "bytes":
        return os.urandom(args["size"])
    import numpy
    return numpy.random.default_rng(0).random(args["size"] // 8)


def small_value(i):
    return {"i": i, "name": f"item-{i}", "values": [1.0, 2.0, 3.0], "ok": True, "tags": ["a", "b"]}


if impl == "prefect":
    from prefect.filesystems import LocalFileSystem
    from prefect.results import ResultStore, resolve_serializer

    def store_make(cache):
        return ResultStore(
            result_storage=LocalFileSystem(basepath=directory),
            serializer=resolve_serializer(serializer_name),
            cache_result_in_memory=cache,
        )
else:
    sys.path.insert(0, args["project_root"])
    from apps.blocks.filesystems import LocalFileSystem
    from apps.results.serializers import serializer_from
    from apps.results.store import ResultStore


class FloorStore:
    """The format's own cost: the serializer's dumps and one plain file write (read: read + loads)."""

    def __init__(self):
        self.serializer = serializer_from(serializer_name)

    def write(self, value, key):
        with open(os.path.join(directory, "floor-" + key), "wb") as stream:
            stream.write(self.serializer.dumps(value))

    def read(self, key):
        with open(os.path.join(directory, "floor-" + key), "rb") as stream:
            return FloorRecord(self.serializer.loads(stream.read()))


class FloorRecord:
    def __init__(self, result):
        self.result = result


if impl == "floor":
    def store_make(cache):
        return FloorStore()
elif impl != "prefect":
    def store_make(cache):
        return ResultStore(
            result_storage=LocalFileSystem(basepath=directory),
            serializer=serializer_name,
            cache_result_in_memory=cache,
        )


def operation(op, value=None, key="big"):
    """One write or read of the large value; returns the value read (kept alive for the memory figure)."""
    if op == "write":
        store_make(False).write(value, key=key)
        return None
    return store_make(False).read(key).result


def run_small():
    count = args["count"]
    write_runs, read_runs = [], []
    for repeat in range(args["repeats"]):
        store = store_make(True)
        for i in range(20):
            store.write(small_value(i), key=f"warm-{i}")
        started = time.perf_counter()
        for i in range(count):
            store.write(small_value(i), key=f"small-{repeat}-{i}")
        write_runs.append((time.perf_counter() - started) / count)
        reader = store_make(False)
        started = time.perf_counter()
        for i in range(count):
            value = reader.read(f"small-{repeat}-{i}").result
        read_runs.append((time.perf_counter() - started) / count)
        assert value == small_value(count - 1), value
    return {"write_s": min(write_runs), "read_s": min(read_runs)}


def run_large_time():
    value = large_value()
    writes, reads = [], []
    for _ in range(args["repeats"]):
        gc.collect()
        started = time.perf_counter()
        operation("write", value)
        writes.append(time.perf_counter() - started)
        gc.collect()
        started = time.perf_counter()
        result = operation("read")
        reads.append(time.perf_counter() - started)
        del result
    return {"write_s": statistics.median(writes), "read_s": statistics.median(reads)}


def run_large_memory():
    import tracemalloc

    op = args["op"]
    value = large_value() if op == "write" else None
    gc.collect()
    baseline = rss_now()
    reset = peak_reset()
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = operation(op, value)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = peak_rss()
    del result
    return {"rss_growth": peak - baseline if reset else None, "traced_peak": traced_peak, "peak_reset": reset}


if mode == "small":
    report = run_small()
elif mode == "time":
    report = run_large_time()
else:
    report = run_large_memory()
print(json.dumps(report))
'''


def worker_run(*, python: Path, arguments: dict, environment: dict, timeout: float = 1800) -> dict:
    completed = subprocess.run(
        [str(python), "-c", WORKER, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=arguments["dir"],
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark worker {arguments} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def environment_for(impl: str, home: Path) -> dict:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    if impl == "prefect":
        environment.update(
            PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="ERROR"
        )
    return environment


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description="ResultStore benchmark: ours vs Prefect 3.9.1 vs the floor")
    parser.add_argument(
        "--quick", action="store_true", help="skip Prefect's slow compressed/pickle large cases"
    )
    parser.add_argument("--small-count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of each large case (median)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures to this file")
    parser.add_argument("--smoke", action="store_true", help="1 MiB values, 50 dicts, no Prefect: seconds")
    options = parser.parse_args()
    workloads = SMOKE_WORKLOADS if options.smoke else LARGE_WORKLOADS
    small_count = SMOKE_SMALL_COUNT if options.smoke else options.small_count
    repeats = 1 if options.smoke else options.repeats

    # Prefect is the baseline when it can be had; its absence or failure is said, never fatal.
    prefect_note = ""
    pythons = {"ours": Path(sys.executable), "floor": Path(sys.executable)}
    if options.smoke:
        prefect_note = (
            "prefect: skipped in smoke mode (its venv and runs take minutes; the full mode measures it)"
        )
    else:
        try:
            pythons["prefect"] = prefect_venv_ensure()
        except (OSError, subprocess.CalledProcessError) as error:
            prefect_note = f"prefect: not measured, its venv could not be built ({error})"
    scratch = Path(tempfile.mkdtemp(prefix="resultdeck-bench-"))
    figures: dict = {"small": {}, "large": {}}
    rows: list[tuple] = []
    try:

        def run(impl: str, **arguments) -> dict | None:
            nonlocal prefect_note
            if impl not in pythons:
                return None
            directory = (
                scratch
                / impl
                / arguments.get("workload", "small")
                / arguments["serializer"].replace("/", "-")
            )
            directory.mkdir(parents=True, exist_ok=True)
            arguments = {"impl": impl, "dir": str(directory), "project_root": str(PROJECT_ROOT), **arguments}
            try:
                return worker_run(
                    python=pythons[impl],
                    arguments=arguments,
                    environment=environment_for(impl, scratch / "home"),
                    timeout=PREFECT_TIMEOUT_S,
                )
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                if impl != "prefect":
                    raise
                reason = str(error).strip().splitlines()[-1][:200]
                prefect_note = (
                    f"prefect: failed or too slow on {arguments['mode']} ({reason}); not measured further"
                )
                del pythons["prefect"]
                return None

        print(f"# small: {small_count} dicts, pickle, best of {1 if options.smoke else 3}", flush=True)
        for impl in ("ours", "floor", "prefect"):
            figures["small"][impl] = run(
                impl,
                mode="small",
                workload="small",
                serializer="pickle",
                count=small_count,
                repeats=1 if options.smoke else 3,
            )
        ours, floor, prefect = (figures["small"][impl] or {} for impl in ("ours", "floor", "prefect"))
        for op in ("write", "read"):
            speedup = ratio(prefect.get(f"{op}_s"), ours[f"{op}_s"])
            rows.append(
                (
                    f"small dict {op}",
                    fmt(ours[f"{op}_s"] * 1000, " ms"),
                    fmt(prefect[f"{op}_s"] * 1000 if prefect else None, " ms"),
                    fmt(floor[f"{op}_s"] * 1000, " ms"),
                    fmt(speedup, "x", 1),
                    fmt(ratio(ours[f"{op}_s"], floor[f"{op}_s"]), "x", 2),
                    "-",
                    "-",
                    f"{verdict(None if speedup is None else speedup >= TARGET_SMALL_SPEEDUP)} "
                    f"(>= {TARGET_SMALL_SPEEDUP:g}x Prefect)",
                )
            )

        for workload, value_size in workloads.items():
            for serializer in LARGE_SERIALIZERS:
                compressed = serializer.startswith("compressed")
                case = f"{workload} {serializer}"
                print(f"# {case}", flush=True)
                entry = figures["large"][case] = {}
                skip_prefect = compressed and options.quick
                for impl in ("ours", "floor", "prefect"):
                    if impl == "prefect" and skip_prefect:
                        continue
                    timed = run(
                        impl,
                        mode="time",
                        workload=workload,
                        serializer=serializer,
                        size=value_size,
                        repeats=1 if compressed else repeats,
                    )
                    if timed is None:
                        continue
                    entry[impl] = timed
                    # Smoke measures memory once per implementation: the code path, not the figures.
                    smoke_skip = options.smoke and figures["large"].keys() - {case}
                    if options.no_memory or smoke_skip or (impl == "prefect" and compressed):
                        continue
                    for op in ("write", "read"):
                        entry[impl][f"{op}_memory"] = run(
                            impl,
                            mode="memory",
                            workload=workload,
                            serializer=serializer,
                            size=value_size,
                            op=op,
                        )
                rows.extend(large_rows(case=case, entry=entry, value_size=value_size, compressed=compressed))
        print()
        if prefect_note:
            print(prefect_note)
        print(PREFECT_REFERENCE)
        print(table(rows))
        failures = sum(1 for row in rows if row[-1].startswith("FAIL"))
        print(f"\n{len(rows) - failures} targets met, {failures} missed")
        if options.json:
            options.json.write_text(json.dumps(figures, indent=2))
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def large_rows(*, case: str, entry: dict, value_size: int, compressed: bool) -> list[tuple]:
    rows = []
    ours, floor, prefect = entry["ours"], entry["floor"], entry.get("prefect")
    for op in ("write", "read"):
        ours_s, floor_s = ours[f"{op}_s"], floor[f"{op}_s"]
        prefect_s = prefect[f"{op}_s"] if prefect else None
        vs_floor = ratio(ours_s, floor_s)
        speedup = ratio(prefect_s, ours_s)
        memory = ours.get(f"{op}_memory") or {}
        rss_ratio = ratio(memory.get("rss_growth"), value_size)
        prefect_memory = (prefect or {}).get(f"{op}_memory") or {}
        checks = [
            f"floor {verdict(vs_floor is not None and vs_floor <= TARGET_FLOOR_RATIO)}",
            f"mem {verdict(None if rss_ratio is None else rss_ratio <= TARGET_MEMORY_RATIO)}",
        ]
        if compressed and op == "write":
            checks.append(f"10x {verdict(None if speedup is None else speedup >= TARGET_COMPRESSED_SPEEDUP)}")
        overall = "FAIL" if any("FAIL" in check for check in checks) else "PASS"
        rows.append(
            (
                f"{case} {op}",
                fmt(ours_s, " s"),
                fmt(prefect_s, " s"),
                fmt(floor_s, " s"),
                fmt(speedup, "x", 1),
                fmt(vs_floor, "x", 2),
                f"{fmt(_mb(memory.get('rss_growth')), ' MB', 0)} / "
                f"{fmt(_mb(memory.get('traced_peak')), ' MB', 0)}",
                fmt(_mb(prefect_memory.get("rss_growth")), " MB", 0),
                f"{overall}: {', '.join(checks)}",
            )
        )
    if compressed:
        ours_total = ours["write_s"] + ours["read_s"]
        prefect_total = prefect["write_s"] + prefect["read_s"] if prefect else None
        floor_total = floor["write_s"] + floor["read_s"]
        speedup = ratio(prefect_total, ours_total)
        rows.append(
            (
                f"{case} write+read",
                fmt(ours_total, " s"),
                fmt(prefect_total, " s"),
                fmt(floor_total, " s"),
                fmt(speedup, "x", 1),
                fmt(ratio(ours_total, floor_total), "x", 2),
                "-",
                "-",
                f"{verdict(None if speedup is None else speedup >= TARGET_COMPRESSED_SPEEDUP)}: "
                f"10x Prefect round trip",
            )
        )
    return rows


def _mb(value: float | None) -> float | None:
    return None if value is None else value / 1e6


def table(rows: list[tuple]) -> str:
    header = (
        "case",
        "ours",
        "prefect",
        "floor",
        "prefect/ours",
        "ours/floor",
        "ours peak RSS / traced",
        "prefect peak RSS",
        "verdict",
    )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * width for width in widths))
    lines.extend(
        " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
