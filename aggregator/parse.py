"""Parse a feed document into plain values.

feedparser is given a file object, never bytes/str/URL: given a string it treats it as a path or
URL and opens it (``parse(b"/dev/zero")``). It is not a security boundary either: every text we
keep is reduced to plain text here and escaped again at render time.
"""

from __future__ import annotations

import calendar
import io
import re
from datetime import UTC, datetime

import feedparser

from .models import Entry, ParsedFeed
from .textutil import html_to_text, squash

# An internal DTD subset can declare entities that expand quadratically or exponentially
# (billion laughs; one 100 KB entity used 5,000 times took feedparser 26 s and 1.5 GB). Feeds
# have no business declaring entities, so the DOCTYPE goes before anything parses it.
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", re.DOTALL | re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


class ParseError(Exception):
    """The document is not a feed at all (the message starts with "parse:")."""


def strip_doctype(body: bytes) -> bytes:
    head, tail = body[:65536], body[65536:]
    head = _DOCTYPE.sub(b"", head)
    if _ENTITY.search(head):
        raise ParseError("parse: the document declares XML entities outside a DOCTYPE; refused")
    return head + tail


def parse_feed(body: bytes, headers: dict[str, str] | None = None, *, now: datetime) -> ParsedFeed:
    """Parse a feed body. Raises ParseError when the document holds no feed."""
    body = strip_doctype(body)
    try:
        # Only the content type matters for parsing; other headers (Location, Content-Location)
        # would let a hostile server steer feedparser's URL resolution.
        hdrs = {"content-type": (headers or {}).get("content-type", "application/xml")}
        d = feedparser.parse(io.BytesIO(body), response_headers=hdrs)
    except Exception as exc:  # feedparser raises on some inputs (&#xD800;, &#x110000;)
        raise ParseError(f"parse: feedparser failed: {type(exc).__name__}: {exc}") from exc
    problem = None
    if d.get("bozo"):
        problem = f"{type(d.get('bozo_exception')).__name__}: {d.get('bozo_exception')}"[:300]
    feed = d.get("feed", {}) or {}
    if not d.get("entries") and not d.get("version") and not feed.get("title"):
        raise ParseError(f"parse: not a feed ({problem or 'no feed elements found'})")
    entries = []
    for e in d.get("entries", []):
        entry = _entry(e, now)
        if entry is not None:
            entries.append(entry)
    ttl = None
    raw_ttl = str(feed.get("ttl", "") or "").strip()
    if raw_ttl.isdigit():
        ttl = int(raw_ttl)
    return ParsedFeed(
        title=squash(html_to_text(feed.get("title", "") or ""))[:300],
        link=str(feed.get("link", "") or ""),
        entries=tuple(entries),
        ttl_minutes=ttl,
        problem=problem,
    )


def _entry(e, now: datetime) -> Entry | None:
    link = str(e.get("link", "") or "").strip()
    guid = str(e.get("id", "") or "").strip() or link
    title = squash(html_to_text(e.get("title", "") or ""))
    summary = e.get("summary", "") or ""
    content = e.get("content") or []
    if not summary and content:
        summary = content[0].get("value", "") or ""
    summary = html_to_text(summary)
    if not guid:
        if not title:
            return None  # nothing to identify it by
        guid = "title:" + title
    return Entry(
        guid=guid[:2000],
        link=link[:2000],
        title=title[:1000],
        summary=summary[:20000],
        author=squash(html_to_text(e.get("author", "") or ""))[:300],
        published=_date(e, now),
    )


def _date(e, now: datetime) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = e.get(key)
        if st:
            try:
                t = datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            # A date in the future is a publisher's mistake (or a trick to stay on top).
            return min(t, now)
    return None
