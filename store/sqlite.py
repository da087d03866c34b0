"""The SQLite store: the embedded default.

One write connection guarded by a lock, every write in ``BEGIN IMMEDIATE`` (a deferred
transaction that reads then writes gets "database is locked" at once in WAL mode, ignoring
busy_timeout); one read connection per thread. WAL lets readers (the web UI) read while the
daemon writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import migrate
from .articles import ArticlesMixin
from .browse import BrowseMixin
from .feeds import FeedsMixin
from .search import SearchMixin
from .stories import StoriesMixin


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
    # The shared SQL says GREATEST (PostgreSQL's); SQLite's two-argument MAX is the same but
    # for NULLs, which GREATEST skips.
    conn.create_function("greatest", -1, _greatest, deterministic=True)
    return conn


def _greatest(*args):
    values = [a for a in args if a is not None]
    return max(values) if values else None


class SQLiteStore(FeedsMixin, ArticlesMixin, StoriesMixin, BrowseMixin, SearchMixin):
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
        self._depth = 0  # nesting of _tx on the write connection (guarded by _wlock)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        with self._wlock:
            migrate.apply(self._w)
            if self._w.execute("SELECT 1 FROM articles_fts_pending LIMIT 1").fetchone():
                with self._tx():
                    pass  # indexes what another program inserted without the store (see 0007)

    # -- dialect hooks (see store/dialect.py; PostgresStore has its own) ------------------------

    # A new story version, written by the statement that changes a story (see migration 0007).
    _stamp_sql = "(SELECT COALESCE(MAX(version), 0) + 1 FROM stories)"

    @staticmethod
    def _keyed(expr: str) -> str:
        return expr  # unique text columns are indexed as they are

    def _serialise(self, c: sqlite3.Connection) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the only writer."""

    def _lock_claims(self, c: sqlite3.Connection) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the only writer."""

    @staticmethod
    def _next_article_id(c: sqlite3.Connection) -> int:
        """The id the next article gets (the one SQLite would choose: the largest plus one);
        free until the commit, since this transaction is the only writer."""
        return c.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM articles").fetchone()[0]

    @staticmethod
    def _index_pending(c: sqlite3.Connection) -> None:
        """Put the articles noted since the last commit into the search index, in one statement
        (migration 0007: FTS5 writes one index segment per statement, so a batch of 50 articles
        makes one segment, not 50). Part of the transaction that wrote them."""
        if c.execute("SELECT 1 FROM articles_fts_pending LIMIT 1").fetchone() is None:
            return
        c.execute(
            "INSERT INTO articles_fts (rowid, title, body, outlet) SELECT id, title, body, outlet"
            " FROM articles_search WHERE id IN (SELECT id FROM articles_fts_pending)"
        )
        c.execute("DELETE FROM articles_fts_pending")

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
        """A write transaction. Inside another one (``write_batch``) it is a savepoint, as
        psycopg's nested ``transaction()`` is on PostgreSQL: the inner write is still all or
        nothing, and the outer one commits everything at once."""
        with self._wlock:
            if self._depth:
                yield from self._savepoint()
                return
            self._w.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._w
                self._index_pending(self._w)
            except BaseException:
                if self._w.in_transaction:  # (see _savepoint)
                    self._w.execute("ROLLBACK")
                raise
            else:
                self._w.execute("COMMIT")
            finally:
                self._depth = 0

    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        name = f"sp{self._depth}"
        self._w.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self._w
        except BaseException:
            # Some errors (SQLITE_FULL, SQLITE_IOERR) roll the whole transaction back already;
            # a ROLLBACK TO then would raise and hide the error that matters.
            if self._w.in_transaction:
                self._w.execute(f"ROLLBACK TO {name}")
                self._w.execute(f"RELEASE {name}")
            raise
        else:
            self._w.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def hold_writes(self, timeout: float) -> bool:
        """Take the write lock for good (a process about to exit while other threads still
        run): no transaction can start, none is cut half-way. False if not had in time."""
        return self._wlock.acquire(timeout=timeout)

    def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._w.close()

    def __enter__(self) -> "SQLiteStore":  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()
