"""When to poll a feed next: a pure function of what we know about it.

No clock, no I/O: ``now`` comes in, a time goes out, so the policy is table-tested. Following
Miniflux, the next check is the largest of what the feed and the server ask for (interval, RSS
<ttl>, Cache-Control max-age, Expires, Retry-After), clamped to the configured bounds; failures
back off exponentially, capped. Retry-After is honoured even above the normal maximum (capped at
a day) because ignoring it is how crawlers get banned.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP = 86400
BACKOFF_CAP = 6 * 3600


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


def next_check(now: datetime, feed, settings, *, headers: dict[str, str] | None = None,
               ttl_minutes: int | None = None, error_count: int = 0,
               retry_after: str | None = None) -> datetime:
    base = feed.interval or settings.default_interval
    lo, hi = settings.min_interval, settings.max_interval
    delay = base
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
