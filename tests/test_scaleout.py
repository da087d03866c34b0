"""Several daemons, one store: each with its own connections and its own in-memory clusterer.

Story assignment is serialised in the store (PostgreSQL: an advisory lock; SQLite: the single
writer) and each clusterer first replays what the others stored (``Services.catch_up``), so
the same event reported in two feeds polled by two daemons is one story.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from aggregator.models import FeedConfig
from aggregator.pipeline import Services, poll_once
from tests.servers import Reply, Server
from tests.test_pipeline import HTML_TYPE, OTHER, RSS_TYPE, WIRE, page, rss

EVENTS = [
    WIRE,
    OTHER + ["The board will review the hours again next spring, its chair said on Monday."],
    ["Firefighters contained a brush fire that burned 300 acres east of Millbrook on Sunday, "
     "forcing the evacuation of two campgrounds and closing Route 9 for six hours.",
     "No injuries were reported. The cause of the fire is under investigation, a spokesman for "
     "the county fire district said, though dry lightning had been forecast for the area.",
     "Crews from four departments worked through the night to protect a dozen cabins near the "
     "ridge, using a bulldozer line and two water-dropping helicopters."],
]


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def srv():
    with Server() as s:
        yield s


def _newsroom(srv, outlets: list[str]) -> list[FeedConfig]:
    """One feed per outlet; every outlet carries every event at its own URL (a copy of the text)."""
    feeds = []
    for o in outlets:
        items = []
        for n, paras in enumerate(EVENTS):
            path = f"/{o}/story-{n}"
            srv.route(path, Reply(body=page(f"{o} report {n}", paras), headers=HTML_TYPE))
            items.append((f"{o}-{n}", srv.url(path), paras[0][:60]))
        srv.route(f"/{o}.xml", Reply(body=rss(items), headers=RSS_TYPE))
        feeds.append(FeedConfig(name=o, url=srv.url(f"/{o}.xml"), outlet=o.title()))
    return feeds


def test_one_event_in_two_feeds_polled_by_two_daemons_is_one_story(srv, loopback_settings, shared_url):
    settings = replace(loopback_settings, db_url=shared_url)
    feeds = _newsroom(srv, ["gazette", "bugle"])
    with Services(settings) as one, Services(settings) as two:
        one.store.sync_feeds(feeds)
        # daemon one polls the gazette, then daemon two (which started before any article
        # existed) polls the bugle: its clusterer must learn the gazette's articles first
        (r1,) = poll_once(one, [one.store.get_feed("gazette")], workers=1)
        (r2,) = poll_once(two, [two.store.get_feed("bugle")], workers=1)
        assert r1.new_articles == r2.new_articles == len(EVENTS)
        assert r1.stories == r2.stories
        assert one.store.count_stories() == len(EVENTS)
        for story in one.store.list_stories():
            assert story.outlets == ["Gazette", "Bugle"]


def test_concurrent_daemons_make_one_story_per_event(srv, loopback_settings, shared_url):
    settings = replace(loopback_settings, db_url=shared_url)
    outlets = ["gazette", "bugle", "herald", "courier", "ledger", "sentinel"]
    feeds = _newsroom(srv, outlets)
    daemons = [Services(settings) for _ in range(3)]
    try:
        daemons[0].store.sync_feeds(feeds)
        errors: list[BaseException] = []

        def run(svc, names):
            try:
                poll_once(svc, [svc.store.get_feed(n) for n in names], workers=2)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(svc, outlets[i::3])) for i, svc in enumerate(daemons)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        store = daemons[0].store
        assert store.count_stories() == len(EVENTS)
        arts = list(store.fingerprints())
        assert len(arts) == len(EVENTS) * len(outlets)
        for story in store.list_stories():
            assert sorted(story.outlets) == sorted(o.title() for o in outlets)
    finally:
        for svc in daemons:
            svc.close()
