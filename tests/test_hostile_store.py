"""Issue 6, cases 12 (store faults: SQLite locked by another writer, disk full) and 13
(PostgreSQL data limits through the pipeline).

Disk full is real when the tests run as root (a 6 MB tmpfs filled with a file); otherwise
SQLite's ``max_page_count`` on the store's write connection stands in for the full disk.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aggregator.models import FeedConfig
from aggregator.pipeline import refresh_feed
from aggregator.web import create_app
from tests.hostile_payloads import ALLOWED, FILLER, article_page, hostile_settings, rss, services
from tests.servers import Reply, Server

pytestmark = pytest.mark.hostile

RSS = {"Content-Type": "application/rss+xml"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def newsroom(srv: Server, n: int, start: int = 0, words: int = 1) -> list[dict]:
    its = []
    for i in range(start, start + n):
        text = [f"Report {i} paragraph {k}. {FILLER}" for k in range(3 * words)]
        srv.route(f"/a/{i}", Reply(body=article_page(f"Report {i}", text), headers=HTML))
        its.append({"guid": f"g{i}", "link": srv.url(f"/a/{i}"), "title": f"Report {i}",
                    "description": f"Summary {i}."})
    return its


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def front_page(store) -> int:
    async def go():
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return (await c.get("/")).status_code

    return asyncio.run(go())


# --------------------------------------------------------------------------- locked


def test_sqlite_locked_by_another_writer(tmp_path):
    """Pass: (a) another connection holds BEGIN IMMEDIATE for 1.5 s while a poll stores its
    articles: the poll waits (busy_timeout) and succeeds with every article; (b) the lock is
    held for the whole poll, longer than the busy timeout (set to 0.3 s on the store's write
    connection): refresh_feed returns a failed report whose error starts with "store:" and does
    not raise, readers (list_feeds, the web front page) keep answering meanwhile, the feed's
    validators and articles are as before; once the lock is released the next poll stores the
    rest and succeeds; integrity_check is ok."""
    db = tmp_path / "store.db"
    with Server(ALLOWED) as srv:
        its = newsroom(srv, 3)
        srv.route("/feed.xml", Reply(body=rss(its), headers={**RSS, "ETag": '"one"'}))
        with services(hostile_settings(db)) as svc:
            svc.store.sync_feeds([FeedConfig(name="f", url=srv.url("/feed.xml"), outlet="F")])
            holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            holder.execute("BEGIN IMMEDIATE")
            release = threading.Timer(1.5, lambda: holder.execute("COMMIT"))
            release.start()
            report = refresh_feed(svc, svc.store.get_feed("f"), now=NOW)
            release.join()
            assert report.ok and report.new_articles == 3, report
            assert svc.store.get_feed("f").etag == '"one"'

            its2 = its + newsroom(srv, 2, start=3)
            srv.route("/feed.xml", Reply(body=rss(its2), headers={**RSS, "ETag": '"two"'}))
            svc.store._w.execute("PRAGMA busy_timeout = 300")
            holder.execute("BEGIN IMMEDIATE")
            try:
                before = svc.store.get_feed("f")
                report = refresh_feed(svc, before, now=NOW + timedelta(hours=1))
                assert not report.ok and report.error.startswith("store:"), report
                during = svc.store.get_feed("f")  # a reader, while the writer is locked out
                assert front_page(svc.store) == 200
            finally:
                holder.execute("COMMIT")
            assert (during.etag, during.body_hash, during.articles) == (
                before.etag, before.body_hash, 3)
            report = refresh_feed(svc, svc.store.get_feed("f"), now=NOW + timedelta(hours=2))
            assert report.ok and report.new_articles == 2
            after = svc.store.get_feed("f")
            assert after.etag == '"two"' and after.articles == 5 and after.error_count == 0
            holder.close()
    assert integrity(db) == "ok"
    print("locked store: 1.5 s lock waited out; lock past busy_timeout -> report 'store: "
          "database is locked', validators kept, readers served, next poll stored the rest")


# --------------------------------------------------------------------------- disk full


class Space:
    """A directory whose free space can be taken away and given back."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "mnt"
        self.dir.mkdir()
        self.mounted = False
        self.filler = self.dir / "filler"
        self.store = None
        if os.geteuid() == 0:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(self.dir)],
                               capture_output=True)
            self.mounted = r.returncode == 0

    def fill(self, leave: int) -> None:
        if self.mounted:
            st = os.statvfs(self.dir)
            free = st.f_bavail * st.f_frsize
            with open(self.filler, "wb") as f:
                f.write(b"\0" * max(0, free - leave))
        else:  # SQLite's own ceiling on the store's write connection
            c = self.store._w
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            c.execute(f"PRAGMA max_page_count = {pages + leave // 4096}")

    def free(self) -> None:
        if self.mounted:
            self.filler.unlink(missing_ok=True)
        else:
            self.store._w.execute("PRAGMA max_page_count = 1073741823")

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.dir)], capture_output=True)


def test_disk_full_then_space_returns(tmp_path):
    """Pass: with the store's file system full (a filled 6 MB tmpfs when root, else SQLite's
    max_page_count) a poll with 6 new large articles does not raise: the feed is failing with a
    "store:" error (disk or database full), its validators are those of the last good poll, no
    earlier article is lost; readers (feed list, story pages, web front page) keep answering;
    once space returns, the next poll stores the rest (8 articles in all) without intervention; integrity_check ok."""
    space = Space(tmp_path)
    db = space.dir / "store.db"
    try:
        with Server(ALLOWED) as srv:
            its = newsroom(srv, 2)
            srv.route("/feed.xml", Reply(body=rss(its), headers={**RSS, "ETag": '"one"'}))
            with services(hostile_settings(db)) as svc:
                space.store = svc.store
                svc.store.sync_feeds([FeedConfig(name="f", url=srv.url("/feed.xml"),
                                                 outlet="F")])
                assert refresh_feed(svc, svc.store.get_feed("f"), now=NOW).ok
                good = svc.store.get_feed("f")
                its2 = its + newsroom(srv, 6, start=2, words=40)  # ~60 KB of text each
                srv.route("/feed.xml", Reply(body=rss(its2), headers={**RSS, "ETag": '"two"'}))
                space.fill(leave=96 * 1024)
                report = refresh_feed(svc, good, now=NOW + timedelta(hours=1))
                assert not report.ok and report.error.startswith("store:"), report
                assert "full" in report.error, report.error
                full_error = report.error
                failing = svc.store.get_feed("f")
                assert (failing.etag, failing.body_hash) == (good.etag, good.body_hash)
                assert failing.articles >= 2  # what fitted is kept; nothing earlier lost
                assert front_page(svc.store) == 200
                assert len(svc.store.list_feeds()) == 1
                space.free()
                report = refresh_feed(svc, svc.store.get_feed("f"),
                                      now=NOW + timedelta(hours=2))
                assert report.ok and report.new_articles == 8 - failing.articles, report
                after = svc.store.get_feed("f")
                assert after.etag == '"two"' and after.articles == 8 and after.error_count == 0
                marked = failing.last_error
            assert integrity(db) == "ok"
    finally:
        space.close()
    how = "tmpfs" if space.mounted else "max_page_count"
    print(f"disk full ({how}): poll failed with {full_error!r}; feed last_error {marked!r}; "
          f"{failing.articles - 2} of 6 fitted; the rest stored once space returned")


# --------------------------------------------------------------------------- 13. data limits


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")  # skips when no PostgreSQL can be started


def test_data_limits_through_the_pipeline(backend_url, tmp_path):
    """Pass, on SQLite and on PostgreSQL alike: feeds carrying NUL characters (raw and as
    character references) in title, summary and author, two 100 KB GUIDs and 100 KB URLs that
    differ only in their last character, a 900 KB title and a 900 KB summary all poll ok; no
    stored text contains NUL; the two long GUIDs make two articles (no collision from cutting
    them); titles are cut to 1,000 characters and summaries to 20,000; the stored rows are the
    same on both backends (same titles, same counts)."""
    pad = "x" * 100_000
    with Server(ALLOWED) as srv:
        srv.route("*", Reply(body=article_page("Page", [FILLER] * 3), headers=HTML))
        nul = rss([{"guid": "nul-1", "link": srv.url("/nul/1"), "title": "Nul\x00 title &#0;x",
                    "description": "Body\x00 text", "author": "a\x00b@example.com (A\x00B)"}])
        keys = rss([{"guid": f"urn:{pad}{k}", "link": srv.url(f"/long/{pad}{k}"),
                     "title": f"Long key {k}", "description": f"Long key summary {k}."}
                    for k in "12"])
        title = rss([{"guid": "t", "link": srv.url("/title/1"), "title": "T" * 900_000,
                      "description": "short"}])
        summary = rss([{"guid": "s", "link": srv.url("/summary/1"), "title": "Big summary",
                        "description": "word " * 180_000}])
        bodies = {"nul": nul, "keys": keys, "title": title, "summary": summary}
        for name, body in bodies.items():
            srv.route(f"/{name}.xml", Reply(body=body, headers=RSS))
        feeds = [FeedConfig(name=n, url=srv.url(f"/{n}.xml"), outlet=n) for n in bodies]
        settings = hostile_settings(tmp_path / "unused.db", db_url=backend_url)
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            reports = {f.name: refresh_feed(svc, f, now=NOW) for f in svc.store.list_feeds()}
            assert all(r.ok for r in reports.values()), reports
            counts = {f.name: f.articles for f in svc.store.list_feeds()}
            rows = svc.store._r().execute(
                "SELECT title, summary, author, text, url FROM articles ORDER BY title").fetchall()
            # the second poll recognises every entry (long GUIDs included): nothing new
            again = {f.name: refresh_feed(svc, f, now=NOW + timedelta(hours=1))
                     for f in svc.store.list_feeds()}
    assert counts == {"nul": 1, "keys": 2, "title": 1, "summary": 1}, counts
    assert all(r.ok and r.new_articles == 0 for r in again.values()), again
    for r in rows:
        for col in ("title", "summary", "author", "text"):
            assert "\x00" not in (r[col] or ""), col
        assert len(r["title"]) <= 1000 and len(r["summary"]) <= 20_000
    titles = [r["title"] for r in rows]
    assert "Nul title x" in titles, titles
    assert {"Long key 1", "Long key 2"} <= set(titles)
    print(f"data limits ({backend_url.split(':')[0]}): titles "
          f"{sorted(t[:20] for t in titles)}; max title {max(map(len, titles))} chars, "
          f"max summary {max(len(r['summary']) for r in rows)} chars, no NUL stored")
