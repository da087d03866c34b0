"""How times are kept: ISO 8601 UTC text with a "Z", second precision, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError("store: naive datetime; pass a tz-aware UTC time")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(s: str | None) -> datetime | None:
    if not s:
        return None
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
