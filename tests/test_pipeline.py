"""refresh_feed end to end against real loopback servers and a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

import pytest

from aggregator.models import FeedConfig
from aggregator.pipeline import Services, poll_once, refresh_feed
from tests.servers import Reply, Server

WIRE = [
    "SPRINGFIELD, Ill. (AP) — State lawmakers approved a plan on Tuesday to rebuild the aging "
    "Cedar River lock and dam, ending a three-year dispute over who should pay for the repairs.",
    "The measure passed the Senate 41-15 after a late amendment that caps the state's share at "
    "$212 million and requires barge operators to pay a new fee of 40 cents per ton.",
    "\"This lock has been held together with duct tape and prayers,\" said Sen. Maria Lindqvist, "
    "who sponsored the bill. \"Today we stop praying.\"",
    "Engineers warned last spring that the lock's upper gate could fail within five years, "
    "stranding grain shipments bound for the Gulf of Mexico.",
    "Construction is expected to begin in 2028 and take four years, during which river traffic "
    "will be diverted through a temporary channel near the town of Millbrook.",
]
OTHER = [
    "The county library will stay open until midnight during exam weeks, the board decided on "
    "Monday, after students collected more than 2,000 signatures asking for longer hours.",
    "Librarians said the extra hours would cost about $85,000 a year, paid from a state grant "
    "for rural education that was renewed last month.",
]


def page(title: str, paras: list[str]) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in paras)
    return (f"<html><head><title>{escape(title)}</title></head><body><nav><a href='/'>Home</a>"
            f"</nav><article><h1>{escape(title)}</h1>{body}</article>"
            "<footer>Copyright</footer></body></html>").encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    out = ['<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>']
    for guid, link, title in items:
        out.append(f"<item><guid>{escape(guid)}</guid><link>{escape(link)}</link>"
                   f"<title>{escape(title)}</title><description>Summary of {escape(title)}"
                   "</description><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


RSS_TYPE = {"Content-Type": "application/rss+xml"}
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def srv():
    with Server() as s:
        yield s


def feeds_for(srv, *specs):
    return [FeedConfig(name=n, url=srv.url(p), outlet=o) for n, p, o in specs]


def test_same_article_in_two_feeds_is_one_article(srv, loopback_settings):
    srv.route("/a/1", Reply(body=page("Lock and dam plan approved", WIRE), headers=HTML_TYPE))
    srv.route("/news.xml", Reply(body=rss([("n1", srv.url("/a/1?utm_source=news"), "Lock plan")]),
                                 headers=RSS_TYPE))
    srv.route("/state.xml", Reply(body=rss([("s1", srv.url("/a/1?utm_source=state"), "Lock plan")]),
                                  headers=RSS_TYPE))
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("news", "/news.xml", "Gazette"),
                                       ("state", "/state.xml", "Gazette")))
        reports = poll_once(svc, svc.store.list_feeds(), workers=1)
        assert [r.ok for r in reports] == [True, True]
        assert sum(r.new_articles for r in reports) == 1
        assert srv.hits["/a/1?utm_source=news"] + srv.hits["/a/1?utm_source=state"] == 1
        assert [f.articles for f in svc.store.list_feeds()] == [1, 1]
        stories = svc.store.list_stories()
        assert len(stories) == 1 and len(stories[0].sources) == 1


@pytest.mark.parametrize(
    "reply, words",
    [
        (Reply(status=500, body=b"oops"), "500"),
        (Reply(status=403, body=b"no"), "403"),
        (Reply(status=200, body=b""), "parse"),
        (Reply(status=200, body=b"<html><body>Checking your browser...</body></html>",
               headers=HTML_TYPE), "parse"),
    ],
)
def test_a_broken_feed_is_recorded_and_others_keep_going(srv, loopback_settings, reply, words):
    srv.route("/bad.xml", reply)
    srv.route("/good.xml", Reply(body=rss([("g1", srv.url("/a/1"), "Lock plan")]), headers=RSS_TYPE))
    srv.route("/a/1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("bad", "/bad.xml", "Bad"), ("good", "/good.xml", "Good")))
        reports = {r.feed: r for r in poll_once(svc, svc.store.list_feeds(), workers=2)}
        assert reports["good"].ok and reports["good"].new_articles == 1
        assert not reports["bad"].ok and words in reports["bad"].error
        bad = svc.store.get_feed("bad")
        assert bad.error_count == 1 and words in bad.last_error
        assert bad.etag is None and bad.body_hash is None  # validators not advanced


def test_restart_sends_validators_and_fetches_no_page_twice(srv, loopback_settings):
    feed_body = rss([("w1", srv.url("/a/1"), "Lock plan"), ("o1", srv.url("/a/2"), "Library")])

    def feed(req):
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(status=304)
        return Reply(body=feed_body, headers={**RSS_TYPE, "ETag": '"v1"'})

    srv.route("/feed.xml", feed)
    srv.route("/a/1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
    srv.route("/a/2", Reply(body=page("Library hours", OTHER), headers=HTML_TYPE))
    for _ in range(2):  # the second Services is a restarted process
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds(feeds_for(srv, ("f", "/feed.xml", "Gazette")))
            (report,) = poll_once(svc, svc.store.list_feeds())
            assert report.ok
    assert srv.hits["/a/1"] == 1 and srv.hits["/a/2"] == 1
    conditional = [r for r in srv.requests if r.path == "/feed.xml"]
    assert conditional[1].headers.get("if-none-match") == '"v1"'


def test_unchanged_body_is_not_parsed_again(srv, loopback_settings, monkeypatch):
    srv.route("/feed.xml", Reply(body=rss([("w1", srv.url("/a/1"), "Lock plan")]), headers=RSS_TYPE))
    srv.route("/a/1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("f", "/feed.xml", "Gazette")))
        first = refresh_feed(svc, svc.store.get_feed("f"))
        assert first.new_articles == 1

        import aggregator.pipeline as pipeline

        def no_parse(*a, **k):
            raise AssertionError("an unchanged body was parsed")

        monkeypatch.setattr(pipeline, "parse_feed", no_parse)
        second = refresh_feed(svc, svc.store.get_feed("f"))
        assert second.ok and second.not_modified


def test_unfetchable_page_keeps_the_feed_summary(srv, loopback_settings):
    srv.route("/feed.xml", Reply(body=rss([("w1", srv.url("/gone"), "Lock plan")]), headers=RSS_TYPE))
    srv.route("/gone", Reply(status=404))
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("f", "/feed.xml", "Gazette")))
        report = refresh_feed(svc, svc.store.get_feed("f"))
        assert report.ok and report.new_articles == 1
        (story,) = svc.store.list_stories()
        (source,) = story.sources
        assert source.extraction == "summary" and source.text == "Summary of Lock plan"


def test_copy_after_restart_joins_the_story_from_before(srv, loopback_settings):
    """The clusterer is rebuilt from the store: a copy arriving after a restart finds its story."""
    srv.route("/a/1", Reply(body=page("Lock and dam plan approved", WIRE), headers=HTML_TYPE))
    srv.route("/b/1", Reply(body=page("Senate OKs Cedar River lock fix", WIRE[:-1]), headers=HTML_TYPE))
    srv.route("/a/2", Reply(body=page("Library hours", OTHER), headers=HTML_TYPE))
    srv.route("/a.xml", Reply(body=rss([("a1", srv.url("/a/1"), "Lock and dam plan approved"),
                                        ("a2", srv.url("/a/2"), "Library hours")]),
                              headers=RSS_TYPE))
    srv.route("/b.xml", Reply(body=rss([("b1", srv.url("/b/1"), "Senate OKs Cedar River lock fix")]),
                              headers=RSS_TYPE))
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("a", "/a.xml", "Wire")))
        poll_once(svc, svc.store.list_feeds())
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("a", "/a.xml", "Wire"), ("b", "/b.xml", "Paper")))
        report = refresh_feed(svc, svc.store.get_feed("b"))
        assert report.new_articles == 1
        stories = svc.store.list_stories()
        assert len(stories) == 2
        lock = next(s for s in stories if len(s.sources) == 2)
        assert [s.outlet for s in lock.sources] == ["Wire", "Paper"] or \
               sorted(s.outlet for s in lock.sources) == ["Paper", "Wire"]
        copy = next(s for s in lock.sources if s.outlet == "Paper")
        assert copy.copy_of is not None and copy.role in ("wire", "copy")
        assert datetime.now(UTC) >= lock.first_seen


def test_a_new_fingerprint_scheme_refingerprints_the_window(srv, loopback_settings, db_url):
    """An upgrade that changes the fingerprint scheme: stored articles are re-fingerprinted
    from their stored text at start-up, so a copy arriving afterwards still finds its story."""
    import sqlite3

    srv.route("/a/1", Reply(body=page("Lock and dam plan approved", WIRE), headers=HTML_TYPE))
    srv.route("/b/1", Reply(body=page("Senate OKs Cedar River lock fix", WIRE[:-1]), headers=HTML_TYPE))
    srv.route("/a.xml", Reply(body=rss([("a1", srv.url("/a/1"), "Lock and dam plan approved")]),
                              headers=RSS_TYPE))
    srv.route("/b.xml", Reply(body=rss([("b1", srv.url("/b/1"), "Senate OKs Cedar River lock fix")]),
                              headers=RSS_TYPE))
    with Services(loopback_settings) as svc:
        svc.store.sync_feeds(feeds_for(srv, ("a", "/a.xml", "Wire")))
        poll_once(svc, svc.store.list_feeds())
        current = svc.clusterer.params.scheme
    conn = sqlite3.connect(db_url[len("sqlite:///"):])
    with conn:  # what an older release would have stored
        conn.execute("UPDATE articles SET fp_scheme = 'mh0:old', fp_payload = '{}'")
    conn.close()
    with Services(loopback_settings) as svc:
        assert len(svc.clusterer) == 1 and svc.clusterer.stale_restores == 0
        assert [r.fp_scheme for r in svc.store.fingerprints()] == [current]
        svc.store.sync_feeds(feeds_for(srv, ("a", "/a.xml", "Wire"), ("b", "/b.xml", "Paper")))
        refresh_feed(svc, svc.store.get_feed("b"))
        (story,) = svc.store.list_stories()
        assert sorted(s.outlet for s in story.sources) == ["Paper", "Wire"]
