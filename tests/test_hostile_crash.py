"""Issue 6, case 5 (crash consistency): `aggregator poll --once` SIGKILLed 30 times at random
moments while it ingests a loopback newsroom, restarted each time, then run to completion.

The kill hits the whole process group (the poller and its extraction workers), like an OOM kill
or a power cut of the process; SQLite itself is not in doubt, our write order is.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aggregator.newsroom import Newsroom, load_fixture_articles
from tests.hostile_payloads import ALLOWED

pytestmark = pytest.mark.hostile
ROOT = Path(__file__).resolve().parents[1]
KILLS = int(os.environ.get("HOSTILE_KILLS", "30"))  # each restart pays Python start-up


def poll(feeds: Path, db: Path, kill_after: float | None = None) -> int | None:
    """Run one `poll --once`; SIGKILL its process group after ``kill_after`` seconds.
    Returns the exit code, or None when it was killed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(AGGREGATOR_ALLOW_NETWORKS=f"{ALLOWED}/32", AGGREGATOR_HOST_SPACING="0",
               AGGREGATOR_EXTRACT_WORKERS="0", AGGREGATOR_FETCH_DEADLINE="10")
    # Extraction in-process: crash consistency is about the store's writes, and sparing the
    # worker's start-up leaves more of each run for the kills to land in.
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "poll", "--once", "--feeds", str(feeds),
         "--db", f"sqlite:///{db}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        proc.wait(timeout=kill_after if kill_after is not None else 120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        return None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    assert proc.returncode == 0, err[-3000:]
    return proc.returncode


def snapshot(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        urls = [r[0] for r in conn.execute("SELECT url FROM articles")]
        assert len(urls) == len(set(urls))  # every article once
        unsigned = conn.execute(
            "SELECT COUNT(*) FROM articles WHERE fp_signature IS NULL OR length(fp_signature) = 0 "
            "OR fp_scheme = '' OR story_id IS NULL").fetchone()[0]
        dangling = conn.execute(
            "SELECT COUNT(*) FROM articles a LEFT JOIN stories s ON s.id = a.story_id "
            "WHERE s.id IS NULL").fetchone()[0]
        empty_stories = conn.execute(
            "SELECT COUNT(*) FROM stories s WHERE merged_into IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM articles a WHERE a.story_id = s.id)").fetchone()[0]
        orphan_entries = conn.execute(
            "SELECT COUNT(*) FROM entries e LEFT JOIN articles a ON a.id = e.article_id "
            "WHERE a.id IS NULL").fetchone()[0]
        assert (unsigned, dangling, empty_stories, orphan_entries) == (0, 0, 0, 0)
        groups: dict[int, set[str]] = {}
        for url, story in conn.execute("SELECT url, story_id FROM articles"):
            groups.setdefault(story, set()).add(url)
        entries = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        return {"urls": set(urls), "stories": sorted(sorted(g) for g in groups.values()),
                "entries": entries}
    finally:
        conn.close()


def test_random_sigkills_lose_and_repeat_nothing(tmp_path):
    """Pass: after 30 SIGKILLs at random moments (at least half of them mid-run), each followed
    by a restart, and a final complete run, PRAGMA integrity_check is ok, no foreign key
    dangles, every article is stored once with its signature and a story, no story or entry
    references a missing article, and the store holds the same article URLs, entries and
    story grouping as a crash-free run."""
    rng = random.Random(6)
    articles = load_fixture_articles()
    ids = [a.id for a in articles]
    with Newsroom(articles, host=ALLOWED) as nr:
        feeds = nr.write_feeds_yaml(tmp_path / "feeds.yaml")
        clean_db, crash_db = tmp_path / "clean.db", tmp_path / "crash.db"
        started = time.monotonic()
        assert poll(feeds, clean_db) == 0
        full_run = time.monotonic() - started
        killed = completed = 0
        for n in range(KILLS):
            # The newsroom publishes its articles a few at a time, so every run has new articles
            # to ingest and the kills land among article, entry, story and feed-state writes.
            nr.publish(ids[: 1 + ((n + 1) * len(ids)) // KILLS])
            if poll(feeds, crash_db, kill_after=rng.uniform(0.3, full_run)) is None:
                killed += 1
            else:
                completed += 1
            if crash_db.exists():
                snapshot(crash_db)  # consistent after every kill, not only at the end
        nr.publish(None)
        assert poll(feeds, crash_db) == 0
    clean, crashed = snapshot(clean_db), snapshot(crash_db)
    print(f"crash: {killed} SIGKILLs + {completed} runs that finished first; "
          f"full run {full_run:.1f} s; "
          f"{len(crashed['urls'])} articles, {len(crashed['stories'])} stories, same as crash-free: "
          f"{clean == crashed}")
    assert killed >= KILLS // 2  # the rest finished before their random kill time
    assert crashed["urls"] == clean["urls"]
    assert crashed["entries"] == clean["entries"]
    assert crashed["stories"] == clean["stories"]
