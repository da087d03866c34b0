"""Operators' corrections of the clustering: merge two stories, move an article, split a story.

Each correction changes ``articles.story_id`` (the membership every reader and the clusterer's
replay read), the stories' counts, and is recorded in ``corrections`` — all in one transaction.
Because the clusterer is rebuilt from ``articles.story_id`` (``fingerprints()``), a correction
survives restarts and index rebuilds; a running daemon reads ``corrections_since`` and moves
the articles in its in-memory clusterer (``Services.sync_corrections``).

Story ids are founding article ids. A split gives the part that leaves the id of its smallest
article whose id does not name a live story with members (a story merged away earlier is
revived, so merge then split restores the original story id); the part holding the story's
founder keeps the story id, so the story page's URL stays where its first report is.
A move or merge that empties a story leaves a redirect (``merged_into``) to where its articles
went. Copy links (``copy_of``) that would cross stories are cleared: the copy becomes its own
story's original.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from .records import Correction
from .timefmt import from_db, to_db


class CorrectionError(ValueError):
    """A correction that cannot be made (unknown story, article not in it, ...)."""


class CorrectionsMixin:
    """Methods of the store that correct the clustering (mixed into the backend class)."""

    def merge_stories(self, src: int, dst: int, note: str = "") -> int:
        """Merge story ``src`` into ``dst`` (followed to the story it lives under); returns the
        live id. ``src`` keeps a redirect."""
        with self._tx() as c:
            self._serialise(c)  # serialised with story assignment
            if live_story(c, src) != src:
                raise CorrectionError(f"store: story {src} does not exist or was merged already")
            target = live_story(c, dst)
            if target is None:
                raise CorrectionError(f"store: story {dst} does not exist")
            if target == src:
                raise CorrectionError(f"store: story {src} cannot be merged into itself")
            moved = _members(c, src)
            c.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", (target, src))
            c.execute(
                """UPDATE stories SET merged_into = ?, size = 0, outlets = 0, reports = 0
                   WHERE id = ?""",
                (target, src),
            )
            c.execute(
                """UPDATE stories SET updated = GREATEST(updated, (SELECT updated FROM stories WHERE id = ?))
                   WHERE id = ?""",
                (src, target),
            )
            _restat(c, target)
            _record(c, "merge", src, target, moved, note)
            return target

    def move_article(self, article_id: int, story_id: int, note: str = "") -> int:
        """Move one article into story ``story_id`` (followed to the story it lives under);
        returns the live id. A story left empty redirects to it."""
        with self._tx() as c:
            self._serialise(c)  # serialised with story assignment
            row = c.execute("SELECT story_id FROM articles WHERE id = ?", (article_id,)).fetchone()
            if row is None:
                raise CorrectionError(f"store: no article {article_id}")
            target = live_story(c, story_id)
            if target is None:
                raise CorrectionError(f"store: story {story_id} does not exist")
            old = row[0]
            if old == target:
                return target
            c.execute("UPDATE articles SET story_id = ? WHERE id = ?", (target, article_id))
            _unlink(c, [old, target])
            c.execute(
                "UPDATE stories SET updated = GREATEST(updated, (SELECT first_seen FROM articles WHERE id = ?))"
                " WHERE id = ?",
                (article_id, target),
            )
            _restat(c, target)
            if old is not None:
                if _members(c, old):
                    _restat(c, old)
                else:
                    c.execute(
                        "UPDATE stories SET merged_into = ?, size = 0, outlets = 0, reports = 0 WHERE id = ?",
                        (target, old),
                    )
            _record(c, "move", old if old is not None else target, target, [article_id], note)
            return target

    def split_story(self, story_id: int, article_ids: Iterable[int], note: str = "") -> int:
        """Split ``article_ids`` off story ``story_id`` into a story of their own; returns the id
        of the story that now holds them."""
        chosen = sorted(set(article_ids))
        with self._tx() as c:
            self._serialise(c)  # serialised with story assignment
            if live_story(c, story_id) != story_id:
                raise CorrectionError(f"store: story {story_id} does not exist or was merged")
            members = _members(c, story_id)
            if not chosen or not set(chosen) <= set(members):
                raise CorrectionError(f"store: articles {chosen} are not all in story {story_id}")
            rest = [a for a in members if a not in set(chosen)]
            if not rest:
                raise CorrectionError("store: a split must leave some articles in the story")
            # The part holding the founder keeps the story's id (its URL stays put).
            leaving, staying = (rest, chosen) if story_id in chosen else (chosen, rest)
            new_id = _free_id(c, leaving, story_id)
            if new_id is None:
                raise CorrectionError(
                    f"store: every article of {leaving} founded a story that still has members; "
                    "move them one by one instead"
                )
            exists = c.execute("SELECT 1 FROM stories WHERE id = ?", (new_id,)).fetchone()
            first = c.execute(
                f"SELECT title, first_seen FROM articles WHERE id IN ({_marks(leaving)}) "
                "ORDER BY COALESCE(published, first_seen), id LIMIT 1",
                leaving,
            ).fetchone()
            now = to_db(datetime.now(UTC))
            if exists:
                c.execute(
                    "UPDATE stories SET merged_into = NULL, title = ?, updated = ? WHERE id = ?",
                    (first["title"], now, new_id),
                )
            else:
                c.execute(
                    "INSERT INTO stories (id, title, first_seen, updated, latest) VALUES (?, ?, ?, ?, ?)",
                    (new_id, first["title"], first["first_seen"], now, first["first_seen"]),
                )
            c.execute(f"UPDATE articles SET story_id = ? WHERE id IN ({_marks(leaving)})", [new_id, *leaving])
            _unlink(c, [story_id, new_id])
            _restat(c, story_id)
            _restat(c, new_id)
            _record(c, "split", story_id, new_id, leaving, note)
            return story_id if leaving is rest else new_id

    def corrections_since(self, after_id: int = 0) -> list[Correction]:
        """Corrections recorded after ``after_id``, oldest first."""
        rows = self._r().execute("SELECT * FROM corrections WHERE id > ? ORDER BY id", (after_id,)).fetchall()
        return [_correction(r) for r in rows]

    def last_correction_id(self) -> int:
        return self._r().execute("SELECT COALESCE(MAX(id), 0) FROM corrections").fetchone()[0]

    def stories_of(self, article_ids: Iterable[int]) -> dict[int, int | None]:
        """Each article's story id, as stored."""
        ids = list(article_ids)
        out: dict[int, int | None] = {}
        r = self._r()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in r.execute(f"SELECT id, story_id FROM articles WHERE id IN ({_marks(chunk)})", chunk):
                out[row[0]] = row[1]
        return out


def _marks(ids) -> str:
    return ",".join("?" * len(ids))


def live_story(c: sqlite3.Connection, story_id: int) -> int | None:
    """The live story ``story_id`` resolves to (following merges), or None."""
    seen = set()
    while story_id not in seen:
        seen.add(story_id)
        row = c.execute("SELECT merged_into FROM stories WHERE id = ?", (story_id,)).fetchone()
        if row is None:
            return None
        if row[0] is None:
            return story_id
        story_id = row[0]
    return None


def _members(c: sqlite3.Connection, story_id: int) -> list[int]:
    return [r[0] for r in c.execute("SELECT id FROM articles WHERE story_id = ? ORDER BY id", (story_id,))]


def _free_id(c: sqlite3.Connection, candidates: list[int], story_id: int) -> int | None:
    """The smallest candidate id that names no story, a merged-away story or an empty one."""
    for aid in sorted(candidates):
        if aid == story_id:
            continue
        row = c.execute("SELECT merged_into FROM stories WHERE id = ?", (aid,)).fetchone()
        if row is None or row[0] is not None or not _members(c, aid):
            return aid
    return None


def _unlink(c: sqlite3.Connection, story_ids: list[int | None]) -> None:
    """Clear copy links that now cross stories: the copy is its own story's original."""
    for sid in story_ids:
        if sid is None:
            continue
        c.execute(
            """UPDATE articles SET copy_of = NULL, role = 'report'
               WHERE story_id = ? AND copy_of IS NOT NULL
                 AND copy_of NOT IN (SELECT id FROM articles WHERE story_id = ?)""",
            (sid, sid),
        )


def _restat(c: sqlite3.Connection, story_id: int) -> None:
    c.execute(
        """UPDATE stories SET
             size = (SELECT COUNT(*) FROM articles WHERE story_id = stories.id),
             outlets = (SELECT COUNT(DISTINCT outlet) FROM articles WHERE story_id = stories.id),
             reports = (SELECT COUNT(*) FROM articles WHERE story_id = stories.id AND role = 'report'),
             first_seen = COALESCE((SELECT MIN(first_seen) FROM articles WHERE story_id = stories.id),
                                   first_seen),
             latest = COALESCE((SELECT MAX(COALESCE(published, first_seen)) FROM articles
                                WHERE story_id = stories.id), latest)
           WHERE id = ?""",
        (story_id,),
    )


def _record(c: sqlite3.Connection, kind: str, story_id: int, target: int, moved: list[int], note: str) -> None:
    c.execute(
        "INSERT INTO corrections (kind, story_id, target, article_ids, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
        (kind, story_id, target, json.dumps(sorted(moved)), to_db(datetime.now(UTC)), note),
    )


def _correction(r: sqlite3.Row) -> Correction:
    return Correction(
        id=r["id"],
        kind=r["kind"],
        story_id=r["story_id"],
        target=r["target"],
        article_ids=tuple(json.loads(r["article_ids"])),
        created_at=from_db(r["created_at"]),
        note=r["note"],
    )
