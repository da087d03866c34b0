"""The SQLite store: the embedded default.

One write connection guarded by a lock, every write in ``BEGIN IMMEDIATE`` (a deferred
transaction that reads then writes gets "database is locked" at once in WAL mode, ignoring
busy_timeout); one read connection per thread. WAL lets readers (the web UI) read while the
daemon writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from . import migrate
from .records import (
    FeedOutcome,
    FeedRow,
    FingerprintRow,
    Membership,
    NewArticle,
    Story,
    StorySource,
)
from .timefmt import from_db, to_db


class StoreError(Exception):
    """A store operation failed; the message starts with "store:"."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
    # last transactions, never corrupt the file.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._w = _connect(self.path)
            mode = self._w.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store: cannot open {self.path}: {exc}") from exc
        if mode.lower() != "wal":
            raise StoreError(f"store: {self.path} refused WAL mode ({mode})")
        self._wlock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        with self._wlock:
            migrate.apply(self._w)

    # -- connections ------------------------------------------------------------------------

    def _r(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._wlock:
            self._w.execute("BEGIN IMMEDIATE")
            try:
                yield self._w
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
            else:
                self._w.execute("COMMIT")

    def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._w.close()

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- feeds ------------------------------------------------------------------------------

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

    # -- articles ---------------------------------------------------------------------------

    def known_guids(self, feed_id: int, guids: Iterable[str]) -> set[str]:
        guids = list(guids)
        known: set[str] = set()
        r = self._r()
        for i in range(0, len(guids), 500):
            chunk = guids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                row[0]
                for row in r.execute(
                    f"SELECT guid FROM entries WHERE feed_id = ? AND guid IN ({marks})",
                    [feed_id, *chunk],
                )
            )
        return known

    def find_article(self, urls: Iterable[str]) -> int | None:
        """The id of the article stored under any of these canonical URLs."""
        for url in urls:
            if not url:
                continue
            row = self._r().execute("SELECT id FROM articles WHERE url = ?", (url,)).fetchone()
            if row:
                return int(row[0])
        return None

    def add_entry(self, feed_id: int, guid: str, article_id: int, link: str, seen: datetime) -> None:
        """Record that a feed carries an article we already have."""
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO entries (feed_id, guid, article_id, link, seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (feed_id, guid, article_id, link, to_db(seen)),
            )

    def add_article(
        self,
        article: NewArticle,
        guid: str,
        link: str,
        assign: Callable[[int], Membership],
    ) -> tuple[int, Membership, bool]:
        """Store a new article, its entry and its story membership in one transaction.

        ``assign(article_id)`` is called inside the transaction (story assignment is serialised
        with the write). Returns (article id, membership, created). When another writer stored the
        same URL first, the existing article gets the entry and ``created`` is False."""
        with self._tx() as c:
            row = c.execute("SELECT id FROM articles WHERE url = ?", (article.url,)).fetchone()
            if row:
                aid = int(row[0])
                c.execute(
                    "INSERT OR IGNORE INTO entries (feed_id, guid, article_id, link, seen_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (article.feed_id, guid, aid, link, to_db(article.first_seen)),
                )
                m = self._membership(c, aid)
                return aid, m, False
            cur = c.execute(
                """INSERT INTO articles (url, title, author, published, first_seen, outlet, feed_id,
                     summary, text, language, site_name, extraction, extraction_note,
                     fp_scheme, fp_signature, fp_payload)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    article.url, article.title, article.author, to_db(article.published),
                    to_db(article.first_seen), article.outlet, article.feed_id, article.summary,
                    article.text, article.language, article.site_name, article.extraction,
                    article.extraction_note, article.fp_scheme, article.fp_signature,
                    article.fp_payload,
                ),
            )
            aid = int(cur.lastrowid)
            c.execute(
                "INSERT OR IGNORE INTO entries (feed_id, guid, article_id, link, seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (article.feed_id, guid, aid, link, to_db(article.first_seen)),
            )
            m = assign(aid)
            self._join_story(c, aid, m, article)
            return aid, m, True

    def _membership(self, c: sqlite3.Connection, aid: int) -> Membership:
        r = c.execute(
            "SELECT story_id, copy_of, role, reuse, score, evidence FROM articles WHERE id = ?",
            (aid,),
        ).fetchone()
        return Membership(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]))

    def _join_story(self, c: sqlite3.Connection, aid: int, m: Membership, a: NewArticle) -> None:
        when = to_db(a.published or a.first_seen)
        if m.story_id == aid:
            c.execute(
                "INSERT INTO stories (id, title, first_seen, updated, latest) VALUES (?, ?, ?, ?, ?)",
                (aid, a.title, to_db(a.first_seen), to_db(a.first_seen), when),
            )
        c.execute(
            """UPDATE articles SET story_id = ?, copy_of = ?, role = ?, reuse = ?, score = ?,
                 evidence = ? WHERE id = ?""",
            (m.story_id, m.copy_of, m.role, m.reuse, m.score, json.dumps(m.evidence), aid),
        )
        c.execute(
            """UPDATE stories SET updated = ?, latest = MAX(latest, ?) WHERE id = ?""",
            (to_db(a.first_seen), when, m.story_id),
        )
        self._recount(c, m.story_id)

    def _recount(self, c: sqlite3.Connection, story_id: int) -> None:
        c.execute(
            """UPDATE stories SET
                 size = (SELECT COUNT(*) FROM articles WHERE story_id = stories.id),
                 outlets = (SELECT COUNT(DISTINCT outlet) FROM articles WHERE story_id = stories.id),
                 reports = (SELECT COUNT(*) FROM articles
                            WHERE story_id = stories.id AND role = 'report')
               WHERE id = ?""",
            (story_id,),
        )

    def fingerprints(self, since: datetime | None = None) -> Iterator[FingerprintRow]:
        """Every article's fingerprint in id order (the clusterer replays them at start-up)."""
        sql = (
            "SELECT id, COALESCE(published, first_seen) AS t, story_id, copy_of, fp_scheme, "
            "fp_signature, fp_payload FROM articles WHERE story_id IS NOT NULL"
        )
        args: list = []
        if since is not None:
            sql += " AND COALESCE(published, first_seen) >= ?"
            args.append(to_db(since))
        for r in self._r().execute(sql + " ORDER BY id", args):
            yield FingerprintRow(r[0], from_db(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6])

    # -- stories ----------------------------------------------------------------------------

    def count_stories(self) -> int:
        return self._r().execute(
            "SELECT COUNT(*) FROM stories WHERE merged_into IS NULL"
        ).fetchone()[0]

    def list_stories(self, limit: int = 50, offset: int = 0) -> list[Story]:
        """Front-page order: newest day of coverage first, then most outlets, then newest."""
        ids = [
            r[0]
            for r in self._r().execute(
                """SELECT id FROM stories WHERE merged_into IS NULL
                   ORDER BY substr(latest, 1, 10) DESC, outlets DESC, size DESC, latest DESC, id DESC
                   LIMIT ? OFFSET ?""",
                (limit, offset),
            )
        ]
        return [s for s in (self.get_story(i) for i in ids) if s is not None]

    def resolve_story(self, story_id: int) -> int | None:
        r = self._r()
        seen = set()
        while story_id not in seen:
            seen.add(story_id)
            row = r.execute("SELECT merged_into FROM stories WHERE id = ?", (story_id,)).fetchone()
            if row is None:
                return None
            if row[0] is None:
                return story_id
            story_id = row[0]
        return None

    def get_story(self, story_id: int) -> Story | None:
        r = self._r()
        st = r.execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchone()
        if st is None:
            return None
        rows = r.execute(
            """SELECT a.*, f.name AS feed_name FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
               WHERE a.story_id = ?
               ORDER BY COALESCE(a.published, a.first_seen), a.id""",
            (story_id,),
        ).fetchall()
        if not rows:
            return None
        sources = tuple(_source(row) for row in rows)
        canonical = _canonical(sources)
        return Story(
            id=st["id"],
            title=canonical.title or st["title"],
            lead=_lead(canonical),
            first_seen=from_db(st["first_seen"]),
            updated=from_db(st["updated"]),
            sources=sources,
        )

    def story_ids(self) -> list[int]:
        return [r[0] for r in self._r().execute("SELECT id FROM stories WHERE merged_into IS NULL")]


def _canonical(sources: tuple[StorySource, ...]) -> StorySource:
    """The source whose text the story page shows: the earliest with extracted page text."""
    for s in sources:
        if s.extraction == "page" and s.text:
            return s
    return sources[0]


def _lead(s: StorySource) -> str:
    for para in (s.text or s.summary).split("\n"):
        if len(para.split()) >= 8:
            return para.strip()
    return (s.summary or s.text).strip()[:400]


def _source(r: sqlite3.Row) -> StorySource:
    return StorySource(
        article_id=r["id"],
        outlet=r["outlet"],
        feed=r["feed_name"] or "",
        title=r["title"],
        url=r["url"],
        author=r["author"],
        published=from_db(r["published"]),
        first_seen=from_db(r["first_seen"]),
        role=r["role"],
        reuse=r["reuse"],
        copy_of=r["copy_of"],
        score=r["score"],
        text=r["text"],
        evidence=json.loads(r["evidence"]),
        summary=r["summary"],
        extraction=r["extraction"],
    )


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
