"""The SQLite store: migrations, transactions, feed state, stories."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import FeedConfig
from store import FeedOutcome, Membership, NewArticle, StoreError, open_store

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
