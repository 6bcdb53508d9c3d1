"""Load benchmark: the production server under 50 logged-in users, beside the development server.

    .venv/bin/python bench/load.py            # 1,000,000 flow runs, 50 users, 60 s per server
    .venv/bin/python bench/load.py --smoke    # 5,000 flow runs, 5 users, 5 s per server
    .venv/bin/python bench/load.py --reuse --servers gunicorn --duration 30   # to try a change

It fills a scratch PostgreSQL database (named after the one in $DATABASE_URL, suffix ``_load``)
with bench/data.py: first 1% of the runs, where it counts each page's database queries, then the
rest up to 1,000,000 flow runs and 3,000,000 task runs, where it counts them again. It adds a
local storage block holding real results (JSON, a pickle, a DataFrame) for the previews, and the
users (viewers with an API token each).

Then it runs the server command of the Dockerfile (gunicorn) with DJANGO_DEBUG=off on 127.0.0.1,
and sends the users: each logs in through the login form (session cookie and CSRF token), then
requests a page of the mix, waits a think time and goes on until the time is up; the number of
requests is capped too. Requests carry ``X-Forwarded-Proto: https``, as from the TLS proxy that
production runs behind. The same load then goes to the development server (``manage.py
runserver``, same settings) as the baseline. It prints p50/p95/p99 per page, errors and requests
per second for both, and the queries per page at both data sizes. The database is dropped at the
end, unless ``--reuse`` keeps it (with its users and results, in .cache/) for the next ``--reuse``
run, which migrates it forward instead of filling it again. Targets: 0 errors and p95 <= 300 ms on
every page.

Then where the time goes: the CPU the server, this load generator and the rest of the machine (the
database, anything else running) used over the timed phase, and for each page its time inside
gunicorn under the load (from the access log; the rest of what a user waited was queueing before
a worker read the request) beside its time alone in this process: in all, on the CPU, in queries
and in templates.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench import data  # noqa: E402
from bench.load_report import (  # noqa: E402
    FULL,
    SMOKE,
    Page,
    Profile,
    Queries,
    Size,
    Tally,
    report_print,
)

PASSWORD = "load-" + secrets.token_urlsafe(12)
REQUEST_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 120.0
STATIC_ROOT = PROJECT_ROOT / ".cache" / "bench-static"


# --------------------------------------------------------------------------------------------------
# Data and fixtures (in this process, with Django set up on the scratch database)


def server_env(*, database_url: str, var_dir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RESULTS_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_DEBUG="off",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        RESULTDECK_SECRETS_KEY=Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver",
        DJANGO_STATIC_ROOT=str(STATIC_ROOT),
        RESULTDECK_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="project.settings",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    return env


def fixtures_create(*, users: int, results_dir: Path) -> dict:
    """Viewers with a token each, and real results on a local block; returns what the pages need."""
    import pandas
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from apps.blocks import services
    from apps.blocks.filesystems import LocalFileSystem
    from apps.results.references import reference_from_record
    from apps.results.store import ResultStore

    viewer = Group.objects.get_or_create(name="viewer")[0]
    password = make_password(PASSWORD)  # hashed once: the same hash for every user
    accounts = User.objects.bulk_create(
        [User(username=f"load-user-{i}", password=password) for i in range(users)]
    )
    viewer.user_set.add(*accounts)
    tokens = [Token.objects.create(user=user).key for user in accounts]

    results_dir.mkdir(parents=True, exist_ok=True)
    block = services.block_create(
        block_type="local-file-system", name="load-results", settings={"basepath": str(results_dir)}
    )
    storage = LocalFileSystem(basepath=str(results_dir))
    values = {
        "json": ("json", {"rows": list(range(200)), "labels": {f"k{i}": f"v{i}" for i in range(50)}}),
        "pickle": ("pickle", {"when": "now", "nested": [{"a": i, "b": [i] * 5} for i in range(100)]}),
        "table": (
            "pickle",
            pandas.DataFrame({"x": range(500), "y": [i * 0.5 for i in range(500)], "z": ["label"] * 500}),
        ),
    }
    references = {}
    for label, (serializer, value) in values.items():
        store = ResultStore(result_storage=storage, serializer=serializer, cache_result_in_memory=False)
        record = store.write(value, key=f"load-{label}")
        reference = reference_from_record(record=record, storage=storage, value=value, block=block)
        reference.size_bytes = storage.size(reference.key)
        reference.save()
        references[label] = reference.pk
    return {
        "usernames": [user.username for user in accounts],
        "password": PASSWORD,
        "tokens": tokens,
        "results": references,
    }


def pages_build(*, fixtures: dict, sample: int = 200) -> list[Page]:
    from django.db import connection

    deep, pk = data.runs_middle_cursor()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM flows_flowrun TABLESAMPLE SYSTEM (1) LIMIT %s", [sample])
        run_ids = [str(row[0]) for row in cursor.fetchall()] or [pk]
        cursor.execute(
            "SELECT id FROM results_resultreference WHERE block_id IS NOT NULL ORDER BY id DESC LIMIT %s",
            [sample],
        )
        result_ids = [row[0] for row in cursor.fetchall()]
    results = fixtures["results"]
    return [
        Page("home", ["/"]),
        Page("runs list", ["/runs/"]),
        Page("runs list, state & flow", ["/runs/?state=FAILED&flow=flow-7"]),
        Page("runs list, parameter search", ["/runs/?q=%22rows%22%3A+999%2C"]),
        Page("runs list, deep keyset page", [f"/runs/?cursor={deep}"]),
        Page("run detail", [f"/runs/{pk}/" for pk in run_ids]),
        Page("results list", ["/results/"]),
        Page("result preview, JSON", [f"/results/{results['json']}/"]),
        Page("result preview, pickle", [f"/results/{results['pickle']}/"]),
        Page("result preview, table", [f"/results/{results['table']}/"]),
        Page("expiration page", ["/results/expiring/"]),
        Page("API runs list", ["/api/runs/"], api=True),
        Page("API run detail", [f"/api/runs/{pk}/" for pk in run_ids], api=True),
        Page("API results list", ["/api/results/"], api=True),
        Page("API result detail", [f"/api/results/{pk}/" for pk in result_ids], api=True),
    ]


def queries_count(*, pages: list[Page], fixtures: dict) -> dict[str, Queries]:
    """The database queries of each page's first URL (and the slowest), through the test Client."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username=fixtures["usernames"][0]))
    token = {"HTTP_AUTHORIZATION": f"Token {fixtures['tokens'][0]}"}
    counts = {}
    for page in pages:
        extra = token if page.api else {}
        client.get(page.urls[0], secure=True, **extra)  # warm caches: the steady state is measured
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page.urls[0], secure=True, **extra)
        if response.status_code != 200:
            raise RuntimeError(f"{page.label}: {page.urls[0]} answered {response.status_code}")
        slowest = max(queries.captured_queries, key=lambda query: float(query["time"]))
        counts[page.label] = Queries(
            count=len(queries.captured_queries),
            slowest_ms=float(slowest["time"]) * 1000,
            slowest_sql=" ".join(slowest["sql"].split()),
        )
    return counts


def pages_profile(*, pages: list[Page], fixtures: dict, repeats: int = 5) -> dict[str, Profile]:
    """Each page's time in this process, no load (medians): in all, on the CPU, in queries, in templates."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.template.backends.django import Template
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=fixtures["usernames"][0]))
    token = {"HTTP_AUTHORIZATION": f"Token {fixtures['tokens'][0]}"}
    spent = {"queries": 0.0, "template": 0.0}

    def timed_query(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent["queries"] += time.perf_counter() - started

    render = Template.render

    def timed_render(self, *args, **kwargs):  # the page's template, with what it includes and queries
        started = time.perf_counter()
        try:
            return render(self, *args, **kwargs)
        finally:
            spent["template"] += time.perf_counter() - started

    profiles = {}
    Template.render = timed_render
    try:
        with connection.execute_wrapper(timed_query):
            for page in pages:
                extra = token if page.api else {}
                client.get(page.urls[0], secure=True, **extra)
                samples = []
                for turn in range(repeats):
                    spent.update(queries=0.0, template=0.0)
                    wall, cpu = time.perf_counter(), time.process_time()
                    client.get(page.urls[turn % len(page.urls)], secure=True, **extra)
                    samples.append(
                        (
                            time.perf_counter() - wall,
                            time.process_time() - cpu,
                            spent["queries"],
                            spent["template"],
                        )
                    )
                profiles[page.label] = Profile(
                    *(statistics.median(sample[i] for sample in samples) * 1000 for i in range(4))
                )
    finally:
        Template.render = render
    return profiles


ACCESS_LINE = re.compile(r'"GET (\S+) HTTP/[\d.]+" (\d{3}) .* (\d+)ms$')


def server_times(*, log: Path, offset: int, pages: list[Page]) -> dict[str, list[float]]:
    """Each page's time inside the server over the timed phase, from gunicorn's access log."""
    label_of = {urllib.parse.unquote_plus(url): page.label for page in pages for url in page.urls}
    times: dict[str, list[float]] = {}
    with log.open("rb") as lines:
        lines.seek(offset)
        for line in lines:
            match = ACCESS_LINE.search(line.decode(errors="replace").rstrip())
            label = label_of.get(urllib.parse.unquote_plus(match.group(1))) if match else None
            if label:
                times.setdefault(label, []).append(float(match.group(3)))
    return times


# --------------------------------------------------------------------------------------------------
# Servers


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_command(*, port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The Dockerfile's CMD, bound to loopback instead of every interface (and ``extra`` options)."""
    line = next(
        line for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD")
    )
    command = json.loads(line.removeprefix("CMD").strip())
    command = [f"127.0.0.1:{port}" if part.startswith("0.0.0.0:") else part for part in command]
    executable = Path(sys.executable).parent / command[0]
    return [str(executable) if executable.exists() else command[0], *command[1:], *extra]


def development_command(*, port: int) -> list[str]:
    return [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]


def server_start(*, command: list[str], env: dict, port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/healthz", headers={"X-Forwarded-Proto": "https"}
            )
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    server_stop(process)
    raise RuntimeError(f"{command[0]} did not answer /healthz within {SERVER_START_TIMEOUT_S:.0f} s")


def machine_busy_s() -> float:
    """CPU seconds every process of the machine has used since boot (all cores, /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def group_cpu_s(*, group: int) -> float:
    """CPU seconds of the living processes of process group ``group`` (the server and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def server_stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --------------------------------------------------------------------------------------------------
# The users


def cookies_take(response, jar: dict[str, str]) -> None:
    for name, morsel in response.cookies.items():
        jar[name] = morsel.value


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


async def user_login(session, *, base: str, username: str, password: str) -> dict[str, str]:
    """The login form, as a browser fills it: its CSRF cookie and token, then the POST."""
    jar: dict[str, str] = {}
    headers = {"X-Forwarded-Proto": "https"}
    async with session.get(f"{base}/login/", headers=headers) as response:
        cookies_take(response, jar)
        html = await response.text()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if response.status != 200 or token is None or "csrftoken" not in jar:
        raise RuntimeError(f"login form for {username}: {response.status}")
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    login_headers = {
        **headers,
        "Cookie": cookie_header(jar),
        "Referer": f"https://{base.split('//')[1]}/login/",
    }
    async with session.post(
        f"{base}/login/", data=form, headers=login_headers, allow_redirects=False
    ) as response:
        cookies_take(response, jar)
        await response.read()
    if response.status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"login of {username} answered {response.status}")
    return jar


def user_headers(*, jar: dict[str, str], token: str, page: Page) -> dict[str, str]:
    if page.api:
        return {"X-Forwarded-Proto": "https", "Authorization": f"Token {token}"}
    return {"X-Forwarded-Proto": "https", "Cookie": cookie_header(jar)}


async def user_warm(
    session, *, base: str, index: int, jar: dict, token: str, pages: list[Page], count: int
) -> None:
    import aiohttp

    for turn in range(index, index + count):
        page = pages[turn % len(pages)]
        headers = user_headers(jar=jar, token=token, page=page)
        try:
            async with session.get(base + page.urls[0], headers=headers, allow_redirects=False) as response:
                await response.read()
        except (TimeoutError, aiohttp.ClientError):
            continue  # untimed: the timed requests count the errors


async def user_run(
    session,
    *,
    base: str,
    index: int,
    jar: dict,
    token: str,
    pages: list[Page],
    size: Size,
    deadline: float,
    budget: list[int],
    tally: Tally,
) -> None:
    """Pages of the mix in turn (each user starting elsewhere), a think time between, until the end."""
    import aiohttp

    rng = random.Random(index)
    turn = index
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        page = pages[turn % len(pages)]
        turn += 1
        url = rng.choice(page.urls)
        started = time.perf_counter()
        error = None
        try:
            async with session.get(
                base + url, headers=user_headers(jar=jar, token=token, page=page), allow_redirects=False
            ) as response:
                await response.read()
                if response.status != 200:
                    error = f"{url} answered {response.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = f"{url}: {type(exc).__name__} {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        tally.timings.setdefault(page.label, []).append(elapsed)
        if error:
            tally.errors[page.label] = tally.errors.get(page.label, 0) + 1
            tally.samples.setdefault(page.label, error)
        await asyncio.sleep(rng.uniform(0, 2 * size.think_s))


async def load_send(
    *,
    port: int,
    fixtures: dict,
    pages: list[Page],
    size: Size,
    jars: list[dict] | None,
    log: Path,
    server_pid: int,
) -> tuple[Tally, list[dict]]:
    """The timed load; the users log in first unless their cookies (``jars``) are given."""
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    tally = Tally()
    tokens = fixtures["tokens"]
    # Every user at most 20 requests a second: a bound on the count, should the think time be 0.
    budget = [int(size.users * size.duration_s * 20)]
    connector = aiohttp.TCPConnector(limit=size.users)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        # Untimed set-up: the logins, then the warm-up passes. A login checks a password hash,
        # slow by design: two at a time, so none waits past the request timeout behind the others.
        logins = asyncio.Semaphore(2)

        async def login(index: int) -> dict[str, str]:
            async with logins:
                return await user_login(
                    session, base=base, username=fixtures["usernames"][index], password=fixtures["password"]
                )

        phase = time.monotonic()
        if jars is None:
            jars = list(await asyncio.gather(*(login(i) for i in range(size.users))))
            print(f"  {size.users} users logged in in {time.monotonic() - phase:.1f} s", flush=True)
            phase = time.monotonic()
        warm = -(-size.warm_passes * len(pages) // size.users)
        await asyncio.gather(
            *(
                user_warm(session, base=base, index=i, jar=jars[i], token=tokens[i], pages=pages, count=warm)
                for i in range(size.users)
            )
        )
        print(f"  warm-up ({warm * size.users} requests) in {time.monotonic() - phase:.1f} s", flush=True)
        tally.log_offset = log.stat().st_size
        started, cpu = time.monotonic(), time.process_time()
        server_cpu, machine_cpu = group_cpu_s(group=server_pid), machine_busy_s()
        deadline = started + size.duration_s
        await asyncio.gather(
            *(
                user_run(
                    session, base=base, index=i, jar=jars[i], token=tokens[i], pages=pages, size=size,
                    deadline=deadline, budget=budget, tally=tally,
                )
                for i in range(size.users)
            )
        )  # fmt: skip
        tally.elapsed_s = time.monotonic() - started
        tally.client_cpu_s = time.process_time() - cpu
        tally.server_cpu_s = group_cpu_s(group=server_pid) - server_cpu
        tally.machine_cpu_s = machine_busy_s() - machine_cpu
    return tally, jars


# --------------------------------------------------------------------------------------------------
# The report


def state_path(*, name: str) -> Path:
    return PROJECT_ROOT / ".cache" / f"bench-{name}.json"


def state_read(*, name: str, size: Size) -> dict | None:
    """What a kept database was filled with (env, fixtures, the small size's queries), if its size matches."""
    import psycopg

    path = state_path(name=name)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if state.get("size") != [size.flow_runs, size.users]:
        return None
    with psycopg.connect(data.database_url_for("postgres"), autocommit=True) as connection:
        row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return state if row else None


def database_fill(*, name: str, size: Size, work: Path, results_dir: Path) -> dict:
    """A new scratch database filled to ``size``: its server env, fixtures and small-size queries."""
    env = server_env(database_url=data.database_create(name=name), var_dir=work / "var")
    os.environ.update(env)
    import django

    django.setup()
    fixtures = fixtures_create(users=size.users, results_dir=results_dir)
    anchor = data.anchor_for(total=size.flow_runs)
    data.runs_generate(start=0, stop=size.baseline_runs, anchor=anchor)
    static_collect(env=env)
    small = queries_count(pages=pages_build(fixtures=fixtures), fixtures=fixtures)
    started = time.perf_counter()
    data.runs_generate(start=size.baseline_runs, stop=size.flow_runs, anchor=anchor)
    print(f"  {f'data generation up to {size.flow_runs:,} runs':<44} {time.perf_counter() - started:6.1f} s")
    return {
        "size": [size.flow_runs, size.users],
        "env": env,
        "fixtures": fixtures,
        "queries": {f"{size.baseline_runs:,}": {label: vars(q) for label, q in small.items()}},
    }


def static_collect(*, env: dict) -> None:
    """collectstatic: the pages render (DEBUG off) with the static manifest."""
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="5,000 runs, 5 users, 5 s per server")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds of load per server")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the filled database for the next --reuse run, and use the one kept if its schema "
        "and size match (its small-size query counts are those of the run that filled it)",
    )
    parser.add_argument(
        "--servers", default="gunicorn,runserver", help="which servers to load, in order (comma-separated)"
    )
    parser.add_argument(
        "--gunicorn-args", default="", help='options added to the Dockerfile\'s, to try one: "--threads 4"'
    )
    parser.add_argument("--think", type=float, default=None, help="mean think time between requests, s")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    if args.users or args.duration or args.think is not None:
        size = Size(
            flow_runs=size.flow_runs,
            baseline_runs=size.baseline_runs,
            users=args.users or size.users,
            duration_s=args.duration or size.duration_s,
            think_s=size.think_s if args.think is None else args.think,
            warm_passes=size.warm_passes,
        )
    work = Path(tempfile.mkdtemp(prefix="rd-bench-load-"))
    name = data.scratch_name("load")
    kept = state_read(name=name, size=size) if args.reuse else None
    results_dir = PROJECT_ROOT / ".cache" / f"bench-{name}-results" if args.reuse else work / "results"
    try:
        if kept is None:
            print(f"creating {name} and filling it:", flush=True)
            kept = database_fill(name=name, size=size, work=work, results_dir=results_dir)
            if args.reuse:
                state_path(name=name).write_text(json.dumps(kept))
        else:
            print(f"reusing {name}, filled earlier, migrated to the current schema", flush=True)
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT_ROOT, env=kept["env"], check=True
            )
            os.environ.update(kept["env"])
            import django

            django.setup()
            data.vacuum_analyze()
            static_collect(env=kept["env"])
        env = {**kept["env"], "RESULTDECK_VAR_DIR": str(work / "var")}
        fixtures = kept["fixtures"]
        queries = {
            label: {page: Queries(**q) for page, q in counts.items()}
            for label, counts in kept["queries"].items()
        }
        from django.db import connection

        counts = data.rows_estimate()
        print("rows (planner estimate): " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
        pages = pages_build(fixtures=fixtures)
        queries[f"{size.flow_runs:,}"] = queries_count(pages=pages, fixtures=fixtures)
        profiles = pages_profile(pages=pages, fixtures=fixtures)
        inside: dict[str, list[float]] = {}
        connection.close()
        tallies = {}
        # Sessions live in the database: the users logged in on the first server are on the second.
        jars = None
        production = functools.partial(production_command, extra=tuple(shlex.split(args.gunicorn_args)))
        commands = {"gunicorn": production, "runserver": development_command}
        for label in args.servers.split(","):
            command_for = commands[label]
            port = port_free()
            phase = time.monotonic()
            log = work / f"{label}.log"
            process = server_start(command=command_for(port=port), env=env, port=port, log=log)
            try:
                print(
                    f"{label}: answering after {time.monotonic() - phase:.1f} s; "
                    f"{size.users} users for {size.duration_s:g} s",
                    flush=True,
                )
                tallies[label], jars = asyncio.run(
                    load_send(
                        port=port,
                        fixtures=fixtures,
                        pages=pages,
                        size=size,
                        jars=jars,
                        log=log,
                        server_pid=process.pid,
                    )
                )
            finally:
                server_stop(process)
            if label == "gunicorn":
                inside = server_times(log=log, offset=tallies[label].log_offset, pages=pages)
        passed = report_print(
            pages=pages, tallies=tallies, queries=queries, size=size, profiles=profiles, inside=inside
        )
    finally:
        if "django" in sys.modules and "django.db" in sys.modules:
            from django.db import connection

            connection.close()
        if not (args.keep or args.reuse):
            data.database_drop(name=name)
        shutil.rmtree(work, ignore_errors=True)
    # Smoke sizes say nothing about speed: only a crash fails them.
    return 0 if passed or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
