"""Polling cost: N feeds on H loopback hosts, ~90 % unchanged per cycle.

    python -m benchmarks.polling [--feeds 1000] [--hosts 50] [--cycles 3] [--changed 0.1]

The hosts run in a **separate process** (one loopback address 127.0.1.x per host: the Fetcher's
per-host limits are keyed by host, as in production), so their CPU and GIL do not distort the
client's timings and their timestamps are taken on their own threads.

Feeds are realistic: 30-50 items each (title, link, guid, date, ~300-char summary). A change adds
``--new`` (default 3) items whose links are ~8 KB article pages with <head> metadata, navigation
and 8-12 paragraphs; the oldest items drop off. Half the hosts send ETags (unchanged -> 304), half
none (unchanged -> same bytes -> body hash, no parse).

Seeding (cycle 0, not measured): one feed is ingested for real; the backlog items of every
other feed are then recorded as entries of one stored article (no page fetch, no extraction),
so that cycle 1 starts from a steady state instead of ingesting 40,000 pages.

CPU of a poll counts everything done for it: the gather thread's CPU (fetch, parse, robots,
page fetches), the store/cluster CPU of ``commit`` (committed separately for changed and
unchanged polls, split evenly within each group), and for changed polls the CPU of the
extraction worker processes (utime+stime from /proc/<pid>/stat around the gather phase, split
evenly over the changed polls). ``cpu_accounted_share`` compares that with the whole client
process + workers CPU of the cycle.

Per-host limits are checked three ways, each as *concurrency* (more than --concurrency in
flight) and *spacing* (two starts closer than --spacing minus --tolerance) violations:

* ``limiter``: the HostLimiter's own grants (recorded inside its lock): the policy itself;
* ``wire``: around each request the Fetcher sends (start before ``client.send``, end at
  ``resp.close``): what the client really does, including thread scheduling after a grant;
* ``server``: at the servers, request received (headers parsed) to reply handed to the socket.
  Spacing at the server includes scheduling jitter of two processes on shared cores, so it is
  reported (with the smallest gap) but not counted in ``host_limit_violations``.

One JSON object per line; the last is the summary.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aggregator import pipeline
from aggregator.models import FeedConfig
from aggregator.politeness import HostLimiter
from aggregator.settings import Settings

_WORDS = ("council minister budget vote hospital river bridge police court judge school teachers "
          "strike union energy prices inflation bank market shares company workers factory "
          "election campaign candidate mayor city region village farmers weather storm flood "
          "rescue fire station airport flight train rail station museum festival football club "
          "coach season injury research university scientists study climate emissions water "
          "housing rents tenants law reform parliament opposition spokesman statement report "
          "investigation tax health vaccine doctors nurses patients ministry agency contract "
          "project delay cost billion million residents protest march crowd officials").split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(12, 24))]
    return " ".join(words).capitalize() + "."


def _page(path: str, title: str, published: str) -> str:
    rng = random.Random(path)
    paras = "".join(f"<p>{' '.join(_sentence(rng) for _ in range(rng.randint(3, 5)))}</p>"
                    for _ in range(rng.randint(8, 12)))
    nav = "".join(f'<li><a href="/section/{w}">{w.title()}</a></li>' for w in _WORDS[:14])
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="canonical" href="{path}"><meta property="og:title" content="{title}">'
            f'<meta property="og:site_name" content="Outlet"><meta name="author" content="Staff">'
            f'<meta property="article:published_time" content="{published}">'
            f'<link rel="stylesheet" href="/static/site.css"></head><body>'
            f'<header><nav><ul>{nav}</ul></nav></header><main><article><h1>{title}</h1>'
            f'<p class="byline">By Staff, {published}</p>{paras}</article>'
            f'<aside><h2>Most read</h2><ul>{nav}</ul></aside></main>'
            f"<footer><p>© Outlet. All rights reserved.</p></footer></body></html>")


# --------------------------------------------------------------------------- the servers process


class _Host:
    def __init__(self, h: int, addr: str, feeds: int, etags: bool, new: int, t0: datetime):
        from tests.servers import Reply, Server

        self.Reply = Reply
        self.srv = Server(host=addr)
        self.h, self.etags, self.new, self.t0 = h, etags, new, t0
        self.size = [30 + (i * 7 + h) % 21 for i in range(feeds)]  # 30-50 items
        self.version = [0] * feeds
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        # (request received, reply handed over, client's wire start from the X-Bench-Sent header)
        self.events: list[tuple[float, float, float]] = []
        self.accepts: list[float] = []
        accepted = self.srv._accepted

        def on_accept(sock):
            self.accepts.append(time.monotonic())
            accepted(sock)

        self.srv._accepted = on_accept
        for i in range(feeds):
            self.srv.route(f"/feed/{i}", lambda req, i=i: self._track(req, lambda: self._feed(req, i)))
        self.srv.route("*", self._other)

    def _track(self, req, make):
        t = time.monotonic()
        sent = float(req.headers.get("x-bench-sent", "nan"))
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return make()
        finally:
            with self.lock:
                self.active -= 1
                self.events.append((t, time.monotonic(), sent))

    def _when(self, i: int, k: int) -> datetime:
        return self.t0 + timedelta(minutes=10 * k + i % 10)

    def _feed(self, req, i):
        v = self.version[i]
        etag = f'"{i}-{v}"'
        if self.etags and req.headers.get("if-none-match") == etag:
            return self.Reply(status=304, headers={"ETag": etag})
        top = self.size[i] + self.new * v  # items k in [top - size, top), newest first
        items = []
        for k in range(top - 1, top - 1 - self.size[i], -1):
            rng = random.Random(f"{self.h}-{i}-{k}")
            title = " ".join(rng.choice(_WORDS) for _ in range(7)).capitalize()
            summary = " ".join(_sentence(rng) for _ in range(2))
            items.append(
                f"<item><title>{title}</title><link>{self.srv.url(f'/a/{i}/{k}')}</link>"
                f'<guid isPermaLink="false">h{self.h}-f{i}-{k}</guid>'
                f"<pubDate>{format_datetime(self._when(i, k))}</pubDate>"
                f"<category>{rng.choice(_WORDS)}</category>"
                f"<description>{summary}</description></item>")
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Outlet {self.h} feed {i}</title><link>{self.srv.url('/')}</link>"
                f"<description>News from outlet {self.h}</description><language>en</language>"
                f"{''.join(items)}</channel></rss>")
        headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if self.etags:
            headers["ETag"] = etag
        return self.Reply(body=body, headers=headers)

    def _other(self, req):
        if req.path == "/robots.txt":  # counted too: it is a request to the host
            return self._track(req, lambda: self.Reply(
                body="User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"}))
        parts = req.path.split("/")
        if len(parts) == 4 and parts[1] == "a":
            i, k = int(parts[2]), int(parts[3])
            rng = random.Random(f"{self.h}-{i}-{k}")
            title = " ".join(rng.choice(_WORDS) for _ in range(7)).capitalize()
            return self._track(req, lambda: self.Reply(
                body=_page(self.srv.url(req.path), title, self._when(i, k).isoformat()),
                headers={"Content-Type": "text/html; charset=utf-8"}))
        return self._track(req, lambda: self.Reply(status=404, body="not found"))

    def take(self):
        with self.lock:
            out = (self.events, self.accepts, self.max_active)
            self.events, self.accepts, self.max_active = [], [], 0
        return out


def _serve(conn, per_host: list[int], new: int, changed_every: int) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    hosts = [_Host(h, f"127.0.1.{h + 1}", n, etags=h % 2 == 0, new=new, t0=t0)
             for h, n in enumerate(per_host)]
    conn.send([[host.srv.url(f"/feed/{i}") for i in range(n)]
               for host, n in zip(hosts, per_host, strict=True)])
    while True:
        cmd, arg = conn.recv()
        if cmd == "bump":
            changed = 0
            for host in hosts:
                for i in range(len(host.version)):
                    if changed_every and (i + arg) % changed_every == 0:
                        host.version[i] += 1
                        changed += 1
            conn.send(changed)
        elif cmd == "take":
            conn.send([host.take() for host in hosts])
        elif cmd == "stop":
            for host in hosts:
                host.srv.close()
            conn.send(None)
            return


# --------------------------------------------------------------------------- client instruments


class RecordingLimiter(HostLimiter):
    """The real HostLimiter; every grant is recorded inside its lock with the in-flight count."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.grants: dict[str, list[tuple[float, int]]] = defaultdict(list)

    def _try_acquire(self, host: str, now: float) -> float:
        wait = super()._try_acquire(host, now)
        if wait == 0.0:
            self.grants[host].append((now, self._hosts[host].in_flight))
        return wait


class WireRecorder:
    """Wraps ``Fetcher._send``: request start before ``client.send``, end at ``resp.close``."""

    def __init__(self, fetcher) -> None:
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = defaultdict(int)
        self.starts: dict[str, list[tuple[float, int]]] = defaultdict(list)
        send = fetcher._send

        def recorded(client, target, headers, budget):
            host = target.host.lower()
            with self.lock:
                self.in_flight[host] += 1
                t = time.monotonic()
                self.starts[host].append((t, self.in_flight[host]))
            # The servers log it: their spacing can be told apart from transit/scheduling delay.
            headers = {**headers, "X-Bench-Sent": repr(t)}
            done = [False]

            def end():
                with self.lock:
                    if not done[0]:
                        done[0] = True
                        self.in_flight[host] -= 1
            try:
                resp = send(client, target, headers, budget)
            except BaseException:
                end()
                raise
            close = resp.close

            def closing():
                try:
                    close()
                finally:
                    end()
            resp.close = closing
            return resp

        fetcher._send = recorded


def _check(starts: list[tuple[float, int]], concurrency: int, spacing: float, tol: float):
    """(concurrency violations, spacing violations, smallest gap) of one host's starts."""
    conc = sum(1 for _, n in starts if n > concurrency)
    ts = sorted(t for t, _ in starts)
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
    return conc, sum(1 for g in gaps if g < spacing - tol), min(gaps, default=math.inf)


def _server_check(events, concurrency: int, spacing: float, tol: float):
    """(concurrency violations, spacing violations, of which the same two requests left the
    client at least spacing - tol apart, smallest gap, delays client start -> server receipt)."""
    ts = sorted(events)
    conc = 0
    for n, (t, _, _) in enumerate(ts):  # requests whose interval covers this one's arrival
        if 1 + sum(1 for a, b, _ in ts[max(0, n - 8):n] if b > t) > concurrency:
            conc += 1
    tight = [(a, b) for a, b in zip(ts, ts[1:], strict=False) if b[0] - a[0] < spacing - tol]
    transit = sum(1 for a, b in tight if abs(b[2] - a[2]) >= spacing - tol)
    gaps = [b[0] - a[0] for a, b in zip(ts, ts[1:], strict=False)]
    delays = [t - sent for t, _, sent in ts if sent == sent]
    return conc, len(tight), transit, min(gaps, default=math.inf), delays


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- the benchmark


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=3, help="measured cycles after the seed")
    ap.add_argument("--changed", type=float, default=0.1)
    ap.add_argument("--new", type=int, default=3, help="new items per changed feed")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--extract-workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=0.05)
    ap.add_argument("--tolerance", type=float, default=0.005)
    args = ap.parse_args(argv)

    hosts_n = max(1, min(args.hosts, args.feeds))
    per_host = [args.feeds // hosts_n + (1 if h < args.feeds % hosts_n else 0)
                for h in range(hosts_n)]
    changed_every = max(1, round(1 / args.changed)) if args.changed > 0 else 0
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    servers = ctx.Process(target=_serve, args=(child, per_host, args.new, changed_every),
                          daemon=True)
    servers.start()
    child.close()
    urls = conn.recv()

    parses = defaultdict(int)
    real_parse = pipeline.parse_feed

    def counting_parse(body, headers, *, now):
        parses[threading.current_thread().name] += 1
        return real_parse(body, headers, now=now)

    pipeline.parse_feed = counting_parse
    tmp = tempfile.TemporaryDirectory()
    settings = Settings.from_env(
        env={}, db_url=f"sqlite:///{tmp.name}/bench.db", allow_networks="127.0.0.0/8",
        host_concurrency=args.concurrency, host_spacing=args.spacing,
        extract_workers=args.extract_workers, poll_workers=args.workers, obey_robots=True,
    )
    from aggregator.fetch import Fetcher

    limiter = RecordingLimiter(args.concurrency, args.spacing)
    fetcher = Fetcher(settings, limiter=limiter)
    wire = WireRecorder(fetcher)
    tol = args.tolerance
    summary: dict = {}
    try:
        with pipeline.Services(settings, fetcher=fetcher) as svc:
            svc.store.sync_feeds(
                FeedConfig(name=f"h{h}-f{i}", url=u, outlet=f"Outlet {h}")
                for h, host_urls in enumerate(urls) for i, u in enumerate(host_urls))
            rows = svc.store.list_feeds()
            t_seed = time.monotonic()
            first = pipeline.refresh_feed(svc, rows[0])  # one feed ingested for real
            seed_id = svc.store.last_article_id()
            real_prepare = pipeline._prepare

            def seed_prepare(svc_, feed, entry, now):
                if svc_.robots is not None:
                    svc_.robots.allowed(entry.link)  # warm the robots cache per host
                svc_.store.add_entry(feed.id, entry.guid, seed_id, entry.link, now)
                return None

            pipeline._prepare = seed_prepare
            try:
                pipeline.poll_once(svc, svc.store.list_feeds(), workers=args.workers)
            finally:
                pipeline._prepare = real_prepare
            conn.send(("take", None))
            conn.recv()
            for d in (limiter.grants, wire.starts):
                d.clear()
            print(json.dumps({"cycle": 0, "seed": True, "feeds": len(rows),
                              "first_feed_articles": first.new_articles,
                              "seed_s": round(time.monotonic() - t_seed, 2)}), flush=True)

            acc = defaultdict(list)
            totals = defaultdict(int)
            min_gaps = {"limiter": math.inf, "wire": math.inf, "server": math.inf}
            unchanged_parses = 0
            for cycle in range(1, args.cycles + 1):
                conn.send(("bump", cycle))
                conn.recv()
                rows = svc.store.list_feeds()
                parses.clear()
                pids = [w.proc.pid for w in list(svc.extractor._all)]

                def timed(feed):
                    name = threading.current_thread().name
                    t0, before = time.thread_time(), parses[name]
                    poll = pipeline.gather(svc, feed)
                    return poll, time.thread_time() - t0, parses[name] - before

                w0 = {p: _proc_cpu(p) for p in pids}
                s0 = _self_cpu()
                t0 = time.monotonic()
                with ThreadPoolExecutor(args.workers) as pool:
                    results = list(pool.map(timed, rows))
                w1 = {p: _proc_cpu(p) for p in pids}
                pids_after = [w.proc.pid for w in list(svc.extractor._all)]
                worker_cpu = sum(w1[p] - w0[p] for p in pids if p in pids_after)
                un = [r for r in results if r[0].report.ok and r[0].report.not_modified]
                ch = [r for r in results if r[0].report.ok and not r[0].report.not_modified]
                failed = [r[0].report.error for r in results if not r[0].report.ok]
                c0 = time.thread_time()
                pipeline.commit(svc, [p for p, _, _ in ch])
                c1 = time.thread_time()
                pipeline.commit(svc, [p for p, _, _ in un])
                c2 = time.thread_time()
                wall = time.monotonic() - t0
                total_cpu = _self_cpu() - s0 + worker_cpu
                commit_ch = (c1 - c0) / len(ch) if ch else 0.0
                commit_un = (c2 - c1) / len(un) if un else 0.0
                work_ch = worker_cpu / len(ch) if ch else 0.0
                cpu_un = [c + commit_un for _, c, _ in un]
                cpu_ch = [c + commit_ch + work_ch for _, c, _ in ch]
                accounted = sum(cpu_un) + sum(cpu_ch)
                unchanged_parses += sum(n for _, _, n in un)
                new_articles = sum(p.report.new_articles for p, _, _ in ch)

                # per-host limits, this cycle
                conn.send(("take", None))
                server = conn.recv()
                v = defaultdict(int)
                for host_starts in limiter.grants.values():
                    c, s, g = _check(host_starts, args.concurrency, args.spacing, tol)
                    v["limiter_concurrency"] += c
                    v["limiter_spacing"] += s
                    min_gaps["limiter"] = min(min_gaps["limiter"], g)
                for host_starts in wire.starts.values():
                    c, s, g = _check(host_starts, args.concurrency, args.spacing, tol)
                    v["wire_concurrency"] += c
                    v["wire_spacing"] += s
                    min_gaps["wire"] = min(min_gaps["wire"], g)
                requests = max_rps = connections = 0
                for events, accepts, max_active in server:
                    connections += len(accepts)
                    c, s, tr, g, d = _server_check(events, args.concurrency, args.spacing, tol)
                    v["server_concurrency"] += c
                    v["server_spacing"] += s
                    v["server_spacing_sent_apart"] += tr
                    acc["delay"] += d
                    v["server_max_in_flight"] = max(v["server_max_in_flight"], max_active)
                    min_gaps["server"] = min(min_gaps["server"], g)
                    requests += len(events)
                    max_rps = max(max_rps, len(events) / wall)
                limiter.grants.clear()
                wire.starts.clear()
                for k, n in v.items():
                    totals[k] = max(totals[k], n) if k == "server_max_in_flight" else totals[k] + n

                acc["wall"].append(wall)
                acc["cpu_un"] += cpu_un
                acc["cpu_304"] += [c for (p, _, _), c in zip(un, cpu_un, strict=True)
                                   if p.report.status == 304]
                acc["cpu_same"] += [c for (p, _, _), c in zip(un, cpu_un, strict=True)
                                    if p.report.status != 304]
                acc["cpu_ch"] += cpu_ch
                acc["rps"].append(max_rps)
                print(json.dumps({
                    "cycle": cycle, "feeds": len(rows), "unchanged": len(un), "changed": len(ch),
                    "failed": len(failed), "new_articles": new_articles,
                    "cycle_s": round(wall, 3),
                    "cpu_ms_unchanged": round(1000 * _mean(cpu_un), 3),
                    "cpu_ms_changed": round(1000 * _mean(cpu_ch), 3),
                    "cpu_ms_changed_parts": {
                        "gather": round(1000 * _mean([c for _, c, _ in ch]), 3),
                        "commit": round(1000 * commit_ch, 3),
                        "extract_workers": round(1000 * work_ch, 3)},
                    "cpu_ms_unchanged_parts": {
                        "gather": round(1000 * _mean([c for _, c, _ in un]), 3),
                        "commit": round(1000 * commit_un, 3)},
                    "cpu_accounted_share": round(accounted / total_cpu, 3) if total_cpu else None,
                    "requests": requests, "tcp_connections": connections,
                    "max_requests_per_host_per_s": round(max_rps, 2),
                    "violations": dict(v),
                    **({"first_error": failed[0]} if failed else {}),
                }), flush=True)

            mu, mc = _mean(acc["cpu_un"]), _mean(acc["cpu_ch"])
            counted = (totals["limiter_concurrency"] + totals["limiter_spacing"]
                       + totals["wire_concurrency"] + totals["wire_spacing"]
                       + totals["server_concurrency"])
            workers_hwm = max((_proc_hwm_mb(w.proc.pid) for w in svc.extractor._all), default=0)
            summary = {
                "summary": True, "feeds": args.feeds, "hosts": hosts_n, "cycles": args.cycles,
                "new_per_change": args.new,
                "cycle_s": round(_mean(acc["wall"]), 3),
                "cpu_ms_unchanged": round(1000 * mu, 3), "cpu_ms_changed": round(1000 * mc, 3),
                "unchanged_cpu_ratio": round(mu / mc, 4) if mc else None,
                "cpu_ms_unchanged_by_kind": {"304": round(1000 * _mean(acc["cpu_304"]), 3),
                                             "same_bytes": round(1000 * _mean(acc["cpu_same"]), 3)},
                "unchanged_parses": unchanged_parses,
                "max_requests_per_host_per_s": round(max(acc["rps"] or [0]), 2),
                "host_limit": {"concurrency": args.concurrency, "spacing_s": args.spacing,
                               "tolerance_s": tol,
                               "max_rps": round(1 / args.spacing, 2) if args.spacing else None},
                "concurrency_violations": {k: totals[k] for k in (
                    "limiter_concurrency", "wire_concurrency", "server_concurrency")},
                "spacing_violations": {k: totals[k] for k in (
                    "limiter_spacing", "wire_spacing", "server_spacing")},
                "server_spacing_sent_apart": totals["server_spacing_sent_apart"],
                "client_to_server_delay_ms": _pct(acc["delay"]),
                "min_gap_ms": {k: round(1000 * g, 2) if g != math.inf else None
                               for k, g in min_gaps.items()},
                "server_max_in_flight": totals["server_max_in_flight"],
                "host_limit_concurrency_violations": (totals["limiter_concurrency"]
                                                      + totals["wire_concurrency"]
                                                      + totals["server_concurrency"]),
                "host_limit_spacing_violations": totals["limiter_spacing"] + totals["wire_spacing"],
                "host_limit_violations": counted,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "extract_worker_peak_rss_mb": round(workers_hwm, 1),
            }
    finally:
        pipeline.parse_feed = real_parse
        try:
            conn.send(("stop", None))
            conn.recv()
        except (OSError, EOFError):
            pass
        servers.join(5)
        if servers.is_alive():
            servers.kill()
        tmp.cleanup()
    print(json.dumps(summary), flush=True)
    return 0


def _pct(xs) -> dict:
    xs = sorted(xs)
    if not xs:
        return {}
    return {k: round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 2)
            for k, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


if __name__ == "__main__":
    sys.exit(main())
