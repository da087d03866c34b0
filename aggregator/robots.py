"""robots.txt for article page fetches: fetched through our Fetcher, cached per host.

Feeds are published to be polled, so robots.txt is consulted only before fetching an article
page (as Miniflux and most readers do). A refused page is not an error: the article keeps its
feed summary, with the reason recorded. What an answer means follows RFC 9309 §2.3.1:

* 2xx: the rules apply (parsed by ``urllib.robotparser``);
* 4xx ("unavailable"): no rules, everything is allowed;
* 5xx or no answer ("unreachable"): assume everything is disallowed, and ask again sooner.

``Crawl-delay`` (not in the RFC, widely sent) becomes the host's spacing in the shared
``HostLimiter``, capped so one odd file cannot stall our pool.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .fetch import FetchError

MAX_ROBOTS_BYTES = 512 * 1024  # Google reads the first 500 KiB
CRAWL_DELAY_CAP = 30.0
UNREACHABLE_TTL = 600  # seconds before an unreachable robots.txt is asked for again


@dataclass
class _Entry:
    parser: urllib.robotparser.RobotFileParser | None  # None: allow all
    disallow_all: bool
    expires: float


def parse_robots(text: str) -> urllib.robotparser.RobotFileParser:
    rp = urllib.robotparser.RobotFileParser()
    rp.parse(text.splitlines())
    return rp


def restricts(rp: urllib.robotparser.RobotFileParser, token: str) -> bool:
    """Whether any page could be refused to ``token``: the group ``can_fetch`` would use for it
    (the first that names it, else ``*``) has a Disallow rule. An empty ``Disallow:`` is parsed
    as an allow rule, as the RFC reads it."""
    group = next((e for e in rp.entries if e.applies_to(token)), rp.default_entry)
    return group is not None and any(not line.allowance for line in group.rulelines)


class Robots:
    """Thread-safe cache: one per process (``Services.robots``)."""

    def __init__(self, fetcher, agent: str, *, ttl: float = 86400, limiter=None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fetcher = fetcher
        self.agent = agent
        self.token = agent.split("/", 1)[0]  # product token: "aggregator"
        self.ttl = ttl
        self.limiter = limiter
        self.clock = clock
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return True
        origin = f"{parts.scheme}://{parts.netloc}"
        entry = self._entry(origin, parts.hostname)
        if entry.disallow_all:
            return False
        if entry.parser is None:
            return True
        return entry.parser.can_fetch(self.token, url)

    def _entry(self, origin: str, host: str) -> _Entry:
        with self._lock:
            entry = self._cache.get(origin)
            if entry is not None and entry.expires > self.clock():
                return entry
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per origin, however many threads ask at once
            with self._lock:
                entry = self._cache.get(origin)
                if entry is not None and entry.expires > self.clock():
                    return entry
            entry = self._load(origin, host)
            with self._lock:
                self._cache[origin] = entry
            return entry

    def _load(self, origin: str, host: str) -> _Entry:
        now = self.clock()
        try:
            resp = self.fetcher.get(origin + "/robots.txt", accept="text/plain",
                                    max_bytes=MAX_ROBOTS_BYTES)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return _Entry(None, False, now + self.ttl)  # unavailable: allow all
            return _Entry(None, True, now + UNREACHABLE_TTL)  # unreachable: disallow all
        rp = parse_robots(resp.body.decode("utf-8", errors="replace"))
        delay = rp.crawl_delay(self.token)
        if delay is not None and self.limiter is not None:
            self.limiter.set_spacing(host, min(float(delay), CRAWL_DELAY_CAP))
        # A file with no Disallow rule for us (the common case: rules for other crawlers only,
        # or none) allows every page: answer without ``can_fetch``, which re-quotes the URL and
        # walks every group on each call (~0.1 ms per article page, issue 7).
        return _Entry(rp if restricts(rp, self.token) else None, False, now + self.ttl)
