"""Articles, their feed entries and their place in a story."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from .corrections import live_story
from .records import (
    FingerprintRow,
    Membership,
    NewArticle,
)
from .timefmt import from_db, to_db

FINGERPRINT_PAGE = 5000  # rows per read when a restart replays the window
# A story's figures, counted from its members (so they never drift from them).
_FIGURES = """size = (SELECT COUNT(*) FROM articles WHERE story_id = stories.id),
      outlets = (SELECT COUNT(DISTINCT outlet) FROM articles WHERE story_id = stories.id),
      reports = (SELECT COUNT(*) FROM articles WHERE story_id = stories.id AND role = 'report')"""


class ArticlesMixin:
    """Methods of the store that concern articles (mixed into the backend class)."""

    def known_guids(self, feed_id: int, guids: Iterable[str]) -> set[str]:
        guids = list(guids)
        known: set[str] = set()
        r = self._r()
        for i in range(0, len(guids), 500):
            chunk = guids[i : i + 500]
            marks = ",".join([self._keyed("?")] * len(chunk))
            known.update(
                row[0]
                for row in r.execute(
                    f"SELECT guid FROM entries WHERE feed_id = ? AND {self._keyed('guid')} IN ({marks})",
                    [feed_id, *chunk],
                )
            )
        return known

    def find_article(self, urls: Iterable[str]) -> int | None:
        """The id of the article stored under any of these canonical URLs."""
        for url in urls:
            if not url:
                continue
            row = self._r().execute(
                f"SELECT id FROM articles WHERE {self._keyed('url')} = {self._keyed('?')}", (url,)
            ).fetchone()
            if row:
                return int(row[0])
        return None

    def add_entry(self, feed_id: int, guid: str, article_id: int, link: str, seen: datetime) -> None:
        """Record that a feed carries an article we already have."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO entries (feed_id, guid, article_id, link, seen_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (feed_id, guid, article_id, link, to_db(seen)),
            )

    @contextmanager
    def write_batch(self) -> Iterator[None]:
        """One transaction around several writes (``add_article``, ``add_entry``, …); each of
        them becomes a savepoint inside it, so each stays all or nothing, and the batch commits
        at once or not at all. A commit per row cost ≈ 550 µs per article against ≈ 30 µs for
        one per feed poll (issue 7); on SQLite the batch's articles also go into the search
        index together, at the commit (migration 0007). The assignment lock (``_serialise``) is
        taken first and held to the commit: no other writer stores an article in between, so
        what ``fingerprints_after`` reads at the start of the batch stays complete until its
        end."""
        with self._tx() as c:
            self._serialise(c)
            yield

    def add_article(
        self,
        article: NewArticle,
        guid: str,
        link: str,
        assign: Callable[[int], Membership],
    ) -> tuple[int, Membership, bool]:
        """Store a new article, its entry and its story membership in one transaction.

        ``assign(article_id)`` is called inside the transaction (story assignment is serialised
        with the write, and across processes by ``_serialise``: on PostgreSQL an advisory lock, so
        article ids grow in commit order and ``assign`` may first replay ``fingerprints_after``
        to see what other daemons stored). Returns (article id, membership, created). When
        another writer stored the same URL first, the existing article gets the entry and
        ``created`` is False."""
        with self._tx() as c:
            self._serialise(c)
            row = c.execute(
                f"SELECT id FROM articles WHERE {self._keyed('url')} = {self._keyed('?')}", (article.url,)
            ).fetchone()
            if row:
                aid = int(row[0])
                self._add_entry(c, article.feed_id, guid, aid, link, to_db(article.first_seen))
                m = self._membership(c, aid)
                return aid, m, False
            # The id is taken before the row is written, so that the row is written once, with its
            # membership: an UPDATE afterwards rewrote the whole row (text and all) and fired the
            # story-version trigger again (issue 7). Writers are serialised, so the id is free.
            aid = self._next_article_id(c)
            m = assign(aid)
            if m.story_id != aid:
                # An operator may have merged the story away since the clusterer last heard of
                # it: join the story it lives under now (the caller re-syncs its clusterer).
                live = live_story(c, m.story_id)
                if live is not None and live != m.story_id:
                    m = replace(m, story_id=live)
            self._insert_article(c, aid, m, article, guid, link)
            return aid, m, True

    def _add_entry(self, c: sqlite3.Connection, feed_id: int, guid: str, aid: int, link: str,
                   seen: str | None) -> None:
        c.execute(
            "INSERT INTO entries (feed_id, guid, article_id, link, seen_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (feed_id, guid, aid, link, seen),
        )

    def _membership(self, c: sqlite3.Connection, aid: int) -> Membership:
        r = c.execute(
            "SELECT story_id, copy_of, role, reuse, score, evidence FROM articles WHERE id = ?",
            (aid,),
        ).fetchone()
        return Membership(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]))

    def _insert_article(self, c: sqlite3.Connection, aid: int, m: Membership, a: NewArticle,
                        guid: str, link: str) -> None:
        """Write a new article, its entry and its story's figures, each row once."""
        first_seen = to_db(a.first_seen)
        when = to_db(a.published) if a.published is not None else first_seen
        founder = m.story_id == aid
        # The story's version is stamped by these statements themselves where the dialect can
        # (SQLite, migration 0007), not by a trigger writing the row a second time.
        stamp = self._stamp_sql
        if founder:
            # The story's figures with its one member, as ``_FIGURES`` would count them.
            column, value = (", version", f", {stamp}") if stamp else ("", "")
            c.execute(
                f"""INSERT INTO stories (id, title, first_seen, updated, latest, size, outlets, reports{column})
                   VALUES (?, ?, ?, ?, ?, 1, 1, ?{value})""",
                (aid, a.title, first_seen, first_seen, when, int(m.role == "report")),
            )
        c.execute(
            """INSERT INTO articles (id, url, title, author, published, first_seen, outlet, feed_id,
                 summary, text, language, site_name, extraction, extraction_note,
                 fp_scheme, fp_signature, fp_payload, story_id, copy_of, role, reuse, score, evidence)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                aid, a.url, a.title, a.author, to_db(a.published), first_seen, a.outlet,
                a.feed_id, a.summary, a.text, a.language, a.site_name, a.extraction,
                a.extraction_note, a.fp_scheme, a.fp_signature, a.fp_payload,
                m.story_id, m.copy_of, m.role, m.reuse, m.score, json.dumps(m.evidence),
            ),
        )
        self._add_entry(c, a.feed_id, guid, aid, link, first_seen)
        if not founder:
            # One statement for the time, the figures and the stamp.
            c.execute(
                f"""UPDATE stories SET updated = ?, latest = GREATEST(latest, ?), {_FIGURES}
                     {f", version = {stamp}" if stamp else ""} WHERE id = ?""",
                (first_seen, when, m.story_id),
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
        # Keyset pages, not one cursor: a restart reads the whole window (200k rows ≈ 460 MB if
        # held at once) and may write re-fingerprinted rows between pages.
        last = 0
        while True:
            page = self._r().execute(sql + " AND id > ? ORDER BY id LIMIT ?", [*args, last, FINGERPRINT_PAGE])
            rows = page.fetchall()
            for r in rows:
                yield FingerprintRow(r[0], from_db(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6])
            if len(rows) < FINGERPRINT_PAGE:
                return
            last = rows[-1][0]

    def article_texts(self, article_id: int) -> tuple[str, str, str, str] | None:
        """(title, text, summary, extraction) of an article: what re-fingerprinting needs."""
        r = self._r().execute(
            "SELECT title, text, summary, extraction FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return (r[0], r[1], r[2], r[3]) if r else None

    def update_fingerprint(self, article_id: int, scheme: str, signature: bytes, payload: str) -> None:
        """Replace an article's fingerprint (after the fingerprint scheme changed)."""
        with self._tx() as c:
            c.execute(
                "UPDATE articles SET fp_scheme = ?, fp_signature = ?, fp_payload = ? WHERE id = ?",
                (scheme, signature, payload, article_id),
            )

    def fingerprints_after(self, article_id: int) -> list[FingerprintRow]:
        """Fingerprints of the articles stored after ``article_id`` (with a story), in id order:
        what other processes added since a clusterer last looked. Read inside ``assign`` (the
        writers are serialised then), it is everything committed before the article at hand."""
        rows = self._r().execute(
            "SELECT id, COALESCE(published, first_seen) AS t, story_id, copy_of, fp_scheme, "
            "fp_signature, fp_payload FROM articles WHERE id > ? AND story_id IS NOT NULL ORDER BY id",
            (article_id,),
        ).fetchall()
        return [FingerprintRow(r[0], from_db(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6]) for r in rows]

    def last_article_id(self) -> int:
        return self._r().execute("SELECT COALESCE(MAX(id), 0) FROM articles").fetchone()[0]
