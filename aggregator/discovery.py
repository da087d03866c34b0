"""Feed autodiscovery: the configured ``url`` may be a homepage rather than a feed.

Pure parsing here; ``pipeline.gather`` does the fetching. Candidates come first from the page's
``<link rel="alternate" type="application/rss+xml|atom+xml" href>`` elements (in page order), then
from the paths where feeds usually live.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json",
              "application/rdf+xml")
COMMON_PATHS = ("/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml")
MAX_CANDIDATES = 10


def looks_like_html(headers: dict[str, str], body: bytes) -> bool:
    """A page, not a feed: an HTML content type, or an HTML document start when the type is
    vague."""
    ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return True
    head = body[:512].lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    return head.startswith((b"<!doctype html", b"<html"))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        if tag != "link":
            return
        rels = a.get("rel", "").lower().split()
        ctype = a.get("type", "").split(";", 1)[0].strip().lower()
        if "alternate" in rels and ctype in FEED_TYPES and a.get("href", "").strip():
            self.links.append(a["href"].strip())


def feed_links(html: str, page_url: str) -> list[str]:
    """Absolute http(s) URLs of the feeds a page advertises, in page order, without repeats."""
    p = _Links()
    try:
        p.feed(html)
        p.close()
    except Exception:  # noqa: BLE001 - a broken page advertises nothing
        pass
    base = urljoin(page_url, p.base) if p.base else page_url
    out: list[str] = []
    for href in p.links:
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https") and url not in out:
            out.append(url)
    return out


def candidates(html: str, page_url: str) -> list[str]:
    """Where to look for the feed, best first: advertised links, then common paths on the
    page's origin."""
    out = feed_links(html, page_url)
    parts = urlsplit(page_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    for path in COMMON_PATHS:
        url = origin + path
        if url not in out and url.rstrip("/") != page_url.rstrip("/"):
            out.append(url)
    return out[:MAX_CANDIDATES]
