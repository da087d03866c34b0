"""What lets one set of store methods run on SQLite and on PostgreSQL.

The mixins (feeds, articles, stories, corrections, browse) are written once, in SQL both engines
accept: ``ON CONFLICT DO NOTHING`` rather than ``INSERT OR IGNORE``, ``RETURNING id`` rather
than ``lastrowid``, ``GREATEST`` (SQLite gets it as a user function), ``CASE`` rather than
summing booleans, ISO 8601 text for times (``COLLATE "C"`` on PostgreSQL, so text order stays
time order). What differs is a handful of fragments the backends set as class attributes (the
front-page rank, a feed's tags as rows, the key of a unique text column) and this module:

``PgConnection`` wraps a psycopg connection so the mixins can keep the sqlite3 calling
convention — ``execute(sql, params)`` with ``?`` or ``:name`` placeholders, rows readable by
index and by column name. It is also the one choke point where NUL characters are stripped
from text parameters (PostgreSQL rejects them in text; SQLite kept them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any


class Row(tuple):
    """A result row: ``row[0]`` and ``row["name"]``, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def row_factory(cursor) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    names = {d.name: i for i, d in reversed(list(enumerate(desc)))}  # first of a repeated name
    cls = type("Row", (Row,), {"_names": names, "__slots__": ()})
    return lambda values: cls(values)


_TOKENS = re.compile(r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(--[^\n]*)|(\?)|(?<!:):([A-Za-z_]\w*)|(%)""")


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """sqlite3's ``?`` and ``:name`` placeholders as psycopg's ``%s`` / ``%(name)s`` (literal
    ``%`` doubled; quoted strings, identifiers, comments and ``::`` casts left alone)."""

    def sub(m: re.Match) -> str:
        if m.group(4):
            return "%s"
        if m.group(5):
            return f"%({m.group(5)})s"
        if m.group(6):
            return "%%"
        return m.group(0)

    return _TOKENS.sub(sub, sql)


def _clean(v: Any) -> Any:
    return v.replace("\x00", "") if isinstance(v, str) and "\x00" in v else v


def clean_params(params: Sequence | Mapping | None):
    if params is None:
        return None
    if isinstance(params, Mapping):
        return {k: _clean(v) for k, v in params.items()}
    return [_clean(v) for v in params]


class PgCursor:
    def __init__(self, cur) -> None:
        self._cur = cur

    def fetchone(self):
        return self._cur.fetchone()

    def fetchall(self) -> list:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator:
        return iter(self._cur)

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self):
        return self._cur.description


class PgConnection:
    """A psycopg connection with the sqlite3 calling convention (see the module docstring)."""

    def __init__(self, conn) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence | Mapping | None = None) -> PgCursor:
        cur = self.raw.cursor()
        if params is None:  # psycopg then reads no placeholders (and may run several statements)
            cur.execute(sql)
        else:
            cur.execute(to_pyformat(sql), clean_params(params))
        return PgCursor(cur)

    def executemany(self, sql: str, seq: Iterable[Sequence | Mapping]) -> None:
        seq = [clean_params(p) for p in seq]
        if seq:
            with self.raw.cursor() as cur:
                cur.executemany(to_pyformat(sql), seq)

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        self.raw.close()
