"""Operator endpoints: /metrics in Prometheus text format, /readyz; the status table columns."""

from __future__ import annotations

import httpx

from aggregator import metrics
from aggregator.cli import main as cli_main
from aggregator.models import FeedConfig
from aggregator.pipeline import Services, refresh_feed
from aggregator.web.app import create_app
from tests.servers import Reply, Server
from tests.test_pipeline import HTML_TYPE, RSS_TYPE, WIRE, page, rss


async def _get(app, path):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        return await client.get(path)


def test_metrics_readyz_and_status(loopback_settings, capsys):
    import asyncio

    with Server() as srv:
        srv.route("/ok", Reply(body=rss([("1", srv.url("/p/1"), "Lock plan")]), headers=RSS_TYPE))
        srv.route("/p/1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
        srv.route("/slow-down", Reply(status=429))
        before = dict(metrics.fetches)
        with Services(loopback_settings) as svc:
            svc.store.sync_feeds([FeedConfig(name="ok", url=srv.url("/ok"), outlet="OK"),
                                  FeedConfig(name="busy", url=srv.url("/slow-down"), outlet="B")])
            for f in svc.store.list_feeds():
                refresh_feed(svc, f)
            app = create_app(svc.store)
            m = asyncio.run(_get(app, "/metrics"))
            ready = asyncio.run(_get(app, "/readyz"))
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    text = m.text
    assert metrics.fetches["changed"] == before.get("changed", 0) + 1
    assert metrics.fetches["rate_limited"] == before.get("rate_limited", 0) + 1
    assert 'aggregator_feed_fetches_total{outcome="rate_limited"}' in text
    assert "aggregator_articles 1" in text and "aggregator_stories 1" in text
    assert "aggregator_feeds_failing 1" in text and "aggregator_due_feeds 0" in text
    assert "# TYPE aggregator_feed_fetch_seconds histogram" in text
    assert ready.status_code == 200 and ready.text == "ready"

    assert cli_main(["feeds", "status", "--db", loopback_settings.db_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "next check" in out[0] and "/day" in out[0] and "copies" in out[0]
    ok = next(ln for ln in out if ln.startswith("ok "))
    busy = next(ln for ln in out if ln.startswith("busy "))
    assert " 200 " in ok and " 1 " in ok and "0%" in ok
    assert "failing" in busy and " 429 " in busy and "rate limited" in busy
