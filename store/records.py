"""Rows the store takes and gives back, as frozen dataclasses.

The store knows nothing of the pipeline: it keeps feeds, articles, their feed memberships
(entries), each article's place in a story, and the stories. Times are tz-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeedRow:
    id: int
    name: str
    url: str
    outlet: str
    tags: tuple[str, ...]
    interval: int | None
    enabled: bool  # as configured in feeds.yaml
    in_config: bool  # False once removed from feeds.yaml (its articles stay)
    disabled_reason: str | None  # set when the daemon disabled it after repeated failures
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_fetch_at: datetime | None
    last_status: int | None
    last_error: str | None
    error_count: int
    next_check_at: datetime | None
    title: str | None
    articles: int = 0
    claimed_until: datetime | None = None  # lease of the daemon that claimed it (0003)
    unconditional_at: datetime | None = None  # last fetch without validators
    discovered_url: str | None = None  # the feed found when ``url`` is a homepage
    pub_rate: float | None = None  # entries per day, observed
    insecure_tls: bool = False  # feeds.yaml opt-in: fetch the feed without verifying TLS (0005)

    @property
    def fetch_url(self) -> str:
        return self.discovered_url or self.url

    @property
    def active(self) -> bool:
        return self.enabled and self.in_config and not self.disabled_reason


@dataclass(frozen=True)
class FeedOutcome:
    """What one poll of a feed changed in its state. Written after its entries (crash safety:
    validators only advance once the articles they cover are stored)."""

    fetched_at: datetime
    status: int | None
    error: str | None  # None when the poll succeeded
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    title: str | None = None
    next_check_at: datetime | None = None
    keep_validators: bool = False  # on failure the old validators stay
    unconditional: bool = False  # fetched without validators (sets unconditional_at)
    discovered_url: str | None = None  # set when autodiscovery found the feed
    pub_rate: float | None = None  # observed entries per day (None: unchanged)


@dataclass(frozen=True)
class NewArticle:
    url: str  # canonical URL, unique
    title: str
    author: str
    published: datetime | None
    first_seen: datetime
    outlet: str
    feed_id: int
    summary: str
    text: str
    language: str
    site_name: str
    extraction: str  # "page" or "summary"
    extraction_note: str
    fp_scheme: str
    fp_signature: bytes
    fp_payload: str


@dataclass(frozen=True)
class Membership:
    """An article's place in a story, as decided by the clusterer."""

    story_id: int
    copy_of: int | None
    role: str
    reuse: float
    score: float
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FingerprintRow:
    """What the clusterer needs to rebuild its index at start-up, without article text."""

    article_id: int
    when: datetime
    story_id: int
    copy_of: int | None
    fp_scheme: str
    fp_signature: bytes
    fp_payload: str


@dataclass(frozen=True)
class StorySource:
    """One article as shown on a story page."""

    article_id: int
    outlet: str
    feed: str
    title: str
    url: str
    author: str
    published: datetime | None
    first_seen: datetime
    role: str  # "wire", "copy", "report"
    reuse: float  # share of this article's text found in earlier members (0..1)
    copy_of: int | None
    score: float
    text: str = ""
    wire: str = ""  # wire service detected in byline/dateline ("AP", "Reuters", ...)
    evidence: dict = field(default_factory=dict)
    summary: str = ""
    extraction: str = "page"


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    lead: str
    first_seen: datetime
    updated: datetime
    sources: tuple[StorySource, ...]

    @property
    def outlets(self) -> list[str]:
        """Every outlet once, in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.sources:
            seen.setdefault(s.outlet, None)
        return list(seen)

    @property
    def independent_reports(self) -> int:
        return sum(1 for s in self.sources if s.role == "report")


@dataclass(frozen=True)
class Correction:
    """An operator's correction of the clustering, as recorded (see store/corrections.py)."""

    id: int
    kind: str  # "merge", "move" or "split"
    story_id: int  # the story corrected (merge: the one merged away)
    target: int  # the story the articles went to
    article_ids: tuple[int, ...]  # the articles that moved
    created_at: datetime
    note: str = ""
