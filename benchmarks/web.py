"""Reader web benchmark: story page and front page latency and rate under 100 connections.

    python -m benchmarks.web [--stories 5000] [--connections 100] [--duration 10] [--keep DB]

Builds an SQLite store with ``--stories`` stories (1–4 sources each, synthetic texts generated
here) through the store's own write API, serves it with uvicorn (one process, as ``aggregator
serve`` runs it) on 127.0.0.1 and drives it with wrk (Debian: ``apt-get install wrk``) —
closed loop, ``--connections`` open connections, random story ids for the story page. The floor
is the same server's rate for a static file of the same size as a story page (Starlette's
``StaticFiles``, mounted in the same app). Each target runs twice: ``*_cold`` with the page cache
off (every request renders: store queries + story view + Jinja), then with the cache on (the
default, 2,048 pages): ``story`` picks uniformly among all stories (mostly misses), ``story_hot``
among the newest 500 (what readers open; mostly hits).

Prints one JSON object per measurement, then
``{"summary": true, "story_p99_ms", "front_p99_ms", "story_rps", "static_rate_ratio", ...}``.
With a closed loop, latency ≈ connections / rate (Little's law): p99 ≤ 50 ms at 100 connections
needs ≥ 2,000 requests/s from one Python process.
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
import sys, uvicorn
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from aggregator.web.app import create_app
from store import open_store
db, port, static_dir, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
app = create_app(open_store(f"sqlite:///{db}"), cache_size=cache)
app.router.routes.insert(0, Mount("/bench-static", app=StaticFiles(directory=static_dir)))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
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


def start_server(db: Path, static_dir: Path, cache: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(db), str(port), str(static_dir), str(cache)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("benchmarks.web: the server did not start")


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
    ap.add_argument("--keep", help="keep (or reuse) the store at this path")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print(json.dumps({"error": "wrk not found: apt-get install wrk"}))
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    db = Path(args.keep) if args.keep else work / "web.db"
    t = time.monotonic()
    if not db.exists():
        ids = build_store(db, args.stories)
    else:
        import sqlite3

        with sqlite3.connect(db) as c:
            ids = [r[0] for r in c.execute("SELECT id FROM stories WHERE merged_into IS NULL")]
    print(json.dumps({"stage": "store", "stories": len(ids), "build_s": round(time.monotonic() - t, 1)}),
          flush=True)
    static_dir = work / "static"
    static_dir.mkdir()
    lua = work / "stories.lua"
    lua.write_text(LUA % (11, ",".join(map(str, ids))), encoding="utf-8")
    # Readers mostly open recent stories: the newest 500 (front-page depth), the page cache's case.
    hot = work / "hot.lua"
    hot.write_text(LUA % (13, ",".join(map(str, sorted(ids)[-500:]))), encoding="utf-8")
    results: dict[str, dict] = {}
    import httpx

    for cache in (0, 2048):
        proc, base = start_server(db, static_dir, cache)
        try:
            sample = httpx.get(f"{base}/story/{ids[len(ids) // 2]}")
            front = httpx.get(f"{base}/")
            assert sample.status_code == 200 and front.status_code == 200
            (static_dir / "page.html").write_bytes(os.urandom(len(sample.content)))
            suffix = "_cold" if cache == 0 else ""
            targets = [("story" + suffix, base + "/", lua), ("front" + suffix, base + "/", None)]
            if cache:
                targets.insert(0, ("static", base + "/bench-static/page.html", None))
                targets.append(("story_hot", base + "/", hot))
            for name, url, script in targets:
                if name == "story_hot":  # steady state: each hot story read once since it changed
                    with httpx.Client(base_url=base) as warm:
                        for sid in sorted(ids)[-500:]:
                            warm.get(f"/story/{sid}")
                r = run_wrk(url, connections=args.connections, duration=args.duration, script=script)
                size = len(sample.content) if name.startswith(("story", "static")) else len(front.content)
                results[name] = r
                print(json.dumps({"target": name, "connections": args.connections, "bytes": size,
                                  "cache": bool(cache), **r}), flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    static = results["static"]["rps"]
    print(json.dumps({
        "summary": True,
        "stories": len(ids),
        "connections": args.connections,
        "story_p99_ms": results["story"]["p99_ms"],
        "story_p50_ms": results["story"]["p50_ms"],
        "front_p99_ms": results["front"]["p99_ms"],
        "story_rps": results["story"]["rps"],
        "front_rps": results["front"]["rps"],
        "static_rps": static,
        "static_rate_ratio": round(results["story"]["rps"] / static, 3) if static else None,
        "story_cold_p99_ms": results["story_cold"]["p99_ms"],
        "story_cold_rps": results["story_cold"]["rps"],
        "front_cold_p99_ms": results["front_cold"]["p99_ms"],
        "cold_static_rate_ratio": round(results["story_cold"]["rps"] / static, 3) if static else None,
        "story_hot_p99_ms": results["story_hot"]["p99_ms"],
        "story_hot_rps": results["story_hot"]["rps"],
    }), flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
