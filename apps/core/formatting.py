"""Durations and sizes as people read and type them.

Two ways to write a duration, for two different uses:

- ``duration_short`` shows a measured duration in a dense table (850ms, 4.2s, 3m 05s): rounded,
  for reading only;
- ``duration_parse`` reads what a person types for a period (30d, 12h, 2w, a bare number of days),
  and ``duration_format`` writes a period back in that same syntax, exactly.
"""

from __future__ import annotations

import datetime as dt
import math

from django.template.defaultfilters import filesizeformat

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION_MAX_SECONDS = 100 * 365 * 86400
# Longest text worth reading: a longer "duration" is not one, and float() of it costs time.
DURATION_MAX_CHARS = 32


class DurationInvalidError(ValueError):
    """Text that is not a positive, finite period of at most 100 years."""


def duration_parse(text: str | None) -> dt.timedelta:
    """ "30d", "12h", "90m", "45s", "2w" or a bare number of days, as a positive timedelta.

    NaN, infinities, zero, negative and out-of-range values are refused with DurationInvalidError
    (``float`` reads "nan" and "inf" happily, and ``timedelta`` then fails with no useful message).
    """
    value = (text or "").strip().lower()
    if not value or len(value) > DURATION_MAX_CHARS:
        raise DurationInvalidError(f"{(text or '')[:40]!r} is not a duration: use e.g. 30d, 12h, 90m or 2w")
    unit = value[-1] if value[-1] in DURATION_UNITS else "d"
    number = value[:-1] if value[-1] in DURATION_UNITS else value
    try:
        amount = float(number)
    except ValueError:
        raise DurationInvalidError(f"{text!r} is not a duration: use e.g. 30d, 12h, 90m or 2w") from None
    seconds = amount * DURATION_UNITS[unit]
    if not math.isfinite(seconds) or seconds <= 0 or seconds > DURATION_MAX_SECONDS:
        raise DurationInvalidError(f"{text!r} is out of range: use a positive duration up to 100 years")
    return dt.timedelta(seconds=seconds)


def duration_format(duration: dt.timedelta) -> str:
    """A period in the syntax ``duration_parse`` reads, in its largest whole unit: 30d, 12h, 2w."""
    seconds = int(duration.total_seconds())
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_short(duration: dt.timedelta | None) -> str:
    """Short, readable durations for dense tables: 850ms, 4.2s, 3m 05s, 2h 07m, 3d 4h."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def size_short(size: int | None) -> str:
    """A byte count for a dense table (1.2 MB), with a plain space so it can wrap."""
    if size is None:
        return ""
    return filesizeformat(size).replace("\xa0", " ")


def location_short(location: str) -> str:
    """The last two parts of a storage location, enough to tell storages apart in a dense row."""
    if not location:
        return ""
    parts = location.rstrip("/").split("/")
    return location if len(parts) <= 3 else "…/" + "/".join(parts[-2:])
