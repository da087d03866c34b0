"""How times are kept: ISO 8601 UTC text with a "Z", second precision, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError("store: naive datetime; pass a tz-aware UTC time")
    u = t.astimezone(UTC)
    if u.year < 1000:  # (strftime does not pad these years; keep its text for them)
        return u.strftime("%Y-%m-%dT%H:%M:%SZ")
    # The same text as strftime at a third of its cost (≈ 10 µs, three times per article); %
    # formatting, not an f-string: format specs cost twice as much.
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (u.year, u.month, u.day, u.hour, u.minute, u.second)  # noqa: UP031


def from_db(s: str | None) -> datetime | None:
    if not s:
        return None
    if len(s) == 20 and s[-1] == "Z":
        # what to_db writes; fromisoformat is ~20x faster than strptime, which matters when a
        # restart reads a 200k-article window
        return datetime.fromisoformat(s)
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
