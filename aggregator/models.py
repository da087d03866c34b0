"""Values passed between pipeline stages.

Every stage takes and returns these frozen dataclasses; none of them does I/O. The orchestrator
(`aggregator.pipeline`) is the only place that hands them to the network client and the store.
Times are timezone-aware UTC ``datetime`` objects everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FeedConfig:
    """One entry of ``feeds.yaml``."""

    name: str
    url: str
    outlet: str
    interval: int | None = None  # seconds between polls; None = the daemon's default
    enabled: bool = True
    tags: tuple[str, ...] = ()
    # Fetch the feed document without verifying its TLS certificate (self-signed or expired):
    # an explicit operator decision per feed; article pages are still verified.
    insecure_tls: bool = False
    # Per-feed opt-in to let an article page come from another outlet's domain, etc. lives here later.
    source_file: str = ""
    line: int = 0  # line of the entry in the feeds file, for error messages


@dataclass(frozen=True)
class Response:
    """What the fetcher got back. ``body`` is already decoded (gzip/br/deflate) and capped."""

    url: str  # final URL after redirects
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Entry:
    """One item of a parsed feed, with every text field as plain, untrusted text."""

    guid: str
    link: str
    title: str
    summary: str  # plain text (tags stripped); never rendered as HTML
    author: str = ""
    published: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str
    entries: tuple[Entry, ...]
    ttl_minutes: int | None = None  # RSS <ttl>
    problem: str | None = None  # feedparser's bozo exception, when the document was malformed


@dataclass(frozen=True)
class Extracted:
    """Clean text and metadata of an article page (or the feed summary as a fallback)."""

    text: str
    title: str = ""
    author: str = ""
    published: datetime | None = None
    site_name: str = ""
    language: str = ""
    canonical_url: str = ""
    method: str = "page"  # "page" (trafilatura on the HTML) or "summary" (feed fallback)
    note: str = ""  # why the fallback was used


# Read models live with the store (store/ imports nothing from aggregator/); re-exported here
# so stages and the web code import every value type from one place.
from store.records import Story, StorySource  # noqa: E402,F401
