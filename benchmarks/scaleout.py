"""Scale-out: 1, 2 and 3 daemon processes against one PostgreSQL, and one daemon on SQLite.

    python -m benchmarks.scaleout [--feeds 300] [--per-event 5] [--visible 1.0] [--daemons 3]
                                  [--pg-url postgresql://…]

A loopback newsroom (``aggregator.newsroom``) serves ``--feeds`` synthetic outlets, one feed
each; each outlet carries one short article, and every event is carried by ``--per-event``
outlets (the same text at each outlet's own URL), so stories span feeds. ``--visible`` is the
share of events listed in the feeds (the other feeds are polled and empty). Each configuration
gets a fresh store and the same newsroom; the daemons are real ``scheduler.py`` processes
(``TICK_SECONDS`` lowered to 1 s so they start together) on a throwaway PostgreSQL cluster
started like the tests' (``tests/pg.py``). The feeds are synced and held back (not due) until
every daemon has started, then all made due at once: the clock runs from there until the store
shows every feed polled. Then every daemon gets SIGTERM and must exit 0.

Per configuration one JSON line: ``feeds_per_s``, ``articles_per_s`` (new articles stored per
second of that window), ``duplicate_polls`` (feed requests beyond one per feed, conditional
ones included, counted at the server), ``daemon_cpu_s`` (CPU seconds of the daemons and their
extraction workers, start-up included), ``duplicate_articles`` (article rows beyond one per URL
and beyond the articles served), ``duplicate_stories`` (events split over more than one story)
and ``merged_events`` (stories holding several events). The last line:
``{"summary": true, "daemons": N, "duplicate_polls", "duplicate_articles", "duplicate_stories",
"feeds_per_s": {"sqlite_1", "pg_1", "pg_2", "pg_3"}, "articles_per_s": {…}, "cpus"}`` (the
duplicates summed over the PostgreSQL runs).

The machine's cores cap the gain: each daemon runs its own extraction worker processes, and
PostgreSQL, the newsroom and the daemons share the same CPUs.

The helpers (synthetic articles, the newsroom with a hold on chosen paths, starting and stopping
daemon processes, reading the outcome from the store) are shared with
``tests/test_scaleout_daemons.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from aggregator.feeds_config import load_feeds
from aggregator.newsroom import NewsArticle, Newsroom, load_fixture_articles
from store import open_store
from store.timefmt import to_db

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------
# Synthetic articles

_SYLLABLES = ["ka", "lo", "mi", "ren", "tor", "vas", "bel", "du", "shi", "an", "pra", "gol", "zem",
              "fi", "nor", "qua", "til", "ber", "sa", "mon", "gri", "pel", "ux", "ost", "vin", "dra",
              "lem", "cor", "hu", "ya"]
_FUNCTION = "the of and to in a that for on with was said by at from as it its after over".split()


def _vocabulary() -> list[str]:
    words: set[str] = set()
    for a in load_fixture_articles():
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{4,}", a.text))
    return sorted(words)


def synthetic_articles(feeds: int, per_event: int = 5, seed: int = 7
                       ) -> tuple[list[NewsArticle], dict[str, int]]:
    """``feeds`` outlets with one article each; event ``e`` is carried by ``per_event``
    consecutive outlets (the same text, each at its own URL). Each event has names and words of
    its own (made-up words) besides common English, so distinct events never look alike.
    Returns (articles, event number of each article id)."""
    if feeds % per_event:
        raise ValueError("feeds must be a multiple of per_event")
    rng = random.Random(seed)
    vocab = _vocabulary()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    articles: list[NewsArticle] = []
    event_of: dict[str, int] = {}
    for e in range(feeds // per_event):
        own = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(40)]
        real = rng.sample(vocab, 40)
        name, town = own[0].title(), own[1].title()
        paragraphs = []
        for _ in range(4):
            sentences = []
            for s in range(3):
                words = [rng.choice(own) if rng.random() < 0.4
                         else rng.choice(real) if rng.random() < 0.6 else rng.choice(_FUNCTION)
                         for _ in range(rng.randint(12, 18))]
                if s == 0:
                    words[0:0] = [name, "of", town, "said"]
                sentences.append(" ".join(words).capitalize() + ".")
            paragraphs.append(" ".join(sentences))
        text = "\n".join(paragraphs)
        title = f"{name} {own[2]} {own[3]} in {town}"
        for j in range(per_event):
            aid = f"e{e}-{j}"
            articles.append(NewsArticle(id=aid, title=title, text=text,
                                        outlet=f"Outlet {e * per_event + j:04d}",
                                        published=base - timedelta(minutes=e, seconds=j)))
            event_of[aid] = e
    return articles, event_of


# --------------------------------------------------------------------------------------------
# The newsroom, with a hold on chosen paths


class HoldingNewsroom(Newsroom):
    """A ``Newsroom`` that can hold the first request of chosen paths until ``gate`` opens (a
    feed that is slow to answer while a daemon holds its claim). A held request counts as a hit
    and is never answered: its connection is closed when the gate opens (its client is gone by
    then). ``first_at``: monotonic time of the first request of any feed."""

    def __init__(self, articles, **kw) -> None:
        super().__init__(articles, **kw)
        self.hold: set[str] = set()
        self.gate = threading.Event()
        self.held = 0
        self.first_at: float | None = None
        self.feed_paths: set[str] = set()

    def start(self):
        super().start()
        self.feed_paths = {urlsplit(f["url"]).path for f in self.feeds}
        return self

    def _serve(self, req, head: bool) -> None:
        path = urlsplit(req.path).path
        if path in self.feed_paths and self.first_at is None:
            self.first_at = time.monotonic()
        with self._lock:
            hold = path in self.hold and not self.gate.is_set() and self.hits[path] == 0
            if hold:
                self.hits[path] += 1
                self.held += 1
        if hold:
            self.gate.wait(300)
            req.close_connection = True
            return
        super()._serve(req, head)

    def release(self) -> None:
        self.hold = set()
        self.gate.set()

    def feed_hits(self) -> Counter:
        return Counter({p: self.hits[p] for p in self.feed_paths})


# --------------------------------------------------------------------------------------------
# Daemon processes

# ``python scheduler.py`` with the tick shortened (the daemons start together; see the module doc).
_WRAPPER = ("import sys, scheduler; scheduler.TICK_SECONDS = float(sys.argv[1]); "
            "sys.exit(scheduler.main(sys.argv[2:]))")


def daemon_env(**extra: str) -> dict[str, str]:
    """Environment for daemons on a loopback newsroom: one host for every feed, so no per-host
    spacing, concurrency or claim cap gets in the way of the measurement."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update({
        "AGGREGATOR_ALLOW_NETWORKS": "127.0.0.0/8",
        "AGGREGATOR_HOST_SPACING": "0",
        "AGGREGATOR_HOST_CONCURRENCY": "32",
        "AGGREGATOR_HOST_CLAIM_CAP": "0",
        "AGGREGATOR_EXTRACT_WORKERS": "1",
        "AGGREGATOR_SHUTDOWN_GRACE": "20",
    })
    env.update(extra)
    return env


@dataclass
class DaemonProc:
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def started(self) -> bool:
        return "daemon started" in self.text()

    def kill9(self) -> None:
        """kill -9 the daemon and its extraction workers (its own process group): a machine
        that died."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


def start_daemon(feeds_yaml: Path, db_url: str, log: Path, *, tick: float = 1.0,
                 env: dict[str, str] | None = None) -> DaemonProc:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(tick), "--feeds", str(feeds_yaml), "--db", db_url,
             "--port", "0"],
            cwd=REPO, env=env or daemon_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill9 takes its workers along
        )
    return DaemonProc(proc, log)


def wait_for(predicate, timeout: float, daemons: list[DaemonProc] = (), what: str = "") -> None:
    """Poll ``predicate`` until true; fail at once when a daemon exits, or after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return
        for d in daemons:
            if d.proc.poll() is not None:
                raise RuntimeError(f"daemon {d.pid} exited ({d.proc.returncode}) while waiting for "
                                   f"{what}:\n{d.text()[-3000:]}")
        if time.monotonic() > end:
            logs = "\n".join(d.text()[-1500:] for d in daemons)
            raise TimeoutError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def stop_daemons(daemons: list[DaemonProc], timeout: float = 60) -> list[int]:
    """SIGTERM each daemon and wait; returns the exit codes (a daemon still alive after
    ``timeout`` is killed and reported as -9)."""
    for d in daemons:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
    codes = []
    for d in daemons:
        try:
            codes.append(d.proc.wait(timeout))
        except subprocess.TimeoutExpired:
            d.kill9()
            codes.append(-9)
    return codes


# --------------------------------------------------------------------------------------------
# The store


FAR = datetime(2999, 1, 1, tzinfo=UTC)


def seed_feeds(db_url: str, feeds_yaml: Path, *, due: bool) -> None:
    """Create the schema and the feeds; ``due=False`` holds them back (not due) until
    ``make_due``."""
    with open_store(db_url) as store:
        store.sync_feeds(load_feeds(feeds_yaml))
        if not due:
            with store._tx() as c:
                c.execute("UPDATE feeds SET next_check_at = ?", (to_db(FAR),))


def make_due(store) -> None:
    with store._tx() as c:
        c.execute("UPDATE feeds SET next_check_at = NULL")


@dataclass
class Outcome:
    feeds: dict[str, dict]  # name -> {last_fetch_at, claimed_by, claimed_until, entries}
    articles: list[tuple[str, int]]  # (url, story id) of every article row

    @property
    def polled(self) -> int:
        return sum(1 for f in self.feeds.values() if f["last_fetch_at"])


def read_outcome(db) -> Outcome:
    """What the store holds (``db``: an open store, or a URL)."""
    if isinstance(db, str):
        with open_store(db) as store:
            return read_outcome(store)
    r = db._r()
    feeds = {row["name"]: {"last_fetch_at": row["last_fetch_at"], "claimed_by": row["claimed_by"],
                           "claimed_until": row["claimed_until"], "entries": row["n"]}
             for row in r.execute(
                 """SELECT f.name, f.last_fetch_at, f.claimed_by, f.claimed_until,
                           (SELECT COUNT(*) FROM entries e WHERE e.feed_id = f.id) AS n
                    FROM feeds f""")}
    articles = [(row[0], row[1]) for row in r.execute("SELECT url, story_id FROM articles")]
    return Outcome(feeds, articles)


def count_polled(store) -> int:
    return store._r().execute(
        "SELECT COUNT(*) FROM feeds WHERE last_fetch_at IS NOT NULL").fetchone()[0]


def groups_by_url(articles: list[tuple[str, int]]) -> set[frozenset[str]]:
    """The stories as sets of article URLs (independent of story ids)."""
    by_story: dict[int, set[str]] = {}
    for url, story in articles:
        by_story.setdefault(story, set()).add(url)
    return {frozenset(v) for v in by_story.values()}


def story_quality(nr: Newsroom, event_of: dict[str, int], articles: list[tuple[str, int]]
                  ) -> dict[str, int]:
    """duplicate_articles: rows beyond one per URL; duplicate_stories: extra stories an event is
    split over; merged_events: extra events sharing a story."""
    urls = Counter(url for url, _ in articles)
    stories_of: dict[int, set[int]] = {}
    events_of: dict[int, set[int]] = {}
    for url, story in articles:
        e = event_of[nr.article_id_for(url)]
        stories_of.setdefault(e, set()).add(story)
        events_of.setdefault(story, set()).add(e)
    return {
        "duplicate_articles": sum(n - 1 for n in urls.values()),
        "duplicate_stories": sum(len(s) - 1 for s in stories_of.values()),
        "merged_events": sum(len(e) - 1 for e in events_of.values()),
    }


# --------------------------------------------------------------------------------------------
# One run


def run_daemons(nr: HoldingNewsroom, feeds_yaml: Path, db_url: str, n: int, workdir: Path,
                *, env: dict[str, str] | None = None, timeout: float = 600, label: str = "run") -> dict:
    """Start ``n`` daemons on a fresh store, make every feed due once they have all started,
    wait until every feed is polled, SIGTERM them. Returns the measurements."""
    seed_feeds(db_url, feeds_yaml, due=False)
    total = len(nr.feeds)
    cpu0 = _children_cpu()
    before = nr.feed_hits()
    daemons = [start_daemon(feeds_yaml, db_url, workdir / f"{label}-daemon-{i}.log", env=env)
               for i in range(n)]
    try:
        wait_for(lambda: all(d.started() for d in daemons), 120, daemons, "the daemons to start")
        with open_store(db_url) as store:
            t0 = time.monotonic()
            make_due(store)
            wait_for(lambda: count_polled(store) >= total, timeout, daemons, "every feed polled")
            elapsed = time.monotonic() - t0
    finally:
        codes = stop_daemons(daemons)
    cpu = _children_cpu() - cpu0
    outcome = read_outcome(db_url)
    hits = nr.feed_hits() - before
    return {
        "elapsed": elapsed, "cpu": cpu, "exit_codes": codes, "outcome": outcome, "hits": hits,
        "logs": [d.text() for d in daemons], "pids": [d.pid for d in daemons],
    }


def _children_cpu() -> float:
    """CPU seconds of the waited-for child processes (daemons, and their extraction workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(label: str, nr: HoldingNewsroom, event_of: dict[str, int], feeds_yaml: Path,
            db_url: str, n: int, workdir: Path) -> dict:
    res = run_daemons(nr, feeds_yaml, db_url, n, workdir, label=label)
    out: Outcome = res["outcome"]
    hits: Counter = res["hits"]
    q = story_quality(nr, event_of, out.articles)
    return {
        "run": label, "daemons": n, "feeds": len(nr.feeds), "articles": len(out.articles),
        "seconds": round(res["elapsed"], 2),
        "feeds_per_s": round(len(nr.feeds) / res["elapsed"], 1),
        "articles_per_s": round(len(out.articles) / res["elapsed"], 1),
        "daemon_cpu_s": round(res["cpu"], 1),
        "duplicate_polls": sum(max(0, hits[p] - 1) for p in nr.feed_paths),
        "unpolled": sum(1 for p in nr.feed_paths if hits[p] == 0),
        **q,
        "exit_codes": res["exit_codes"],
    }


class Databases:
    """Fresh databases for the runs: on a throwaway cluster started here (as ``tests/pg.py``
    does), or on the server of ``--pg-url`` (the databases made there are dropped at the end)."""

    def __init__(self, admin_url: str | None) -> None:
        self.admin_url = admin_url
        self.server = None
        self.made: list[str] = []

    def __enter__(self) -> "Databases":
        if self.admin_url is None:
            from tests.pg import PgServer, _bindir

            bindir = _bindir()
            if bindir is None:
                raise SystemExit("no PostgreSQL server binaries (initdb) under "
                                 "/usr/lib/postgresql/*/bin: apt-get install postgresql, or pass --pg-url")
            self.server = PgServer(bindir)
            try:
                self.server.start()
            except BaseException:
                self.server.stop()
                raise
            self.admin_url = self.server.url()
        return self

    def new_url(self) -> str:
        import psycopg

        name = f"scaleout_{os.getpid()}_{len(self.made) + 1}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        self.made.append(name)
        return urlsplit(self.admin_url)._replace(path="/" + name).geturl()

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.stop()  # the whole cluster goes
            return
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=300)
    ap.add_argument("--per-event", type=int, default=5)
    ap.add_argument("--visible", type=float, default=1.0, help="share of events in the feeds")
    ap.add_argument("--daemons", type=int, default=3, help="PostgreSQL runs with 1..N daemons")
    ap.add_argument("--pg-url", help="use this PostgreSQL server (a database is created per run, "
                                     "dropped at the end) instead of starting a throwaway cluster")
    args = ap.parse_args(argv)
    feeds = max(args.per_event, args.feeds - args.feeds % args.per_event)

    articles, event_of = synthetic_articles(feeds, args.per_event)
    events = feeds // args.per_event
    shown = max(1, round(events * args.visible))
    results = []
    with tempfile.TemporaryDirectory(prefix="scaleout-") as tmp, HoldingNewsroom(articles) as nr, \
            Databases(args.pg_url) as dbs:
        work = Path(tmp)
        nr.publish([a.id for a in articles if event_of[a.id] < shown])
        feeds_yaml = nr.write_feeds_yaml(work / "feeds.yaml")
        runs = [("sqlite_1", f"sqlite:///{work / 'single.db'}", 1)]
        runs += [(f"pg_{n}", dbs.new_url(), n) for n in range(1, args.daemons + 1)]
        for label, url, n in runs:
            row = measure(label, nr, event_of, feeds_yaml, url, n, work)
            results.append(row)
            print(json.dumps(row), flush=True)
    pg_rows = [r for r in results if r["run"].startswith("pg_")]
    summary = {
        "summary": True,
        "daemons": args.daemons,
        "duplicate_polls": sum(r["duplicate_polls"] for r in pg_rows),
        "duplicate_articles": sum(r["duplicate_articles"] for r in pg_rows),
        "duplicate_stories": sum(r["duplicate_stories"] for r in pg_rows),
        "feeds_per_s": {r["run"]: r["feeds_per_s"] for r in results},
        "articles_per_s": {r["run"]: r["articles_per_s"] for r in results},
        "feeds": feeds, "articles": sum(1 for a in articles if event_of[a.id] < shown),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
