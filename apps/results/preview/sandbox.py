"""Decode a result for real, in a separate process that holds no secrets and has little to lose.

The web process never unpickles (see ``apps.results.preview``). When a permitted user asks for the
real value, ``sandbox_decode`` starts ``apps.results.preview.sandbox_worker`` with:

* ``python -I -B``: no environment-driven imports, no user site, no bytecode writes;
* an environment reduced to an allowlist (no secret key, no cloud or database credentials);
* a fresh empty working directory, deleted afterwards;
* limits: address space (``memory_limit_mb``), CPU seconds, open files, file size 0 (it cannot write
  files), no core dumps; and a wall-clock timeout after which it is killed with its process group.

The worker's restricted unpickler hands out only data types (the list is in ``sandbox_worker``), so a
pickle that would call ``os.system`` is refused before anything runs. The answer is a JSON-safe dict.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .nodes import DEFAULT_MAX_NODES

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_LIMIT_MB = 1024
MAX_OPEN_FILES = 64
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
_ENV_ALLOWED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from apps.results.preview.sandbox_worker import main; sys.exit(main())"
)


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


def _limits_apply(*, memory_limit_mb: int, cpu_seconds: int) -> Any:
    def apply() -> None:
        os.setsid()
        memory = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def sandbox_decode(
    *,
    data: bytes,
    serializer_config: dict[str, Any] | None,
    layout: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
    max_nodes: int = DEFAULT_MAX_NODES,
    import_paths: list[str] | None = None,
) -> dict[str, Any]:
    """Decode the result file ``data`` (of ``layout``) in a sandboxed process; a JSON-safe preview dict.

    ``serializer_config`` overrides the serializer recorded in the file (needed for a raw payload).
    ``import_paths`` are folders of the project's own code, so its pydantic models and dataclasses can
    be rebuilt. On success: ``{"ok": True, "format", "type", "value"}``; otherwise ``{"ok": False,
    "error_kind": "refused" | "timeout" | "memory" | "corrupt" | "crashed", "error": ...}``.
    """
    header = {
        "layout": layout,
        "serializer": serializer_config,
        "max_nodes": max_nodes,
        "import_paths": [str(path) for path in import_paths or []],
    }
    stdin = json.dumps(header).encode() + b"\n" + bytes(data)
    command = [sys.executable, "-I", "-B", "-c", _BOOTSTRAP.format(root=str(PROJECT_ROOT))]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="resultdeck-sandbox-") as workdir:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line: this interpreter and the worker
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=sandbox_environment(home=workdir),
            preexec_fn=_limits_apply(memory_limit_mb=memory_limit_mb, cpu_seconds=math.ceil(timeout) + 1),
            close_fds=True,
        )
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _process_group_kill(process)
            process.communicate()
            return _failure("timeout", f"the decode took longer than {timeout:g} s and was stopped", started)
    elapsed = time.monotonic() - started
    if len(stdout) > MAX_OUTPUT_BYTES:
        return _failure("crashed", "the sandbox answered with more output than allowed", started)
    try:
        answer = json.loads(stdout) if stdout else None
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        answer["elapsed_s"] = round(elapsed, 3)
        return answer
    return _failure(*_exit_reason(process.returncode, stderr, memory_limit_mb=memory_limit_mb), started)


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
