"""Feed parsing: plain values out, hostile documents refused or recorded, never a crash."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

import aggregator.parse as parse_mod
from aggregator.parse import ParseError, parse_feed, prepare
from aggregator.parse_fast import parse_fast

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Test &amp; Co</title><link>https://t.example/</link><ttl>30</ttl>
<item><title>First &lt;b&gt;story&lt;/b&gt;</title><link>https://t.example/1?utm_source=rss</link>
<guid>g1</guid><description>&lt;p&gt;Para one.&lt;/p&gt;&lt;p&gt;Para two.&lt;/p&gt;</description>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><author>a@t.example (Ann Writer)</author></item>
<item><title>Future</title><link>https://t.example/2</link><pubDate>Tue, 24 Nov 2099 10:00:00 GMT</pubDate></item>
<item><title>No guid no link</title></item>
</channel></rss>"""


@pytest.mark.parametrize("fast", [True, False], ids=["lxml-fast-path", "feedparser"])
def test_rss_entries_become_plain_values(fast, monkeypatch):
    """Pass: both parsers (the lxml fast path and feedparser) give these values."""
    monkeypatch.setattr(parse_mod, "FAST_PATH", fast)
    assert (parse_fast(*prepare(RSS, {"content-type": "application/rss+xml"})) is not None) is True
    feed = parse_feed(RSS, {"content-type": "application/rss+xml"}, now=NOW)
    assert feed.title == "Test & Co"
    assert feed.ttl_minutes == 30
    first, future, bare = feed.entries
    assert first.guid == "g1" and first.title == "First story"
    assert first.summary == "Para one.\nPara two."
    assert first.published == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert future.guid == "https://t.example/2"  # no GUID: the link identifies it
    assert future.published == NOW  # dates in the future are clamped
    assert bare.guid == "title:No guid no link"


def test_body_that_names_a_path_is_not_opened():
    with pytest.raises(ParseError):
        parse_feed(b"/dev/zero", {}, now=NOW)
    with pytest.raises(ParseError):
        parse_feed(b"/etc/passwd", {}, now=NOW)


def test_html_page_is_not_a_feed():
    with pytest.raises(ParseError):
        parse_feed(b"<html><body><p>Please enable JavaScript</p></body></html>",
                   {"content-type": "text/html"}, now=NOW)


def test_quadratic_entity_blowup_is_defused():
    big = "x" * 100_000
    refs = "&big;" * 5000
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{big}">]>'
           f"<rss version=\"2.0\"><channel><title>t</title><item><title>{refs}</title>"
           "<link>https://t.example/1</link></item></channel></rss>").encode()
    start = time.perf_counter()
    try:
        feed = parse_feed(doc, {}, now=NOW)
        assert all(len(e.title) < 200_000 for e in feed.entries)
    except ParseError:
        pass
    assert time.perf_counter() - start < 2.0


def test_billion_laughs_is_defused():
    doc = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>a</title><link>https://t/1</link></item></channel></rss>"""
    start = time.perf_counter()
    try:
        feed = parse_feed(doc, {}, now=NOW)
        assert len(feed.title) < 10_000
    except ParseError:
        pass
    assert time.perf_counter() - start < 1.0


# The whole ../shared/data/feeds corpus (with time and memory bounds) is run by
# tests/test_hostile_parse.py.
