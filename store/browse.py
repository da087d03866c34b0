"""Browsing stories: the ranked front page, per-outlet and per-tag lists, batch loading.

A story's tags are the tags (``feeds.tags``) of every feed that carried one of its articles; a
story belongs to an outlet when one of its articles came from that outlet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from .records import Story
from .stories import _canonical, _lead, _source
from .timefmt import from_db, to_db

# Front-page rank: coverage over age, like a news desk would (and like Hacker News' gravity).
# coverage = 1 + 2 × independent reports + outlets; age in hours since the newest member was
# published, plus 6 so that the first hours do not swing the order; gravity 1.5. Three outlets
# from five hours ago stay above one outlet from an hour ago; last week's big story sinks below
# today's news.
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
        outlet carried or those with a tag."""
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
        return self.get_stories(ids)

    def count_browse(self, *, outlet: str | None = None, tag: str | None = None) -> int:
        where, args = _filters(outlet, tag, self._tags_sql)
        return self._r().execute(f"SELECT COUNT(*) FROM stories s WHERE {where}", args).fetchone()[0]

    def get_stories(self, ids: Iterable[int]) -> list[Story]:
        """Several stories in two queries, in the order of ``ids`` (unknown or empty ones left out)."""
        ids = list(ids)
        if not ids:
            return []
        r = self._r()
        marks = ",".join("?" * len(ids))
        heads = {row["id"]: row for row in r.execute(f"SELECT * FROM stories WHERE id IN ({marks})", ids)}
        members: dict[int, list] = {}
        for row in r.execute(
            f"""SELECT a.*, f.name AS feed_name FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
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
                    first_seen=from_db(st["first_seen"]),
                    updated=from_db(st["updated"]),
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
        """What changes when a story's page must change (a source joins or leaves, a correction,
        a merge): a per-story cache key that other stories' writes leave alone."""
        row = self._r().execute(
            "SELECT updated, size, outlets, reports, title, merged_into FROM stories WHERE id = ?",
            (story_id,),
        ).fetchone()
        return tuple(row) if row else None
