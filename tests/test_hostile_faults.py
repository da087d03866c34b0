"""Issue 6, cases 8 (restart without re-fetch), 9 (a broken fetch is never an empty success),
10 (backoff) and 14 (GUID churn and duplicates), through the whole pipeline against a loopback
server on 127.0.0.2 (the only allow-listed address).

Time is injected (``now=``) wherever the schedule is concerned: no test sleeps or waits for a
clock.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from aggregator.models import FeedConfig
from aggregator.pipeline import poll_once, refresh_feed
from aggregator.schedule import BACKOFF_CAP, RETRY_AFTER_CAP
from store.timefmt import from_db
from tests.hostile_payloads import ALLOWED, FILLER, article_page, hostile_settings, rss, services
from tests.servers import Reply, Server

pytestmark = pytest.mark.hostile

RSS = {"Content-Type": "application/rss+xml"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def items(srv: Server, prefix: str, n: int, start: int = 0, **extra) -> list[dict]:
    out = []
    for i in range(start, start + n):
        srv.route(f"/{prefix}/{i}", Reply(body=article_page(f"{prefix} story {i}",
                                                            [f"{prefix} {i}. {FILLER}"] * 3),
                                          headers=HTML))
        out.append({"guid": f"{prefix}-{i}", "link": srv.url(f"/{prefix}/{i}"),
                    "title": f"{prefix} story {i}", "description": f"Summary {prefix} {i}.",
                    **extra})
    return out


def table_counts(db) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def feed(svc, name):
    return svc.store.get_feed(name)


# --------------------------------------------------------------------------- 8. restart


def test_restart_polls_conditionally_and_never_refetches_pages(tmp_path):
    """Pass: after a restart (new Services on the same store), every feed request for a feed
    whose ETag or Last-Modified was stored carries If-None-Match / If-Modified-Since; a feed
    without validators is recognised by its body hash (no entry re-parsed); when the ETag feed
    changes after the restart, only the new article's page is downloaded: every article page is
    hit exactly once over the three rounds."""
    lm = "Tue, 24 Nov 2026 10:00:00 GMT"
    with Server(ALLOWED) as srv:
        etag_items = items(srv, "e", 3)
        version = {"etag": '"v1"', "items": etag_items}

        def etag_feed(req):
            if req.headers.get("if-none-match") == version["etag"]:
                return Reply(status=304, headers={"ETag": version["etag"]})
            return Reply(body=rss(version["items"]), headers={**RSS, "ETag": version["etag"]})

        def lm_feed(req):
            if req.headers.get("if-modified-since") == lm:
                return Reply(status=304)
            return Reply(body=rss(items(srv, "m", 3)), headers={**RSS, "Last-Modified": lm})

        srv.route("/etag.xml", etag_feed)
        srv.route("/lm.xml", lm_feed)
        srv.route("/plain.xml", Reply(body=rss(items(srv, "p", 3)), headers=RSS))
        feeds = [FeedConfig(name=n, url=srv.url(f"/{n}.xml"), outlet=n.upper())
                 for n in ("etag", "lm", "plain")]
        settings = hostile_settings(tmp_path / "store.db")
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            assert all(r.ok for r in poll_once(svc, svc.store.list_feeds()))
        first = len(srv.requests)

        with services(settings) as svc:  # the restart
            reports = {r.feed: r for r in poll_once(svc, svc.store.list_feeds())}
            assert reports["etag"].not_modified and reports["lm"].not_modified
            assert reports["plain"].not_modified and reports["plain"].entries == 0
            version.update(etag='"v2"', items=etag_items + items(srv, "e", 1, start=3))
            reports = {r.feed: r for r in poll_once(svc, svc.store.list_feeds())}
            assert reports["etag"].new_articles == 1 and reports["etag"].known == 3
        with services(settings) as svc:  # a second restart after the change
            poll_once(svc, svc.store.list_feeds())
            assert sum(f.articles for f in svc.store.list_feeds()) == 10

        after = [r for r in srv.requests[first:] if r.path.endswith(".xml")]
        by_path: dict[str, list] = {}
        for r in after:
            by_path.setdefault(r.path, []).append(r)
        assert len(after) == 9
        assert all(r.headers.get("if-none-match") for r in by_path["/etag.xml"])
        assert all(r.headers.get("if-modified-since") == lm for r in by_path["/lm.xml"])
        pages = {p: n for p, n in srv.hits.items() if not p.endswith(".xml")
                 and p != "/robots.txt"}
        assert len(pages) == 10 and set(pages.values()) == {1}, pages
    print(f"restart: {len(after)} feed requests after restarts, "
          f"{len(by_path['/etag.xml']) + len(by_path['/lm.xml'])} of them with a known "
          f"validator, all conditional; {len(pages)} pages, each downloaded once")


# --------------------------------------------------------------------------- 9. broken fetch


CHALLENGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
             b"<noscript>Enable JavaScript and cookies to continue</noscript>"
             b"<div id='challenge-running'>Checking if the site connection is secure</div>"
             b"</body></html>")


def broken_replies(good: bytes) -> dict[str, Reply]:
    new = {"ETag": '"broken"', "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT"}
    return {
        # Content-Length promises the whole feed, half is sent, the connection closes.
        "truncated": Reply(body=good[: len(good) // 2],
                           headers={**RSS, **new, "Content-Length": str(len(good))},
                           content_length=False),
        # The same, chunked: the final zero-length chunk never comes.
        "truncated-chunked": Reply(body=b"%x\r\n" % len(good) + good[: len(good) // 2],
                                   headers={**RSS, **new, "Transfer-Encoding": "chunked"},
                                   content_length=False),
        "truncated-gzip": Reply(body=_gzip(good)[: len(_gzip(good)) // 2],
                                headers={**RSS, **new, "Content-Encoding": "gzip"},
                                content_length=False),
        "html": Reply(body=article_page("Home", [FILLER]), headers={**HTML, **new}),
        "html-as-xml": Reply(body=b"<?xml version='1.0'?>" + CHALLENGE.replace(
            b"<!DOCTYPE html>", b""), headers={**RSS, **new}),
        "empty": Reply(body=b"", headers={**RSS, **new}),
        "blank": Reply(body=b"  \r\n\n", headers={**RSS, **new}),
        "challenge-503": Reply(status=503, body=CHALLENGE, headers={**HTML, **new}),
        "challenge-403": Reply(status=403, body=CHALLENGE, headers={**HTML, **new}),
        "challenge-200": Reply(body=CHALLENGE, headers={**HTML, **new}),
        "title-only": Reply(body=b"<channel><title>Just a moment...</title></channel>",
                            headers={"Content-Type": "application/xml", **new}),
    }


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def test_a_broken_fetch_is_never_an_empty_success(tmp_path):
    """Pass: for each broken answer (truncated body with a larger Content-Length, truncated
    close-delimited gzip, HTML page instead of XML, HTML served as XML, empty and blank 200,
    "Just a moment..." challenge pages answered 503/403/200, a title-only non-feed) the feed is
    failing (last_error set, error_count 1), its ETag, Last-Modified and body hash are those of
    the last good poll, its articles are all still there, and the next good poll succeeds."""
    with Server(ALLOWED) as srv:
        good_items = items(srv, "g", 2)
        good = rss(good_items)
        cases = broken_replies(good)
        good_reply = Reply(body=good, headers={**RSS, "ETag": '"good"',
                                               "Last-Modified": "Mon, 23 Nov 2026 10:00:00 GMT"})
        for name in cases:
            srv.route(f"/{name}.xml", good_reply)
        feeds = [FeedConfig(name=n, url=srv.url(f"/{n}.xml"), outlet=n) for n in cases]
        settings = hostile_settings(tmp_path / "store.db")
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            assert all(r.ok for r in poll_once(svc, svc.store.list_feeds(), workers=4))
            before = {f.name: f for f in svc.store.list_feeds()}
            for name, reply in cases.items():
                srv.route(f"/{name}.xml", reply)
            reports = {r.feed: r for r in poll_once(svc, svc.store.list_feeds(), workers=4)}
            after = {f.name: f for f in svc.store.list_feeds()}
            errors = {}
            for name in cases:
                b, a = before[name], after[name]
                errors[name] = a.last_error
                assert not reports[name].ok, (name, reports[name])
                assert a.last_error and a.error_count == 1, (name, a.last_error)
                assert (a.etag, a.last_modified, a.body_hash) == (b.etag, b.last_modified,
                                                                   b.body_hash), name
                assert a.articles == b.articles == 2, name
            for name in cases:
                srv.route(f"/{name}.xml", good_reply)
            later = datetime.now(UTC) + timedelta(days=2)
            for f in svc.store.list_feeds():
                assert refresh_feed(svc, f, now=later).ok, f.name
                assert feed(svc, f.name).error_count == 0
        assert errors["truncated"].startswith("network:")
        assert errors["truncated-gzip"].startswith("network:")
        assert errors["challenge-503"].startswith("http: 503")
        assert errors["empty"].startswith("parse:") and errors["title-only"].startswith("parse:")
    print("broken fetch: " + "; ".join(f"{k} -> {v.split(':')[0]}" for k, v in errors.items()))


# --------------------------------------------------------------------------- 10. backoff


def test_retry_after_is_honoured_without_sleeping(tmp_path):
    """Pass: a 429 with Retry-After: 7200, a 503 with an HTTP-date 3 hours ahead and a 429 with
    Retry-After of ten years are each recorded in next_check_at (2 h, 3 h, capped at 1 day from
    the poll); claim_due_feeds does not hand the feed out a second before that time and does
    right after; each poll returns within 3 s (no thread sleeps for the Retry-After)."""
    import time

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with Server(ALLOWED) as srv:
        srv.route("/seconds.xml", Reply(status=429, headers={"Retry-After": "7200"}))
        srv.route("/date.xml", Reply(status=503, headers={
            "Retry-After": format_datetime(now + timedelta(hours=3), usegmt=True)}))
        srv.route("/huge.xml", Reply(status=429, headers={"Retry-After": str(10 * 365 * 86400)}))
        expect = {"seconds": 7200, "date": 3 * 3600, "huge": RETRY_AFTER_CAP}
        feeds = [FeedConfig(name=n, url=srv.url(f"/{n}.xml"), outlet=n) for n in expect]
        settings = hostile_settings(tmp_path / "store.db")
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            slowest = 0.0
            for f in svc.store.list_feeds():
                t = time.monotonic()
                report = refresh_feed(svc, f, now=now)
                slowest = max(slowest, time.monotonic() - t)
                assert not report.ok and report.status in (429, 503)
            assert slowest < 3.0
            for name, delay in expect.items():
                f = feed(svc, name)
                assert f.next_check_at == now + timedelta(seconds=delay), (name, f.next_check_at)
                assert "retry after" in f.last_error
                early = svc.store.claim_due_feeds(now + timedelta(seconds=delay - 1),
                                                  owner="t", lease=60)
                assert name not in {c.name for c in early}
                svc.store.release_claims(c.id for c in early)
            hits = srv.total_hits
            due = svc.store.claim_due_feeds(now + timedelta(seconds=RETRY_AFTER_CAP + 1),
                                            owner="t", lease=60)
            assert {c.name for c in due} == set(expect)
            assert srv.total_hits == hits  # claiming is not fetching
    print(f"retry-after: next check at +2 h / +3 h / +24 h (capped); slowest poll {slowest:.2f} s")


def test_5xx_streaks_back_off_capped_and_jittered(tmp_path):
    """Pass: two feeds failing with 500 twelve times in a row, each polled at its next_check_at
    (injected clock): the delays grow (each at least the previous until the cap), never exceed the 6 h cap plus
    10 % jitter, reach the cap, and the two feeds' delays differ (jitter) at the same streak
    length and from one capped retry to the next; the feed is never claimable before its next_check_at."""
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with Server(ALLOWED) as srv:
        srv.route("*", Reply(status=500, body=b"oops"))
        feeds = [FeedConfig(name=n, url=srv.url(f"/{n}.xml"), outlet=n) for n in ("a", "b")]
        settings = hostile_settings(tmp_path / "store.db", error_limit=0)
        delays: dict[str, list[float]] = {"a": [], "b": []}
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            for name in delays:
                now = start
                for _ in range(12):
                    f = feed(svc, name)
                    assert refresh_feed(svc, f, now=now).status == 500
                    f = feed(svc, name)
                    delays[name].append((f.next_check_at - now).total_seconds())
                    early = svc.store.claim_due_feeds(f.next_check_at - timedelta(seconds=1),
                                                      owner="t", lease=1)
                    assert name not in {c.name for c in early}
                    now = f.next_check_at
                assert feed(svc, name).error_count == 12
    for d in delays.values():
        assert all(b >= min(a, BACKOFF_CAP) for a, b in zip(d, d[1:], strict=False)), d
        assert max(d) <= BACKOFF_CAP * 1.1 and d[-1] >= BACKOFF_CAP, d
        assert len({x for x in d if x >= BACKOFF_CAP}) > 1, d  # jittered at the cap too
        assert d[0] >= settings.default_interval
    assert delays["a"] != delays["b"]
    print("5xx backoff (s): a " + ", ".join(f"{x:.0f}" for x in delays["a"])
          + " | b " + ", ".join(f"{x:.0f}" for x in delays["b"]))


# --------------------------------------------------------------------------- 14. GUID churn


def test_guid_churn_duplicates_and_unchanged_feeds(tmp_path):
    """Pass: (a) a feed whose GUIDs change on every poll while its links stay adds no article,
    no story and no entry row after the first poll (5 polls); (b) duplicate GUIDs within one
    feed store one article per GUID (the first occurrence), no article without an entry, and
    the poll succeeds; (c) entries without link, date or
    GUID are stored (identified by feed and GUID or title) or skipped when nothing identifies
    them; (d) a date in the future is clamped to the poll time; (e) an unchanged feed, byte for
    byte or with only lastBuildDate changed, adds 0 rows in every table."""
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with Server(ALLOWED) as srv:
        churn_items = items(srv, "c", 4)
        state = {"poll": 0}

        def churn(req):
            state["poll"] += 1
            its = [{**it, "guid": f"{it['guid']}-poll{state['poll']}"} for it in churn_items]
            return Reply(body=rss(its), headers=RSS)

        srv.route("/churn.xml", churn)
        dup = items(srv, "d", 2)
        dup = dup + [{**dup[0], "title": "same guid, other title"},
                     {**dup[1], "link": srv.url("/d/9"), "title": "same guid, other link"}]
        srv.route("/d/9", Reply(body=article_page("other", [FILLER]), headers=HTML))
        odd = [
            {"guid": "no-link", "title": "No link at all", "description": "Only a summary."},
            {"title": "No guid, no link", "description": "Identified by its title."},
            {"description": "Nothing to identify this entry by."},
            {**items(srv, "f", 1)[0], "pubdate": "Sat, 01 Jan 2101 00:00:00 GMT"},
            {**items(srv, "n", 1)[0]},  # no date
        ]
        srv.route("/dup.xml", Reply(body=rss(dup), headers=RSS))
        srv.route("/odd.xml", Reply(body=rss(odd), headers=RSS))
        quiet = items(srv, "q", 3)
        srv.route("/quiet.xml", Reply(body=rss(quiet), headers=RSS))
        feeds = [FeedConfig(name=n, url=srv.url(f"/{n}.xml"), outlet=n)
                 for n in ("churn", "dup", "odd", "quiet")]
        db = tmp_path / "store.db"
        settings = hostile_settings(db)
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            reports = {r.feed: r for r in (refresh_feed(svc, f, now=now)
                                           for f in svc.store.list_feeds())}
            assert all(r.ok for r in reports.values()), reports
            first = table_counts(db)
            churned = []
            for n in range(1, 5):
                r = refresh_feed(svc, feed(svc, "churn"), now=now + timedelta(hours=n))
                assert r.ok and r.new_articles == 0
                churned.append(table_counts(db))
            assert all(c == first for c in churned), (first, churned)

            assert feed(svc, "dup").articles == 2
            orphans = svc.store._r().execute(
                "SELECT COUNT(*) FROM articles a WHERE NOT EXISTS "
                "(SELECT 1 FROM entries e WHERE e.article_id = a.id)").fetchone()[0]
            assert orphans == 0
            odd_rows = svc.store._r().execute(
                "SELECT a.url, a.title, a.published FROM articles a JOIN entries e "
                "ON e.article_id = a.id JOIN feeds f ON f.id = e.feed_id WHERE f.name = 'odd'"
            ).fetchall()
            titles = {r["title"] for r in odd_rows}
            assert {"No link at all", "No guid, no link"} <= titles and len(odd_rows) == 4
            future = [r for r in odd_rows if r["title"] == "f story 0"][0]
            assert from_db(future["published"]) == now

            before = table_counts(db)
            r = refresh_feed(svc, feed(svc, "quiet"), now=now + timedelta(hours=1))
            assert r.ok and r.not_modified
            srv.route("/quiet.xml", Reply(body=rss(quiet).replace(
                b"<channel>", b"<channel><lastBuildDate>Sat, 28 Nov 2026 13:00:00 GMT"
                b"</lastBuildDate>"), headers=RSS))
            r = refresh_feed(svc, feed(svc, "quiet"), now=now + timedelta(hours=2))
            assert r.ok and r.new_articles == 0 and r.known == 3
            assert table_counts(db) == before
            stories = svc.store._r().execute("SELECT COUNT(*) FROM stories").fetchone()[0]
    print(f"guid churn: 4 churned polls added 0 rows (tables {first}); duplicate GUIDs -> 2 "
          f"articles; {stories} stories in all; unchanged feed +0 rows")
