"""When to poll a feed next: a pure function of what we know about it.

No clock, no I/O: ``now`` comes in, a time goes out, so the policy is table-tested. Following
Miniflux, the next check is the largest of what the feed and the server ask for (interval, RSS
<ttl>, Cache-Control max-age, Expires, Retry-After), clamped to the configured bounds; failures
back off exponentially, capped and jittered. Retry-After is honoured even above the normal maximum
(capped at a day) because ignoring it is how crawlers get banned.

Adaptive polling: a feed without an interval of its own is polled about twice per item it
publishes (``publishing_rate`` estimates items per day from the entries' publication times), no
faster than a third of the default interval and no slower than 16 times it; a feed whose operator
set ``interval`` is polled at that interval. Server hints (ttl, max-age, Expires) can only make
the delay longer.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP = 86400
BACKOFF_CAP = 6 * 3600
ADAPT_FASTEST = 1 / 3  # of the base interval
ADAPT_SLOWEST = 16  # times the base interval
RATE_WINDOW_DAYS = 7  # publication times older than this say nothing about today's rate


def _max_age(cache_control: str) -> int | None:
    m = re.search(r"(?:^|[,\s])(?:s-maxage|max-age)\s*=\s*\"?(\d+)", cache_control or "", re.I)
    return int(m.group(1)) if m else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return t if t.tzinfo else None


def retry_after_seconds(value: str | None, now: datetime) -> int | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), RETRY_AFTER_CAP)
    t = _http_date(value)
    if t is None:
        return None
    return max(0, min(int((t - now).total_seconds()), RETRY_AFTER_CAP))


def _jitter(key: str, span: int) -> int:
    """A stable pseudo-random spread (same feed, same error count → same delay) so feeds that
    failed together don't all retry in the same second, and tests stay deterministic."""
    if span <= 0:
        return 0
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % span


def publishing_rate(published: list[datetime | None], now: datetime) -> float | None:
    """Items per day, from the publication times of a feed's entries within the last week.

    None when the feed says nothing usable (fewer than two dated entries and none recent): the
    schedule then keeps its base interval. 0.0 means dated entries exist but none is recent: a
    quiet feed."""
    dated = sorted(t for t in published if t is not None and t <= now)
    if not dated:
        return None
    window_start = now - timedelta(days=RATE_WINDOW_DAYS)
    recent = [t for t in dated if t >= window_start]
    if not recent:
        return 0.0
    # The span the items cover: from the oldest recent item to now, at least an hour, so three
    # items in the last ten minutes do not read as 400 a day.
    span_days = max((now - recent[0]).total_seconds(), 3600) / 86400
    return round(len(recent) / span_days, 3)


def adaptive_interval(base: int, pub_rate: float | None) -> int:
    """About two polls per published item, within [base/3, base*16]."""
    if pub_rate is None:
        return base
    fastest, slowest = int(base * ADAPT_FASTEST), base * ADAPT_SLOWEST
    if pub_rate <= 0:
        return slowest
    return int(max(fastest, min(slowest, 86400 / pub_rate / 2)))


def needs_unconditional(last: datetime | None, now: datetime, every: int) -> bool:
    """Time for a fetch without validators? Some servers keep answering 304 with stale
    validators; one plain GET per ``every`` seconds (0: never) catches that."""
    if every <= 0:
        return False
    return last is None or (now - last).total_seconds() >= every


def next_check(now: datetime, feed, settings, *, headers: dict[str, str] | None = None,
               ttl_minutes: int | None = None, error_count: int = 0,
               retry_after: str | None = None, pub_rate: float | None = None) -> datetime:
    """When to poll ``feed`` next. ``pub_rate`` (items per day) adapts feeds without their own
    interval; ``error_count`` is the number of consecutive failures including this one."""
    base = feed.interval or settings.default_interval
    lo, hi = settings.min_interval, settings.max_interval
    delay = base if feed.interval else adaptive_interval(base, pub_rate)
    headers = headers or {}
    if ttl_minutes:
        delay = max(delay, ttl_minutes * 60)
    age = _max_age(headers.get("cache-control", ""))
    if age is not None:
        delay = max(delay, age)
    expires = _http_date(headers.get("expires"))
    if expires is not None:
        delay = max(delay, int((expires - now).total_seconds()))
    delay = max(lo, min(delay, hi))
    if error_count > 0:
        backoff = min(BACKOFF_CAP, base * 2 ** min(error_count - 1, 10))
        backoff += _jitter(f"{feed.name}:{error_count}", max(1, backoff // 10))
        delay = max(lo, backoff)
    ra = retry_after_seconds(retry_after or headers.get("retry-after"), now)
    if ra is not None:
        delay = max(delay, ra)
    return now + timedelta(seconds=delay)
