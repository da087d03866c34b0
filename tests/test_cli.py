"""The command-line contract of issue 2, run as a real subprocess where it matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aggregator.cli import main
from tests.servers import Reply, Server

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", *args], capture_output=True, text=True,
        cwd=REPO, env={**os.environ, **(env or {})}, timeout=300,
    )


def test_poll_once_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: x\n")
    r = run_cli("poll", "--once", "--feeds", str(bad), "--db", f"sqlite:///{tmp_path}/a.db")
    assert r.returncode == 2 and f"{bad}:2" in r.stderr

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage" * 1000)
    good = tmp_path / "good.yaml"
    good.write_text("feeds:\n  - name: x\n    url: http://127.0.0.1:9/feed\n    outlet: X\n")
    r = run_cli("poll", "--once", "--feeds", str(good), "--db", f"sqlite:///{junk}")
    assert r.returncode == 3 and "store:" in r.stderr


def test_poll_once_records_failures_and_exits_zero(tmp_path):
    """Loopback is refused by default: the feed fails as "blocked", the run still exits 0."""
    with Server() as srv:
        srv.route("/feed", Reply(body=b"<rss/>"))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - name: x\n    url: {srv.url('/feed')}\n    outlet: X\n")
        db = f"sqlite:///{tmp_path}/a.db"
        env = {"AGGREGATOR_ALLOW_NETWORKS": ""}
        r = run_cli("poll", "--once", "--feeds", str(feeds), "--db", db, env=env)
        assert r.returncode == 0, r.stderr
        assert "feeds ok: 0, failed: 1" in r.stdout
        assert "blocked" in r.stderr
        assert srv.connections == 0
        r = run_cli("feeds", "status", "--db", db)
        assert "failing" in r.stdout and "blocked" in r.stdout


def test_stories_json_lines(tmp_path, capsys):
    from datetime import UTC, datetime

    from aggregator.models import FeedConfig
    from store import Membership, NewArticle, open_store

    db = f"sqlite:///{tmp_path}/s.db"
    st = open_store(db)
    st.sync_feeds([FeedConfig("x", "http://x.example/", "X Times")])
    feed = st.get_feed("x")
    t = datetime(2026, 11, 28, 9, 5, tzinfo=UTC)
    art = NewArticle(url="http://x.example/1", title="Headline", author="A", published=t,
                     first_seen=t, outlet="X Times", feed_id=feed.id, summary="", text="Body.",
                     language="en", site_name="", extraction="page", extraction_note="",
                     fp_scheme="t", fp_signature=b"", fp_payload="{}")
    st.add_article(art, "g", "http://x.example/1", lambda i: Membership(i, None, "report", 0, 1))
    st.close()
    assert main(["stories", "--json", "--db", db]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    story = json.loads(line)
    assert {"id", "title", "first_seen", "sources"} <= set(story)
    (src,) = story["sources"]
    assert src["outlet"] == "X Times" and src["published"] == "2026-11-28T09:05:00Z"
    assert {"outlet", "title", "url", "published", "role"} <= set(src)
