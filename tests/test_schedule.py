"""next_check is a pure function: a table of cases, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import FeedConfig
from aggregator.schedule import next_check, retry_after_seconds
from aggregator.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
S = Settings(default_interval=900, min_interval=300, max_interval=86400)


def feed(interval=None):
    return FeedConfig(name="f", url="https://f.example/", outlet="F", interval=interval)


@pytest.mark.parametrize(
    "kwargs, interval, seconds",
    [
        ({}, None, 900),
        ({}, 600, 600),
        ({}, 60, 300),  # clamped to the minimum
        ({"ttl_minutes": 60}, None, 3600),
        ({"headers": {"cache-control": "public, max-age=7200"}}, None, 7200),
        ({"headers": {"cache-control": "max-age=10"}}, None, 900),  # never below the interval
        ({"headers": {"expires": "Sat, 28 Nov 2026 14:00:00 GMT"}}, None, 7200),
        ({"headers": {"cache-control": "max-age=999999"}}, None, 86400),  # clamped to the max
        ({"retry_after": "120"}, None, 900),
        ({"retry_after": "5000"}, None, 5000),
        ({"retry_after": "Sat, 28 Nov 2026 13:00:00 GMT"}, None, 3600),
        ({"retry_after": "999999"}, None, 86400),  # capped at a day
    ],
)
def test_next_check_table(kwargs, interval, seconds):
    assert next_check(NOW, feed(interval), S, **kwargs) == NOW + timedelta(seconds=seconds)


def test_backoff_grows_is_capped_and_deterministic():
    delays = [(next_check(NOW, feed(), S, error_count=n) - NOW).total_seconds() for n in range(1, 9)]
    assert delays == sorted(delays)
    assert delays[0] >= 900
    assert delays[-1] <= 6 * 3600 * 1.1
    assert delays == [(next_check(NOW, feed(), S, error_count=n) - NOW).total_seconds()
                      for n in range(1, 9)]


@pytest.mark.parametrize("value, expected", [("30", 30), ("  7 ", 7), ("junk", None), ("", None)])
def test_retry_after_parse(value, expected):
    assert retry_after_seconds(value, NOW) == expected
