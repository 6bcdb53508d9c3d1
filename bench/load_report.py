"""What the load benchmark measures and how it prints it: sizes, pages, tallies, the report."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field

TARGET_P95_MS = 300.0
SLOW_QUERY_MS = 10.0


@dataclass(frozen=True)
class Size:
    flow_runs: int
    baseline_runs: int
    users: int
    duration_s: float
    think_s: float
    warm_passes: int  # untimed requests of each page before the timed ones


# Warm-up: passes over every page, two per gunicorn worker, so the table shows warm servers (each
# worker imports the preview modules and compiles its templates on first use), as production is
# after its first minute.
FULL = Size(flow_runs=1_000_000, baseline_runs=10_000, users=50, duration_s=60, think_s=1.0, warm_passes=6)
SMOKE = Size(flow_runs=5_000, baseline_runs=1_000, users=5, duration_s=5, think_s=0.2, warm_passes=1)


@dataclass
class Page:
    label: str
    urls: list[str]
    api: bool = False


@dataclass
class Tally:
    timings: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0  # this process's CPU time over the timed phase: the load generator's own
    server_cpu_s: float = 0.0  # the server's processes' CPU time over the timed phase
    machine_cpu_s: float = 0.0  # every process's on the machine (the database's and others' too)
    log_offset: int = 0  # where the timed phase starts in the server's log


@dataclass(frozen=True)
class Queries:
    count: int
    slowest_ms: float
    slowest_sql: str


@dataclass(frozen=True)
class Profile:
    total_ms: float
    cpu_ms: float
    queries_ms: float
    template_ms: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def report_print(
    *,
    pages: list[Page],
    tallies: dict[str, Tally],
    queries: dict[str, dict[str, Queries]],
    size: Size,
    profiles: dict[str, Profile],
    inside: dict[str, list[float]],
) -> bool:
    names = list(tallies)
    small, large = list(queries)
    header = f"{'page':<29}"
    for name in names:
        header += f" | {name + ' p50/p95/p99 ms':>29} {'n':>5} {'err':>4}"
    header += f" | {'p95 ratio':>9} | {'queries ' + small + ' / ' + large:>24} | verdict"
    print()
    print(header)
    print("-" * len(header))
    production, development = names[0], names[-1]
    missed = []
    for page in pages:
        line = f"{page.label:<29}"
        p95s = {}
        for name in names:
            timings = tallies[name].timings.get(page.label, [])
            errors = tallies[name].errors.get(page.label, 0)
            if timings:
                p95s[name] = percentile(timings, 0.95)
                p50, p99 = statistics.median(timings), percentile(timings, 0.99)
                figures = f"{p50:7.1f} / {p95s[name]:7.1f} / {p99:7.1f}"
            else:
                figures = "no requests"
            line += f" | {figures:>29} {len(timings):>5} {errors:>4}"
        ratio = p95s.get(development, 0) / p95s[production] if p95s.get(production) else float("nan")
        q_small, q_large = queries[small][page.label].count, queries[large][page.label].count
        ok_time = p95s.get(production, float("inf")) <= TARGET_P95_MS
        ok_errors = tallies[production].errors.get(page.label, 0) == 0
        ok_queries = q_large <= q_small
        ok = ok_time and ok_errors and ok_queries
        if not ok:
            missed.append(page.label)
        reasons = [
            reason
            for reason, good in (("p95", ok_time), ("errors", ok_errors), ("queries grow", ok_queries))
            if not good
        ]
        verdict = "PASS" if ok else "FAIL " + ", ".join(reasons)
        line += f" | {ratio:8.2f}x | {q_small:>11} / {q_large:<10} | {verdict}"
        print(line)
    print()
    for name in names:
        tally = tallies[name]
        count = sum(len(timings) for timings in tally.timings.values())
        errors = sum(tally.errors.values())
        every = [t for timings in tally.timings.values() for t in timings]
        p95_all = percentile(every, 0.95) if every else float("nan")
        print(
            f"{name:<10} {count:6d} requests in {tally.elapsed_s:5.1f} s = {count / tally.elapsed_s:6.1f} "
            f"requests/s, {errors} errors, p95 of all {p95_all:.1f} ms "
            f"({size.users} users, think time 0-{2 * size.think_s:g} s)"
        )
        for label, sample in tally.samples.items():
            print(f"           first error on {label}: {sample}")
        cores = os.cpu_count() or 1
        others = tally.machine_cpu_s - tally.server_cpu_s - tally.client_cpu_s
        per_request = 1000 * tally.server_cpu_s / max(count, 1)
        print(
            f"{'':<10} CPU over the {tally.elapsed_s:.0f} s, in % of one core ({cores} cores): server "
            f"{100 * tally.server_cpu_s / tally.elapsed_s:.0f}% ({per_request:.1f} ms a request), "
            f"load generator {100 * tally.client_cpu_s / tally.elapsed_s:.0f}%, everything else "
            f"(the database, other programs) {100 * others / tally.elapsed_s:.0f}%"
        )
    print(f"p95 ratio: {development} p95 / {production} p95 (the baseline over the production server)")
    print(
        f"slowest query of each page at {large} runs (one request, no load), "
        f"where it took >= {SLOW_QUERY_MS:g} ms:"
    )
    for page in pages:
        slowest = queries[large][page.label]
        if slowest.slowest_ms >= SLOW_QUERY_MS:
            print(f"  {page.label:<29} {slowest.slowest_ms:8.1f} ms  {slowest.slowest_sql[:300]}")
    profile_print(pages=pages, profiles=profiles, inside=inside)
    verdict = "PASS" if not missed else "FAIL (" + "; ".join(missed) + ")"
    print(f"targets (0 errors, p95 <= {TARGET_P95_MS:.0f} ms, queries do not grow): {verdict}")
    return not missed


def profile_print(*, pages: list[Page], profiles: dict[str, Profile], inside: dict[str, list[float]]) -> None:
    """Where each page's time goes: inside gunicorn under the load (its access log, so the rest of
    what the users waited was queueing before the server read the request), and alone in this
    process without load (medians): in all, on the CPU, in queries, rendering templates."""
    print(
        f"{'where the time goes':<29} | {'inside gunicorn p50/p95 ms':>26} | "
        f"{'alone: total / CPU / queries / template ms':>42}"
    )
    for page in pages:
        times = inside.get(page.label)
        under = f"{statistics.median(times):7.1f} / {percentile(times, 0.95):7.1f}" if times else "-"
        alone = profiles[page.label]
        print(
            f"{page.label:<29} | {under:>26} | {alone.total_ms:9.1f} / {alone.cpu_ms:6.1f} / "
            f"{alone.queries_ms:7.1f} / {alone.template_ms:8.1f}"
        )


# --------------------------------------------------------------------------------------------------
