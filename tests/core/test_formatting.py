"""Durations: the one parser of typed periods, its exact inverse, and the short display of a measured one."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.core.formatting import (
    DurationInvalidError,
    duration_format,
    duration_parse,
    duration_short,
    location_short,
    size_short,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", dt.timedelta(days=30)), ("12h", dt.timedelta(hours=12)), ("90m", dt.timedelta(minutes=90)),
     ("45s", dt.timedelta(seconds=45)), ("2w", dt.timedelta(weeks=2)), (" 7 ", dt.timedelta(days=7)),
     ("1.5D", dt.timedelta(hours=36))],
)  # fmt: skip
def test_typed_periods_are_read(text, expected):
    assert duration_parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["nan", "nand", "NaN", "inf", "infh", "-inf", "+inf", "-5d", "0", "0s", "1e400", "101y", "36600d",
     "1e9w", "", "   ", None, "soon", "d", "1" * 40],
)  # fmt: skip
def test_what_is_not_a_positive_finite_period_up_to_100_years_is_refused(text):
    with pytest.raises(DurationInvalidError):
        duration_parse(text)


def test_the_parse_error_is_a_value_error_with_a_hint():
    with pytest.raises(ValueError, match="out of range: use a positive duration up to 100 years"):
        duration_parse("nan")
    with pytest.raises(ValueError, match=r"e\.g\. 30d, 12h"):
        duration_parse("soon")


@pytest.mark.parametrize("text", ["30d", "12h", "2w", "90m", "45s"])
def test_duration_format_writes_what_duration_parse_reads(text):
    assert duration_format(duration_parse(text)) == text


def test_duration_short_is_lossy_display_not_the_parse_syntax():
    assert duration_short(dt.timedelta(days=3, hours=4, minutes=5)) == "3d 4h"
    assert duration_format(dt.timedelta(days=3, hours=4, minutes=5)) == "4565m"


def test_sizes_and_locations_for_dense_rows():
    assert size_short(None) == "" and size_short(2048) == "2.0 KB"
    assert location_short("s3://bucket/a/b/c") == "…/b/c" and location_short("/data") == "/data"
