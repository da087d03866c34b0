"""The PostgreSQL store: several daemons and web processes sharing one database.

The same mixins as the SQLite store (``store/dialect.py`` says how the SQL is shared); what is
PostgreSQL's own is here:

* connections: one write connection per process guarded by a lock (like SQLite: a process's
  writes are short and ordered), one autocommit read connection per thread;
* ``_serialise``: every transaction that changes story membership (a new article's
  assignment, an operator's correction) first takes one transaction-level advisory lock, so two
  daemons never found two stories for one event and article ids grow in commit order (a
  daemon's clusterer catches up with ``fingerprints_after(last id it knows)``);
* claims: ``SELECT … FOR UPDATE SKIP LOCKED`` under a short advisory lock of their own, so two
  daemons never claim one feed and the per-host cap counts every daemon's claims;
* full-text search over the stored ``tsvector`` (see migrations_pg/0001) with ``ts_rank`` and
  ``ts_headline``;
* migrations from ``migrations_pg/``, applied under an advisory lock (daemons starting together).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from . import migrate
from .articles import ArticlesMixin
from .browse import BrowseMixin
from .dialect import PgConnection, row_factory
from .feeds import FeedsMixin
from .records import Story
from .search import _TOKEN, MARK_END, MARK_START, MAX_TERMS, SNIPPET_TOKENS
from .sqlite import StoreError
from .stories import StoriesMixin

# Advisory lock keys (any bigint; these spell "aggr" + a small number).
LOCK_ASSIGN = 0x61676772_0001
LOCK_CLAIMS = 0x61676772_0002
LOCK_MIGRATE = 0x61676772_0003
# Characters of an article's text indexed for search and used for snippets (the tsvector cap).
SEARCH_CHARS = 100_000


def _connect(url: str, autocommit: bool = True):
    import psycopg

    conn = psycopg.connect(url, autocommit=autocommit, row_factory=row_factory, connect_timeout=10)
    conn.execute("SET TIME ZONE 'UTC'")
    return PgConnection(conn)


def ts_query(text: str) -> str | None:
    """A ``to_tsquery('simple', …)`` string for what a reader typed, with the same reading as the
    SQLite search (``fts_query``): every word required, ``"a phrase"`` kept in order, ``prefix*``.
    Only ``\\w`` characters reach the query, so no input is tsquery syntax. (websearch_to_tsquery
    reads phrases and words but has no prefix search.)"""
    terms = []
    for phrase, word in _TOKEN.findall(text or ""):
        words = [w.lower() for w in re.findall(r"\w+", phrase or word)]
        if not words:
            continue
        term = " <-> ".join(words)
        if not phrase and word.endswith("*") and len(words[-1]) >= 2:
            term += ":*"
        terms.append(f"({term})" if len(words) > 1 else term)
    return " & ".join(terms[:MAX_TERMS]) or None


_RANK = "ts_rank(a.search, q, 1)"  # normalised by document length, like bm25 roughly is
_BODY = f"left(CASE WHEN a.text <> '' THEN a.text ELSE a.summary END, {SEARCH_CHARS})"


class PostgresStore(FeedsMixin, ArticlesMixin, StoriesMixin, BrowseMixin):
    # Dialect fragments the shared mixins use (SQLite's are on the mixins / SQLiteStore).
    _rank_sql = (
        "(1.0 + 2 * s.reports + s.outlets) / pow(GREATEST(0.0, EXTRACT(EPOCH FROM "
        "(CAST(:now AS timestamptz) - CAST(s.latest AS timestamptz))) / 3600.0) + 6.0, 1.5)"
    )
    _tags_sql = "jsonb_array_elements_text(f.tags::jsonb) AS t(value)"
    _claim_lock_sql = " FOR UPDATE OF f SKIP LOCKED"
    _stamp_sql = None  # BEFORE triggers stamp the row as it is written (migrations_pg/0003)

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError("store: the PostgreSQL backend needs psycopg (pip install 'psycopg[binary]')") from exc
        self._errors = psycopg.Error
        try:
            self._w = _connect(url)
        except psycopg.Error as exc:
            raise StoreError(f"store: cannot connect to PostgreSQL: {exc}") from exc
        self._wlock = threading.RLock()
        self._depth = 0  # nesting of _tx on the write connection (guarded by _wlock)
        self._local = threading.local()
        self._readers: list[PgConnection] = []
        self._rlock = threading.Lock()
        with self._wlock:
            self._migrate()

    # -- dialect hooks ------------------------------------------------------------------------

    @staticmethod
    def _keyed(expr: str) -> str:
        """The indexed key of a long unique text column (``articles.url``, ``entries.guid``)."""
        return f"md5({expr})"

    def _serialise(self, c: PgConnection) -> None:
        c.execute("SELECT pg_advisory_xact_lock(?)", (LOCK_ASSIGN,))

    def _lock_claims(self, c: PgConnection) -> None:
        c.execute("SELECT pg_advisory_xact_lock(?)", (LOCK_CLAIMS,))

    @staticmethod
    def _next_article_id(c: PgConnection) -> int:
        """The next article id from the column's own sequence (taken under ``_serialise``, so
        ids still grow in commit order)."""
        return c.execute("SELECT nextval(pg_get_serial_sequence('articles', 'id'))").fetchone()[0]

    # -- connections ------------------------------------------------------------------------

    def _migrate(self) -> list[int]:
        c = self._w
        applied = []
        with c.raw.transaction():
            c.execute("SELECT pg_advisory_xact_lock(?)", (LOCK_MIGRATE,))
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {r[0] for r in c.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migrate.available("migrations_pg"):
                if version in done:
                    continue
                with c.raw.transaction():  # a savepoint: one migration at a time
                    c.execute(sql)
                    c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                              (version, name, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
                applied.append(version)
        return applied

    def _r(self) -> PgConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.broken:
            conn = _connect(self.url)
            self._local.conn = conn
            with self._rlock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[PgConnection]:
        """A write transaction; inside another one (``write_batch``) psycopg makes it a
        savepoint. A broken connection is replaced only between transactions."""
        with self._wlock:
            if self._depth == 0 and self._w.broken:
                self._w = _connect(self.url)
            self._depth += 1
            try:
                with self._w.raw.transaction():
                    yield self._w
            finally:
                self._depth -= 1

    def hold_writes(self, timeout: float) -> bool:
        return self._wlock.acquire(timeout=timeout)

    def close(self) -> None:
        with self._rlock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._w.close()

    def __enter__(self) -> "PostgresStore":  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what SQLite does with PRAGMAs and FTS5 ------------------------------------------------

    def data_version(self) -> int:
        return self._r().execute("SELECT n FROM store_version").fetchone()[0]

    def search(self, query: str, *, outlet: str | None = None, limit: int = 30,
               offset: int = 0) -> list[tuple[Story, str]]:
        """(story, snippet) for the stories whose articles match, best first (as SQLite's)."""
        q = ts_query(query)
        if q is None:
            return []
        where, args = "", {"q": q, "limit": limit, "offset": offset}
        if outlet is not None:
            where, args["outlet"] = "AND a.outlet = :outlet", outlet
        rows = self._r().execute(
            f"""WITH hits AS (
                    SELECT DISTINCT ON (a.story_id) a.story_id, a.id AS aid, {_RANK} AS score, s.latest
                    FROM articles a, to_tsquery('simple', :q) q, stories s
                    WHERE a.search @@ q AND s.id = a.story_id AND s.merged_into IS NULL {where}
                    ORDER BY a.story_id, score DESC, a.id)
                SELECT story_id, aid FROM hits ORDER BY score DESC, latest DESC, story_id DESC
                LIMIT :limit OFFSET :offset""",
            args,
        ).fetchall()
        if not rows:
            return []
        aids = [r["aid"] for r in rows]
        marks = ",".join("?" * len(aids))
        opts = (f'StartSel="{MARK_START}", StopSel="{MARK_END}", MaxWords={SNIPPET_TOKENS}, '
                'MinWords=8, ShortWord=2, MaxFragments=1, FragmentDelimiter="…"')
        snippets = dict(self._r().execute(
            f"""SELECT a.id, ts_headline('simple', {_BODY}, to_tsquery('simple', ?), ?)
                FROM articles a WHERE a.id IN ({marks})""",
            [q, opts, *aids],
        ).fetchall())
        stories = {s.id: s for s in self.get_stories(r["story_id"] for r in rows)}
        return [(stories[r["story_id"]], snippets.get(r["aid"]) or "")
                for r in rows if r["story_id"] in stories]

    def count_search(self, query: str, *, outlet: str | None = None) -> int:
        q = ts_query(query)
        if q is None:
            return 0
        where, args = "", {"q": q}
        if outlet is not None:
            where, args["outlet"] = "AND a.outlet = :outlet", outlet
        return self._r().execute(
            f"""SELECT COUNT(DISTINCT a.story_id) FROM articles a
                JOIN stories s ON s.id = a.story_id AND s.merged_into IS NULL
                WHERE a.search @@ to_tsquery('simple', :q) {where}""",
            args,
        ).fetchone()[0]
