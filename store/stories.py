"""Stories: the front page, story pages, merges."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from .corrections import CorrectionsMixin
from .records import (
    Story,
    StorySource,
)
from .timefmt import from_db

# The article columns a story's sources show (not the fingerprint payloads), ``text`` last so a
# listing can take only its start (``source_columns``).
_SOURCE_COLUMNS = ("a.id, a.story_id, a.outlet, a.title, a.url, a.author, a.published, a.first_seen, a.role, "
                   "a.reuse, a.copy_of, a.score, a.evidence, a.summary, a.extraction, f.name AS feed_name")


def source_columns(text_chars: int | None = None) -> str:
    """The SELECT list of a story's sources; ``text_chars``: only the start of each text."""
    text = "a.text" if text_chars is None else f"substr(a.text, 1, {int(text_chars)}) AS text"
    return f"{_SOURCE_COLUMNS}, {text}"


def _time(s: str | None):
    """``from_db`` for the store's own "YYYY-MM-DDTHH:MM:SSZ" (fromisoformat: ~20x faster than
    strptime, and a story page parses two times per source)."""
    if s and len(s) == 20 and s[19] == "Z":
        return datetime.fromisoformat(s)
    return from_db(s)


class StoriesMixin(CorrectionsMixin):
    """Methods of the store that concern stories (mixed into the backend class)."""

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
            f"""SELECT {source_columns()} FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
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
            first_seen=_time(st["first_seen"]),
            updated=_time(st["updated"]),
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
        published=_time(r["published"]),
        first_seen=_time(r["first_seen"]),
        role=r["role"],
        reuse=r["reuse"],
        copy_of=r["copy_of"],
        score=r["score"],
        text=r["text"],
        evidence=json.loads(r["evidence"]),
        summary=r["summary"],
        extraction=r["extraction"],
    )
