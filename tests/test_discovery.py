"""Autodiscovery: pure link finding, and the pipeline remembering the feed a homepage points to."""

from __future__ import annotations

import pytest

from aggregator.discovery import candidates, feed_links, looks_like_html
from aggregator.models import FeedConfig
from aggregator.pipeline import Services, refresh_feed
from tests.servers import Reply, Server
from tests.test_pipeline import HTML_TYPE, RSS_TYPE, rss

PAGE = """<!doctype html><html><head><base href="/sub/">
<link rel="stylesheet" href="s.css">
<link rel="alternate" type="application/rss+xml" title="All" href="all.xml">
<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="https://x.example/atom">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
<link rel="alternate" type="text/html" href="/fr/">
</head><body></body></html>"""


def test_feed_links_in_page_order_resolved_against_base():
    assert feed_links(PAGE, "https://x.example/home") == [
        "https://x.example/sub/all.xml", "https://x.example/atom"]


def test_candidates_fall_back_to_common_paths():
    got = candidates("<html></html>", "https://x.example/")
    assert got[:2] == ["https://x.example/feed", "https://x.example/rss"]


@pytest.mark.parametrize("headers, body, html", [
    ({"content-type": "text/html; charset=utf-8"}, b"", True),
    ({"content-type": "application/rss+xml"}, b"<rss/>", False),
    ({"content-type": "text/plain"}, b"\xef\xbb\xbf  <!DOCTYPE html><html>", True),
    ({}, b"<?xml version='1.0'?><feed/>", False),
])
def test_looks_like_html(headers, body, html):
    assert looks_like_html(headers, body) is html


@pytest.mark.parametrize("page_html, feed_path", [
    ('<html><head><link rel="alternate" type="application/rss+xml" href="/news.rss"></head></html>',
     "/news.rss"),
    ("<html><body>no links</body></html>", "/rss.xml"),  # a common path
])
def test_a_homepage_url_is_followed_to_its_feed_and_remembered(loopback_settings, page_html,
                                                               feed_path):
    with Server() as srv:
        srv.route("/", Reply(body=page_html, headers=HTML_TYPE))
        srv.route(feed_path, Reply(body=rss([("g1", "", "Headline one")]), headers=RSS_TYPE))
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds([FeedConfig(name="home", url=srv.url("/"), outlet="Home")])
            report = refresh_feed(svc, svc.store.get_feed("home"))
            assert report.ok and report.new_articles == 1
            feed = svc.store.get_feed("home")
            assert feed.discovered_url == srv.url(feed_path)
            refresh_feed(svc, feed)
            assert srv.hits["/"] == 1 and srv.hits[feed_path] == 2  # straight to the feed now
            # a new URL in feeds.yaml forgets what was discovered for the old one
            svc.store.sync_feeds([FeedConfig(name="home", url=srv.url("/other"), outlet="Home")])
            assert svc.store.get_feed("home").discovered_url is None
