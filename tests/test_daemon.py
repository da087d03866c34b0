"""The daemon's tick: due feeds only, nothing polled early after a restart, safe reloads."""

from __future__ import annotations

import time

from scheduler import Daemon
from tests.servers import Reply, Server

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
       b"<item><guid>1</guid><title>Only headline here today</title></item></channel></rss>")


def wait_idle(d: Daemon, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while d.in_flight and time.monotonic() < end:
        time.sleep(0.05)
    assert not d.in_flight


def test_tick_polls_due_feeds_and_a_restart_polls_nothing_early(tmp_path, loopback_settings):
    with Server() as srv:
        srv.route("/a.xml", Reply(body=RSS, headers={"Content-Type": "application/rss+xml"}))
        srv.route("/b.xml", Reply(body=RSS, headers={"Content-Type": "application/rss+xml"}))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(
            f"feeds:\n  - name: a\n    url: {srv.url('/a.xml')}\n    outlet: A\n"
            f"  - name: b\n    url: {srv.url('/b.xml')}\n    outlet: B\n    enabled: false\n"
        )
        settings = loopback_settings.with_(feeds_path=str(feeds))
        d = Daemon(settings)
        try:
            assert d.reload_feeds()
            d.tick()
            wait_idle(d)
            assert srv.hits["/a.xml"] == 1 and srv.hits["/b.xml"] == 0
            d.tick()
            wait_idle(d)
            assert srv.hits["/a.xml"] == 1  # not due yet
        finally:
            d.stop()
        restarted = Daemon(settings)
        try:
            assert restarted.reload_feeds()
            restarted.tick()
            wait_idle(restarted)
            assert srv.hits["/a.xml"] == 1
            assert restarted.svc.store.get_feed("a").next_check_at is not None
        finally:
            restarted.stop()


def test_invalid_reload_keeps_the_feed_list(tmp_path, loopback_settings):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: a\n    url: http://127.0.0.1:9/a\n    outlet: A\n")
    d = Daemon(loopback_settings.with_(feeds_path=str(feeds)))
    try:
        assert d.reload_feeds()
        feeds.write_text("feeds:\n  - name: [broken\n")
        assert not d.reload_feeds()
        assert [f.name for f in d.svc.store.list_feeds() if f.in_config] == ["a"]
    finally:
        d.stop()
