"""Decode a result for real, in a separate process that holds no secrets and has little to lose.

The web process never unpickles (see ``apps.results.preview``). When a permitted user asks for the
real value, ``sandbox_decode`` starts ``apps.results.preview.sandbox_worker`` with:

* bubblewrap's namespaces (``apps.results.preview.isolation``): no view of the host's processes, no
  network, a read-only file system of the interpreter and its libraries, a private ``/tmp``, an
  unprivileged uid. Without bubblewrap (or where the kernel refuses namespaces) it refuses to decode,
  unless the caller passes ``isolation="fallback"``, which keeps the layers below alone;
* ``python -I -B``: no environment-driven imports, no user site, no bytecode writes;
* an environment reduced to an allowlist (no secret key, no cloud or database credentials);
* the worker forbids itself new processes and dangerous system calls (seccomp) before decoding;
* limits: address space (``memory_limit_mb``), CPU seconds, open files, file size 0 (it cannot write
  files), no core dumps; and a wall-clock timeout after which it is killed with its process group.

The worker's restricted unpickler hands out only data types (the list is in ``sandbox_worker``), so a
pickle that would call ``os.system`` is refused before anything runs. The answer is a JSON-safe dict.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .isolation import (
    ISOLATION_MODES,
    ISOLATION_REQUIRED,
    SCRATCH_DIR,
    IsolationUnavailableError,
    isolation_binds,
    isolation_command,
    isolation_drops_root,
    isolation_probe,
    nobody_become,
)
from .nodes import DEFAULT_MAX_NODES

PROJECT_ROOT = Path(__file__).resolve().parents[3]
WORKER_MODULE = "apps.results.preview.sandbox_worker"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_LIMIT_MB = 1024
MAX_OPEN_FILES = 64
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
_ENV_ALLOWED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
_BOOTSTRAP = "import sys; sys.path.insert(0, {root!r}); from {module} import main; sys.exit(main())"


def sandbox_environment(*, home: str) -> dict[str, str]:
    """The worker's whole environment: locale and time zone, and single-threaded numeric libraries."""
    environment = {name: os.environ[name] for name in _ENV_ALLOWED if name in os.environ}
    environment.update(
        {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            # Thread pools reserve address space per thread; one thread keeps the memory limit meaningful.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    return environment


def _limits_apply(*, memory_limit_mb: int, cpu_seconds: int, drop_root: bool) -> Any:
    def apply() -> None:
        os.setsid()
        if drop_root:
            nobody_become()
        memory = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


@dataclasses.dataclass
class SandboxRun:
    """How a sandboxed process ended: its exit code and output, or ``timed_out``."""

    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    isolated: bool


def sandbox_run(
    *,
    stdin: bytes,
    worker: str = WORKER_MODULE,
    code_paths: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
    isolation: str = ISOLATION_REQUIRED,
) -> SandboxRun:
    """Run ``main()`` of the module ``worker`` in the sandbox, with ``stdin``; how it ended.

    ``code_paths`` are folders the worker may import from (read-only), beside the project's ``apps``.
    With ``isolation`` "required" (the default) it runs in bubblewrap's namespaces or not at all
    (``IsolationUnavailableError``); "fallback" runs it with the limits alone where bubblewrap cannot.
    """
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"isolation is one of {', '.join(ISOLATION_MODES)}, not {isolation!r}")
    binds = tuple(isolation_binds(code_paths=[str(PROJECT_ROOT / "apps"), *code_paths]))
    drop_root = isolation_drops_root(binds=binds)
    bwrap = shutil.which("bwrap")
    refusal = isolation_probe(bwrap=bwrap, binds=binds, drop_root=drop_root)
    if refusal is not None and isolation == ISOLATION_REQUIRED:
        raise IsolationUnavailableError(refusal)
    command = [sys.executable, "-I", "-B", "-c", _BOOTSTRAP.format(root=str(PROJECT_ROOT), module=worker)]
    isolated = refusal is None
    limits = _limits_apply(
        memory_limit_mb=memory_limit_mb, cpu_seconds=math.ceil(timeout) + 1, drop_root=drop_root and isolated
    )
    scratch = (
        contextlib.nullcontext("/") if isolated else tempfile.TemporaryDirectory(prefix="resultdeck-sandbox-")
    )
    with scratch as workdir:
        if isolated:
            command = isolation_command(
                bwrap=bwrap, command=command, environment=sandbox_environment(home=SCRATCH_DIR), binds=binds
            )
        process = subprocess.Popen(  # noqa: S603 - a fixed command line: this interpreter and a worker module
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            # bubblewrap itself gets an empty environment: it stays visible as the namespace's pid 1.
            env={} if isolated else sandbox_environment(home=workdir),
            preexec_fn=limits,
            close_fds=True,
        )
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _process_group_kill(process)
            stdout, stderr = process.communicate()
            return SandboxRun(process.returncode, stdout, stderr, timed_out=True, isolated=isolated)
    return SandboxRun(process.returncode, stdout, stderr, timed_out=False, isolated=isolated)


def sandbox_decode(
    *,
    data: bytes,
    serializer_config: dict[str, Any] | None,
    layout: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
    max_nodes: int = DEFAULT_MAX_NODES,
    import_paths: list[str] | None = None,
    isolation: str = ISOLATION_REQUIRED,
) -> dict[str, Any]:
    """Decode the result file ``data`` (of ``layout``) in a sandboxed process; a JSON-safe preview dict.

    ``serializer_config`` overrides the serializer recorded in the file (needed for a raw payload).
    ``import_paths`` are folders of the project's own code, so its pydantic models and dataclasses can
    be rebuilt. ``isolation`` is as for ``sandbox_run``. On success: ``{"ok": True, "format", "type",
    "value"}``; otherwise ``{"ok": False, "error_kind": "refused" | "timeout" | "memory" | "corrupt" |
    "crashed" | "isolation", "error": ...}``.
    """
    paths = [str(path) for path in import_paths or []]
    header = {
        "layout": layout,
        "serializer": serializer_config,
        "max_nodes": max_nodes,
        "import_paths": paths,
    }
    started = time.monotonic()
    try:
        run = sandbox_run(
            stdin=json.dumps(header).encode() + b"\n" + bytes(data),
            code_paths=paths,
            timeout=timeout,
            memory_limit_mb=memory_limit_mb,
            isolation=isolation,
        )
    except IsolationUnavailableError as error:
        return _failure("isolation", str(error), started)
    if run.timed_out:
        return _failure("timeout", f"the decode took longer than {timeout:g} s and was stopped", started)
    if len(run.stdout) > MAX_OUTPUT_BYTES:
        return _failure("crashed", "the sandbox answered with more output than allowed", started)
    try:
        answer = json.loads(run.stdout) if run.stdout else None
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        answer["elapsed_s"] = round(time.monotonic() - started, 3)
        answer["isolated"] = run.isolated
        return answer
    return _failure(*_exit_reason(run.returncode, run.stderr, memory_limit_mb=memory_limit_mb), started)


def _process_group_kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _exit_reason(returncode: int, stderr: bytes, *, memory_limit_mb: int) -> tuple[str, str]:
    text = stderr.decode("utf-8", "replace")
    if "MemoryError" in text or returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT):
        return "memory", f"the decode ran out of memory (limit {memory_limit_mb} MB) and was stopped"
    if returncode == -signal.SIGXCPU:
        return "timeout", "the decode used up its CPU time and was stopped"
    last_line = text.strip().splitlines()[-1] if text.strip() else ""
    return (
        "crashed",
        f"the sandbox process ended with code {returncode} without an answer {last_line}".strip(),
    )


def _failure(kind: str, message: str, started: float) -> dict[str, Any]:
    return {
        "ok": False,
        "error_kind": kind,
        "error": message,
        "elapsed_s": round(time.monotonic() - started, 3),
    }
