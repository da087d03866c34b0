"""The orchestrator: the only place that chains the stages.

    fetch feed → parse → identify entries → fetch page → extract + fingerprint → cluster → store

``refresh_feed`` has three callers (the daemon, ``aggregator poll --once`` and the tests) and
the logic exists once. Stages take and return values; only this module touches the network
client and the store. Crash safety comes from the order of writes: each new article is stored
with its entry and story membership atomically (a savepoint inside one transaction per batch of
up to ``BATCH_ARTICLES``), and the feed's validators (ETag, Last-Modified, body hash) are written
only after all its entries, so a crash mid-feed means the next poll sees the feed again and
skips what is already stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from store import FeedOutcome, FeedRow, Membership, NewArticle, open_store

from . import cluster, metrics
from .discovery import candidates as discovery_candidates
from .discovery import looks_like_html
from .extract import ExtractError, ExtractorPool, Job
from .fetch import Fetcher, FetchError
from .identity import canonical_url, same_site
from .models import Entry
from .parse import ParseError, parse_feed
from .robots import Robots
from .schedule import needs_unconditional, next_check, publishing_rate
from .settings import Settings

log = logging.getLogger("aggregator.pipeline")

FEED_TYPES = None  # feeds arrive with every content type imaginable; parse decides
PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")


@dataclass
class FeedReport:
    """What one refresh of one feed did (for logs, the CLI summary and tests)."""

    feed: str
    ok: bool
    status: int | None = None
    error: str | None = None
    not_modified: bool = False
    entries: int = 0
    new_articles: int = 0
    known: int = 0
    stories: set[int] = field(default_factory=set)


class Services:
    """The long-lived parts a refresh needs: built once per process, shared by all threads."""

    def __init__(self, settings: Settings, store=None, fetcher=None, extractor=None) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings.db_url)
        self.fetcher = fetcher if fetcher is not None else Fetcher(settings)
        self.extractor = extractor if extractor is not None else ExtractorPool(
            settings.extract_workers, settings.extract_deadline
        )
        self.cluster_lock = threading.Lock()
        self.clusterer = self._load_clusterer()
        # robots.txt for article pages, through the same fetcher (and its per-host limiter).
        self.robots = Robots(self.fetcher, settings.agent, ttl=settings.robots_ttl,
                             limiter=getattr(self.fetcher, "_limiter", None)) \
            if settings.obey_robots else None
        # Set when the daemon shuts down: gathers stop starting new article pages.
        self.stopping = threading.Event()
        # Pages being fetched/extracted by some gather but not yet stored: a second feed that
        # carries the same article in the same round waits for the first one's result instead of
        # downloading the page again.
        self._pages: dict[str, Future] = {}
        self._pages_lock = threading.Lock()

    def page_slot(self, url: str) -> tuple[Future, bool]:
        """(future, owner): the owner fills the future; others wait on it."""
        with self._pages_lock:
            fut = self._pages.get(url)
            if fut is not None:
                return fut, False
            fut = self._pages[url] = Future()
            return fut, True

    def release_pages(self, urls) -> None:
        with self._pages_lock:
            for url in urls:
                self._pages.pop(url, None)

    def _load_clusterer(self) -> cluster.Clusterer:
        """Replay the window's fingerprints in id order: the same state as before the restart.
        Memberships come from the store, so operators' corrections are part of the replay."""
        self._corrections_seen = self.store.last_correction_id()  # read first: none is missed
        seen = self.store.last_article_id()
        c = cluster.Clusterer()
        since = datetime.now(UTC) - timedelta(days=self.settings.window_days)
        for row in self.store.fingerprints(since=since):  # paged: never the whole window at once
            feats = cluster.Features.load(row.fp_scheme, row.fp_signature, row.fp_payload)
            if feats.scheme != c.params.scheme:
                feats = self._refingerprint(row.article_id) or feats
            c.restore(row.article_id, row.when, feats, row.story_id, row.copy_of)
            seen = max(seen, row.article_id)
        self._articles_seen = seen  # the newest article this clusterer knows
        return c

    def _refingerprint(self, article_id: int) -> cluster.Features | None:
        """Features of a stored article recomputed with today's scheme (a new release changed
        num_perm, shingling or the feature version): without this an upgrade would leave the
        window's articles out of the index until they age out."""
        texts = self.store.article_texts(article_id)
        if texts is None:
            return None
        title, text, summary, extraction = texts
        feats = cluster.featurize(title, text if extraction == "page" else "", summary)
        self.store.update_fingerprint(article_id, feats.scheme, feats.signature, feats.payload)
        return feats

    def catch_up(self) -> int:
        """Replay the articles other processes stored since this clusterer last looked (other
        daemons on one PostgreSQL, or ``poll --once`` beside a daemon). Called inside the
        store's serialised write, so it sees everything stored before the article at hand.
        The caller holds ``cluster_lock``. Returns how many articles were replayed."""
        rows = self.store.fingerprints_after(self._articles_seen)
        for row in rows:
            if self.clusterer.story_of(row.article_id) is None:
                feats = cluster.Features.load(row.fp_scheme, row.fp_signature, row.fp_payload)
                self.clusterer.restore(row.article_id, row.when, feats, row.story_id, row.copy_of)
            self._articles_seen = max(self._articles_seen, row.article_id)
        return len(rows)

    def reload_clusterer(self) -> None:
        with self.cluster_lock:
            self.clusterer = self._load_clusterer()

    def sync_corrections(self) -> int:
        """Move the articles of corrections made since the clusterer was built (by the CLI, the
        web UI or another process) to their stored stories. Returns how many corrections."""
        with self.cluster_lock:
            fresh = self.store.corrections_since(self._corrections_seen)
            if not fresh:
                return 0
            moved = sorted({aid for corr in fresh for aid in corr.article_ids})
            for aid, story_id in sorted(self.store.stories_of(moved).items()):
                if story_id is not None:
                    self.clusterer.move(aid, story_id)
            self._corrections_seen = fresh[-1].id
            log.info("corrections applied", extra={"corrections": len(fresh), "articles": len(moved)})
            return len(fresh)

    def close(self) -> None:
        self.extractor.close()
        self.fetcher.close()
        self.store.close()

    def __enter__(self) -> "Services":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Candidate:
    """A new article, fetched, extracted and fingerprinted, ready to be clustered and stored."""

    article: NewArticle
    guid: str
    link: str
    features: cluster.Features
    when: datetime  # publication time (or first seen): the clustering stream's clock
    page_url: str = ""  # the key of the shared page slot (the URL before rel=canonical)


@dataclass
class Poll:
    """What gathering one feed produced; ``commit`` stores it."""

    feed: FeedRow
    report: FeedReport
    candidates: list[Candidate] = field(default_factory=list)
    success: FeedOutcome | None = None  # written after the candidates are stored


def refresh_feed(svc: Services, feed: FeedRow, *, now: datetime | None = None) -> FeedReport:
    """Poll one feed and store what is new. Never raises for a bad feed: the outcome is
    recorded on the feed and returned."""
    (report,) = commit(svc, [gather(svc, feed, now=now)])
    return report


def gather(svc: Services, feed: FeedRow, *, now: datetime | None = None) -> Poll:
    """Everything up to the write: fetch the feed, parse it, find the new entries, fetch and
    extract their pages. Runs concurrently for many feeds; a failure is recorded on the feed
    here (it changes no validator)."""
    # The CPU of this thread not spent in a named inner stage (fetch, parse, job) is "prepare":
    # identity, the store's lookups, the bookkeeping around the entries.
    with metrics.stage("prepare"):
        return _gather(svc, feed, now=now)


def _gather(svc: Services, feed: FeedRow, *, now: datetime | None = None) -> Poll:
    now = now or datetime.now(UTC)
    poll = Poll(feed, FeedReport(feed=feed.name, ok=False))
    report = poll.report
    settings = svc.settings

    def fail(error: str, status: int | None = None, retry_after: str | None = None) -> Poll:
        _record_failure(svc, feed, now, error, status, retry_after)
        report.error, report.status = error, status
        return poll

    # Some servers keep sending stale validators (304 forever): now and then, ask plainly.
    plain = needs_unconditional(feed.unconditional_at, now, settings.unconditional_interval)
    url = feed.fetch_url
    started = time.monotonic()
    try:
        resp = _get_feed(svc, url, None if plain else feed.etag,
                         None if plain else feed.last_modified, verify=not feed.insecure_tls)
    except FetchError as exc:
        metrics.count_fetch(_failure_outcome(exc), time.monotonic() - started)
        return fail(str(exc), exc.status, exc.retry_after)
    report.status = resp.status
    discovered = None
    if not resp.not_modified and looks_like_html(resp.headers, resp.body):
        # The configured URL is a web page: find the feed it advertises (or a usual path).
        found = _discover(svc, resp)
        if found is None:
            metrics.count_fetch("not_a_feed", time.monotonic() - started)
            return fail(f"parse: not a feed ({url} is a web page; discovery found no feed in "
                        f"its links or at the usual paths)", resp.status)
        discovered, resp = found
        log.info("feed discovered", extra={"feed_url": feed.url, "discovered_url": discovered})
    if resp.not_modified:
        metrics.count_fetch("not_modified", time.monotonic() - started)
        report.ok = report.not_modified = True
        poll.success = FeedOutcome(
            fetched_at=now, status=304, error=None, keep_validators=True,
            next_check_at=next_check(now, feed, settings, headers=resp.headers,
                                     pub_rate=feed.pub_rate),
        )
        return poll

    body_hash = hashlib.sha256(resp.body).hexdigest()
    if body_hash == feed.body_hash and discovered is None:
        # Same bytes as last time (a server without validators): nothing to parse.
        metrics.count_fetch("unchanged", time.monotonic() - started)
        report.ok = report.not_modified = True
        poll.success = FeedOutcome(
            fetched_at=now, status=resp.status, error=None, unconditional=plain,
            etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"),
            next_check_at=next_check(now, feed, settings, headers=resp.headers,
                                     pub_rate=feed.pub_rate),
        )
        return poll

    try:
        with metrics.stage("parse"):
            parsed = parse_feed(resp.body, resp.headers, now=now)
    except ParseError as exc:
        metrics.count_fetch("parse_error", time.monotonic() - started)
        return fail(str(exc), resp.status)
    metrics.count_fetch("changed", time.monotonic() - started)

    report.entries = len(parsed.entries)
    known = svc.store.known_guids(feed.id, (e.guid for e in parsed.entries))
    # A GUID listed twice in one document is one entry (the first, usually the newest): the
    # second would become an article without an entry (issue 6, case 14).
    seen: set[str] = set()
    fresh = [e for e in parsed.entries
             if e.guid not in known and not (e.guid in seen or seen.add(e.guid))]
    report.known = len(parsed.entries) - len(fresh)
    for entry in fresh:
        if svc.stopping.is_set():
            # Shutting down: what is gathered gets stored, the validators stay as they were,
            # so the next poll brings the rest.
            report.error = "abandoned: the daemon is shutting down"
            return poll
        candidate = _prepare(svc, feed, entry, now)
        if candidate is not None:
            poll.candidates.append(candidate)
    rate = publishing_rate([e.published for e in parsed.entries], now)
    poll.success = FeedOutcome(
        fetched_at=now, status=resp.status, error=None, unconditional=plain,
        etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"),
        body_hash=body_hash, title=parsed.title or None, discovered_url=discovered,
        pub_rate=rate,
        next_check_at=next_check(now, feed, settings, headers=resp.headers,
                                 ttl_minutes=parsed.ttl_minutes, pub_rate=rate),
    )
    report.ok = True
    return poll


FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"


def _get_feed(svc: Services, url: str, etag: str | None, last_modified: str | None,
              verify: bool = True):
    # verify=False only for a feed with insecure_tls: true (the feed document, not its pages).
    kw = {} if verify else {"verify": False}
    with metrics.stage("fetch_feed"):
        return svc.fetcher.get(url, etag=etag, last_modified=last_modified, accept=FEED_ACCEPT,
                               max_bytes=svc.settings.max_feed_bytes, **kw)


def _discover(svc: Services, page) -> tuple[str, object] | None:
    """The first candidate of the page that answers with something that parses as a feed."""
    html = page.body.decode(_charset(page.headers), errors="replace")
    for url in discovery_candidates(html, page.url):
        try:
            resp = _get_feed(svc, url, None, None)
        except FetchError:
            continue
        if looks_like_html(resp.headers, resp.body):
            continue
        try:
            parse_feed(resp.body, resp.headers, now=datetime.now(UTC))
        except ParseError:
            continue
        return url, resp
    return None


def _failure_outcome(exc: FetchError) -> str:
    """403 and 429 are told apart: one means we are blocked, the other that we are too fast."""
    return {403: "forbidden", 429: "rate_limited"}.get(exc.status or 0, exc.kind)


# Articles stored per write transaction. One commit per article cost more than the rest of the
# store's work (issue 7); a bounded batch keeps the write lock (and, on PostgreSQL, the
# assignment lock other daemons wait on) for a fraction of a second.
BATCH_ARTICLES = 50


def commit(svc: Services, polls: list[Poll]) -> list[FeedReport]:
    """Cluster and store the new articles of these polls in publication order (the stream the
    clusterer sees does not depend on which feed answered first), then write each feed's
    outcome. A feed whose articles could not all be stored keeps its old validators, so the
    next poll brings the rest."""
    with metrics.stage("store"):  # the store's writes; the clusterer's part is "assign"
        return _commit(svc, polls)


def _commit(svc: Services, polls: list[Poll]) -> list[FeedReport]:
    svc.sync_corrections()
    # Equal times (undated entries are all "now") keep a stable order: feed by feed, and within a
    # feed from the bottom up, because feeds list their newest items first.
    queue = sorted(
        ((c.when, n, -i, c) for n, p in enumerate(polls) for i, c in enumerate(p.candidates)),
        key=lambda t: t[:3],
    )
    broken: dict[int, str] = {}
    for start in range(0, len(queue), BATCH_ARTICLES):
        chunk = [(n, c) for _, n, _, c in queue[start : start + BATCH_ARTICLES] if n not in broken]
        if not chunk:
            continue
        try:
            stored = _store_batch(svc, polls, chunk)
        except Exception as exc:  # noqa: BLE001 - retried one by one below, where each failure is logged
            # One article (or the store) failed and the whole batch was rolled back. The
            # clusterer cannot take back its decisions, so it is rebuilt from what is committed,
            # and the batch is stored again one transaction per article: the others of the poll
            # are kept, and the failing one fails its feed as before batching (validators stay,
            # the next poll brings it back).
            log.warning("batch store failed; storing its articles one by one",
                        extra={"error": f"{type(exc).__name__}: {exc}", "articles": len(chunk)})
            svc.reload_clusterer()
            stored = _store_each(svc, polls, chunk, broken)
        for n, story_id, created in stored:
            polls[n].report.new_articles += int(created)
            polls[n].report.stories.add(story_id)
    svc.release_pages(c.page_url for p in polls for c in p.candidates)
    now = datetime.now(UTC)
    for n, poll in enumerate(polls):
        if n in broken:
            poll.report.ok, poll.report.error = False, broken[n]
            _record_failure(svc, poll.feed, now, broken[n], poll.report.status, None)
        elif poll.success is not None:
            try:
                svc.store.record_poll(poll.feed.id, poll.success)
            except Exception as exc:  # the store is locked or full: the validators stay
                log.exception("feed outcome not recorded", extra={"feed_url": poll.feed.url})
                poll.report.ok = False
                poll.report.error = f"store: {type(exc).__name__}: {exc}"
    return [p.report for p in polls]


def _record_failure(svc: Services, feed: FeedRow, now: datetime, error: str,
                    status: int | None, retry_after: str | None) -> None:
    outcome = FeedOutcome(
        fetched_at=now, status=status, error=error,
        next_check_at=next_check(now, feed, svc.settings, error_count=feed.error_count + 1,
                                 retry_after=retry_after),
    )
    try:
        svc.store.record_poll(feed.id, outcome, error_limit=svc.settings.error_limit)
    except Exception:
        # The store itself is failing (locked past busy_timeout, disk full): nothing changed on
        # the feed, so it stays due (or claimed until its lease ends) and is polled again.
        log.exception("feed failure not recorded", extra={"feed_url": feed.url, "error": error})
    log.warning("feed failed", extra={"feed_url": feed.url, "error": error})


def _prepare(svc: Services, feed: FeedRow, entry: Entry, now: datetime) -> Candidate | None:
    """Fetch, extract and fingerprint one new entry; None when the article is already stored
    (then the entry is linked to it)."""
    url = canonical_url(entry.link)
    if not url:
        # No usable link: identify it by feed and GUID; it can only be shown with its summary.
        url = f"urn:aggregator:{feed.name}:{hashlib.sha256(entry.guid.encode()).hexdigest()[:32]}"
    existing = svc.store.find_article([url])
    if existing is not None:
        _link(svc, feed, entry, existing, now)
        return None

    page_url = url
    fut, owner = svc.page_slot(url)
    if owner:
        try:
            fut.set_result(_fetch_and_extract(svc, entry, url))
        except BaseException as exc:
            fut.set_exception(exc)
            svc.release_pages([url])
            raise
    ex, features = fut.result()

    # The page may name its canonical URL (rel=canonical); trust it only on the same site, or
    # any page could claim to be another outlet's article.
    if ex.canonical_url and url.startswith("http") and same_site(ex.canonical_url, url):
        better = canonical_url(ex.canonical_url)
        if better and better != url:
            existing = svc.store.find_article([better])
            if existing is not None:
                _link(svc, feed, entry, existing, now)
                return None
            url = better

    published = entry.published or ex.published
    article = NewArticle(
        url=url, title=entry.title or ex.title, author=entry.author or ex.author,
        published=published, first_seen=now, outlet=feed.outlet, feed_id=feed.id,
        summary=entry.summary, text=ex.text, language=features.language or ex.language,
        site_name=ex.site_name, extraction=ex.method, extraction_note=ex.note,
        fp_scheme=features.scheme, fp_signature=features.signature, fp_payload=features.payload,
    )
    return Candidate(article, entry.guid, entry.link, features, published or now, page_url)


def _link(svc: Services, feed: FeedRow, entry: Entry, article_id: int, now: datetime) -> None:
    """Record that this feed carries a stored article, unless it already does under another
    GUID: a feed whose GUIDs change on every poll (same links) would otherwise add one entry
    row per item per poll forever (issue 6, case 14)."""
    if not svc.store.feed_carries(feed.id, article_id):
        svc.store.add_entry(feed.id, entry.guid, article_id, entry.link, now)


def _fetch_and_extract(svc: Services, entry: Entry, url: str):
    html, charset, note = b"", "utf-8", ""
    with metrics.stage("fetch_page"):  # robots.txt included
        allowed = not url.startswith("http") or svc.robots is None or svc.robots.allowed(entry.link)
    if not allowed:
        note = "robots: the site's robots.txt disallows fetching this page"
        log.info("page not fetched", extra={"article_url": entry.link, "error": note})
    elif url.startswith("http"):
        try:
            with metrics.stage("fetch_page"):
                page = svc.fetcher.get(entry.link, accept="text/html,application/xhtml+xml",
                                       max_bytes=svc.settings.max_page_bytes,
                                       allowed_types=PAGE_TYPES)
            # Decoded in the worker: the bytes cross the pipe without an encode/decode here.
            html, charset = page.body, _charset(page.headers)
        except FetchError as exc:
            note = f"fetch: {exc}"
            log.info("page not fetched", extra={"article_url": entry.link, "error": str(exc)})
    job = Job(html=html, url=entry.link, title=entry.title, summary=entry.summary, charset=charset)
    try:
        with metrics.stage("job"):  # pickling the job, the pipe, unpickling the result
            ex, features = svc.extractor.run(job)
    except ExtractError as exc:
        note = str(exc)
        ex, features = _fallback(entry, note)
    if note and (not ex.note or not html):
        # Without a page, the extractor can only say "page not fetched": the fetch error says why.
        ex = _with_note(ex, note)
    if note:
        metrics.count_extraction_failure(note.split(":", 1)[0])
    return ex, features


def _store_batch(svc: Services, polls: list[Poll],
                 chunk: list[tuple[int, Candidate]]) -> list[tuple[int, int, bool]]:
    """Cluster and write these articles in one transaction: [(poll index, story id, created)].
    Raises (and stores none of them) when any fails."""
    out = []
    with svc.cluster_lock, svc.store.write_batch():
        svc.catch_up()  # once: the batch holds the assignment lock until it commits
        for n, cand in chunk:
            out.append((n, *_store_locked(svc, polls[n].feed, cand)))
    return out


def _store_each(svc: Services, polls: list[Poll], chunk: list[tuple[int, Candidate]],
                broken: dict[int, str]) -> list[tuple[int, int, bool]]:
    """The slow path after a failed batch: one transaction per article. The first failure of a
    poll marks it broken (recorded in ``broken``) and skips its later articles."""
    out = []
    for n, cand in chunk:
        if n in broken:
            continue
        try:
            out.append((n, *_store(svc, polls[n].feed, cand)))
        except Exception as exc:
            log.exception("store failed", extra={"feed_url": polls[n].feed.url})
            svc.reload_clusterer()  # it may hold a decision the store rolled back
            broken[n] = f"store: {type(exc).__name__}: {exc}"
    return out


def _store(svc: Services, feed: FeedRow, cand: Candidate) -> tuple[int, bool]:
    """Cluster and write one article (one transaction). Returns (story id, created)."""
    with svc.cluster_lock:
        return _store_locked(svc, feed, cand, catch_up=True)


def _store_locked(svc: Services, feed: FeedRow, cand: Candidate, *,
                  catch_up: bool = False) -> tuple[int, bool]:
    """``_store`` with ``cluster_lock`` held. ``catch_up``: first replay what other processes
    stored (not needed inside ``write_batch``, which did it once under the same lock)."""

    def assign(article_id: int) -> Membership:
        if catch_up:
            svc.catch_up()  # what other daemons stored first, so that one event makes one story
        with metrics.stage("assign"):
            d = svc.clusterer.assign(article_id, cand.when, cand.features, feed.outlet)
        return Membership(d.story_id, d.copy_of, d.role, d.reuse, d.score, d.evidence)

    aid, membership, created = svc.store.add_article(cand.article, cand.guid, cand.link, assign)
    if created and svc.clusterer.story_of(aid) != membership.story_id:
        svc.clusterer.move(aid, membership.story_id)  # the store followed a merge
    if created:
        svc._articles_seen = max(svc._articles_seen, aid)
    log.debug("article stored", extra={"article_url": cand.article.url,
                                       "story_id": membership.story_id})
    return membership.story_id, created


def _fallback(entry: Entry, note: str):
    from .models import Extracted

    ex = Extracted(text=entry.summary, method="summary", note=note)
    return ex, cluster.featurize(entry.title, "", entry.summary)


def _with_note(ex, note: str):
    from dataclasses import replace

    return replace(ex, note=note)


def _charset(headers: dict[str, str]) -> str:
    ctype = headers.get("content-type", "")
    for part in ctype.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            enc = v.strip("\"' ").lower()
            try:
                "".encode(enc)
                return enc
            except LookupError:
                break
    return "utf-8"


def poll_once(svc: Services, feeds: list[FeedRow], *, workers: int | None = None,
              progress=None) -> list[FeedReport]:
    """Refresh every given feed once: gather them on a bounded pool of threads, then store all
    new articles in publication order (so the stories do not depend on which server answered
    first)."""
    workers = max(1, min(workers or svc.settings.poll_workers, len(feeds) or 1))
    polls: list[Poll] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        for poll in pool.map(lambda f: _safe_gather(svc, f), feeds):
            polls.append(poll)
            if progress:
                progress(poll.report)
    return commit(svc, polls)


def _safe_gather(svc: Services, feed: FeedRow) -> Poll:
    try:
        return gather(svc, feed)
    except Exception as exc:  # a bug must not stop the other feeds
        log.exception("gather crashed", extra={"feed_url": feed.url})
        poll = Poll(feed, FeedReport(feed=feed.name, ok=False,
                                     error=f"internal: {type(exc).__name__}: {exc}"))
        return poll
