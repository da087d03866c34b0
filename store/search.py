"""Full-text search over articles (SQLite FTS5, table ``articles_fts`` from migration 0002).

New articles are indexed when their write transaction commits, all of a batch in one statement
(migration 0007, ``SQLiteStore._index_pending``): what is committed is searchable.

What a reader types is never handed to FTS5 as syntax: ``fts_query`` turns it into a conjunction
of quoted strings (phrases in double quotes stay phrases, a trailing ``*`` is a prefix search), so
no input can raise an FTS5 syntax error or reach a column filter or operator.

Hits are grouped by story: one result per story, ranked by its best-matching article (bm25, the
title weighted above the text), with that article's snippet. Snippets are plain text with the
matched terms between ``MARK_START`` and ``MARK_END`` (control characters the index never sees
in escaped output); turning them into HTML is the reader's job, after escaping.
"""

from __future__ import annotations

import re

from .browse import LISTING_TEXT
from .records import Story

MARK_START = "\x02"
MARK_END = "\x03"
MAX_TERMS = 16
SNIPPET_TOKENS = 28

_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
# Column weights for bm25: title, body, outlet.
_BM25 = "bm25(articles_fts, 8.0, 1.0, 2.0)"


def fts_query(text: str) -> str | None:
    """A safe FTS5 query for what a reader typed, or None when nothing searchable is left.

    ``senate bill`` → ``"senate" "bill"`` (both words); ``"rail lines" senate`` keeps the phrase;
    ``bridg*`` → ``"bridg" *``. Everything else (AND/OR/NEAR, ``col:``, parentheses, ``^``) is
    taken as words to look for.
    """
    terms = []
    for phrase, word in _TOKEN.findall(text or ""):
        if phrase:
            inner = " ".join(re.findall(r"\w+", phrase))
            if inner:
                terms.append(f'"{inner}"')
            continue
        prefix = word.endswith("*")
        words = re.findall(r"\w+", word)
        if not words:
            continue
        # "U.S." or "covid-19" become a phrase of their parts, as the tokenizer indexes them.
        term = f'"{" ".join(words)}"'
        if prefix and len(words[-1]) >= 2:
            term += " *"
        terms.append(term)
    return " ".join(terms[:MAX_TERMS]) or None


class SearchMixin:
    """Search methods of the store (mixed into the backend class)."""

    def search(
        self, query: str, *, outlet: str | None = None, limit: int = 30, offset: int = 0
    ) -> list[tuple[Story, str]]:
        """(story, snippet) for the stories whose articles match, best first."""
        match = fts_query(query)
        if match is None:
            return []
        where = "1"
        args: dict = {"q": match, "limit": limit, "offset": offset}
        if outlet is not None:
            where = "a.outlet = :outlet"
            args["outlet"] = outlet
        # Auxiliary functions (bm25, snippet) cannot sit inside an aggregate: score every hit in
        # a materialised CTE, group by story there (SQLite returns the bare article id of the row
        # holding MIN(score)), then build snippets only for the page's best articles.
        rows = self._r().execute(
            f"""WITH hits AS MATERIALIZED (
                    SELECT rowid AS aid, {_BM25} AS score FROM articles_fts WHERE articles_fts MATCH :q)
                SELECT a.story_id AS story_id, a.id AS aid, MIN(h.score) AS score
                FROM hits h JOIN articles a ON a.id = h.aid
                JOIN stories s ON s.id = a.story_id AND s.merged_into IS NULL
                WHERE {where}
                GROUP BY a.story_id ORDER BY score, s.latest DESC, a.story_id DESC
                LIMIT :limit OFFSET :offset""",
            args,
        ).fetchall()
        if not rows:
            return []
        aids = [r["aid"] for r in rows]
        marks = ",".join("?" * len(aids))
        snippets = dict(
            self._r().execute(
                f"""SELECT rowid, snippet(articles_fts, -1, '{MARK_START}', '{MARK_END}', '…',
                                          {SNIPPET_TOKENS})
                    FROM articles_fts WHERE articles_fts MATCH ? AND rowid IN ({marks})""",
                [match, *aids],
            ).fetchall()
        )
        stories = {s.id: s for s in self.get_stories((r["story_id"] for r in rows), text_chars=LISTING_TEXT)}
        return [
            (stories[r["story_id"]], snippets.get(r["aid"]) or "")
            for r in rows
            if r["story_id"] in stories
        ]

    def count_search(self, query: str, *, outlet: str | None = None) -> int:
        match = fts_query(query)
        if match is None:
            return 0
        where = "articles_fts MATCH :q"
        args: dict = {"q": match}
        if outlet is not None:
            where += " AND a.outlet = :outlet"
            args["outlet"] = outlet
        return self._r().execute(
            f"""SELECT COUNT(DISTINCT a.story_id) FROM articles_fts
                JOIN articles a ON a.id = articles_fts.rowid
                JOIN stories s ON s.id = a.story_id AND s.merged_into IS NULL
                WHERE {where}""",
            args,
        ).fetchone()[0]
