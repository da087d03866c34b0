"""Reader web benchmark: story page and front page latency and rate under 100 connections.

    python -m benchmarks.web [--stories 5000] [--connections 100] [--duration 10] [--workers N]
                             [--write-every 0.5] [--keep DB]

Builds an SQLite store with ``--stories`` stories (1–4 sources each, synthetic texts generated
here) through the store's own write API, serves it with uvicorn on 127.0.0.1 (``--workers``
processes, as ``aggregator serve --workers`` runs it; uvloop + httptools) and drives it with wrk
(Debian: ``apt-get install wrk``): closed loop, ``--connections`` open connections, story ids
drawn uniformly from every story.

What is warm and what is cold:

* ``*_cold``: page cache off (``cache_bytes=0``, no warmer): every request renders (store
  queries + story view + Jinja). The cost of a page nobody has opened since it changed.
* the product as shipped (cache on, warmer on): the server starts, the warmer renders the newest
  stories until its cache budget is 90 % full (here: every story fits), and the benchmark waits
  until the warmer's first pass is over (``/metrics``: ``aggregator_web_cache_warming 0``). Then,
  during every measurement, a writer (another connection, as the daemon) adds a source to a
  random story every ``--write-every`` seconds and records a feed poll: each write moves the
  store's ``data_version``, the changed story's page is re-rendered (by the warmer or by the first
  reader), listings are re-rendered once per change, all other pages stay cached. ``story`` is
  the uniform-random story page over all stories in that state, not a hand-picked hot set.
* ``static``: the floor — the same server's rate for a static file of a story page's size
  (Starlette's ``StaticFiles`` mounted in the same app). ``healthz``: a route that does nothing,
  the server's own limit on this machine at that moment (on a shared machine its p99 shows how
  much of a page's tail is the machine's).

Prints one JSON object per measurement, then
``{"summary": true, "story_p99_ms", "front_p99_ms", "story_rps", "static_rate_ratio", ...}``
(plus ``cache_mb``: the page cache's size per worker after the run). With a closed loop,
latency ≈ connections / rate (Little's law): p99 ≤ 50 ms at 100 connections needs ≥ 2,000
requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = (
    "council senate court river bridge harbor budget election storm flood school hospital police "
    "market trade tariff strike union contract mayor governor minister border vote bill law "
    "report inquiry fire rescue drought harvest energy grid rail airport port museum stadium "
    "festival treaty summit protest verdict appeal tax wages housing rent transit water"
).split()
OUTLETS = ["Harbor Gazette", "Valley Courier", "Metro Daily", "Capital Ledger", "Coastal Times",
           "Prairie Post", "Summit Herald", "Lakeside News"]


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def build_store(path: Path, stories: int, seed: int = 7) -> list[int]:
    from aggregator.models import FeedConfig
    from store import Membership, NewArticle, open_store

    rng = random.Random(seed)
    store = open_store(f"sqlite:///{path}")
    store.sync_feeds(FeedConfig(name=f"feed-{i}", url=f"https://feeds.example/{i}.xml", outlet=o,
                                tags=(["news", "local", "world"][i % 3],))
                     for i, o in enumerate(OUTLETS))
    feeds = {f.outlet: f.id for f in store.list_feeds()}
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for s in range(stories):
        when = t0 + timedelta(minutes=7 * s)
        title = sentence(rng, 7)[:-1]
        text = "\n\n".join(sentence(rng, rng.randint(12, 30)) for _ in range(rng.randint(4, 9)))
        story_id = None
        for k, outlet in enumerate(rng.sample(OUTLETS, rng.randint(1, 4))):
            url = f"https://{outlet.lower().replace(' ', '')}.example/{s}"
            art = NewArticle(
                url=url, title=title if k == 0 else sentence(rng, 6)[:-1], author="Staff",
                published=when + timedelta(minutes=9 * k), first_seen=when + timedelta(minutes=9 * k + 2),
                outlet=outlet, feed_id=feeds[outlet], summary="", text=text, language="en",
                site_name=outlet, extraction="page", extraction_note="", fp_scheme="bench",
                fp_signature=b"", fp_payload="",
            )
            _, m, _ = store.add_article(
                art, f"g{s}-{k}", url,
                lambda aid, sid=story_id, k=k: Membership(
                    story_id=aid if sid is None else sid, copy_of=None,
                    role="report" if k % 2 == 0 else "copy", reuse=0.0 if k % 2 == 0 else 0.8,
                    score=1.0),
            )
            story_id = m.story_id
        ids.append(story_id)
    store.close()
    return ids


SERVER = """
import sys
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from aggregator.web.app import create_app
from store import open_store
DB, STATIC, CACHE = {db!r}, {static!r}, {cache!r}

def make():
    app = create_app(open_store(f"sqlite:///{{DB}}"), cache_bytes=CACHE, warm=CACHE > 0)
    app.router.routes.insert(0, Mount("/bench-static", app=StaticFiles(directory=STATIC)))
    return app
"""

LUA = """
math.randomseed(%d)
local ids = {%s}
request = function()
  return wrk.format("GET", "/story/" .. ids[math.random(#ids)])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(work: Path, db: Path, static_dir: Path, cache: int, workers: int) -> tuple[subprocess.Popen, str]:
    (work / "benchserver.py").write_text(SERVER.format(db=str(db), static=str(static_dir), cache=cache),
                                         encoding="utf-8")
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "benchserver:make", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work), os.getcwd()])}
    proc = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            import httpx

            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("benchmarks.web: the server did not start")


def metric(base: str, name: str) -> float | None:
    import httpx

    m = re.search(rf"^{name} ([\d.e+]+)$", httpx.get(f"{base}/metrics", timeout=30).text, re.M)
    return float(m.group(1)) if m else None


def wait_warm(base: str, workers: int, timeout: float = 900) -> float:
    """Wait until the warmer's first pass is over in every worker (each /metrics answer comes
    from one of them: several answers in a row must say so)."""
    t = time.monotonic()
    quiet = 0
    while quiet < 4 * workers and time.monotonic() - t < timeout:
        quiet = quiet + 1 if metric(base, "aggregator_web_cache_warming") == 0 else 0
        time.sleep(0.05 if quiet else 0.5)
    return round(time.monotonic() - t, 1)


class Writer(threading.Thread):
    """The daemon's part: every ``every`` seconds a source joins a random story (its page and the
    listings change) and a feed poll is recorded (nothing a reader sees changes)."""

    def __init__(self, db: Path, ids: list[int], every: float) -> None:
        super().__init__(daemon=True)
        self.db, self.ids, self.every = db, ids, every
        self.stop = threading.Event()
        self.writes = 0

    def run(self) -> None:
        from store import FeedOutcome, Membership, NewArticle, open_store

        rng = random.Random(5)
        store = open_store(f"sqlite:///{self.db}")
        feeds = store.list_feeds()
        try:
            while not self.stop.wait(self.every):
                sid = rng.choice(self.ids)
                feed = rng.choice(feeds)
                now = datetime.now(UTC)
                n = rng.randrange(10**12)
                art = NewArticle(
                    url=f"https://late.example/{n}", title=sentence(rng, 7)[:-1], author="Staff", published=now,
                    first_seen=now, outlet=feed.outlet, feed_id=feed.id, summary="",
                    text="\n\n".join(sentence(rng, rng.randint(12, 30)) for _ in range(4)), language="en",
                    site_name=feed.outlet, extraction="page", extraction_note="", fp_scheme="bench",
                    fp_signature=b"", fp_payload="")
                store.add_article(art, f"late-{n}", art.url, lambda aid, sid=sid: Membership(
                    story_id=sid, copy_of=None, role="report", reuse=0.0, score=1.0))
                store.record_poll(feed.id, FeedOutcome(fetched_at=now, status=304, error=None,
                                                       next_check_at=now, keep_validators=True))
                self.writes += 2
        finally:
            store.close()

def parse_wrk(out: str) -> dict:
    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"p50_ms": round(lat["50"], 2), "p99_ms": round(lat["99"], 2), "rps": round(rps, 1),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, sock.groups())) if sock else 0}


def run_wrk(url: str, *, connections: int, duration: int, script: Path | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--workers", type=int, default=None,
                    help="uvicorn worker processes (default: aggregator serve's default)")
    ap.add_argument("--write-every", type=float, default=0.5,
                    help="seconds between the writer's changes during the cached runs (0: no writer)")
    ap.add_argument("--cache-mb", type=int, default=None, help="page cache budget (default: the app's)")
    ap.add_argument("--keep", help="keep (or reuse) the store at this path")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print(json.dumps({"error": "wrk not found: apt-get install wrk"}))
        return 1
    from aggregator.web.app import CACHE_BYTES
    from aggregator.web.serve import DEFAULT_WORKERS

    workers = args.workers or DEFAULT_WORKERS
    cache_bytes = args.cache_mb * 2**20 if args.cache_mb else CACHE_BYTES
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    db = Path(args.keep) if args.keep else work / "web.db"
    t = time.monotonic()
    if not db.exists():
        ids = build_store(db, args.stories)
    else:
        from store import open_store

        with open_store(f"sqlite:///{db}") as st:  # migrates a kept store made by an older version
            ids = st.story_ids()
    print(json.dumps({"stage": "store", "stories": len(ids), "build_s": round(time.monotonic() - t, 1)}),
          flush=True)
    static_dir = work / "static"
    static_dir.mkdir()
    lua = work / "stories.lua"
    lua.write_text(LUA % (11, ",".join(map(str, ids))), encoding="utf-8")
    results: dict[str, dict] = {}
    cache_mb = None
    import httpx

    for cache in (0, cache_bytes):
        proc, base = start_server(work, db, static_dir, cache, workers)
        writer = None
        try:
            sample = httpx.get(f"{base}/story/{ids[len(ids) // 2]}")
            front = httpx.get(f"{base}/")
            assert sample.status_code == 200 and front.status_code == 200
            (static_dir / "page.html").write_bytes(os.urandom(len(sample.content)))
            if cache:
                warm_s = wait_warm(base, workers)
                print(json.dumps({"stage": "warm", "workers": workers, "seconds": warm_s,
                                  "cache_mb": round((metric(base, "aggregator_web_cache_bytes") or 0) / 2**20, 1),
                                  "pages": metric(base, "aggregator_web_cache_pages")}), flush=True)
                if args.write_every > 0:
                    writer = Writer(db, ids, args.write_every)
                    writer.start()
            suffix = "_cold" if cache == 0 else ""
            targets = [("story" + suffix, base + "/", lua), ("front" + suffix, base + "/", None)]
            if cache:
                targets.insert(0, ("static", base + "/bench-static/page.html", None))
                # The server's own floor on this machine now: a route that does nothing.
                targets.insert(1, ("healthz", base + "/healthz", None))
            for name, url, script in targets:
                r = run_wrk(url, connections=args.connections, duration=args.duration, script=script)
                size = {"front": len(front.content), "front_cold": len(front.content), "healthz": 2}.get(
                    name, len(sample.content))
                results[name] = r
                print(json.dumps({"target": name, "connections": args.connections, "bytes": size,
                                  "cache": bool(cache), "workers": workers,
                                  "writes": writer.writes if writer else 0, **r}), flush=True)
            if cache:
                cache_mb = round((metric(base, "aggregator_web_cache_bytes") or 0) / 2**20, 1)
        finally:
            if writer is not None:
                writer.stop.set()
                writer.join(10)
            proc.terminate()
            proc.wait(20)
    static = results["static"]["rps"]
    print(json.dumps({
        "summary": True,
        "stories": len(ids),
        "connections": args.connections,
        "workers": workers,
        "story_p99_ms": results["story"]["p99_ms"],
        "story_p50_ms": results["story"]["p50_ms"],
        "front_p99_ms": results["front"]["p99_ms"],
        "story_rps": results["story"]["rps"],
        "front_rps": results["front"]["rps"],
        "static_rps": static,
        "healthz_p99_ms": results["healthz"]["p99_ms"],
        "healthz_rps": results["healthz"]["rps"],
        "static_rate_ratio": round(results["story"]["rps"] / static, 3) if static else None,
        "story_cold_p99_ms": results["story_cold"]["p99_ms"],
        "story_cold_rps": results["story_cold"]["rps"],
        "front_cold_p99_ms": results["front_cold"]["p99_ms"],
        "cold_static_rate_ratio": round(results["story_cold"]["rps"] / static, 3) if static else None,
        "cache_mb": cache_mb,
        "write_every_s": args.write_every,
    }), flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
