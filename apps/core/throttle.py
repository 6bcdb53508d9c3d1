"""Sign-in throttling: repeated failures for one user name or one client address are slowed, then refused.

Both the login page (and the admin's) and the API token endpoint ask `login_attempt_check` before
checking a password and report the outcome with `login_failure_record` / `login_success_record`.

Per subject (the user name, and the client address, each with its own limit) within
`LOGIN_THROTTLE_WINDOW_SECONDS`:
- from half the limit on, each further attempt must wait 1 s, 2 s, 4 s, ... after the last failure;
- at the limit, every attempt, with the right password too, is refused for
  `LOGIN_THROTTLE_LOCKOUT_SECONDS`; after that the subject starts afresh.

Counters live in the Django cache (Redis when REDIS_URL is set), so every web process shares them.
Decisions compare stored timestamps with `throttle_now()`; cache timeouts only collect garbage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY_PREFIX = "login-throttle"


class LoginThrottledError(Exception):
    """An attempt refused before its password was looked at."""

    def __init__(self, *, retry_after: int, reason: str) -> None:
        self.retry_after = retry_after
        self.reason = reason
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"Too many failed sign-ins ({self.reason}). Try again in {self.retry_after} s."


@dataclass(frozen=True)
class Subject:
    kind: str  # "user name" or "address": also how a refusal names it
    value: str
    limit: int

    def key(self, part: str) -> str:
        digest = hashlib.sha256(self.value.encode()).hexdigest()[:32]
        return f"{KEY_PREFIX}:{self.kind.replace(' ', '-')}:{digest}:{part}"


def throttle_now() -> float:
    return time.time()


def _subjects(*, username: str, address: str) -> list[Subject]:
    subjects = [Subject("address", address, settings.LOGIN_THROTTLE_ADDRESS_LIMIT)]
    name = username.strip().casefold()
    if name:
        subjects.insert(0, Subject("user name", name, settings.LOGIN_THROTTLE_USER_LIMIT))
    return subjects


def _garbage_timeout() -> int:
    return settings.LOGIN_THROTTLE_WINDOW_SECONDS + settings.LOGIN_THROTTLE_LOCKOUT_SECONDS


def login_delay_seconds(*, failures: int, limit: int) -> float:
    """How long after its last failure a subject with `failures` may try again (0: at once)."""
    slowed_from = max(1, limit // 2)
    if failures < slowed_from:
        return 0.0
    return float(min(2 ** (failures - slowed_from), settings.LOGIN_THROTTLE_LOCKOUT_SECONDS))


def login_attempt_check(*, username: str, address: str) -> None:
    """Raise LoginThrottledError (and log it) if this sign-in attempt must not be tried now."""
    now = throttle_now()
    subjects = _subjects(username=username, address=address)
    keys = [subject.key(part) for subject in subjects for part in ("lock", "failures", "first", "last")]
    stored = cache.get_many(keys)
    for subject in subjects:
        locked_until = stored.get(subject.key("lock"))
        if locked_until is not None and now < locked_until:
            wait, reason = locked_until - now, f"{subject.kind} locked out"
        else:
            first = stored.get(subject.key("first"))
            if first is None or now - first >= settings.LOGIN_THROTTLE_WINDOW_SECONDS:
                continue
            failures = stored.get(subject.key("failures"), 0)
            delay = login_delay_seconds(failures=failures, limit=subject.limit)
            wait = stored.get(subject.key("last"), now) + delay - now
            if wait <= 0:
                continue
            reason = f"{subject.kind} slowed down after {failures} failures"
        refusal = LoginThrottledError(retry_after=max(1, math.ceil(wait)), reason=reason)
        logger.warning(
            "Sign-in refused for user name %r from %s: %s, retry in %d s",
            username,
            address,
            reason,
            refusal.retry_after,
        )
        raise refusal


def login_failure_record(*, username: str, address: str) -> None:
    """Count a failed sign-in against the user name and the address; lock out whichever hit its limit."""
    now = throttle_now()
    timeout = _garbage_timeout()
    for subject in _subjects(username=username, address=address):
        first = cache.get(subject.key("first"))
        if first is None or now - first >= settings.LOGIN_THROTTLE_WINDOW_SECONDS:
            cache.set_many({subject.key("first"): now, subject.key("failures"): 0}, timeout=timeout)
        try:
            failures = cache.incr(subject.key("failures"))
        except ValueError:  # collected meanwhile
            cache.set(subject.key("failures"), 1, timeout=timeout)
            failures = 1
        cache.set(subject.key("last"), now, timeout=timeout)
        if failures >= subject.limit:
            lockout = settings.LOGIN_THROTTLE_LOCKOUT_SECONDS
            cache.set(subject.key("lock"), now + lockout, timeout=lockout)
            cache.delete_many([subject.key(part) for part in ("failures", "first", "last")])
            logger.warning(
                "Sign-in locked out for %d s: %s %r after %d failures (last from %s)",
                lockout,
                subject.kind,
                subject.value,
                failures,
                address,
            )


def login_success_record(*, username: str) -> None:
    """Forget the failures of a user name that signed in. The address keeps its count, so signing in
    to one's own account between guesses at others does not reset the address's limit."""
    name = username.strip().casefold()
    if name:
        subject = Subject("user name", name, settings.LOGIN_THROTTLE_USER_LIMIT)
        cache.delete_many([subject.key(part) for part in ("failures", "first", "last")])


def request_client_address(*, request) -> str:
    """The client's address: REMOTE_ADDR, or behind `LOGIN_THROTTLE_PROXY_COUNT` reverse proxies the
    X-Forwarded-For entry the outermost of them appended (entries further left are the client's word)."""
    hops = settings.LOGIN_THROTTLE_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
