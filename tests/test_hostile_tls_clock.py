"""Issue 6, case 15: TLS certificates that must be refused, and a clock that jumps.

Certificates come from trustme (a throwaway CA; the expired leaf has its validity in the past).
The clock is injected: a daemon tick is ``claim_due_feeds(now)`` followed by
``refresh_feed(now=now)`` for each claimed feed, which is what ``Daemon.tick`` and its pool do
with the real clock.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.fetch import Fetcher
from aggregator.models import FeedConfig
from aggregator.pipeline import refresh_feed
from tests.hostile_payloads import ALLOWED, FILLER, article_page, hostile_settings, rss, services
from tests.servers import Reply, Server

pytestmark = pytest.mark.hostile

RSS = {"Content-Type": "application/rss+xml"}
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def tls_server(cert) -> Server:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    srv = Server(ALLOWED, ssl_context=ctx)
    srv.route("/feed.xml", Reply(body=rss([{"guid": "1", "link": srv.url("/a/1"),
                                            "title": "Over TLS", "description": "s"}]),
                                 headers=RSS))
    srv.route("/a/1", Reply(body=article_page("Over TLS", [FILLER] * 3),
                            headers={"Content-Type": "text/html"}))
    return srv


def test_untrusted_and_expired_certificates_are_refused(tmp_path):
    """Pass: a feed served with a certificate from an unknown CA (self-signed, the default
    certifi trust) and one served with an expired certificate from a trusted CA each fail with
    an error starting "tls:" that names the reason (unable to get local issuer / certificate has
    expired); the servers never see an HTTP request (no fallback to an unverified connection);
    the same feed with a valid certificate from the trusted CA polls ok (control)."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    valid = ca.issue_cert(ALLOWED)
    expired = ca.issue_cert(ALLOWED, not_before=T0 - timedelta(days=400),
                            not_after=T0 - timedelta(days=30))
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    settings = hostile_settings(tmp_path / "store.db")
    with tls_server(valid) as good, tls_server(valid) as unknown, tls_server(expired) as old:
        cases = {"control": (good, trusted), "unknown-ca": (unknown, None),
                 "expired": (old, trusted)}
        errors, hits = {}, {}
        for name, (srv, ctx) in cases.items():
            with services(settings, fetcher=Fetcher(settings, ssl_context=ctx)) as svc:
                svc.store.sync_feeds([FeedConfig(name=name, url=srv.url("/feed.xml"),
                                                 outlet=name)])
                report = refresh_feed(svc, svc.store.get_feed(name), now=T0)
                errors[name] = svc.store.get_feed(name).last_error
                hits[name] = srv.total_hits
                assert report.ok == (name == "control"), (name, report)
    assert errors["control"] is None and hits["control"] >= 2  # feed, page (robots.txt)
    assert errors["unknown-ca"].startswith("tls:") and "issuer" in errors["unknown-ca"]
    assert errors["expired"].startswith("tls:") and "expired" in errors["expired"]
    assert hits["unknown-ca"] == 0 and hits["expired"] == 0
    print(f"TLS: unknown CA -> {errors['unknown-ca']!r}; expired -> {errors['expired']!r}; "
          "0 requests reached either server")


def run_daemon(svc, start: datetime, end: datetime, step: timedelta) -> dict[str, list]:
    """Tick from ``start`` to ``end``: claim what is due at each tick, poll it at that time."""
    polls: dict[str, list] = {}
    now = start
    while now <= end:
        for f in svc.store.claim_due_feeds(now, owner="test", lease=900, limit=100):
            report = refresh_feed(svc, f, now=now)
            assert report.ok, report
            polls.setdefault(f.name, []).append(now)
        now += step
    return polls


def test_clock_jumps_cause_no_burst_and_no_stall(tmp_path):
    """Pass: three feeds (interval 15 min) polled at T0. (a) The clock jumps +1 day: over the
    following 10 minutes of ticks (every 15 s) each feed is polled exactly once. (b) The clock
    then jumps back 1 day (to before the last polls): every feed is polled again within its
    interval of 15 min (+ one tick), not a day later; the polls after the jump are 15 min
    apart (no burst); no feed keeps a last fetch time in the future."""
    with Server(ALLOWED) as srv:
        feeds = []
        for n in range(3):
            srv.route(f"/f{n}.xml", Reply(body=rss([{"guid": f"{n}", "title": f"Feed {n}",
                                                     "description": "s"}]), headers=RSS))
            feeds.append(FeedConfig(name=f"f{n}", url=srv.url(f"/f{n}.xml"), outlet=f"O{n}",
                                    interval=900))
        settings = hostile_settings(tmp_path / "store.db")
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            first = run_daemon(svc, T0, T0, timedelta(seconds=15))
            assert {k: len(v) for k, v in first.items()} == {"f0": 1, "f1": 1, "f2": 1}

            ahead = T0 + timedelta(days=1)
            burst = run_daemon(svc, ahead, ahead + timedelta(minutes=10), timedelta(seconds=15))
            assert {k: len(v) for k, v in burst.items()} == {"f0": 1, "f1": 1, "f2": 1}, burst

            back = T0 + timedelta(minutes=1)  # one day back from `ahead`, after the first polls
            after = run_daemon(svc, back, back + timedelta(minutes=40), timedelta(seconds=15))
            rows = svc.store.list_feeds()
    for name, times in after.items():
        assert times[0] - back <= timedelta(seconds=900 + 15), (name, times)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= timedelta(seconds=900) for g in gaps), (name, gaps)
    assert set(after) == {"f0", "f1", "f2"}
    assert all(f.last_fetch_at <= back + timedelta(minutes=40) for f in rows)
    wait = max((t[0] - back).total_seconds() for t in after.values())
    print(f"clock: +1 day -> 1 poll per feed in 10 min; -1 day -> first poll after {wait:.0f} s "
          f"(interval 900 s), {sum(map(len, after.values()))} polls in 40 min for 3 feeds")


def test_insecure_tls_is_an_explicit_per_feed_opt_in(tmp_path):
    """Pass: two feeds in a feeds.yaml point at the same server whose certificate no trusted CA
    signed; the one with ``insecure_tls: true`` polls ok and stores its article (the page itself
    is still verified, so the article keeps its feed summary with a "tls"/"robots" note), the one
    without the key fails with "tls:"; a non-boolean value is a config error with file:line."""
    trustme = pytest.importorskip("trustme")
    from aggregator.feeds_config import ConfigError, load_feeds

    ca = trustme.CA()
    with tls_server(ca.issue_cert(ALLOWED)) as srv:
        path = tmp_path / "feeds.yaml"
        path.write_text(
            "feeds:\n"
            f"  - {{name: opted, url: '{srv.url('/feed.xml')}', outlet: O, insecure_tls: true}}\n"
            f"  - {{name: strict, url: '{srv.url('/feed.xml?x')}', outlet: S}}\n")
        feeds = load_feeds(path)
        assert [f.insecure_tls for f in feeds] == [True, False]
        settings = hostile_settings(tmp_path / "store.db")
        with services(settings) as svc:
            svc.store.sync_feeds(feeds)
            reports = {f.name: refresh_feed(svc, f, now=T0) for f in svc.store.list_feeds()}
            rows = {f.name: f for f in svc.store.list_feeds()}
            note = svc.store._r().execute("SELECT extraction_note FROM articles").fetchone()[0]
        assert reports["opted"].ok and rows["opted"].articles == 1 and rows["opted"].insecure_tls
        assert not reports["strict"].ok and rows["strict"].last_error.startswith("tls:")
        assert note.startswith(("fetch: tls", "robots:")), note
        bad = tmp_path / "bad.yaml"
        bad.write_text(f"feeds:\n  - {{name: x, url: '{srv.url('/')}', outlet: X, "
                       "insecure_tls: maybe}\n")
        with pytest.raises(ConfigError) as exc:
            load_feeds(bad)
        assert "insecure_tls" in str(exc.value) and "bad.yaml:2" in str(exc.value)
    print(f"insecure_tls: opted-in feed ok over a self-signed certificate, strict feed "
          f"{rows['strict'].last_error!r}; page note {note!r}")
