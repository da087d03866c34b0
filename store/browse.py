"""Browsing stories: the ranked front page, per-outlet and per-tag lists, batch loading.

A story's tags are the tags (``feeds.tags``) of every feed that carried one of its articles; a
story belongs to an outlet when one of its articles came from that outlet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from .records import Story
from .stories import _canonical, _lead, _source, _time, source_columns
from .timefmt import to_db

# Front-page rank: coverage over age, like a news desk would (and like Hacker News' gravity).
# coverage = 1 + 2 × independent reports + outlets; age in hours since the newest member was
# published, plus 6 so that the first hours do not swing the order; gravity 1.5. Three outlets
# from five hours ago stay above one outlet from an hour ago; last week's big story sinks below
# today's news.
# Listings show a lead, not the text: each source's text is read only this far (the lead is the
# first paragraph of eight words or more, found in the first lines).
LISTING_TEXT = 3000

RANK_SQL = (
    "(1.0 + 2 * s.reports + s.outlets) / "
    "pow(MAX(0.0, (julianday(:now) - julianday(s.latest)) * 24.0) + 6.0, 1.5)"
)


def _filters(outlet: str | None, tag: str | None, tags: str = "json_each(f.tags) t") -> tuple[str, dict]:
    where = ["s.merged_into IS NULL"]
    args: dict = {}
    if outlet is not None:
        where.append("EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id AND a.outlet = :outlet)")
        args["outlet"] = outlet
    if tag is not None:
        where.append(
            f"""EXISTS (SELECT 1 FROM articles a JOIN entries e ON e.article_id = a.id
                       JOIN feeds f ON f.id = e.feed_id, {tags}
                       WHERE a.story_id = s.id AND t.value = :tag)"""
        )
        args["tag"] = tag
    return " AND ".join(where), args


class BrowseMixin:
    """Read-side queries for the reader web UI (mixed into the backend class)."""

    # Dialect fragments (store/dialect.py): PostgreSQL's store overrides them.
    _rank_sql = RANK_SQL
    _tags_sql = "json_each(f.tags) t"  # a feed's tags as rows with a ``value`` column

    def browse_stories(
        self,
        limit: int = 30,
        offset: int = 0,
        *,
        outlet: str | None = None,
        tag: str | None = None,
        now: datetime | None = None,
    ) -> list[Story]:
        """Stories ranked by coverage and recency (see ``RANK_SQL``), optionally only those an
        outlet carried or those with a tag. For listings: each source's ``text`` holds only its
        first ``LISTING_TEXT`` characters."""
        where, args = _filters(outlet, tag, self._tags_sql)
        args.update(now=to_db(now or datetime.now(UTC)), limit=limit, offset=offset)
        ids = [
            r[0]
            for r in self._r().execute(
                f"""SELECT s.id FROM stories s WHERE {where}
                    ORDER BY {self._rank_sql} DESC, s.latest DESC, s.id DESC LIMIT :limit OFFSET :offset""",
                args,
            )
        ]
        return self.get_stories(ids, text_chars=LISTING_TEXT)

    def count_browse(self, *, outlet: str | None = None, tag: str | None = None) -> int:
        where, args = _filters(outlet, tag, self._tags_sql)
        return self._r().execute(f"SELECT COUNT(*) FROM stories s WHERE {where}", args).fetchone()[0]

    def get_stories(self, ids: Iterable[int], *, text_chars: int | None = None) -> list[Story]:
        """Several stories in two queries, in the order of ``ids`` (unknown or empty ones left out).
        ``text_chars``: read only the start of each source's text (listings)."""
        ids = list(ids)
        if not ids:
            return []
        r = self._r()
        marks = ",".join("?" * len(ids))
        heads = {row["id"]: row for row in r.execute(f"SELECT * FROM stories WHERE id IN ({marks})", ids)}
        members: dict[int, list] = {}
        for row in r.execute(
            f"""SELECT {source_columns(text_chars)} FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
                WHERE a.story_id IN ({marks})
                ORDER BY COALESCE(a.published, a.first_seen), a.id""",
            ids,
        ):
            members.setdefault(row["story_id"], []).append(_source(row))
        out = []
        for i in ids:
            st, rows = heads.get(i), members.get(i)
            if st is None or not rows:
                continue
            sources = tuple(rows)
            canonical = _canonical(sources)
            out.append(
                Story(
                    id=st["id"],
                    title=canonical.title or st["title"],
                    lead=_lead(canonical),
                    first_seen=_time(st["first_seen"]),
                    updated=_time(st["updated"]),
                    sources=sources,
                )
            )
        return out

    def list_outlets(self) -> list[tuple[str, int]]:
        """(outlet, number of live stories it carried), most stories first."""
        return [
            (r[0], r[1])
            for r in self._r().execute(
                """SELECT a.outlet, COUNT(DISTINCT a.story_id) AS n FROM articles a
                   JOIN stories s ON s.id = a.story_id AND s.merged_into IS NULL
                   WHERE a.outlet <> '' GROUP BY a.outlet ORDER BY n DESC, a.outlet"""
            )
        ]

    def list_tags(self) -> list[tuple[str, int]]:
        """(tag, number of feeds with it), alphabetical: tags are few and come from feeds.yaml."""
        return [
            (r[0], r[1])
            for r in self._r().execute(
                f"SELECT t.value, COUNT(*) FROM feeds f, {self._tags_sql} GROUP BY t.value ORDER BY t.value"
            )
        ]

    def story_tags(self, story_id: int) -> list[str]:
        return [
            r[0]
            for r in self._r().execute(
                f"""SELECT DISTINCT t.value FROM articles a JOIN entries e ON e.article_id = a.id
                   JOIN feeds f ON f.id = e.feed_id, {self._tags_sql}
                   WHERE a.story_id = ? ORDER BY t.value""",
                (story_id,),
            )
        ]

    def data_version(self) -> int:
        """Changes whenever another connection (the daemon's writer) commits: a cheap cache key."""
        return self._r().execute("PRAGMA data_version").fetchone()[0]

    def story_stamp(self, story_id: int) -> tuple | None:
        """What changes when a story's page must change: its ``version`` (migration 0006: stamped
        by triggers whenever a source joins or leaves, a member changes, a correction or merge
        touches it). Other stories' writes and feed polls leave it alone."""
        row = self._r().execute("SELECT version, merged_into FROM stories WHERE id = ?", (story_id,)).fetchone()
        return tuple(row) if row else None

    def stories_version(self) -> int:
        """The newest story version (an index look-up): moves whenever any story changes, so it is
        the validity stamp of listings, feeds and search pages; feed polls leave it alone."""
        return self._r().execute("SELECT COALESCE(MAX(version), 0) FROM stories").fetchone()[0]

    def changed_stories(self, after: int, limit: int = 500) -> list[tuple[int, int]]:
        """(id, version) of live stories stamped after version ``after``, oldest change first."""
        return [
            (r[0], r[1])
            for r in self._r().execute(
                "SELECT id, version FROM stories WHERE version > ? AND merged_into IS NULL ORDER BY version LIMIT ?",
                (after, limit),
            )
        ]

    def recent_story_ids(self, limit: int) -> list[int]:
        """Live stories, the newest coverage first (what readers open most)."""
        return [
            r[0]
            for r in self._r().execute(
                "SELECT id FROM stories WHERE merged_into IS NULL ORDER BY latest DESC, id DESC LIMIT ?", (limit,)
            )
        ]
