"""Named, ordered migrations, recorded in ``schema_migrations``, each in its own transaction.

Migrations are the ``migrations/NNNN_name.sql`` files next to this module; a store opened by
an older version of the program is brought up to date on open.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from importlib import resources


def available(directory: str = "migrations") -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file, in order (``migrations_pg`` for
    PostgreSQL)."""
    out = []
    for f in resources.files(__package__).joinpath(directory).iterdir():
        if f.name.endswith(".sql"):
            version, _, name = f.name[:-4].partition("_")
            out.append((int(version), name, f.read_text(encoding="utf-8")))
    return sorted(out)


def apply(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in available():
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # executescript would COMMIT first; run statement by statement inside our transaction.
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(version)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows about strings)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        if not buf and line.lstrip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
