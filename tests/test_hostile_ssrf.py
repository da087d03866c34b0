"""Issue 6, case 1 (SSRF) through the whole pipeline: feed URLs, article URLs and redirects that
lead to loopback, private, link-local, metadata and IPv6-mapped addresses, in numeric disguises,
and a DNS name whose answer changes between check and connect.

The canary listens on 127.0.0.3 *on the same port* as the allowed server on 127.0.0.2, so a
request that slipped to the wrong address would land on it. Unit-level proofs of the guard live in
tests/test_fetch.py and tests/test_egress.py; this file proves the pipeline uses it everywhere.
"""

from __future__ import annotations

import socket

import pytest

from aggregator import egress
from aggregator.models import FeedConfig
from aggregator.pipeline import poll_once
from tests.hostile_payloads import (
    ALLOWED,
    CANARY,
    FILLER,
    article_page,
    hostile_settings,
    rss,
    services,
    xml_escape,
)
from tests.servers import Reply, Server, redirect

pytestmark = pytest.mark.hostile

# Spellings of the canary (and of other forbidden places) that libc or httpx accept.
def forbidden_hosts(port: int) -> list[str]:
    return [
        f"{CANARY}:{port}", f"2130706435:{port}", f"0x7f.0.0.3:{port}", f"0x7f000003:{port}",
        f"0177.0.0.3:{port}", f"127.3:{port}", f"[::ffff:127.0.0.3]:{port}",
        f"[::ffff:7f00:3]:{port}", f"[::127.0.0.3]:{port}", f"[64:ff9b::7f00:3]:{port}",
        f"localhost:{port}", f"0.0.0.0:{port}", f"[::1]:{port}", f"[::]:{port}",
        "169.254.169.254", "[fe80::1]", "10.0.0.1", "192.168.1.1", "172.16.0.1",
        "100.64.0.1", f"rebind.test:{port}",
    ]


@pytest.fixture
def net(monkeypatch):
    with Server(ALLOWED) as srv, Server(CANARY, port=srv.port) as canary:
        canary.route("*", Reply(body=b"canary"))
        # rebind.test: first answer the allowed server, every later one the canary.
        real = socket.getaddrinfo
        answers = {"n": 0}

        def fake(host, *a, **kw):
            if host == "rebind.test":
                answers["n"] += 1
                ip = ALLOWED if answers["n"] == 1 else CANARY
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, srv.port))]
            if host == "localhost":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", a[0] if a else 80))]
            return real(host, *a, **kw)

        monkeypatch.setattr(egress.socket, "getaddrinfo", fake)
        yield srv, canary


def test_ssrf_through_the_pipeline(net, tmp_path):
    """Pass: over two polling rounds of every hostile feed URL, feed redirect and article link,
    the canary sees 0 connections; each feed aimed at a forbidden address is failing with an error
    starting "blocked" (or "bad_url" for a spelling httpx refuses to parse), articles whose page is
    forbidden keep their feed summary with a "fetch: blocked" note, and the honest feed polls ok."""
    srv, canary = net
    hosts = forbidden_hosts(srv.port)
    feeds: list[FeedConfig] = []
    for n, host in enumerate(hosts):
        feeds.append(FeedConfig(name=f"direct-{n}", url=f"http://{host}/feed.xml", outlet="Bad"))
    # Redirects from the allowed server to forbidden places (every hop is checked).
    for n, host in enumerate(hosts):
        srv.route(f"/redir/{n}", redirect(f"http://{host}/internal", 302 if n % 2 else 307))
        feeds.append(FeedConfig(name=f"redirect-{n}", url=srv.url(f"/redir/{n}"), outlet="Bad"))
    srv.route("/chain/1", redirect("/chain/2", 301))
    srv.route("/chain/2", redirect(f"http://[::ffff:127.0.0.3]:{srv.port}/x", 308))
    feeds.append(FeedConfig(name="chain", url=srv.url("/chain/1"), outlet="Bad"))
    # An honest feed whose article links point at forbidden places, directly or by redirect.
    items = []
    for n, host in enumerate(hosts):
        items.append({"guid": f"d{n}", "link": xml_escape(f"http://{host}/article/{n}"),
                      "title": f"Direct {n}", "description": f"Summary direct {n}. {FILLER}"})
        srv.route(f"/to-canary/{n}", redirect(f"http://{host}/article/{n}"))
        items.append({"guid": f"r{n}", "link": srv.url(f"/to-canary/{n}"),
                      "title": f"Redirected {n}", "description": f"Summary redirected {n}. {FILLER}"})
    srv.route("/ok/1", Reply(body=article_page("Honest", [FILLER] * 3),
                             headers={"Content-Type": "text/html"}))
    items.append({"guid": "ok", "link": srv.url("/ok/1"), "title": "Honest", "description": "s"})
    srv.route("/good.xml", Reply(body=rss(items), headers={"Content-Type": "application/rss+xml"}))
    feeds.append(FeedConfig(name="good", url=srv.url("/good.xml"), outlet="Good"))

    settings = hostile_settings(tmp_path / "store.db", fetch_deadline=3.0)
    attempts = 0
    with services(settings) as svc:
        svc.store.sync_feeds(feeds)
        for _round in range(2):
            rows = svc.store.list_feeds()
            reports = {r.feed: r for r in poll_once(svc, rows, workers=4)}
            attempts += len(rows) - 1 + 2 * len(hosts) * (_round == 0)
        assert canary.connections == 0 and canary.total_hits == 0
        good = reports["good"]
        assert good.ok and good.error is None
        state = {f.name: f for f in svc.store.list_feeds()}
        for name, f in state.items():
            if name == "good":
                assert f.last_error is None and f.articles == len(items)
                continue
            assert f.last_error and f.last_error.split(":")[0] in ("blocked", "bad_url"), (name, f.last_error)
            assert f.error_count == 2
        blocked = [f for f in state.values() if (f.last_error or "").startswith("blocked")]
        assert len(blocked) >= len(feeds) - 4, [(f.name, f.last_error) for f in state.values()]
        notes = dict(svc.store._r().execute(
            "SELECT url, extraction_note FROM articles WHERE extraction = 'summary'").fetchall())
        # Every forbidden article page fell back to its summary with the reason recorded.
        assert len(notes) >= 2 * len(hosts) - 4
        # (robots.txt is fetched through the same guard: a forbidden host has no readable robots
        # file, so the page may be refused there first.)
        refused = [n for n in notes.values() if n.startswith(("fetch: blocked", "fetch: bad_url", "robots:"))]
        assert len(refused) >= 2 * len(hosts) - 4, notes
    print(f"SSRF: canary hits 0 of {attempts} attempts ({len(blocked)} feeds blocked)")
