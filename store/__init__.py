"""Persistence for the aggregator: feeds, articles, stories.

``open_store(url)`` is the only entry point: ``sqlite:///path/to/file.db`` (the default) or
``postgresql://...`` (several daemons sharing one database), behind the same methods
(store/dialect.py says how). Nothing here imports the pipeline.
"""

from __future__ import annotations

from pathlib import Path

from .corrections import CorrectionError  # noqa: F401
from .records import (  # noqa: F401
    Correction,
    FeedOutcome,
    FeedRow,
    FingerprintRow,
    Membership,
    NewArticle,
    Story,
    StorySource,
)
from .sqlite import SQLiteStore, StoreError


def open_store(url: str):
    """``sqlite:///PATH`` → SQLiteStore; ``postgresql://…`` → PostgresStore (same methods)."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url[len("sqlite:///") :]))
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(f"store: unsupported database URL {url!r} (expected sqlite:///PATH or postgresql://...)")


__all__ = ["SQLiteStore", "StoreError", "open_store"]
