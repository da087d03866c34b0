"""Feeds: the configured list, each feed's poll state and schedule."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from .records import (
    FeedOutcome,
    FeedRow,
)
from .timefmt import from_db, to_db


class FeedsMixin:
    """Methods of the store that concern feeds (mixed into the backend class)."""

    def sync_feeds(self, feeds: Iterable) -> None:
        """Make the feeds table match the configured list (objects with name, url, outlet,
        interval, enabled, tags). Feeds no longer configured keep their row and articles."""
        feeds = list(feeds)
        with self._tx() as c:
            names = [f.name for f in feeds]
            for f in feeds:
                c.execute(
                    """INSERT INTO feeds (name, url, outlet, tags, interval, enabled, in_config)
                       VALUES (?, ?, ?, ?, ?, ?, 1)
                       ON CONFLICT(name) DO UPDATE SET
                         url = excluded.url, outlet = excluded.outlet, tags = excluded.tags,
                         interval = excluded.interval, enabled = excluded.enabled, in_config = 1,
                         -- a new URL is a new feed: forget the old one's validators
                         etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,
                         last_modified = CASE WHEN feeds.url = excluded.url
                                              THEN feeds.last_modified END,
                         body_hash = CASE WHEN feeds.url = excluded.url THEN feeds.body_hash END""",
                    (f.name, f.url, f.outlet, json.dumps(list(f.tags)), f.interval, int(f.enabled)),
                )
            marks = ",".join("?" * len(names))
            c.execute(f"UPDATE feeds SET in_config = 0 WHERE name NOT IN ({marks})", names)

    def list_feeds(self) -> list[FeedRow]:
        rows = self._r().execute(
            """SELECT f.*, (SELECT COUNT(*) FROM entries e WHERE e.feed_id = f.id) AS articles
               FROM feeds f ORDER BY f.id"""
        ).fetchall()
        return [_feed(r) for r in rows]

    def get_feed(self, name: str) -> FeedRow | None:
        row = self._r().execute(
            """SELECT f.*, (SELECT COUNT(*) FROM entries e WHERE e.feed_id = f.id) AS articles
               FROM feeds f WHERE name = ?""",
            (name,),
        ).fetchone()
        return _feed(row) if row else None

    def record_poll(self, feed_id: int, outcome: FeedOutcome, *, error_limit: int = 0) -> None:
        """Write a poll's outcome on the feed. ``error_limit`` > 0 disables the feed after that
        many consecutive failures, with the last error as the reason."""
        with self._tx() as c:
            if outcome.error is None:
                c.execute(
                    """UPDATE feeds SET last_fetch_at = ?, last_status = ?, last_error = NULL,
                         error_count = 0, next_check_at = ?,
                         etag = CASE WHEN ? THEN etag ELSE ? END,
                         last_modified = CASE WHEN ? THEN last_modified ELSE ? END,
                         body_hash = COALESCE(?, body_hash), title = COALESCE(?, title)
                       WHERE id = ?""",
                    (
                        to_db(outcome.fetched_at), outcome.status, to_db(outcome.next_check_at),
                        outcome.keep_validators, outcome.etag,
                        outcome.keep_validators, outcome.last_modified,
                        outcome.body_hash, outcome.title, feed_id,
                    ),
                )
            else:
                c.execute(
                    """UPDATE feeds SET last_fetch_at = ?, last_status = ?, last_error = ?,
                         error_count = error_count + 1, next_check_at = ? WHERE id = ?""",
                    (to_db(outcome.fetched_at), outcome.status, outcome.error,
                     to_db(outcome.next_check_at), feed_id),
                )
                if error_limit > 0:
                    c.execute(
                        """UPDATE feeds SET disabled_reason = ?
                           WHERE id = ? AND error_count >= ? AND disabled_reason IS NULL""",
                        (f"{error_limit} consecutive failures; last: {outcome.error}",
                         feed_id, error_limit),
                    )

    def due_feeds(self, now: datetime, limit: int = 1000) -> list[FeedRow]:
        """Active feeds whose next check has come (never-polled feeds first)."""
        rows = self._r().execute(
            """SELECT f.*, 0 AS articles FROM feeds f
               WHERE enabled = 1 AND in_config = 1 AND disabled_reason IS NULL
                 AND (next_check_at IS NULL OR next_check_at <= ?)
               ORDER BY next_check_at IS NOT NULL, next_check_at, id LIMIT ?""",
            (to_db(now), limit),
        ).fetchall()
        return [_feed(r) for r in rows]

    def enable_feed(self, name: str) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE feeds SET disabled_reason = NULL, error_count = 0, next_check_at = NULL "
                "WHERE name = ?",
                (name,),
            )
            return cur.rowcount > 0


def _feed(r: sqlite3.Row) -> FeedRow:
    return FeedRow(
        id=r["id"],
        name=r["name"],
        url=r["url"],
        outlet=r["outlet"],
        tags=tuple(json.loads(r["tags"])),
        interval=r["interval"],
        enabled=bool(r["enabled"]),
        in_config=bool(r["in_config"]),
        disabled_reason=r["disabled_reason"],
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        last_fetch_at=from_db(r["last_fetch_at"]),
        last_status=r["last_status"],
        last_error=r["last_error"],
        error_count=r["error_count"],
        next_check_at=from_db(r["next_check_at"]),
        title=r["title"],
        articles=r["articles"],
    )
