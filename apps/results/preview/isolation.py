"""Isolation of the decode sandbox from the host: namespaces from outside, a system-call filter inside.

The restricted unpickler is the first wall; this module is the second, for the day the allowlist
lets something through. ``isolation_command`` wraps the worker's command line in bubblewrap:

* new user, pid, network, IPC, UTS and cgroup namespaces (``--unshare-all``): the host's processes,
  their ``/proc/<pid>/environ`` and every network address (loopback included) are out of sight;
* an unprivileged uid and gid (65534) inside the user namespace, no capabilities, a new session (no
  terminal injection), and death with the parent;
* a file system of read-only binds of what the interpreter and its libraries need (``/usr``, the
  ``/lib`` folders, the Python install and the virtual environment) and the code folders it is given;
  the project folder itself (``.env``, ``var/`` with its keys and SQLite database) is not there;
* its own ``/proc`` and ``/dev``, and a small private ``/tmp`` as the only writable place;
* an empty environment apart from what Python needs.

When the web process runs as root and every bound folder is open to other users, the launcher also
becomes ``nobody`` before starting bubblewrap, so the sandbox is not root outside its namespace.

``process_confine``, called by the worker before it reads untrusted bytes, forbids new processes
(``RLIMIT_NPROC`` 0) and installs a seccomp filter (x86-64 and arm64) that refuses sockets,
``execve``, ``fork``/``clone`` of processes (threads stay allowed), ``ptrace`` and other processes'
memory, namespaces, mounts, keyrings, BPF, perf and io_uring.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import resource
import stat
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ISOLATION_REQUIRED = "required"
ISOLATION_FALLBACK = "fallback"
ISOLATION_MODES = (ISOLATION_REQUIRED, ISOLATION_FALLBACK)
NOBODY = 65534
SCRATCH_DIR = "/tmp"  # noqa: S108 - a private tmpfs inside the sandbox, not the host's /tmp
SCRATCH_BYTES = 16 * 1024 * 1024
BUBBLEWRAP_MISSING = "the decode sandbox needs bubblewrap (apt-get install bubblewrap)"
_PROBE_TIMEOUT_S = 20
_SYSTEM_FOLDERS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")


class IsolationUnavailableError(RuntimeError):
    """bubblewrap is missing or the kernel refuses its namespaces."""


def isolation_binds(*, code_paths: Sequence[str]) -> list[str]:
    """The folders bound read-only: the interpreter, its libraries and the given code folders."""
    python = {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    python.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    # A folder is bound where it is named (as on sys.path) and where its links lead.
    code = {form for path in code_paths for form in (os.path.abspath(path), os.path.realpath(path))}
    folders = sorted(python | code)
    return [path for path in folders if os.path.isdir(path)]


def isolation_command(
    *, bwrap: str, command: Sequence[str], environment: dict[str, str], binds: Sequence[str]
) -> list[str]:
    """``command`` wrapped in ``bwrap`` with its own namespaces, file system and ``environment``."""
    # --unshare-all only tries the user namespace; asking for it outright fails rather than running without.
    arguments = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--clearenv"]
    for name, value in environment.items():
        arguments += ["--setenv", name, value]
    arguments += ["--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"]
    # The scratch tmpfs comes first so that binds below /tmp (a test's folders) land on top of it.
    arguments += ["--size", str(SCRATCH_BYTES), "--tmpfs", SCRATCH_DIR, "--proc", "/proc", "--dev", "/dev"]
    for folder in _SYSTEM_FOLDERS:
        if os.path.islink(folder):
            arguments += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            arguments += ["--ro-bind", folder, folder]
    for path in _SYSTEM_FILES:
        arguments += ["--ro-bind-try", path, path]
    for folder in binds:
        arguments += ["--ro-bind", folder, folder]
    arguments += ["--remount-ro", "/", "--chdir", SCRATCH_DIR, "--", *command]
    return arguments


def path_open_to_others(path: str) -> bool:
    """Whether a user outside the owner and group can read ``path`` (every parent folder included)."""
    current = Path(os.path.realpath(path))
    for folder in (current, *current.parents):
        try:
            mode = folder.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH or (folder == current and not mode & stat.S_IROTH):
            return False
    return True


def isolation_drops_root(*, binds: Sequence[str]) -> bool:
    """Whether the launcher should become nobody: it is root, and nobody can still read every bind."""
    return os.getuid() == 0 and all(path_open_to_others(path) for path in binds)


def nobody_become() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


# Set-ups that started once: a success holds for the life of the process, a failure is tried again.
_probes_passed: set[tuple[str, tuple[str, ...], bool]] = set()


def isolation_probe(*, bwrap: str | None, binds: tuple[str, ...], drop_root: bool) -> str | None:
    """None when ``bwrap`` starts this interpreter in its namespaces here; otherwise why not."""
    if bwrap is None:
        return BUBBLEWRAP_MISSING
    if (bwrap, binds, drop_root) in _probes_passed:
        return None
    command = isolation_command(
        bwrap=bwrap, command=[sys.executable, "-I", "-c", "pass"], environment={}, binds=binds
    )
    try:
        probe = subprocess.run(  # noqa: S603 - bubblewrap and this interpreter, no user input
            command,
            env={},
            cwd="/",
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            preexec_fn=nobody_become if drop_root else None,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the decode sandbox cannot start bubblewrap: {error}"
    if probe.returncode != 0:
        reason = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"the decode sandbox cannot isolate itself ({reason[-1] if reason else probe.returncode})"
    _probes_passed.add((bwrap, binds, drop_root))
    return None


# -- Inside the sandbox ----------------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_DENIED_SYSCALLS = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43,
        "accept4": 288, "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "unshare": 272, "setns": 308, "mount": 165,
        "umount2": 166, "pivot_root": 155, "chroot": 161, "keyctl": 250, "add_key": 248,
        "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "bind": 200, "listen": 201, "accept": 202, "connect": 203,
        "accept4": 242, "execve": 221, "execveat": 281, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
        "pivot_root": 41, "chroot": 51, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427,
    },
}  # fmt: skip
_CLONE = {"x86_64": 56, "aarch64": 220}
_CLONE3 = 435
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_BPF_LD_W_ABS, _BPF_JEQ, _BPF_JGE, _BPF_JSET, _BPF_RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def _instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program(machine: str) -> bytes:
    """The BPF filter for ``machine``: EPERM for the denied calls, ENOSYS for clone3 (so that the C
    library falls back to clone, whose flags can be read), clone only for threads."""
    denied = sorted(_DENIED_SYSCALLS[machine].values())
    body = [_instruction(_BPF_LD_W_ABS, 4), _instruction(_BPF_JEQ, _AUDIT_ARCH[machine], jt=1)]
    body += [_instruction(_BPF_RET, _RET_KILL_PROCESS), _instruction(_BPF_LD_W_ABS, 0)]
    # Jumps are counted from the next instruction; the tail below is: allow, deny, ENOSYS, clone check.
    checks = len(denied) + 3
    tail_allow = checks

    def jump_to(target: int, index: int) -> int:
        return target - index - 1

    index = 0
    body.append(_instruction(_BPF_JGE, _X32_SYSCALL_BIT, jt=jump_to(tail_allow + 1, index)))
    for number in denied:
        index += 1
        body.append(_instruction(_BPF_JEQ, number, jt=jump_to(tail_allow + 1, index)))
    index += 1
    body.append(_instruction(_BPF_JEQ, _CLONE3, jt=jump_to(tail_allow + 2, index)))
    index += 1
    body.append(_instruction(_BPF_JEQ, _CLONE[machine], jt=jump_to(tail_allow + 3, index)))
    body.append(_instruction(_BPF_RET, _RET_ALLOW))
    body.append(_instruction(_BPF_RET, _RET_ERRNO | errno.EPERM))
    body.append(_instruction(_BPF_RET, _RET_ERRNO | errno.ENOSYS))
    # Clone: the low word of the flags (args[0], at offset 16 on these little-endian machines).
    body.append(_instruction(_BPF_LD_W_ABS, 16))
    body.append(_instruction(_BPF_JSET, _CLONE_THREAD, jt=0, jf=1))
    body.append(_instruction(_BPF_RET, _RET_ALLOW))
    body.append(_instruction(_BPF_RET, _RET_ERRNO | errno.EPERM))
    return b"".join(body)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def seccomp_install() -> bool:
    """Install the filter on this process (it cannot be removed); False where it is not supported."""
    machine = platform.machine()
    if sys.platform != "linux" or machine not in _AUDIT_ARCH:
        return False
    program = seccomp_program(machine)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def process_confine() -> list[str]:
    """Forbid this process new processes and dangerous system calls; the layers that took effect."""
    layers = []
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        layers.append("nproc")
    if seccomp_install():
        layers.append("seccomp")
    return layers
