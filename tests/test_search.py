"""Full-text search in the SQLite store: migration 0002 (FTS5 + triggers + backfill), queries
grouped by story, phrases, outlet filter, snippets, and inputs that must never be FTS5 syntax.

Texts are written for these tests."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.models import FeedConfig
from store import Membership, NewArticle, open_store
from store.migrate import _statements, available
from store.search import MARK_END, MARK_START, fts_query

T0 = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)

TEXTS = {
    "harbor": "The city council approved a new harbor bridge on Monday after two years of debate.\n\n"
              "Engineers said the bridge will carry light rail lines and cyclists.",
    "harbor2": "Council members voted 7-2 for the harbor bridge. The light rail lines open in 2028.",
    "orchard": "Frost damaged apple orchards across the valley, growers said, and prices will rise.",
    "museum": "The natural history museum reopened its dinosaur hall with a restored skeleton.",
}


def new_article(url, title, text, outlet, feed_id, minutes=0, summary=""):
    t = T0 + timedelta(minutes=minutes)
    return NewArticle(url=url, title=title, author="", published=t, first_seen=t, outlet=outlet,
                      feed_id=feed_id, summary=summary, text=text, language="en", site_name=outlet,
                      extraction="page" if text else "summary", extraction_note="",
                      fp_scheme="test", fp_signature=b"", fp_payload="")


def put(store, url, title, text, outlet, story=None, minutes=0, summary=""):
    """Store one article; ``story`` None founds a new story. Returns (article id, story id)."""
    feed_id = {f.outlet: f.id for f in store.list_feeds()}[outlet]
    aid, m, _ = store.add_article(
        new_article(url, title, text, outlet, feed_id, minutes, summary), f"g-{url}", url,
        lambda aid: Membership(story_id=aid if story is None else story, copy_of=None,
                               role="report", reuse=0.0, score=1.0),
    )
    return aid, m.story_id


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'search.db'}")
    s.sync_feeds([
        FeedConfig(name="gazette", url="https://gazette.example/feed", outlet="Harbor Gazette",
                   tags=("local",)),
        FeedConfig(name="courier", url="https://courier.example/feed", outlet="Valley Courier",
                   tags=("local", "farming")),
    ])
    yield s
    s.close()


@pytest.fixture
def stories(store):
    a1, harbor = put(store, "https://gazette.example/1", "Council approves harbor bridge",
                     TEXTS["harbor"], "Harbor Gazette")
    put(store, "https://courier.example/1", "Harbor bridge wins council vote", TEXTS["harbor2"],
        "Valley Courier", story=harbor, minutes=30)
    _, orchard = put(store, "https://courier.example/2", "Frost hits orchards", TEXTS["orchard"],
                     "Valley Courier", minutes=60)
    _, museum = put(store, "https://gazette.example/2", "Dinosaur hall reopens", "",
                    "Harbor Gazette", minutes=90, summary=TEXTS["museum"])
    return {"harbor": harbor, "orchard": orchard, "museum": museum, "first_article": a1}


@pytest.mark.parametrize(
    "typed, query",
    [
        ("harbor bridge", '"harbor" "bridge"'),
        ('"light rail" council', '"light rail" "council"'),
        ("bridg*", '"bridg" *'),
        ("b*", '"b"'),  # one-letter prefixes would match half the index
        ("AND OR NOT", '"AND" "OR" "NOT"'),
        ("title:bridge", '"title bridge"'),
        ("NEAR(harbor bridge)", '"NEAR harbor" "bridge"'),
        ('"unclosed phrase', '"unclosed phrase"'),
        ('"" ^ * ( ) : -', None),
        ("", None),
        ("   ", None),
        ("café", '"café"'),
        ("7-2", '"7 2"'),
    ],
)
def test_fts_query_quotes_everything(typed, query):
    assert fts_query(typed) == query


def test_search_groups_hits_by_story(store, stories):
    hits = store.search("harbor bridge")
    assert [s.id for s, _ in hits] == [stories["harbor"]]  # two matching articles, one story
    story, snippet = hits[0]
    assert len(story.sources) == 2
    assert f"{MARK_START}bridge{MARK_END}" in snippet.lower() or f"{MARK_START}harbor{MARK_END}" in (
        snippet.lower())
    assert store.count_search("harbor bridge") == 1
    assert store.count_search("council") == 1
    assert store.count_search("nothing-like-this") == 0


def test_phrase_and_prefix(store, stories):
    assert [s.id for s, _ in store.search('"light rail lines"')] == [stories["harbor"]]
    assert store.search('"rail light"') == []
    assert [s.id for s, _ in store.search("orchar*")] == [stories["orchard"]]


def test_outlet_filter(store, stories):
    assert [s.id for s, _ in store.search("bridge", outlet="Valley Courier")] == [stories["harbor"]]
    assert store.search("orchards", outlet="Harbor Gazette") == []
    assert store.count_search("bridge", outlet="Nobody") == 0


def test_summary_is_searched_when_there_is_no_text(store, stories):
    hits = store.search("dinosaur skeleton")
    assert [s.id for s, _ in hits] == [stories["museum"]]
    assert MARK_START + "dinosaur" + MARK_END in hits[0][1]


def test_title_outranks_text(store, stories):
    _, cold = put(store, "https://gazette.example/3", "Cold night ahead",
                  "Forecasters expect frost in the valley tonight; cover tender plants before dark.",
                  "Harbor Gazette", minutes=120)
    assert [s.id for s, _ in store.search("frost")] == [stories["orchard"], cold]


def test_paging(store, stories):
    for i in range(5):
        put(store, f"https://gazette.example/p{i}", f"Parade number {i}",
            f"The parade number {i} went down Main Street.", "Harbor Gazette", minutes=200 + i)
    all_ids = [s.id for s, _ in store.search("parade", limit=10)]
    assert len(all_ids) == 5
    assert [s.id for s, _ in store.search("parade", limit=2, offset=2)] == all_ids[2:4]


def test_triggers_follow_updates_and_deletes(store, stories, tmp_path):
    aid = stories["first_article"]
    with sqlite3.connect(tmp_path / "search.db") as conn:
        conn.execute("UPDATE articles SET title = 'Ferry terminal expands' WHERE id = ?", (aid,))
    assert store.search("ferry terminal")  # the new title is found
    assert store.count_search("approves") == 0  # the old title word is gone
    with sqlite3.connect(tmp_path / "search.db") as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM articles WHERE url = 'https://courier.example/2'")
        # The index stays consistent with its content table.
        conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")
    assert store.search("orchards") == []


def test_merged_stories_are_not_results(store, stories, tmp_path):
    with sqlite3.connect(tmp_path / "search.db") as conn:
        conn.execute("UPDATE stories SET merged_into = ? WHERE id = ?",
                     (stories["harbor"], stories["orchard"]))
    assert store.search("orchards") == []


def test_migration_backfills_existing_articles(tmp_path):
    """A store created before 0002 gets its articles indexed when the migration runs."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    version, name, sql = available()[0]
    assert version == 1
    for statement in _statements(sql):
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'initial', '2025-01-01T00:00:00Z')")
    conn.execute("INSERT INTO feeds (id, name, url, outlet) VALUES (1, 'f', 'https://f.example/', 'F')")
    conn.execute("INSERT INTO stories (id, title, first_seen, updated, latest) VALUES "
                 "(1, 'Lighthouse restored', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', "
                 "'2025-01-01T00:00:00Z')")
    conn.execute("INSERT INTO articles (id, url, title, first_seen, outlet, feed_id, text, fp_scheme,"
                 " fp_signature, fp_payload, story_id) VALUES (1, 'https://f.example/a', "
                 "'Lighthouse restored', '2025-01-01T00:00:00Z', 'F', 1, "
                 "'Volunteers repainted the old lighthouse.', 't', x'', '', 1)")
    conn.commit()
    conn.close()
    with open_store(f"sqlite:///{path}") as s:
        assert [st.id for st, _ in s.search("lighthouse volunteers")] == [1]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_input_is_a_valid_query(tmp_path_factory, text):
    store = _shared_store(tmp_path_factory)
    store.search(text)  # never raises (an FTS5 syntax error would)
    store.count_search(text, outlet=text)


_STORE = {}


def _shared_store(factory):
    if "s" not in _STORE:
        s = open_store(f"sqlite:///{factory.mktemp('fuzz') / 'fuzz.db'}")
        s.sync_feeds([FeedConfig(name="g", url="https://g.example/", outlet="Harbor Gazette")])
        put(s, "https://g.example/1", "Harbor bridge", TEXTS["harbor"], "Harbor Gazette")
        _STORE["s"] = s
    return _STORE["s"]


@pytest.mark.parametrize("hostile", ['"', '""', "*", "NEAR(", "a:b", "^", "(", ")", "-x", "'", "\x00",
                                     "\ud800", "a" * 400, '" OR 1=1 --', "col:* AND"])
def test_hostile_queries_do_not_raise(store, stories, hostile):
    store.search(hostile)
    store.count_search(hostile)


# -- indexing once per write transaction (migration 0007) ---------------------------------------


def integrity_ok(path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")  # raises when not
        assert conn.execute("SELECT COUNT(*) FROM articles_fts_pending").fetchone()[0] == 0


def test_a_batch_is_indexed_in_one_statement_at_its_commit(store, tmp_path):
    """FTS5 writes an index segment per statement: a batch's articles go in with one."""
    statements: list[str] = []
    store._w.set_trace_callback(statements.append)
    with store.write_batch():
        for n, word in enumerate(["lighthouse", "ferry", "glacier"]):
            put(store, f"https://gazette.example/b{n}", f"The {word}", f"A {word} in the bay.",
                "Harbor Gazette", minutes=n)
    store._w.set_trace_callback(None)
    assert len([s for s in statements if s.startswith("INSERT INTO articles_fts ")]) == 1
    for word in ["lighthouse", "ferry", "glacier"]:
        assert store.count_search(word) == 1
    integrity_ok(tmp_path / "search.db")


def test_a_rolled_back_article_leaves_nothing_to_index(store, tmp_path):
    """A failed article in a batch rolls back to its savepoint, its note to index included; the
    next article takes the same id and is indexed with its own words."""
    feed_id = store.get_feed("gazette").id
    with store.write_batch():
        with pytest.raises(RuntimeError):
            store.add_article(new_article("https://gazette.example/x", "Walrus sighted", "A walrus.",
                                          "Harbor Gazette", feed_id), "gx", "l",
                              lambda aid: (_ for _ in ()).throw(RuntimeError("clusterer failed")))
        aid, _ = put(store, "https://gazette.example/y", "Heron nests", "Herons nest here.", "Harbor Gazette")
    assert store.count_search("walrus") == 0
    assert [s.id for s, _ in store.search("heron*")] == [aid]
    integrity_ok(tmp_path / "search.db")


def test_an_article_changed_or_deleted_before_its_commit(store, tmp_path):
    """Updated before the commit: indexed with its last values. Deleted before it: never indexed
    (an external-content index must not be told to delete what it never held)."""
    with store.write_batch():
        aid, _ = put(store, "https://gazette.example/u", "Old words", "Original text here.", "Harbor Gazette")
        gone, _ = put(store, "https://gazette.example/d", "Doomed piece", "Doomed text.", "Harbor Gazette")
        with store._tx() as c:
            c.execute("UPDATE articles SET title = 'Pelican census' WHERE id = ?", (aid,))
            c.execute("DELETE FROM entries WHERE article_id = ?", (gone,))
            c.execute("DELETE FROM articles WHERE id = ?", (gone,))
    assert [s.id for s, _ in store.search("pelican")] == [aid]
    assert store.count_search("old") == 0 and store.count_search("doomed") == 0
    integrity_ok(tmp_path / "search.db")


def test_rows_written_without_the_store_are_indexed_at_its_next_start(store, stories, tmp_path):
    path = tmp_path / "search.db"
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO stories (id, title, first_seen, updated, latest) VALUES "
                     "(50, 'Otters return', '2025-11-28T09:00:00Z', '2025-11-28T09:00:00Z', "
                     "'2025-11-28T09:00:00Z')")
        conn.execute("INSERT INTO articles (id, url, title, first_seen, outlet, feed_id, text, fp_scheme,"
                     " fp_signature, fp_payload, story_id) VALUES (50, 'https://gazette.example/o', "
                     "'Otters return', '2025-11-28T09:00:00Z', 'Harbor Gazette', 1, "
                     "'Otters were seen in the estuary.', 't', x'', '', 50)")
    assert store.count_search("otters") == 0  # noted, not indexed yet
    with open_store(f"sqlite:///{path}") as again:
        assert [s.id for s, _ in again.search("otters estuary")] == [50]
    integrity_ok(path)


def _store_at(path, last: int) -> None:
    """A store as the program left it after migration ``last`` (applied as store.migrate does)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    for version, name, sql in available():
        if version > last:
            break
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')", (version, name))
    conn.close()


def test_upgrade_from_0006_keeps_the_index_and_batches_from_then_on(tmp_path):
    """A store created at 0006 (its articles indexed by the per-row trigger) is upgraded in place:
    what it held stays searchable, updates and deletes of it stay consistent, new articles are
    indexed at commit."""
    path = tmp_path / "old.db"
    _store_at(path, 6)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 6
        # What the previous program wrote went straight into the index (its per-row trigger).
        conn.execute("INSERT INTO feeds (id, name, url, outlet) VALUES (1, 'gazette', "
                     "'https://gazette.example/feed', 'Harbor Gazette')")
        for aid, title, text in [(1, "Lighthouse restored", "Volunteers repainted the lighthouse."),
                                 (2, "Ferry delayed", "The morning ferry was late again.")]:
            conn.execute("INSERT INTO stories (id, title, first_seen, updated, latest) VALUES "
                         "(?, ?, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')",
                         (aid, title))
            conn.execute("INSERT INTO articles (id, url, title, first_seen, outlet, feed_id, text, fp_scheme,"
                         " fp_signature, fp_payload, story_id) VALUES (?, ?, ?, '2025-01-01T00:00:00Z', "
                         "'Harbor Gazette', 1, ?, 't', x'', '', ?)",
                         (aid, f"https://gazette.example/{aid}", title, text, aid))
        assert conn.execute("SELECT COUNT(*) FROM articles_fts WHERE articles_fts MATCH 'ferry'").fetchone()[0] == 1
    with open_store(f"sqlite:///{path}") as s:
        versions = [r[0] for r in s._r().execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert 7 in versions
        assert [st.id for st, _ in s.search("lighthouse volunteers")] == [1]
        with s._tx() as c:
            c.execute("UPDATE articles SET title = 'Ferry cancelled' WHERE id = 2")
            c.execute("DELETE FROM articles WHERE id = 1")
        assert s.count_search("delayed") == 0 and s.count_search("cancelled") == 1
        assert s.count_search("lighthouse") == 0
        with s.write_batch():
            aid, _ = put(s, "https://gazette.example/3", "Harbor seals counted", "Seals on the rocks.",
                         "Harbor Gazette")
        assert [st.id for st, _ in s.search("seals")] == [aid]
    integrity_ok(path)
