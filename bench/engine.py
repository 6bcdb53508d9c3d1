"""Engine benchmark: the same flow in Resultdeck and in Prefect 3.9.1, side by side, in one run.

    .venv/bin/python bench/engine.py [--sizes 100 1000] [--flows 1000] [--skip-prefect] [--skip-celery]
        [--celery-only] [--concurrency 2] [--pool prefork] [--broker-db N] [--database NAME]

``--smoke``: 20 tasks, 60 flows, no Prefect (said in the output), in seconds.

* N tasks (each returns a small dict), persist_result=True, local storage, in a fresh process
  each: time per task inside the flow (the whole flow call / N, after one warm-up flow, so every
  result write and run record is counted; wall and CPU), and the whole process
  (python start to exit), beside a floor measured in the same run: the same calls with no engine,
  each result pickled to a file. Prefect runs from the throwaway venv of scripts/prefect_venv.py,
  with its own temporary PREFECT_HOME (its ephemeral API server and SQLite, as a plain script
  gets); if it fails or is too slow, the table says so and still shows our figures.
* The same N tasks logging LOG_LINES lines each (``get_run_logger().info`` inside the task), in
  both engines, at INFO so every line is kept (our RunLog rows; Prefect's API log handler): time
  per task beside the plain case's, and Prefect's figure with the same lines.
* Celery throughput: --flows small flows (examples' "sum-numbers": one task, results persisted)
  submitted at once with ``flow_runs_submit_many`` to two workers (prefork, --concurrency
  processes each, ``-O fair``, no gossip/mingle/heartbeat; acks_late and prefetch 1 as configured),
  Redis broker ($CELERY_BROKER_URL if it is Redis, else database --broker-db of $REDIS_URL; it is
  flushed), PostgreSQL (a scratch database --database, dropped after): flows/s from the first
  submit until every run is final. Its baseline, measured in the same run:
  the same flows through the same worker function, one after another in one process, no broker.
  Needs the test services (eval "$(scripts/services.sh env)").

Targets: >= 20x less time per task than Prefect (whose reference figure here is 3.47 ms), with
and without the log lines,
whole process under 1 s for 100 tasks (Prefect: 8.6 s), >= 200 flows/s through two workers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import data  # noqa: E402

PREFECT_REFERENCE = {"per_task_ms": 3.47, "process_100_s": 8.6}
TARGET_RATIO = 20.0
TARGET_PROCESS_S = 1.0
TARGET_FLOWS_PER_S = 200.0
PREFECT_TIMEOUT_S = 300.0
SMOKE_SIZES = [20]
SMOKE_FLOWS = 60
SMOKE_BASELINE_FLOWS = 30
LOG_LINES = 10

SCRIPT = """
import json, sys, time
process_started = time.perf_counter()
from {package} import flow, get_run_logger, task

LINES = int(sys.argv[2])


@task(persist_result=True)
def small(i):
    return {{"i": i, "square": i * i, "label": "row"}}


@task(persist_result=True)
def logged(i):
    logger = get_run_logger()
    for line in range(LINES):
        logger.info("row %d: line %d of the task's progress", i, line)
    return {{"i": i, "square": i * i, "label": "row"}}


@flow(persist_result=True)
def bench(n):
    call = logged if LINES else small
    for i in range(n):
        call(i)


@flow
def warm_up():
    pass


# The first flow call sets the engine up (Django, API server, imports): part of the whole-process
# figure, not of the per-task one. The timed call includes every result write and run record.
warm_up()
n = int(sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
bench(n)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({{"in_flow_wall": wall, "in_flow_cpu": cpu}}))
"""


# The floor: the same N calls with no engine, each result pickled to a file of its own (what
# persisting a result costs at the least), measured the same way in a fresh process.
FLOOR_SCRIPT = """
import json, os, sys, time
import cloudpickle


def small(i):
    return {"i": i, "square": i * i, "label": "row"}


def bench(n):
    for i in range(n):
        with open(os.path.join("floor-results", str(i)), "wb") as stream:
            stream.write(cloudpickle.dumps(small(i)))


os.makedirs("floor-results", exist_ok=True)
bench(1)
n = int(sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
bench(n)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"in_flow_wall": wall, "in_flow_cpu": cpu}))
"""


def run_script(
    *, python: str, package: str, n: int, env: dict, cwd: Path, lines: int = 0, timeout: float | None = None
) -> dict:
    """The figures of one fresh process running N tasks that log ``lines`` lines each."""
    script = cwd / f"bench_{package}.py"
    script.write_text(FLOOR_SCRIPT if package == "floor" else SCRIPT.format(package=package))
    started = time.perf_counter()
    completed = subprocess.run(
        [python, str(script), str(n), str(lines)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    process = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{package} benchmark failed:\n{completed.stderr[-3000:]}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    figures["process"] = process
    return figures


def resultdeck_env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESULTS_", "DATABASE_URL", "CELERY_"))}
    env.update(RESULTDECK_VAR_DIR=str(work / "var"), PYTHONPATH=str(ROOT), DJANGO_DEBUG="on")
    data.sqlite_migrated_copy(var_dir=work / "var")
    return env


def prefect_env(work: Path, *, lines: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(work / "prefect-home"),
        PREFECT_LOCAL_STORAGE_PATH=str(work / "prefect-storage"),
        # At WARNING Prefect would drop the INFO lines of the logging case before its API handler.
        PREFECT_LOGGING_LEVEL="INFO" if lines else "WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL="",
        # The temporary API server can take long to start on a busy machine; Prefect's own 20 s
        # limit made the whole benchmark abort.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=str(int(PREFECT_TIMEOUT_S)),
    )
    env.pop("PYTHONPATH", None)
    return env


def prefect_python() -> str:
    sys.path.insert(0, str(ROOT / "scripts"))
    from prefect_venv import prefect_venv_ensure

    return str(prefect_venv_ensure())


def celery_driver(*, flows: int, baseline_flows: int, warm: int = 20) -> dict:
    """Runs in a subprocess with the workers' settings: the in-process baseline, then the Celery run.

    The baseline runs the same flow through the same worker code path (``flows.run``'s function,
    one run after another in this process, no broker), so the ratio shows what Celery and the
    workers' concurrency add to or take from the engine's own speed on this machine, right now.
    """
    import django

    django.setup()
    from apps.flows.models import FlowRun
    from apps.flows.submission import flow_run_submit, flow_runs_schedule, flow_runs_submit_many
    from apps.flows.tasks import flow_run_execute_task

    runs = flow_runs_schedule(
        flow_name="sum-numbers", parameters_list=[{"count": i} for i in range(baseline_flows)]
    )
    for run in runs[:warm]:  # warm-up: imports, the storage target, the connection
        flow_run_execute_task(str(run.pk))
    started = time.perf_counter()
    for run in runs[warm:]:
        flow_run_execute_task(str(run.pk))
    baseline = (len(runs) - warm) / (time.perf_counter() - started)
    assert FlowRun.objects.filter(pk__in=[r.pk for r in runs], state="COMPLETED").count() == len(runs)

    flow_run_submit(flow_name="sum-numbers", parameters={"count": 1}).wait(timeout=60)  # workers are up
    FlowRun.objects.all().delete()
    started = time.perf_counter()
    flow_runs_submit_many(flow_name="sum-numbers", parameters_list=[{"count": i} for i in range(flows)])
    submitted = time.perf_counter() - started
    final = ["COMPLETED", "FAILED", "CRASHED"]
    while FlowRun.objects.filter(state__in=final).count() < flows:
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    completed = FlowRun.objects.filter(state="COMPLETED").count()
    return {"elapsed": elapsed, "submitted": submitted, "completed": completed, "baseline_per_s": baseline}


def celery_throughput(
    *,
    flows: int,
    workers: int = 2,
    concurrency: int = 2,
    pool: str = "prefork",
    broker_db: int | None = None,
    database: str,
    baseline_flows: int = 300,
    warm: int = 20,
) -> dict:
    """flows/s through `workers` Celery workers with Redis and PostgreSQL, and the in-process baseline."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        raise RuntimeError('the Celery benchmark needs the services: eval "$(scripts/services.sh env)"')
    scratch_url = data.database_create(name=database)
    work = Path(tempfile.mkdtemp(prefix="rd-bench-celery-"))
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if broker_db is not None or not broker.startswith("redis"):
        broker = redis_url.rsplit("/", 1)[0] + f"/{7 if broker_db is None else broker_db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESULTS_", "CELERY_"))}
    env.update(
        DATABASE_URL=scratch_url,
        CELERY_BROKER_URL=broker,
        RESULTDECK_VAR_DIR=str(work / "var"),
        RESULTS_LOCAL_STORAGE_PATH=str(work / "storage"),
        FLOW_MODULES="examples.flows",
        DJANGO_DEBUG="on",
        PYTHONPATH=str(ROOT),
    )
    import redis

    redis.Redis.from_url(broker).flushdb()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "project",
                "worker",
                "-l",
                "warning",
                "-c",
                str(concurrency),
                "-n",
                f"bench{i}@%h",
                "-P",
                pool,
                "-O",
                "fair",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for i in range(workers)
    ]
    try:
        code = (
            "import json, bench.engine as b; "
            f"print(json.dumps(b.celery_driver(flows={flows}, baseline_flows={baseline_flows}, warm={warm})))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "project.settings"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(20)
        data.database_drop(name=database)
    figures["flows_per_s"] = flows / figures["elapsed"]
    figures["flows"] = flows
    return figures


def prefect_measure(*, sizes: list[int], work: Path) -> tuple[dict[tuple[int, int], dict], str]:
    """Prefect's figures per (size, lines per task), or none and why: a slow or failing baseline
    must not hide ours."""
    try:
        python = prefect_python()
    except (OSError, subprocess.CalledProcessError) as error:
        return {}, f"prefect: not measured, its venv could not be built ({error})"
    figures = {}
    for n, lines in [(n, lines) for n in sizes for lines in (0, LOG_LINES)]:
        try:
            figures[n, lines] = run_script(
                python=python,
                package="prefect",
                n=n,
                env=prefect_env(work, lines=lines),
                cwd=work,
                lines=lines,
                timeout=PREFECT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return (
                figures,
                f"prefect: N={n} timed out after {PREFECT_TIMEOUT_S:.0f} s (slow baseline), not measured",
            )
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[-1][:200]
            return figures, f"prefect: N={n} failed ({reason}), not measured"
    return figures, ""


def ms(value: float | None) -> str:
    return f"{value:>12.3f}" if value is not None else f"{'-':>12}"


def versus_prefect(
    *, per_task: float, prefect_per_task: float | None, verdicts: list[bool], missing: str
) -> str:
    """The ratio column against Prefect's time per task and its verdict, or ``missing`` without one."""
    if prefect_per_task is None:
        return missing
    ratio = prefect_per_task / per_task
    ok = ratio >= TARGET_RATIO
    verdicts.append(ok)
    return f"{ratio:>7.1f}x  >= {TARGET_RATIO:.0f}x      {'PASS' if ok else 'FAIL'}"


def logged_rows_print(
    *, n: int, ours: dict, plain: dict, theirs: dict | None, theirs_plain: dict | None, verdicts: list[bool]
) -> None:
    """The logging case: per task beside Prefect's with the same lines, and beside our plain case."""
    per_task = ours["in_flow_wall"] / n * 1000
    prefect_per_task = theirs["in_flow_wall"] / n * 1000 if theirs else None
    versus = versus_prefect(
        per_task=per_task,
        prefect_per_task=prefect_per_task,
        verdicts=verdicts,
        missing=f"{'-':>8}  (Prefect not measured)",
    )
    label = f"ms per task, {LOG_LINES} log lines"
    print(f"{n:>5}  {label:<28} {per_task:>12.3f} {ms(prefect_per_task)} {versus}")
    cost = (ours["in_flow_wall"] - plain["in_flow_wall"]) / n * 1000
    prefect_cost = (theirs["in_flow_wall"] - theirs_plain["in_flow_wall"]) / n * 1000 if theirs else None
    print(
        f"{n:>5}  {'  of which the lines, ms':<28} {cost:>12.3f} {ms(prefect_cost)} "
        f"{ours['in_flow_wall'] / plain['in_flow_wall']:>7.2f}x  (ours with the lines / ours plain)"
    )


def rows_print(*, n: int, ours: dict, floor: dict, theirs: dict | None, verdicts: list[bool]) -> None:
    per_task = ours["in_flow_wall"] / n * 1000
    floor_per_task = floor["in_flow_wall"] / n * 1000
    prefect_per_task = theirs["in_flow_wall"] / n * 1000 if theirs else None
    versus = versus_prefect(
        per_task=per_task,
        prefect_per_task=prefect_per_task,
        verdicts=verdicts,
        missing=f"{PREFECT_REFERENCE['per_task_ms'] / per_task:>7.1f}x  "
        "(vs the reference figure, not measured)",
    )
    print(f"{n:>5}  {'ms per task (in flow, wall)':<28} {per_task:>12.3f} {ms(prefect_per_task)} {versus}")
    print(
        f"{n:>5}  {'ms per task (in flow, cpu)':<28} {ours['in_flow_cpu'] / n * 1000:>12.3f} "
        f"{ms(theirs['in_flow_cpu'] / n * 1000 if theirs else None)}"
    )
    print(
        f"{n:>5}  {'floor: ms per task, no engine':<28} {floor_per_task:>12.3f} {'':>12} "
        f"{per_task / floor_per_task:>7.1f}x  (ours / plain calls pickling each result to a file)"
    )
    line = f"{n:>5}  {'whole process, s':<28} {ours['process']:>12.3f} "
    line += (
        f"{theirs['process']:>12.3f} {theirs['process'] / ours['process']:>7.1f}x"
        if theirs
        else f"{'-':>12} {'':>8}"
    )
    if n == 100:
        ok = ours["process"] < TARGET_PROCESS_S
        verdicts.append(ok)
        line += f"  < {TARGET_PROCESS_S:.0f} s       {'PASS' if ok else 'FAIL'}"
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and no Prefect: seconds")
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo"], help="the workers' pool")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker (prefork)")
    parser.add_argument("--broker-db", type=int, default=None, help="default: that of $CELERY_BROKER_URL")
    parser.add_argument("--database", default=None, help="scratch PostgreSQL database (default: *_engine)")
    parser.add_argument("--celery-only", action="store_true", help="only the Celery throughput")
    arguments = parser.parse_args()
    sizes = SMOKE_SIZES if arguments.smoke else arguments.sizes
    flows = SMOKE_FLOWS if arguments.smoke else arguments.flows

    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="rd-bench-engine-"))
    ours_env = resultdeck_env(work)
    rows = []
    for n in [] if arguments.celery_only else sizes:
        ours = run_script(python=sys.executable, package="apps.flows", n=n, env=ours_env, cwd=work)
        logged = run_script(
            python=sys.executable, package="apps.flows", n=n, env=ours_env, cwd=work, lines=LOG_LINES
        )
        floor = run_script(python=sys.executable, package="floor", n=n, env=ours_env, cwd=work)
        rows.append((n, ours, logged, floor))
    prefect, prefect_note = {}, ""
    if arguments.smoke:
        prefect_note = (
            "prefect: skipped in smoke mode (a Prefect process takes ~10 s; the full mode measures it)"
        )
    elif arguments.skip_prefect:
        prefect_note = "prefect: skipped (--skip-prefect)"
    elif not arguments.celery_only:
        prefect, prefect_note = prefect_measure(sizes=sizes, work=work)

    print(f"\nEngine benchmark (load average at start {load:.1f} on {os.cpu_count()} cores)")
    print(f"{'N':>5}  {'metric':<28} {'resultdeck':>12} {'prefect':>12} {'ratio':>8}  target      verdict")
    verdicts: list[bool] = []
    for n, ours, logged, floor in rows:
        rows_print(n=n, ours=ours, floor=floor, theirs=prefect.get((n, 0)), verdicts=verdicts)
        logged_rows_print(
            n=n,
            ours=logged,
            plain=ours,
            theirs=prefect.get((n, LOG_LINES)),
            theirs_plain=prefect.get((n, 0)),
            verdicts=verdicts,
        )
    if prefect_note:
        print(f"       {prefect_note}")
    print(
        f"       Prefect reference figures: {PREFECT_REFERENCE['per_task_ms']} ms per persisted task, "
        f"{PREFECT_REFERENCE['process_100_s']} s for a 100-task script"
    )
    if not arguments.skip_celery:
        celery = celery_throughput(
            flows=flows,
            pool=arguments.pool,
            concurrency=1 if arguments.pool == "solo" else arguments.concurrency,
            broker_db=arguments.broker_db,
            database=arguments.database or data.scratch_name("engine"),
            baseline_flows=SMOKE_BASELINE_FLOWS if arguments.smoke else 300,
            warm=5 if arguments.smoke else 20,
        )
        ok = celery["flows_per_s"] >= TARGET_FLOWS_PER_S
        verdicts.append(ok)
        layout = f"2 workers x {1 if arguments.pool == 'solo' else arguments.concurrency} {arguments.pool}"
        print(
            f"{celery['flows']:>5}  {'flows/s, ' + layout:<28} {celery['flows_per_s']:>12.1f} "
            f"{'':>12} {'':>8}  >= {TARGET_FLOWS_PER_S:.0f}/s     {'PASS' if ok else 'FAIL'}"
            f"   ({celery['completed']} completed; submitting took {celery['submitted']:.2f} s)"
        )
        print(
            f"{'':>5}  {'baseline: in-process serial':<28} {celery['baseline_per_s']:>12.1f} {'':>12} "
            f"{celery['flows_per_s'] / celery['baseline_per_s']:>7.2f}x  (Celery / the same flows run "
            "one after another in one process, same code path, no broker)"
        )
    passed = all(verdicts)
    print("\nOVERALL:", "PASS" if passed else "FAIL")
    # Smoke sizes say nothing about speed: only a crash fails them.
    return 0 if passed or arguments.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
