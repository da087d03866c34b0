"""The daemon as operators run it: hot reload of feeds.yaml, and SIGTERM on a real process."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from scheduler import Daemon
from tests.servers import Reply, Server
from tests.test_pipeline import HTML_TYPE, RSS_TYPE, WIRE, page, rss

REPO = Path(__file__).resolve().parent.parent


def feeds_yaml(*feeds: tuple[str, str]) -> str:
    return "feeds:\n" + "".join(f"  - name: {n}\n    url: {u}\n    outlet: {n.upper()}\n"
                                for n, u in feeds)


def touch(path: Path, text: str, bump: int) -> None:
    """Write and move the mtime forward: file systems with coarse mtimes would hide a change."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_a_changed_feeds_file_is_reloaded_by_the_tick(tmp_path, loopback_settings, caplog):
    with Server() as srv:
        srv.route("/a.xml", Reply(body=rss([("a1", srv.url("/p/a1"), "Lock plan")]),
                                  headers=RSS_TYPE))
        srv.route("/b.xml", Reply(body=rss([("b1", srv.url("/p/b1"), "Lock plan two")]),
                                  headers=RSS_TYPE))
        srv.route("/p/a1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
        srv.route("/p/b1", Reply(body=page("Lock plan two", WIRE[1:]), headers=HTML_TYPE))
        path = tmp_path / "feeds.yaml"
        touch(path, feeds_yaml(("a", srv.url("/a.xml"))), 0)
        d = Daemon(loopback_settings.with_(feeds_path=str(path)))
        try:
            assert d.reload_feeds()
            assert [f.name for f in d.tick()] == ["a"]
            assert d.wait_idle(60)

            touch(path, feeds_yaml(("b", srv.url("/b.xml"))), 1)  # a removed, b added
            assert [f.name for f in d.tick()] == ["b"]
            assert d.wait_idle(60)
            a, b = d.svc.store.get_feed("a"), d.svc.store.get_feed("b")
            assert not a.in_config and a.articles == 1  # a removed feed keeps its articles
            assert b.in_config and b.articles == 1

            caplog.set_level(logging.ERROR, logger="aggregator.daemon")
            touch(path, "feeds:\n  - name: [broken\n", 2)
            assert d.tick() == []
            assert "feeds file invalid" in caplog.text and "feeds.yaml:" in caplog.text
            assert [f.name for f in d.svc.store.list_feeds() if f.in_config] == ["b"]
            assert srv.hits["/b.xml"] == 1  # nothing polled early along the way
        finally:
            d.stop()


def test_sigterm_stops_within_the_grace_and_leaves_a_sound_store(tmp_path):
    grace = 2
    with Server() as srv:
        srv.route("/fast.xml", Reply(body=rss([("f1", srv.url("/p/f1"), "Lock plan")]),
                                     headers=RSS_TYPE))
        srv.route("/p/f1", Reply(body=page("Lock plan", WIRE), headers=HTML_TYPE))
        srv.route("/slow.xml", Reply(hang=True))  # in flight when SIGTERM comes
        path = tmp_path / "feeds.yaml"
        path.write_text(feeds_yaml(("fast", srv.url("/fast.xml")),
                                   ("slow", srv.url("/slow.xml", host="localhost"))))
        db = tmp_path / "store.db"
        env = {**os.environ, "AGGREGATOR_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
               "AGGREGATOR_HOST_SPACING": "0", "AGGREGATOR_EXTRACT_WORKERS": "1",
               "AGGREGATOR_SHUTDOWN_GRACE": str(grace), "AGGREGATOR_FETCH_DEADLINE": "120"}
        logfile = tmp_path / "daemon.log"
        with logfile.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "scheduler.py", "--feeds", str(path), "--db", f"sqlite:///{db}",
                 "--port", "0"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            end = time.monotonic() + 90
            while time.monotonic() < end and not (srv.hits["/slow.xml"] and _articles(db)):
                assert proc.poll() is None, logfile.read_text()
                time.sleep(0.1)
            assert srv.hits["/slow.xml"] == 1 and _articles(db) == 1
            proc.send_signal(signal.SIGTERM)
            # The bound: the grace, plus start-up of nothing, plus a generous margin for a
            # loaded CI machine. Without the abandon path this waits for the 120 s deadline.
            rc = proc.wait(timeout=grace + 30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = logfile.read_text()
    assert rc == 0, log
    assert "abandoning in-flight polls" in log
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        slow = conn.execute("SELECT last_fetch_at, claimed_until FROM feeds WHERE name = 'slow'"
                            ).fetchone()
        assert slow == (None, None)  # abandoned: nothing written, the claim given back
    finally:
        conn.close()


def _articles(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0
