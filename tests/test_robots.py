"""robots.txt is obeyed for article pages (cached, crawl-delay as per-host spacing); feeds and
the unconditional daily fetch; the publishing rate is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.fetch import Fetcher
from aggregator.models import FeedConfig
from aggregator.pipeline import Services, refresh_feed
from aggregator.politeness import HostLimiter
from aggregator.robots import Robots
from tests.servers import Reply, Server
from tests.test_pipeline import HTML_TYPE, RSS_TYPE, WIRE, page, rss

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ROBOTS = "User-agent: *\nDisallow: /private/\nCrawl-delay: 3\n"


def test_disallowed_pages_are_not_fetched_and_robots_is_fetched_once(loopback_settings):
    with Server() as srv:
        srv.route("/robots.txt", Reply(body=ROBOTS, headers={"Content-Type": "text/plain"}))
        srv.route("/feed", Reply(body=rss([("1", srv.url("/private/1"), "Lock plan"),
                                           ("2", srv.url("/news/2"), "Library hours")]),
                                 headers=RSS_TYPE))
        srv.route("/private/1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
        srv.route("/news/2", Reply(body=page("Library hours", WIRE[2:]), headers=HTML_TYPE))
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds([FeedConfig(name="f", url=srv.url("/feed"), outlet="F")])
            report = refresh_feed(svc, svc.store.get_feed("f"), now=NOW)
            assert report.ok and report.new_articles == 2
            assert srv.hits["/private/1"] == 0 and srv.hits["/news/2"] == 1
            assert srv.hits["/robots.txt"] == 1  # cached for the second page
            assert svc.fetcher._limiter._spacing["127.0.0.1"] == 3.0  # crawl-delay honoured
            (s1,) = [s for st in svc.store.list_stories(limit=10) for s in st.sources
                     if s.url.endswith("/private/1")]
            assert s1.extraction == "summary"


@pytest.mark.parametrize("reply, allowed", [
    (Reply(status=404), True),  # unavailable: allow all (RFC 9309 §2.3.1.3)
    (Reply(status=503), False),  # unreachable: disallow all (§2.3.1.4)
    (Reply(body="User-agent: aggregator\nDisallow: /\n"), False),  # our product token
    (Reply(body="User-agent: otherbot\nDisallow: /\n"), True),
])
def test_robots_answers(loopback_settings, reply, allowed):
    with Server() as srv, Fetcher(loopback_settings) as fetcher:
        srv.route("/robots.txt", reply)
        clock = [0.0]
        robots = Robots(fetcher, loopback_settings.agent, ttl=100, clock=lambda: clock[0],
                        limiter=HostLimiter(1, 0))
        assert robots.allowed(srv.url("/a/page")) is allowed
        assert robots.allowed(srv.url("/b/page")) is allowed
        assert srv.hits["/robots.txt"] == 1
        clock[0] = 1000.0  # expired: asked again
        robots.allowed(srv.url("/a/page"))
        assert srv.hits["/robots.txt"] == 2


def test_stale_validators_are_bypassed_once_a_day_and_the_rate_is_kept(loopback_settings):
    hourly = "".join(
        f"<item><guid>{i}</guid><title>Item {i}</title><pubDate>"
        f"{(NOW - timedelta(hours=i)).strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate></item>"
        for i in range(1, 25))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{hourly}</channel></rss>'

    def answer(req):
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(status=304, headers={"ETag": '"v1"'})  # a server stuck on one ETag
        return Reply(body=body, headers={**RSS_TYPE, "ETag": '"v1"'})

    with Server() as srv:
        srv.route("/feed", answer)
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds([FeedConfig(name="f", url=srv.url("/feed"), outlet="F")])
            for hours in (0, 1, 25):
                refresh_feed(svc, svc.store.get_feed("f"), now=NOW + timedelta(hours=hours))
            sent = [r.headers.get("if-none-match") for r in srv.requests if r.path == "/feed"]
            assert sent == [None, '"v1"', None]  # first, conditional, then plain after a day
            feed = svc.store.get_feed("f")
    assert feed.pub_rate == 24.0
    assert feed.unconditional_at == NOW + timedelta(hours=25)
    # 24 items a day → every 30 minutes (the adaptive schedule), from the last poll
    assert feed.next_check_at == NOW + timedelta(hours=25, minutes=30)


ROBOTS_FILES = [
    "",
    "User-agent: *\nDisallow:\n",
    "User-agent: *\nDisallow: /private/\n",
    "User-agent: otherbot\nDisallow: /\n",
    "User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /tmp/\n",
    "User-agent: aggregator\nAllow: /\n\nUser-agent: *\nDisallow: /\n",
    "User-agent: aggregator\nDisallow: /a/\nAllow: /a/public/\n",
    "User-agent: *\nAllow: /\nDisallow: /search\n",
    "User-agent: aggregator\nDisallow:\n\nUser-agent: *\nDisallow: /\n",
    "Disallow: /orphan/\n",
]
PATHS = ["/", "/a/page", "/a/public/x", "/private/1", "/tmp/x", "/search?q=1", "/orphan/1",
         "/news/%7Euser/story", "/news/a%2Fb"]


@pytest.mark.parametrize("text", ROBOTS_FILES)
def test_files_without_rules_for_us_allow_every_page_as_robotparser_would(text):
    """``restricts`` lets ``Robots`` skip ``can_fetch`` for files with no Disallow rule for our
    agent; it must never skip one that would refuse a page (it may keep one that refuses none:
    "Allow: /" before a Disallow wins in robotparser's first-match reading)."""
    from aggregator.robots import parse_robots, restricts

    rp = parse_robots(text)
    answers = {p: rp.can_fetch("aggregator", "http://example.test" + p) for p in PATHS}
    if not all(answers.values()):
        assert restricts(rp, "aggregator"), answers


@pytest.mark.parametrize("text", [ROBOTS_FILES[i] for i in (0, 1, 3, 8)])
def test_the_common_files_need_no_per_page_check(text):
    from aggregator.robots import parse_robots, restricts

    assert not restricts(parse_robots(text), "aggregator")
