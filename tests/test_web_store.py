"""The reader web UI over the real SQLite store (written through the store's own write API)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import lxml.html
import pytest
from test_web import HOSTILE, SEED, WebClient, assert_no_active_content, css

from aggregator.models import FeedConfig
from aggregator.web import CSP, create_app
from store import Membership, NewArticle, open_store

NOW = datetime(2025, 11, 28, 16, 0, tzinfo=UTC)


def article(feed_id: int, s, *, url: str | None = None) -> NewArticle:
    return NewArticle(
        url=url or s.url,
        title=s.title,
        author=s.author,
        published=s.published,
        first_seen=s.first_seen,
        outlet=s.outlet,
        feed_id=feed_id,
        summary="",
        text=s.text or f"{s.title}. Some words of text so that the article is not empty at all.",
        language="en",
        site_name=s.outlet,
        extraction="page",
        extraction_note="",
        fp_scheme="test",
        fp_signature=b"",
        fp_payload="",
    )


def add_story(store, feeds: dict[str, int], story) -> int:
    """Store every source of ``story`` as one story; returns the story id."""
    story_id: int | None = None
    for i, s in enumerate(story.sources):
        def assign(aid: int, s=s, sid=story_id) -> Membership:
            return Membership(
                story_id=aid if sid is None else sid,
                copy_of=None,
                role=s.role,
                reuse=s.reuse,
                score=s.score,
                evidence=dict(s.evidence),
            )

        # URLs are unique in the store; hostile non-http URLs still must be unique.
        url = s.url if s.url.strip() else f"urn:empty:{story.id}:{i}"
        _aid, m, created = store.add_article(
            article(feeds[s.outlet], s, url=url), f"guid-{story.id}-{i}", url, assign
        )
        assert created
        if story_id is None:
            story_id = m.story_id
    assert story_id is not None
    return story_id


@pytest.fixture
def db(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'agg.db'}")
    outlets = sorted({s.outlet for st in (SEED, HOSTILE) for s in st.sources})
    store.sync_feeds(
        FeedConfig(name=f"feed-{i}", url=f"https://feeds.example/{i}.xml", outlet=o)
        for i, o in enumerate(outlets)
    )
    feeds = {f.outlet: f.id for f in store.list_feeds()}
    seed_id = add_story(store, feeds, SEED)
    hostile_id = add_story(store, feeds, HOSTILE)
    yield store, seed_id, hostile_id, tmp_path / "agg.db"
    store.close()


def test_real_store_front_and_story_pages(db):
    store, seed_id, hostile_id, _ = db
    c = WebClient(create_app(store, clock=lambda: NOW))
    front = c.get("/")
    assert front.status_code == 200
    doc = lxml.html.document_fromstring(front.text)
    hrefs = [a.get("href") for a in css(doc, "h2.story-title a")]
    assert sorted(hrefs) == sorted([f"/story/{seed_id}", f"/story/{hostile_id}"])
    assert_no_active_content(front.text)

    r = c.get(f"/story/{seed_id}")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP
    doc = lxml.html.document_fromstring(r.text)
    items = css(doc, "li.source")
    assert len(items) == 4
    assert [css(i, "h3 a")[0].get("href") for i in items] == [s.url for s in SEED.sources]
    assert css(doc, ".sources-line")[0].text_content() == (
        "Sources: The Associated Press, Chicago Tribune, New York Daily News, The Washington Times"
    )
    assert "4 outlets · 2 independent reports" in doc.text_content()

    r = c.get(f"/story/{hostile_id}")
    assert r.status_code == 200
    assert_no_active_content(r.text)

    feed = c.get("/feed.atom")
    assert feed.status_code == 200


def test_real_store_merged_story_redirects(db):
    store, seed_id, hostile_id, path = db
    # The store has no merge operation yet: mark the merge the way its schema records it.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE stories SET merged_into = ? WHERE id = ?", (seed_id, hostile_id))
    c = WebClient(create_app(store, clock=lambda: NOW))
    r = c.get(f"/story/{hostile_id}", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"/story/{seed_id}"
    assert c.get("/story/999999").status_code == 404
    assert c.get("/").status_code == 200


def test_real_store_timestamps_render(db):
    store, seed_id, _, _ = db
    c = WebClient(create_app(store, clock=lambda: NOW))
    doc = lxml.html.document_fromstring(c.get(f"/story/{seed_id}").text)
    times = [t.get("datetime") for t in css(doc, "li.source time")]
    assert times == [
        (s.published).astimezone(UTC).isoformat().replace("+00:00", "Z") for s in SEED.sources
    ]
    assert all(t.endswith("Z") for t in times)
    assert SEED.sources[0].published < SEED.sources[-1].published - timedelta(minutes=1)
