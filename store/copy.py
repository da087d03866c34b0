"""Copy a whole store into another (``aggregator store migrate --from … --to …``).

Typically SQLite → PostgreSQL when one machine is no longer enough, but any backend to any.
Tables are copied in dependency order (feeds, stories, articles, entries, corrections), each
in key order, in batches of one transaction each, with every row inserted "if absent": an
interrupted copy is resumed by running the same command again — each table restarts from the
largest key already in the target. Forward references (a story merged into a later one, a copy
of a later article) are filled in a second pass. At the end the row counts are compared.

The source should be quiet while it is copied (stop the daemon): rows written meanwhile may be
missed, and the count check then says so.
"""

from __future__ import annotations

from collections.abc import Callable

# (table, key columns in copy order, columns filled in a second pass)
TABLES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("feeds", ("id",), ()),
    ("stories", ("id",), ("merged_into",)),
    ("articles", ("id",), ("copy_of",)),
    ("entries", ("article_id", "feed_id", "guid"), ()),
    ("corrections", ("id",), ()),
]
GENERATED = {"search"}  # PostgreSQL's stored tsvector is computed, never copied
BATCH = 500

Progress = Callable[[str, int, int], None]  # (table, rows done, rows in source)


class CopyError(Exception):
    """The copy finished but the target does not hold what the source does."""


def _columns(conn, table: str) -> list[str]:
    cur = conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return [d[0] for d in cur.description]


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def copy_store(src, dst, *, progress: Progress | None = None, batch: int = BATCH) -> dict[str, int]:
    """Copy every row of ``src`` into ``dst`` (both opened stores); returns rows per table.
    Raises CopyError when the counts differ at the end."""
    r = src._r()
    for table, keys, later in TABLES:
        _copy_table(r, dst, table, keys, later, progress, batch)
    _after_copy(dst)
    counts = {}
    for table, _, _ in TABLES:
        a, b = _count(r, table), _count(dst._r(), table)
        if a != b:
            raise CopyError(f"store: copy incomplete: {table} has {a} rows in the source, {b} in the target")
        counts[table] = a
    return counts


def _copy_table(r, dst, table: str, keys: tuple[str, ...], later: tuple[str, ...],
                progress: Progress | None, batch: int) -> None:
    total = _count(r, table)
    dst_cols = set(_columns(dst._r(), table))
    cols = [c for c in _columns(r, table) if c in dst_cols and c not in GENERATED]
    first = keys[0]
    start = dst._r().execute(f"SELECT MAX({first}) FROM {table}").fetchone()[0]
    done = _count(dst._r(), table)
    if progress:
        progress(table, done, total)
    # Resume at the largest key copied (>=: entries share an article id across feeds).
    where, args = ("", []) if start is None else (f"WHERE {first} >= ?", [start])
    insert = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
              "ON CONFLICT DO NOTHING")
    blank = [cols.index(col) for col in later]
    key = cols.index("id") if later else 0
    buf: list[list] = []
    rows = iter(r.execute(f"SELECT {', '.join(cols)} FROM {table} {where} ORDER BY {', '.join(keys)}", args))
    while True:
        row = next(rows, None)
        if row is not None:
            values = list(row)
            for i in blank:
                if _forward(cols[i], values[i], values[key]):
                    values[i] = None  # filled in the second pass
            buf.append(values)
        if buf and (row is None or len(buf) >= batch):
            with dst._tx() as c:
                c.executemany(insert, buf)
            done += len(buf)
            if progress:
                progress(table, min(done, total), total)
            buf = []
        if row is None:
            break
    # Second pass, over the whole source (so a resumed copy fills what an interrupted one left
    # out): the references that may point forward.
    for col in later:
        refs = [(v, k) for k, v in r.execute(f"SELECT id, {col} FROM {table} WHERE {col} IS NOT NULL")
                if _forward(col, v, k)]
        for i in range(0, len(refs), batch):
            with dst._tx() as c:
                c.executemany(f"UPDATE {table} SET {col} = ? WHERE id = ?", refs[i : i + batch])


def _forward(col: str, ref, own_id) -> bool:
    """A reference that may name a row not copied yet: any merge redirect (a story may be merged
    into a later one), a copy link to a later article (not made by the clusterer, but allowed)."""
    return ref is not None and (col == "merged_into" or ref >= own_id)


def _after_copy(dst) -> None:
    """PostgreSQL: move the id sequences past the copied ids (rows were inserted with theirs)."""
    if type(dst).__name__ != "PostgresStore":
        return
    with dst._tx() as c:
        for table in ("feeds", "articles", "corrections"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                      f"GREATEST((SELECT MAX(id) FROM {table}), 1))")
