"""Several ``scheduler.py`` processes, one PostgreSQL, a loopback newsroom of 300 feeds.

Three daemons poll every due feed exactly once (requests counted per feed path at the server,
conditional ones included), store no article twice, make one story per event -- the same
stories as a single process on the same input -- and exit 0 on SIGTERM. A daemon killed with
``kill -9`` while holding claims loses nothing: the others poll its feeds once the lease ends.

The helpers (synthetic articles, the newsroom that can hold a request, starting daemons) are in
``benchmarks/scaleout.py``, which measures the same set-up with 1, 2 and 3 daemons. Marked
``scaleout`` (``-m "not scaleout"`` leaves them out); they take about a minute together.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aggregator.feeds_config import load_feeds
from aggregator.pipeline import Services, poll_once
from benchmarks.scaleout import (
    HoldingNewsroom,
    daemon_env,
    groups_by_url,
    read_outcome,
    run_daemons,
    seed_feeds,
    start_daemon,
    stop_daemons,
    story_quality,
    synthetic_articles,
    wait_for,
)
from benchmarks.scaleout import (
    main as scaleout_main,
)
from scheduler import Daemon
from store import open_store
from store.timefmt import from_db
from tests.servers import Reply, Server

pytestmark = pytest.mark.scaleout
REPO = Path(__file__).resolve().parent.parent


def expected_groups(nr, event_of, ids) -> set[frozenset[str]]:
    by_event: dict[int, set[str]] = {}
    for aid in ids:
        by_event.setdefault(event_of[aid], set()).add(nr.url_of[aid])
    return {frozenset(v) for v in by_event.values()}


def test_three_daemons_poll_every_feed_once_and_make_the_single_process_stories(
        pg_url, tmp_path, loopback_settings):
    articles, event_of = synthetic_articles(300, per_event=5)
    shown = [a.id for a in articles if event_of[a.id] < 16]  # 80 articles; 220 feeds empty
    with HoldingNewsroom(articles) as nr:
        nr.publish(shown)
        feeds_yaml = nr.write_feeds_yaml(tmp_path / "feeds.yaml")
        res = run_daemons(nr, feeds_yaml, pg_url, 3, tmp_path, timeout=240)
        assert res["exit_codes"] == [0, 0, 0], res["logs"]
        for log in res["logs"]:
            assert "feed refreshed" in log  # every daemon took part
            assert "abandoning" not in log and "Traceback" not in log, log[-3000:]

        # every due feed polled exactly once, at the server
        hits = res["hits"]
        assert len(nr.feed_paths) == 300
        assert {p: hits[p] for p in nr.feed_paths if hits[p] != 1} == {}
        out = res["outcome"]
        assert all(f["last_fetch_at"] and f["claimed_by"] is None for f in out.feeds.values())

        # no article stored twice; every one served is there, one entry per feed that lists it
        urls = [u for u, _ in out.articles]
        assert Counter(urls).most_common(1)[0][1] == 1
        assert set(urls) == {nr.url_of[a] for a in shown}
        assert sum(f["entries"] for f in out.feeds.values()) == len(shown)

        # one story per event, and the same stories as one process polling the same newsroom
        assert story_quality(nr, event_of, out.articles) == {
            "duplicate_articles": 0, "duplicate_stories": 0, "merged_events": 0}
        assert groups_by_url(out.articles) == expected_groups(nr, event_of, shown)
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds(load_feeds(feeds_yaml))
            reports = poll_once(svc, svc.store.list_feeds(), workers=8)
            assert all(r.ok for r in reports)
        single = read_outcome(loopback_settings.db_url)
        assert groups_by_url(single.articles) == groups_by_url(out.articles)


def test_a_daemon_killed_mid_cycle_loses_nothing(pg_url, tmp_path):
    articles, event_of = synthetic_articles(20, per_event=5)
    with contextlib.ExitStack() as stack, HoldingNewsroom(articles) as nr:
        feeds_yaml = nr.write_feeds_yaml(tmp_path / "feeds.yaml")
        paths = [urlsplit(f["url"]).path for f in nr.feeds]
        # Feeds are claimed in id order (= file order): the first four answer, the rest are
        # slow to answer the first time, so the daemon sits on its claims.
        nr.hold = set(paths[4:])
        seed_feeds(pg_url, feeds_yaml, due=True)
        store = stack.enter_context(open_store(pg_url))
        victim = start_daemon(feeds_yaml, pg_url, tmp_path / "victim.log",
                              env=daemon_env(AGGREGATOR_CLAIM_LEASE="5", AGGREGATOR_POLL_WORKERS="4"))
        owner = None
        try:
            owner_prefix = f"{victim.pid}@"

            def claims() -> dict[str, str]:
                return {n: f["claimed_until"] for n, f in read_outcome(store).feeds.items()
                        if (f["claimed_by"] or "").startswith(owner_prefix)}

            # 4 polls in flight (held at the server) and 4 more claimed, queued in its pool
            wait_for(lambda: nr.held == 4 and len(claims()) == 8, 120, [victim], "the victim's claims")
            owner = claims()
        finally:
            victim.kill9()
        assert victim.proc.returncode == -9
        nr.release()

        survivors = [start_daemon(feeds_yaml, pg_url, tmp_path / f"survivor-{i}.log") for i in range(2)]

        def done() -> bool:
            out = read_outcome(store)
            return out.polled == len(paths) and not any(f["claimed_by"] for f in out.feeds.values())

        try:
            wait_for(done, 180, survivors, "every feed polled")
        finally:
            codes = stop_daemons(survivors)
        assert codes == [0, 0], [s.text()[-3000:] for s in survivors]

        out = read_outcome(pg_url)
        # the victim's claimed feeds were polled by the others, after its lease ended
        for name, until in owner.items():
            assert from_db(out.feeds[name]["last_fetch_at"]) >= from_db(until), name
        # each feed asked once, plus the request the victim never got an answer to
        hits = nr.feed_hits()
        assert sorted(hits[p] for p in paths) == [1] * (len(paths) - 4) + [2] * 4
        # nothing lost, nothing twice
        urls = [u for u, _ in out.articles]
        assert sorted(urls) == sorted(nr.url_of[a.id] for a in articles)
        assert all(f["entries"] == 1 for f in out.feeds.values())
        assert groups_by_url(out.articles) == expected_groups(nr, event_of, [a.id for a in articles])
        assert store.count_stories() == len(set(event_of.values()))


def test_scaleout_benchmark_prints_json_lines_with_the_summary_last(pg_server, capsys):
    # the session's PostgreSQL (the benchmark starts its own cluster without --pg-url)
    assert scaleout_main(["--feeds", "5", "--daemons", "1", "--pg-url", pg_server.url()]) == 0
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    *runs, summary = lines
    assert [r["run"] for r in runs] == ["sqlite_1", "pg_1"]
    for r in runs:
        assert r["feeds"] == 5 and r["articles"] == 5 and r["exit_codes"] == [0] * r["daemons"]
        assert r["feeds_per_s"] > 0 and r["articles_per_s"] > 0
    assert summary["summary"] is True and summary["daemons"] == 1
    assert summary["duplicate_polls"] == summary["duplicate_articles"] == summary["duplicate_stories"] == 0
    assert set(summary["feeds_per_s"]) == set(summary["articles_per_s"]) == {"sqlite_1", "pg_1"}


# -- the daemon's pool, in process (what lets one daemon keep up with a backlog) ----------------

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
       b"<item><guid>1</guid><title>Only headline here today</title></item></channel></rss>")


def _feeds_file(path: Path, srv: Server, n: int) -> Path:
    path.write_text("feeds:\n" + "".join(
        f"  - name: f{i}\n    url: {srv.url(f'/{i}.xml')}\n    outlet: F{i}\n" for i in range(n)))
    return path


def test_a_daemon_with_a_backlog_claims_again_when_its_pool_drains(tmp_path, loopback_settings):
    # One tick claims twice the pool; a full claim means more is due: the pool claims the rest
    # as it drains, instead of idling until the next tick (TICK_SECONDS, 15 s).
    with Server() as srv:
        for i in range(7):
            srv.route(f"/{i}.xml", Reply(body=RSS, headers={"Content-Type": "application/rss+xml"}))
        settings = loopback_settings.with_(feeds_path=str(_feeds_file(tmp_path / "f.yaml", srv, 7)),
                                           poll_workers=1, host_claim_cap=0)
        d = Daemon(settings)
        try:
            assert d.reload_feeds()
            assert len(d.tick()) == 2
            wait_for(lambda: all(f.last_fetch_at for f in d.svc.store.list_feeds()) and not d.in_flight,
                     60, what="every feed polled")
            assert [srv.hits[f"/{i}.xml"] for i in range(7)] == [1] * 7
        finally:
            d.stop()


def test_stop_gives_back_queued_claims_at_once(tmp_path, loopback_settings):
    # Queued polls are cancelled by stop(): they leave the in-flight set and their claims go
    # back at once, so stop waits only for the polls really running (not the whole grace).
    answer = threading.Event()
    with Server() as srv:
        srv.route("/0.xml", lambda req: (answer.wait(60), Reply(body=RSS, headers={
            "Content-Type": "application/rss+xml"}))[1])
        for i in (1, 2):
            srv.route(f"/{i}.xml", Reply(body=RSS, headers={"Content-Type": "application/rss+xml"}))
        settings = loopback_settings.with_(feeds_path=str(_feeds_file(tmp_path / "f.yaml", srv, 3)),
                                           poll_workers=1, host_claim_cap=0)
        d = Daemon(settings)
        assert d.reload_feeds()
        first, queued = d.tick()
        result: list[bool] = []
        try:
            wait_for(lambda: srv.hits["/0.xml"] == 1, 30, what="the first poll in flight")
            stopper = threading.Thread(target=lambda: result.append(d.stop(timeout=60)))
            stopper.start()
            wait_for(lambda: d.in_flight == {first.id}, 30, what="the queued poll dropped")
        finally:
            answer.set()
        stopper.join(60)
        assert result == [True]  # the running poll finished; nothing abandoned
        assert srv.hits["/1.xml"] == 0
        with open_store(loopback_settings.db_url) as store:
            assert store.get_feed(queued.name).claimed_until is None
            assert store.get_feed(queued.name).last_fetch_at is None
            assert store.get_feed(first.name).claimed_until is None
