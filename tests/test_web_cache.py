"""The page cache over the real store: a story page is kept per (story, version), so it changes
when a source joins, when an operator moves an article, after a merge or split, and stays kept
(no render, counted by the cache, not timed) through writes that do not touch it. Listings
follow any story change. Operators' and readers' pages never mix. The warmer renders ahead.

The version stamp itself (store triggers, migrations 0006 / pg 0003) is checked on both backends.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from starlette.responses import Response
from test_web import HOSTILE, SEED
from test_web_reading import BIG, NOW, OLD, SMALL_NEW, TOKEN, Client, csrf_of, sign_in, story_like
from test_web_store import add_story, article

from aggregator.models import FeedConfig
from aggregator.web import CSP, create_app
from aggregator.web.cache import PageCache
from store import FeedOutcome, Membership, open_store

STORIES = (("seed", SEED), ("hostile", HOSTILE), ("big", BIG), ("small", SMALL_NEW), ("old", OLD))


def make_store(url: str):
    store = open_store(url)
    outlets = sorted({s.outlet for _, st in STORIES for s in st.sources} | {"Valley Courier"})
    store.sync_feeds(FeedConfig(name=f"feed-{i}", url=f"https://feeds.example/{i}.xml", outlet=o,
                                tags=("local",) if o == "Harbor Gazette" else ())
                     for i, o in enumerate(outlets))
    feeds = {f.outlet: f.id for f in store.list_feeds()}
    ids = {name: add_story(store, feeds, st) for name, st in STORIES}
    return store, ids, feeds


@pytest.fixture
def site(tmp_path):
    store, ids, feeds = make_store(f"sqlite:///{tmp_path / 'cache.db'}")
    yield store, ids, feeds
    store.close()


def app_of(store, **kw):
    return create_app(store, clock=lambda: NOW, **kw)


def renders(app) -> int:
    return app.state.page_cache.renders


def join(store, feeds, story_id: int, outlet: str, url: str, minutes: int = 5) -> int:
    """A source from ``outlet`` joins ``story_id`` (as the daemon's clusterer would put it)."""
    src = replace(SMALL_NEW.sources[0], outlet=outlet, url=url, title=f"Report from {outlet}",
                  first_seen=NOW - timedelta(minutes=minutes), published=NOW - timedelta(minutes=minutes + 5))
    aid, _, _ = store.add_article(article(feeds[outlet], src), f"g-{url}", url,
                                  lambda aid: Membership(story_id=story_id, copy_of=None, role="report",
                                                         reuse=0.0, score=1.0))
    return aid


def test_a_story_page_is_rendered_once_per_version(site):
    store, ids, feeds = site
    app = app_of(store)
    c = Client(app)
    path = f"/story/{ids['small']}"
    first = c.get(path)
    assert renders(app) == 1
    assert c.get(path).text == first.text and c.get(f"{path}?utm=x").text == first.text
    assert renders(app) == 1  # kept; a query string does not make a new entry
    assert "Valley Courier" not in first.text
    join(store, feeds, ids["small"], "Valley Courier", "https://vc.example/fees")
    after = c.get(path)
    assert "Valley Courier" in after.text and "Report from Valley Courier" in after.text
    assert renders(app) == 2


def test_unrelated_writes_keep_a_story_page(site):
    store, ids, feeds = site
    app = app_of(store)
    c = Client(app)
    path = f"/story/{ids['small']}"
    page = c.get(path).text
    c.get("/")
    assert renders(app) == 2
    # The daemon's other writes: a source joins another story, a new story, a feed poll.
    join(store, feeds, ids["big"], "Valley Courier", "https://vc.example/dam")
    add_story(store, feeds, story_like(70, ["Metro Daily"], 2, "Library hours extended",
                                       "The central library will stay open until nine."))
    store.record_poll(feeds["Metro Daily"], FeedOutcome(fetched_at=NOW, status=304, error=None,
                                                        next_check_at=NOW, keep_validators=True))
    assert c.get(path).text == page
    assert renders(app) == 2  # the story page was not rendered again
    assert "Library hours extended" in c.get("/").text  # the front page follows every story change
    assert renders(app) == 3
    # A feed poll alone changes nothing a listing shows: the front page stays kept too.
    store.record_poll(feeds["Metro Daily"], FeedOutcome(fetched_at=NOW, status=304, error=None,
                                                        next_check_at=NOW, keep_validators=True))
    c.get("/")
    c.get(path)
    assert renders(app) == 3


def test_an_operator_move_changes_both_story_pages(site):
    store, ids, feeds = site
    app = app_of(store)
    c = Client(app)
    big, small = f"/story/{ids['big']}", f"/story/{ids['small']}"
    moved = next(s for s in store.get_story(ids["big"]).sources if s.outlet == "Valley Courier")
    assert "Valley Courier" in c.get(big).text and "Valley Courier" not in c.get(small).text
    store.move_article(moved.article_id, ids["small"])
    assert f'id="source-{moved.article_id}"' not in c.get(big).text
    assert f'id="source-{moved.article_id}"' in c.get(small).text
    # Moved back: both pages change again (versions only grow, so no old page comes back).
    store.move_article(moved.article_id, ids["big"])
    assert f'id="source-{moved.article_id}"' in c.get(big).text
    assert f'id="source-{moved.article_id}"' not in c.get(small).text


def test_no_stale_page_after_a_merge_or_a_split(site):
    store, ids, feeds = site
    app = app_of(store)
    c = Client(app)
    big, small = ids["big"], ids["small"]
    assert c.get(f"/story/{small}").status_code == 200 and c.get(f"/story/{big}").status_code == 200
    store.merge_stories(small, big)
    r = c.get(f"/story/{small}")
    assert r.status_code == 301 and r.headers["location"] == f"/story/{big}"
    merged = c.get(f"/story/{big}").text
    assert "Parking fees rise downtown" in merged  # the merged story's source is on its page
    leaving = [s.article_id for s in store.get_story(big).sources if s.title.startswith("Parking fees")]
    new_id = store.split_story(big, leaving)
    assert "Parking fees rise downtown" not in c.get(f"/story/{big}").text
    assert "Parking fees rise downtown" in c.get(f"/story/{new_id}").text


def test_operator_and_reader_pages_never_mix(site):
    store, ids, _ = site
    app = app_of(store, operator_token=TOKEN)
    reader, operator = Client(app), Client(app)
    path = f"/story/{ids['seed']}"
    assert "operator-tools" not in reader.get(path).text  # kept for readers
    sign_in(operator)
    page = operator.get(path)
    assert "operator-tools" in page.text and csrf_of(page)
    assert "operator-tools" not in reader.get(path).text  # the operator's page was not kept
    assert "operator-tools" in operator.get(path).text  # nor is the reader's served to operators


def test_listings_follow_the_minute_and_the_host(site):
    store, ids, _ = site
    now = [NOW]
    app = create_app(store, clock=lambda: now[0])
    c = Client(app)
    c.get("/")
    c.get("/")
    c.get("/?utm_source=x")  # a parameter no page reads makes no new entry
    assert renders(app) == 1
    now[0] = NOW + timedelta(minutes=1)  # ages ("4 h ago") and the ranking move with the clock
    c.get("/")
    assert renders(app) == 2
    feed = c.get("/feed.atom", headers={"host": "news.example"}).text
    assert "http://news.example/story/" in feed
    assert "http://testserver/story/" in c.get("/feed.atom").text  # absolute links: one entry per host


def test_the_warmer_renders_ahead_and_follows_changes(site):
    store, ids, feeds = site
    app = app_of(store)
    warmer, cache = app.state.warmer, app.state.page_cache

    async def first_pass():
        await warmer.first_pass()

    asyncio.run(first_pass())
    assert cache.stats()["pages"] == len(ids) and not warmer.warming
    c = Client(app)
    for sid in ids.values():
        assert c.get(f"/story/{sid}").status_code == 200
    assert renders(app) == 0  # every reader's first open was already rendered
    join(store, feeds, ids["old"], "Valley Courier", "https://vc.example/ferry")
    asyncio.run(warmer.follow())
    assert "Report from Valley Courier" in c.get(f"/story/{ids['old']}").text
    assert renders(app) == 0 and warmer.warmed == len(ids) + 1


def test_the_warmer_runs_while_served(site):
    """Under the ASGI lifespan (as uvicorn runs the app) the warmer starts and stops with it."""
    store, ids, _ = site
    app = app_of(store)

    async def serve():
        messages = asyncio.Queue()
        await messages.put({"type": "lifespan.startup"})
        sent = []

        async def send(m):
            sent.append(m["type"])

        task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                       messages.get, send))
        while app.state.warmer.warming:
            await asyncio.sleep(0.01)
        await messages.put({"type": "lifespan.shutdown"})
        await task
        return sent

    assert asyncio.run(serve()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.state.page_cache.stats()["pages"] == len(ids)


def test_the_cache_is_bounded_by_bytes():
    cache = PageCache(object(), max_bytes=3 * (1000 + 600))
    for n in range(5):
        cache.put(n, ("v", None), (1, None), Response(b"x" * 1000))
    assert list(cache.items) == [2, 3, 4] and cache.bytes <= cache.max_bytes
    cache.put("huge", ("v", None), (1, None), Response(b"x" * 10_000))
    assert "huge" not in cache.items


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_story_versions_move_only_with_what_a_reader_sees(kind, request, tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    store, ids, feeds = make_store(url)
    try:
        stamps = {sid: store.story_stamp(sid) for sid in ids.values()}
        newest = store.stories_version()

        def moved() -> set[str]:
            return {name for name, sid in ids.items() if store.story_stamp(sid) != stamps[sid]}

        store.record_poll(feeds["Metro Daily"], FeedOutcome(fetched_at=NOW, status=200, error=None,
                                                            next_check_at=NOW, etag="e1"))
        aid = store.get_story(ids["seed"]).sources[0].article_id
        store.update_fingerprint(aid, "other-scheme", b"sig", "payload")
        assert moved() == set() and store.stories_version() == newest
        join(store, feeds, ids["small"], "Valley Courier", "https://vc.example/x")
        assert moved() == {"small"} and store.stories_version() > newest
        assert [sid for sid, _ in store.changed_stories(newest)] == [ids["small"]]
        stamps = {sid: store.story_stamp(sid) for sid in ids.values()}
        # A feed's tags change: every story it carried (its tag links) changes.
        store.sync_feeds(FeedConfig(name=f"feed-{i}", url=f"https://feeds.example/{i}.xml", outlet=o,
                                    tags=("local", "coast") if o == "Harbor Gazette" else ())
                         for i, o in enumerate(sorted(feeds)))
        assert moved() == {"big", "old"}
        assert store.recent_story_ids(1) == [ids["small"]]  # the newest coverage first
    finally:
        store.close()


def test_the_store_version_is_read_once_per_event_loop_turn():
    """Requests handled in one turn share one ``data_version`` read; the next turn reads again."""

    class Counting:
        calls = 0

        def data_version(self):
            self.calls += 1
            return self.calls

    store = Counting()
    cache = PageCache(store, max_bytes=1000)

    async def turns():
        first = [cache.gate(), cache.gate()]
        await asyncio.sleep(0)  # the next turn of the loop
        return first, cache.gate()

    (a, b), c = asyncio.run(turns())
    assert a == b == (1, None) and c == (2, None) and store.calls == 2
    assert cache.gate() == (3, None)  # outside a loop: every call reads


def test_kept_story_pages_carry_the_security_headers(site):
    """The short way for kept story pages (StoryHits) still answers with every security header."""
    store, ids, _ = site
    app = app_of(store)
    path = f"/story/{ids['hostile']}"

    async def twice():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get(path), await c.get(path)  # one loop turn apart, same data_version

    first, second = asyncio.run(twice())
    assert second.text == first.text and renders(app) == 1
    assert app.state.page_cache.hits >= 1
    for r in (first, second):
        assert r.headers["content-security-policy"] == CSP and r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-type"].startswith("text/html")
