"""Claims in the store: due feeds only, per-host cap, error limit, leases that survive a restart
and expire; auto-disable after repeated failures, visible in status, undone by `feeds enable`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.cli import main as cli_main
from aggregator.models import FeedConfig
from aggregator.pipeline import Services, refresh_feed
from store import FeedOutcome, open_store
from tests.servers import Reply, Server

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def cfg(name, url, **kw):
    return FeedConfig(name=name, url=url, outlet=name.upper(), **kw)


def claim(store, now=NOW, **kw):
    kw.setdefault("per_host", 2)
    return [f.name for f in store.claim_due_feeds(now, owner="t", lease=600, **kw)]


def test_claims_respect_the_per_host_cap_and_are_not_handed_out_twice(db_url):
    with open_store(db_url) as store:
        store.sync_feeds([cfg(f"a{i}", f"https://a.example/{i}") for i in range(5)]
                         + [cfg("b", "https://b.example/feed"),
                            cfg("off", "https://c.example/", enabled=False)])
        first = claim(store)
        assert first == ["a0", "a1", "b"]  # two of host a, one of b, none disabled
        assert claim(store) == []  # a's two claims still count against the cap
        store.release_claims([store.get_feed("a0").id])
        assert claim(store) == ["a0"]


def test_a_claim_survives_a_restart_and_expires(db_url):
    with open_store(db_url) as store:
        store.sync_feeds([cfg("a", "https://a.example/")])
        assert claim(store) == ["a"]
    with open_store(db_url) as restarted:  # a crashed daemon's claim is still there
        assert claim(restarted) == []
        assert claim(restarted, NOW + timedelta(seconds=599)) == []
        assert claim(restarted, NOW + timedelta(seconds=600)) == ["a"]  # the lease ran out


def test_a_polled_feed_is_not_due_until_its_next_check(db_url):
    with open_store(db_url) as store:
        store.sync_feeds([cfg("a", "https://a.example/")])
        (feed,) = store.claim_due_feeds(NOW, owner="t", lease=600)
        store.record_poll(feed.id, FeedOutcome(fetched_at=NOW, status=200, error=None,
                                               next_check_at=NOW + timedelta(hours=1)))
        assert store.get_feed("a").claimed_until is None  # the poll's outcome ends the claim
        assert claim(store, NOW + timedelta(minutes=59)) == []
        assert claim(store, NOW + timedelta(hours=1)) == ["a"]
        assert store.due_count(NOW + timedelta(hours=1)) == 0  # claimed: not in the queue


def test_feeds_at_the_error_limit_are_not_claimed(db_url):
    with open_store(db_url) as store:
        store.sync_feeds([cfg("a", "https://a.example/"), cfg("b", "https://b.example/")])
        a = store.get_feed("a")
        for _ in range(3):
            store.record_poll(a.id, FeedOutcome(fetched_at=NOW, status=500, error="http: 500",
                                                next_check_at=NOW))
        assert claim(store, error_limit=3) == ["b"]


def test_repeated_failures_disable_the_feed_visibly_until_enabled(tmp_path, loopback_settings,
                                                                  capsys):
    settings = loopback_settings.with_(error_limit=2)
    with Server() as srv:
        srv.route("/feed", Reply(status=403, body=b"go away"))
        with Services(settings) as svc:
            svc.store.sync_feeds([cfg("blocked", srv.url("/feed"))])
            for n in range(2):
                refresh_feed(svc, svc.store.get_feed("blocked"), now=NOW + timedelta(hours=n))
            feed = svc.store.get_feed("blocked")
            assert feed.last_status == 403 and "forbidden" in feed.last_error
            assert feed.disabled_reason.startswith("2 consecutive failures")
            assert claim(svc.store, NOW + timedelta(days=2)) == []
    assert cli_main(["feeds", "status", "--db", settings.db_url]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("blocked"))
    assert "auto-off" in line and "403" in line and "2 consecutive failures" in line
    assert cli_main(["feeds", "enable", "blocked", "--db", settings.db_url]) == 0
    with open_store(settings.db_url) as store:
        assert store.get_feed("blocked").disabled_reason is None
        assert claim(store, NOW + timedelta(days=2)) == ["blocked"]


def test_retry_after_on_429_is_stored_and_shown_distinctly(loopback_settings):
    with Server() as srv:
        srv.route("/feed", Reply(status=429, headers={"Retry-After": "7200"}))
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds([cfg("busy", srv.url("/feed"))])
            report = refresh_feed(svc, svc.store.get_feed("busy"), now=NOW)
            feed = svc.store.get_feed("busy")
    assert report.status == 429 and "rate limited" in report.error
    assert feed.next_check_at == NOW + timedelta(seconds=7200)
