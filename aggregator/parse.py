"""Parse a feed document into plain values.

feedparser is given a file object, never bytes/str/URL: given a string it treats it as a path or
URL and opens it (``parse(b"/dev/zero")``). It is not a security boundary either: every text we
keep is reduced to plain text here and escaped again at render time.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from datetime import UTC, datetime

import feedparser

from .models import Entry, ParsedFeed
from .parse_fast import parse_fast
from .textutil import html_to_text, squash

# An internal DTD subset can declare entities that expand quadratically or exponentially
# (billion laughs; one 100 KB entity used 5,000 times took feedparser 26 s and 1.5 GB). Feeds
# have no business declaring entities, so the DOCTYPE goes before anything parses it. The scan is
# linear on purpose: the regex it replaces (``<!DOCTYPE[^>\[]*(\[.*?\])?\s*>``) backtracked
# quadratically, and 72 KB of repeated "<!DOCTYPE" took 24 s (found by issue 6's fuzzing).
_SUBSET_END = re.compile(rb"\]\s*>")
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ROOT = re.compile(rb"<[A-Za-z_]")
# feedparser's cost grows with the bytes of item content (3-8 s for 2.5 MB real feeds even
# without its sanitizer), so a big document is cut after the last whole item within this budget
# (the newest items come first in practice) and its closing tags are kept.
MAX_PARSE_BYTES = 1_000_000
# Well-formed RSS 2.0 and Atom 1.0 are read with lxml (aggregator/parse_fast.py: 0.3 ms instead
# of 2.2 ms of parser CPU per item on the 200 real feeds), giving the values feedparser would;
# anything else falls back to feedparser. Off only to compare the two paths (tests, benchmarks).
FAST_PATH = True
_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)


class ParseError(Exception):
    """The document is not a feed at all (the message starts with "parse:")."""


def strip_doctype(body: bytes) -> bytes:
    """Remove DOCTYPE declarations before the root element; refuse any other entity
    declaration. Linear in the size of the prolog."""
    root = _ROOT.search(body)
    split = max(65536, root.start() if root else len(body))
    head, tail = body[:split], body[split:]
    low = head.lower()
    out, pos = [], 0
    while (i := low.find(b"<!doctype", pos)) != -1:
        out.append(head[pos:i])
        gt, sq = low.find(b">", i), low.find(b"[", i)
        if sq != -1 and (gt == -1 or sq < gt):
            m = _SUBSET_END.search(low, sq)
            end = m.end() if m else -1
        else:
            end = gt + 1 if gt != -1 else -1
        if end == -1:
            raise ParseError("parse: unterminated DOCTYPE declaration; refused")
        pos = end
    out.append(head[pos:])
    head = b"".join(out)
    if _ENTITY.search(head):
        raise ParseError("parse: the document declares XML entities outside a DOCTYPE; refused")
    return head + tail


_BOMS = ((b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\xfe\xff", "utf-16"), (b"\xff\xfe", "utf-16"),
         (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"))
_XML_DECL_ENCODING = re.compile(rb"^(<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")


def to_ascii_compatible(body: bytes, content_type: str) -> tuple[bytes, str]:
    """UTF-16/32 bodies re-encoded as UTF-8 (declaration and charset updated), so the byte-level
    DOCTYPE and item scans see the markup; other bodies are returned as they are."""
    for bom, codec in _BOMS:  # noqa: B007 - used after the loop
        if body.startswith(bom):
            break
    else:
        return body, content_type
    text = body.decode(codec, errors="replace").lstrip("\ufeff").encode("utf-8")
    text = _XML_DECL_ENCODING.sub(rb"\1\2utf-8\2", text, count=1)
    media = content_type.split(";", 1)[0].strip() or "application/xml"
    return text, f"{media}; charset=utf-8"


def trim_items(body: bytes, budget: int = MAX_PARSE_BYTES) -> bytes:
    """``body`` cut after the last item/entry that ends within ``budget`` bytes, followed by
    what comes after the document's last item (the closing tags)."""
    if len(body) <= budget:
        return body
    cut = last = None
    for m in _ITEM_END.finditer(body):
        if m.end() <= budget:
            cut = m.end()
        last = m.end()
    if cut is None:  # one giant item, or no items at all: keep the budget, let the parser cope
        return body[:budget]
    return body[:cut] + body[last:][:65536]


def prepare(body: bytes, headers: dict[str, str] | None) -> tuple[bytes, str]:
    """The bytes and content type either parser gets: ASCII-compatible, no DOCTYPE, bounded."""
    body, ctype = to_ascii_compatible(body, (headers or {}).get("content-type", "application/xml"))
    return trim_items(strip_doctype(body)), ctype


def parse_feed(body: bytes, headers: dict[str, str] | None = None, *, now: datetime) -> ParsedFeed:
    """Parse a feed body. Raises ParseError when the document holds no feed."""
    body, ctype = prepare(body, headers)
    d = (parse_fast(body, ctype) if FAST_PATH else None) or _feedparser(body, ctype)
    problem = None
    if d.get("bozo"):
        problem = f"{type(d.get('bozo_exception')).__name__}: {d.get('bozo_exception')}"[:300]
    feed = d.get("feed", {}) or {}
    if not d.get("entries") and not d.get("version"):
        # A title alone is not a feed: feedparser reads one out of an XML page without any
        # feed element (a "Just a moment..." challenge served as XML), and calling that an
        # empty success would advance the validators (issue 6, case 9).
        why = problem or ("a title but no feed elements" if feed.get("title")
                          else "no feed elements found")
        raise ParseError(f"parse: not a feed ({why})")
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
        title=squash(_text(feed.get("title", ""), 20000))[:300],
        link=str(feed.get("link", "") or ""),
        entries=tuple(entries),
        ttl_minutes=ttl,
        problem=problem,
    )


def _feedparser(body: bytes, ctype: str):
    try:
        # Only the content type matters for parsing; other headers (Location, Content-Location)
        # would let a hostile server steer feedparser's URL resolution. Its sanitizer and URI
        # resolution are off: they were two thirds of the parse time, and every text we keep is
        # reduced to plain text below (links are checked again at render time).
        return feedparser.parse(io.BytesIO(body), response_headers={"content-type": ctype},
                                sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser raises on some inputs (&#xD800;, &#x110000;)
        raise ParseError(f"parse: feedparser failed: {type(exc).__name__}: {exc}") from exc


# Keys are bounded without cutting them: two 100 KB GUIDs that share their first 2,000
# characters are two entries, so a long GUID keeps a prefix and gains a hash of the whole. A link
# longer than any server accepts in a request line is no link at all (cutting it would point at
# another page, and merge distinct articles under one URL); the entry is then identified by its
# GUID and shown with its summary (issue 6, case 13).
MAX_GUID = 2000
MAX_LINK = 8192


def _bounded_guid(guid: str) -> str:
    if len(guid) <= MAX_GUID:
        return guid
    digest = hashlib.sha256(guid.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{guid[:MAX_GUID - 72]}#sha256:{digest}"


def _text(value, cut: int) -> str:
    """Plain text of a feed field: cut before lxml sees it (its time is per byte), NUL removed
    (PostgreSQL rejects it in text; SQLite would keep it: both stores get the same text)."""
    return html_to_text(str(value or "")[:cut]).replace("\x00", "")


def _entry(e, now: datetime) -> Entry | None:
    link = str(e.get("link", "") or "").strip().replace("\x00", "")
    guid = str(e.get("id", "") or "").strip().replace("\x00", "") or link
    if len(link) > MAX_LINK:
        link = ""
    # Fields are cut before they are parsed as HTML, not only after: lxml time is per byte.
    title = squash(_text(e.get("title", ""), 20000))
    summary = e.get("summary", "") or ""
    content = e.get("content") or []
    if not summary and content:
        summary = content[0].get("value", "") or ""
    summary = _text(summary, 200_000)
    if not guid:
        if not title:
            return None  # nothing to identify it by
        guid = "title:" + title
    return Entry(
        guid=_bounded_guid(guid),
        link=link,
        title=title[:1000],
        summary=summary[:20000],
        author=squash(_text(e.get("author", ""), 5000))[:300],
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
