"""Feeds: the configured list, each feed's poll state and schedule."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .records import (
    FeedOutcome,
    FeedRow,
)
from .timefmt import from_db, to_db


class FeedsMixin:
    """Methods of the store that concern feeds (mixed into the backend class)."""

    _claim_lock_sql = ""  # PostgreSQL: " FOR UPDATE OF f SKIP LOCKED"

    def sync_feeds(self, feeds: Iterable) -> None:
        """Make the feeds table match the configured list (objects with name, url, outlet,
        interval, enabled, tags). Feeds no longer configured keep their row and articles."""
        feeds = list(feeds)
        with self._tx() as c:
            names = [f.name for f in feeds]
            for f in feeds:
                c.execute(
                    """INSERT INTO feeds (name, url, outlet, tags, interval, enabled, in_config,
                                         insecure_tls)
                       VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                       ON CONFLICT(name) DO UPDATE SET
                         url = excluded.url, outlet = excluded.outlet, tags = excluded.tags,
                         interval = excluded.interval, enabled = excluded.enabled, in_config = 1,
                         insecure_tls = excluded.insecure_tls,
                         -- a new URL is a new feed: forget the old one's validators
                         etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,
                         last_modified = CASE WHEN feeds.url = excluded.url
                                              THEN feeds.last_modified END,
                         body_hash = CASE WHEN feeds.url = excluded.url THEN feeds.body_hash END,
                         discovered_url = CASE WHEN feeds.url = excluded.url
                                               THEN feeds.discovered_url END""",
                    (f.name, f.url, f.outlet, json.dumps(list(f.tags)), f.interval, int(f.enabled),
                     int(bool(getattr(f, "insecure_tls", False)))),
                )
            if names:
                marks = ",".join("?" * len(names))
                c.execute(f"UPDATE feeds SET in_config = 0 WHERE name NOT IN ({marks})", names)
            else:
                c.execute("UPDATE feeds SET in_config = 0")

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
                         body_hash = COALESCE(?, body_hash), title = COALESCE(?, title),
                         claimed_until = NULL, claimed_by = NULL,
                         unconditional_at = CASE WHEN ? THEN ? ELSE unconditional_at END,
                         discovered_url = COALESCE(?, discovered_url),
                         pub_rate = COALESCE(?, pub_rate)
                       WHERE id = ?""",
                    (
                        to_db(outcome.fetched_at), outcome.status, to_db(outcome.next_check_at),
                        outcome.keep_validators, outcome.etag,
                        outcome.keep_validators, outcome.last_modified,
                        outcome.body_hash, outcome.title,
                        outcome.unconditional, to_db(outcome.fetched_at),
                        outcome.discovered_url, outcome.pub_rate, feed_id,
                    ),
                )
            else:
                c.execute(
                    """UPDATE feeds SET last_fetch_at = ?, last_status = ?, last_error = ?,
                         error_count = error_count + 1, next_check_at = ?,
                         claimed_until = NULL, claimed_by = NULL WHERE id = ?""",
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

    def feed_carries(self, feed_id: int, article_id: int) -> bool:
        """Does this feed already have an entry (under any GUID) for this article?"""
        return self._r().execute(
            "SELECT 1 FROM entries WHERE article_id = ? AND feed_id = ? LIMIT 1",
            (article_id, feed_id),
        ).fetchone() is not None

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

    def claim_due_feeds(self, now: datetime, *, owner: str, lease: float, limit: int = 100,
                        per_host: int = 0, error_limit: int = 0) -> list[FeedRow]:
        """Claim the feeds that are due, in one write transaction: active, ``next_check_at <=
        now`` (never-polled first), under ``error_limit`` consecutive failures, not claimed by
        anyone whose lease is still running, and at most ``per_host`` per host counting the
        claims already held. The claim is a lease stored on the feed (``claimed_until``): a
        restart sees it and a dead worker's feeds come back once it expires. ``record_poll``
        clears it."""
        until = to_db(now + timedelta(seconds=lease))
        with self._tx() as c:
            # PostgreSQL: claimers queue here for a moment, so the per-host count below sees
            # every daemon's claims; the rows are locked with SKIP LOCKED (a feed being written
            # by record_poll is passed over, not waited for). SQLite: BEGIN IMMEDIATE did both.
            self._lock_claims(c)
            self._rebase_future(c, now, lease)
            held: dict[str, int] = {}
            for r in c.execute("SELECT url, discovered_url FROM feeds WHERE claimed_until > ?",
                               (to_db(now),)):
                h = _host(r["discovered_url"] or r["url"])
                held[h] = held.get(h, 0) + 1
            rows = c.execute(
                """SELECT f.*, 0 AS articles FROM feeds f
                   WHERE enabled = 1 AND in_config = 1 AND disabled_reason IS NULL
                     AND (? <= 0 OR error_count < ?)
                     AND (next_check_at IS NULL OR next_check_at <= ?)
                     AND (claimed_until IS NULL OR claimed_until <= ?)
                   ORDER BY next_check_at IS NOT NULL, next_check_at, id
                   LIMIT ?""" + self._claim_lock_sql,
                # Enough rows to fill ``limit`` past hosts at their cap, without locking (on
                # PostgreSQL) every due feed of a large backlog.
                (error_limit, error_limit, to_db(now), to_db(now), limit * 20 + 100),
            ).fetchall()
            picked = []
            for r in rows:
                if len(picked) >= limit:
                    break
                h = _host(r["discovered_url"] or r["url"])
                if per_host > 0 and held.get(h, 0) >= per_host:
                    continue
                held[h] = held.get(h, 0) + 1
                picked.append(r)
            c.executemany("UPDATE feeds SET claimed_until = ?, claimed_by = ? WHERE id = ?",
                          [(until, owner, r["id"]) for r in picked])
        return [replace(_feed(r), claimed_until=from_db(until)) for r in picked]

    def _rebase_future(self, c, now: datetime, lease: float) -> None:
        """The clock went back (NTP step, VM restore, a daemon on another machine with a fast
        clock): a feed fetched "in the future" would wait for the clock to catch up on top of
        its delay, a day after a one-day step. Such a feed keeps its intended delay from now
        (next check - last fetch), its last fetch becomes now, and a lease running past now +
        ``lease`` is cut to that (issue 6, case 15). Touches nothing when clocks agree."""
        slack = now + timedelta(seconds=60)
        rows = c.execute(
            "SELECT id, last_fetch_at, next_check_at, claimed_until FROM feeds "
            "WHERE last_fetch_at > ? OR claimed_until > ?",
            (to_db(slack), to_db(now + timedelta(seconds=lease + 60))),
        ).fetchall()
        for r in rows:
            fetched, due, claimed = (from_db(r["last_fetch_at"]), from_db(r["next_check_at"]),
                                     from_db(r["claimed_until"]))
            if fetched is not None and fetched > slack:
                delay = max(due - fetched, timedelta(0)) if due is not None else timedelta(0)
                fetched, due = now, now + delay
            if claimed is not None and claimed > now + timedelta(seconds=lease + 60):
                claimed = now + timedelta(seconds=lease)
            c.execute("UPDATE feeds SET last_fetch_at = ?, next_check_at = ?, claimed_until = ? "
                      "WHERE id = ?", (to_db(fetched), to_db(due), to_db(claimed), r["id"]))

    def release_claims(self, feed_ids: Iterable[int]) -> None:
        """Give back claims without polling (a daemon shutting down): the feeds stay due."""
        with self._tx() as c:
            c.executemany("UPDATE feeds SET claimed_until = NULL, claimed_by = NULL WHERE id = ?",
                          [(i,) for i in feed_ids])

    def due_count(self, now: datetime) -> int:
        """How many active feeds are due and unclaimed: the daemon's queue depth."""
        return self._r().execute(
            """SELECT COUNT(*) FROM feeds WHERE enabled = 1 AND in_config = 1
                 AND disabled_reason IS NULL AND (next_check_at IS NULL OR next_check_at <= ?)
                 AND (claimed_until IS NULL OR claimed_until <= ?)""",
            (to_db(now), to_db(now)),
        ).fetchone()[0]

    def feed_stats(self, now: datetime, days: int = 7) -> dict[int, dict]:
        """Per feed id: ``articles`` (total), ``recent`` (first seen within ``days``) and
        ``copies``: its articles that are copies of an article of another outlet."""
        rows = self._r().execute(
            """SELECT e.feed_id AS feed_id, COUNT(*) AS articles,
                      SUM(CASE WHEN a.first_seen >= ? THEN 1 ELSE 0 END) AS recent,
                      SUM(CASE WHEN o.id IS NOT NULL AND o.outlet <> a.outlet THEN 1 ELSE 0 END)
                        AS copies
               FROM entries e JOIN articles a ON a.id = e.article_id
               LEFT JOIN articles o ON o.id = a.copy_of
               GROUP BY e.feed_id""",
            (to_db(now - timedelta(days=days)),),
        ).fetchall()
        return {r["feed_id"]: {"articles": r["articles"], "recent": r["recent"] or 0,
                               "copies": r["copies"] or 0} for r in rows}

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
        claimed_until=from_db(r["claimed_until"]),
        unconditional_at=from_db(r["unconditional_at"]),
        discovered_url=r["discovered_url"],
        pub_rate=r["pub_rate"],
        insecure_tls=bool(r["insecure_tls"]),
    )


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
