"""The SQLite store: migrations, transactions, feed state, stories."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis.strategies import datetimes as st_datetimes
from hypothesis.strategies import timezones as st_timezones

from aggregator.models import FeedConfig
from store import FeedOutcome, Membership, NewArticle, StoreError, open_store
from store.timefmt import to_db

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def article(url: str, feed_id: int, title: str = "A title", outlet: str = "Gazette") -> NewArticle:
    return NewArticle(
        url=url, title=title, author="", published=T0, first_seen=T0, outlet=outlet,
        feed_id=feed_id, summary="s", text="Some text.", language="en", site_name="",
        extraction="page", extraction_note="", fp_scheme="test", fp_signature=b"\x00" * 8,
        fp_payload="{}",
    )


@pytest.fixture
def st(db_url):
    s = open_store(db_url)
    s.sync_feeds([FeedConfig("a", "http://a.example/", "A"), FeedConfig("b", "http://b.example/", "B")])
    yield s
    s.close()


def test_migrations_are_recorded_and_reopening_is_idempotent(db_url, st):
    path = db_url[len("sqlite:///"):]
    rows = sqlite3.connect(path).execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows and rows[0] == (1, "initial")
    again = open_store(db_url)
    assert [f.name for f in again.list_feeds()] == ["a", "b"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unusable_store_is_a_store_error(tmp_path):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{bad}")
    with pytest.raises(StoreError):
        open_store("mysql://nope")


def test_failed_assignment_rolls_back_the_whole_article(st):
    feed = st.get_feed("a")

    def boom(aid):
        raise RuntimeError("clusterer failed")

    with pytest.raises(RuntimeError):
        st.add_article(article("http://a.example/1", feed.id), "g1", "http://a.example/1", boom)
    assert st.find_article(["http://a.example/1"]) is None
    assert st.known_guids(feed.id, ["g1"]) == set()


def test_article_entry_and_story_in_one_write(st):
    a, b = st.get_feed("a"), st.get_feed("b")
    aid, m, created = st.add_article(article("http://a.example/1", a.id), "g1", "l",
                                     lambda i: Membership(i, None, "report", 0.0, 1.0))
    assert created and m.story_id == aid
    bid, m2, created2 = st.add_article(article("http://b.example/9", b.id, outlet="B"), "g9", "l",
                                       lambda i: Membership(aid, aid, "wire", 0.97, 0.97))
    assert created2
    # the same URL again (another writer got there first): the entry is added, nothing else
    cid, m3, created3 = st.add_article(article("http://a.example/1", b.id), "x", "l",
                                       lambda i: pytest.fail("must not assign a known article"))
    assert (cid, created3, m3.story_id) == (aid, False, aid)
    story = st.get_story(aid)
    assert [s.outlet for s in story.sources] == ["Gazette", "B"]
    assert story.sources[1].role == "wire" and story.sources[1].copy_of == aid
    assert st.count_stories() == 1
    assert [r.article_id for r in st.fingerprints()] == [aid, bid]


def test_poll_outcomes_and_auto_disable(st):
    feed = st.get_feed("a")
    st.record_poll(feed.id, FeedOutcome(fetched_at=T0, status=200, error=None, etag='"x"',
                                        body_hash="h", next_check_at=T0 + timedelta(minutes=15)))
    f = st.get_feed("a")
    assert (f.etag, f.body_hash, f.error_count) == ('"x"', "h", 0)
    for n in range(3):
        st.record_poll(feed.id, FeedOutcome(fetched_at=T0, status=503, error=f"http: 503 #{n}"),
                       error_limit=3)
    f = st.get_feed("a")
    assert f.error_count == 3 and f.etag == '"x"'  # failures keep the validators
    assert f.disabled_reason and "http: 503 #2" in f.disabled_reason and not f.active
    assert st.due_feeds(T0 + timedelta(days=1)) == [st.get_feed("b")] or \
           [x.name for x in st.due_feeds(T0 + timedelta(days=1))] == ["b"]
    assert st.enable_feed("a") and st.get_feed("a").active
    assert not st.enable_feed("nope")


def test_removed_feed_keeps_its_articles(st):
    feed = st.get_feed("b")
    st.add_article(article("http://b.example/1", feed.id), "g", "l",
                   lambda i: Membership(i, None, "report", 0.0, 1.0))
    st.sync_feeds([FeedConfig("a", "http://a.example/", "A")])
    b = st.get_feed("b")
    assert not b.in_config and b.articles == 1
    assert st.count_stories() == 1


def test_due_feeds_respect_next_check(st):
    a = st.get_feed("a")
    st.record_poll(a.id, FeedOutcome(fetched_at=T0, status=200, error=None,
                                     next_check_at=T0 + timedelta(minutes=15)))
    assert [f.name for f in st.due_feeds(T0)] == ["b"]
    assert [f.name for f in st.due_feeds(T0 + timedelta(minutes=15))] == ["b", "a"]


@settings(max_examples=300, deadline=None)
@given(st_datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st_timezones()))
def test_times_are_written_as_strftime_writes_them(t):
    """to_db formats by hand (strftime cost ≈ 10 µs, three times per article): the same text,
    whatever the zone, year or microseconds."""
    assert to_db(t) == t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def versions(path) -> dict[int, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT id, version FROM stories"))


def newest_alone(vs: dict[int, int], sid: int) -> bool:
    """What a stamp guarantees (migration 0006): at least 1, above every other story's."""
    return vs[sid] >= 1 and all(v < vs[sid] for k, v in vs.items() if k != sid)


def test_the_store_stamps_its_own_story_writes_once(db_url, st):
    """A new story and a source joining one are stamped by the store's own statement (migration
    0007): the stamp is what a trigger's would be, and no trigger writes the row again for it.
    (The new article's and its entry's triggers from 0006 still stamp the story, once each.)"""
    path = db_url[len("sqlite:///"):]
    a, b = st.get_feed("a"), st.get_feed("b")
    st._w.execute("CREATE TEMP TABLE story_writes (id INTEGER)")
    st._w.execute("CREATE TEMP TRIGGER count_story_writes AFTER UPDATE ON main.stories BEGIN "
                  "INSERT INTO story_writes VALUES (new.id); END")

    def writes(sid: int) -> int:
        n = st._w.execute("SELECT COUNT(*) FROM story_writes WHERE id = ?", (sid,)).fetchone()[0]
        st._w.execute("DELETE FROM story_writes")
        return n

    first, _, _ = st.add_article(article("http://a.example/1", a.id), "g1", "l",
                                 lambda i: Membership(i, None, "report", 0.0, 1.0))
    assert newest_alone(versions(path), first)
    assert writes(first) == 2  # inserted stamped; then the article's and the entry's stamps
    other, _, _ = st.add_article(article("http://a.example/2", a.id, title="Other"), "g2", "l",
                                 lambda i: Membership(i, None, "report", 0.0, 1.0))
    before = versions(path)
    writes(first)
    st.add_article(article("http://b.example/3", b.id, outlet="B"), "g3", "l",
                   lambda i: Membership(first, None, "report", 0.1, 0.5))
    after = versions(path)
    assert newest_alone(after, first) and after[first] > before[first] and after[other] == before[other]
    assert writes(first) == 3  # the article's and the entry's stamps, then the store's own update


def test_other_writers_are_still_stamped_by_the_triggers(db_url, st):
    """Writes that do not stamp a story themselves (another program, a copy, an operator's SQL) get
    a stamp from the triggers, as before 0007; so does a write that sets a version no stamp would
    give (not above every other story's, or not above its own)."""
    path = db_url[len("sqlite:///"):]
    a = st.get_feed("a")
    ids = [st.add_article(article(f"http://a.example/{n}", a.id), f"g{n}", "l",
                          lambda i: Membership(i, None, "report", 0.0, 1.0))[0] for n in range(3)]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:  # each statement commits
        conn.execute("UPDATE stories SET title = 'Edited' WHERE id = ?", (ids[0],))
        assert newest_alone(versions(path), ids[0])
        conn.execute("UPDATE stories SET title = 'Edited again', version = 1 WHERE id = ?", (ids[1],))
        assert newest_alone(versions(path), ids[1])
        top = max(versions(path).values())
        conn.execute("UPDATE stories SET title = 'Third', version = ? WHERE id = ?", (top, ids[2]))
        assert newest_alone(versions(path), ids[2])
        conn.execute("INSERT INTO stories (id, title, first_seen, updated, latest) VALUES "
                     "(900, 'Raw', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
        assert newest_alone(versions(path), 900)
        conn.execute("DELETE FROM stories WHERE id = 900")
        conn.execute("UPDATE articles SET story_id = NULL")
        conn.execute("DELETE FROM stories")
        # The first story of an empty table: a stamp is at least 1 (MAX(version) must move).
        conn.execute("INSERT INTO stories (id, title, first_seen, updated, latest) VALUES "
                     "(901, 'First', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
        assert newest_alone(versions(path), 901)
