"""Ids for run rows and storage keys, and the identity of this process (pure)."""

from __future__ import annotations

import os
import random
import socket
import uuid

# Seeded from the OS once; ids and storage keys need uniqueness, not secrecy.
_random = random.Random()  # noqa: S311
_random_pid = os.getpid()


def fast_uuid4() -> uuid.UUID:
    """A random (version 4) UUID for row ids and storage keys, without a system call per id.

    Reseeded after a fork so worker processes never share a sequence.
    """
    global _random_pid
    if os.getpid() != _random_pid:
        _random.seed()
        _random_pid = os.getpid()
    return uuid.UUID(int=_random.getrandbits(128), version=4)


def storage_key_random() -> str:
    return fast_uuid4().hex


def worker_identity() -> str:
    """host:pid of this process, so a sweep can tell whether a run's process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}"
