"""next_check is a pure function: a table of cases, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import FeedConfig
from aggregator.schedule import needs_unconditional, next_check, publishing_rate, retry_after_seconds
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


# -- adaptive: the observed publishing rate ------------------------------------------------------

def ago(**kw):
    return NOW - timedelta(**kw)


@pytest.mark.parametrize(
    "times, rate",
    [
        ([], None),
        ([None, None], None),  # undated entries say nothing
        ([ago(days=30), ago(days=20)], 0.0),  # nothing this week: a quiet feed
        ([ago(days=1), ago(hours=12)], 2.0),  # two items over a day
        ([ago(hours=h) for h in range(1, 25)], 24.0),  # hourly
        ([ago(minutes=1), ago(minutes=2), ago(minutes=3)], 72.0),  # span floored at an hour
        ([NOW + timedelta(days=1)], None),  # a future date is not evidence
    ],
)
def test_publishing_rate(times, rate):
    assert publishing_rate(times, NOW) == rate


@pytest.mark.parametrize(
    "interval, pub_rate, seconds",
    [
        (None, None, 900),  # nothing known: the default interval
        (None, 2.0, 14400),  # two a day: half the 12 h gap is 6 h, capped at 16 × base
        (None, 24.0, 1800),  # hourly → every 30 min
        (None, 1000.0, 300),  # very busy → base/3 = 300 s, the fastest
        (None, 0.0, 14400),  # quiet → 16 × base
        (600, 1000.0, 600),  # an operator's interval is kept as configured
        (600, 0.0, 600),
    ],
)
def test_adaptive_next_check(interval, pub_rate, seconds):
    got = next_check(NOW, feed(interval), S, pub_rate=pub_rate)
    assert got == NOW + timedelta(seconds=seconds)


def test_server_hints_only_lengthen_an_adaptive_delay():
    got = next_check(NOW, feed(), S, pub_rate=1000.0, headers={"cache-control": "max-age=1200"})
    assert got == NOW + timedelta(seconds=1200)


def test_backoff_jitter_spreads_feeds_that_failed_together():
    feeds = [FeedConfig(name=f"f{i}", url="https://f.example/", outlet="F") for i in range(20)]
    delays = {next_check(NOW, f, S, error_count=3) for f in feeds}
    assert len(delays) > 10
    base = NOW + timedelta(seconds=900 * 4)
    assert all(base <= d <= base + timedelta(seconds=360) for d in delays)  # jitter ≤ 10 %


def test_retry_after_overrides_backoff_and_bounds():
    got = next_check(NOW, feed(), S, error_count=1, retry_after="40000")
    assert got == NOW + timedelta(seconds=40000)


@pytest.mark.parametrize(
    "last, every, expected",
    [
        (None, 86400, True),
        (NOW - timedelta(hours=23), 86400, False),
        (NOW - timedelta(hours=24), 86400, True),
        (None, 0, False),  # disabled
    ],
)
def test_needs_unconditional(last, every, expected):
    assert needs_unconditional(last, NOW, every) is expected
