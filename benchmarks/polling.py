"""Polling cost: N feeds on H loopback hosts, ~90 % unchanged per cycle.

    python -m benchmarks.polling [--feeds 1000] [--hosts 50] [--cycles 3] [--changed 0.1]

Each host is a loopback server on its own address (127.0.1.x): the Fetcher's per-host limits are
keyed by host, as in production. Half the hosts send ETags (unchanged → 304), half send none
(unchanged → same bytes → body hash, no parse). A changed feed gains one item with an article
page. Each cycle runs the daemon's code (``pipeline.gather`` on a pool, then ``commit``) and
reports wall time, thread CPU per unchanged and per changed poll, parses of unchanged feeds
(must be 0), requests per host per second and violations of the per-host limits (concurrency
and spacing, measured at the servers). One JSON object per line; the last is the summary.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from aggregator import pipeline
from aggregator.models import FeedConfig
from aggregator.pipeline import Services, commit, gather
from aggregator.settings import Settings
from tests.servers import Reply, Server

PAGE = ("<html><head><title>{t}</title></head><body><article><h1>{t}</h1>"
        + "<p>Officials said on Tuesday that item {t} was approved after a long debate in the "
        "council, with several amendments adopted late in the evening.</p>" * 6
        + "</article></body></html>")


class Host:
    def __init__(self, addr: str, feeds: int, etags: bool) -> None:
        self.srv = Server(host=addr)
        self.etags = etags
        self.version = [0] * feeds
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.starts: list[float] = []
        for i in range(feeds):
            self.srv.route(f"/feed/{i}", lambda req, i=i: self._feed(req, i))
        self.srv.route("*", lambda req: self._page(req))

    def _track(self, reply_fn):
        with self.lock:
            self.starts.append(time.monotonic())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return reply_fn()
        finally:
            with self.lock:
                self.active -= 1

    def _feed(self, req, i):
        def make():
            v = self.version[i]
            etag = f'"{i}-{v}"'
            if self.etags and req.headers.get("if-none-match") == etag:
                return Reply(status=304, headers={"ETag": etag})
            items = "".join(
                f"<item><guid>{i}-{k}</guid><link>{self.srv.url(f'/a/{i}/{k}')}</link>"
                f"<title>Item {i} {k}</title><description>Summary {i} {k}</description></item>"
                for k in range(v + 1))
            body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
                    f"{items}</channel></rss>")
            headers = {"Content-Type": "application/rss+xml"}
            if self.etags:
                headers["ETag"] = etag
            return Reply(body=body, headers=headers)
        return self._track(make)

    def _page(self, req):
        if req.path == "/robots.txt":
            return Reply(status=404)
        return self._track(lambda: Reply(body=PAGE.format(t=req.path),
                                         headers={"Content-Type": "text/html"}))

    def violations(self, concurrency: int, spacing: float) -> int:
        s = sorted(self.starts)
        # Arrival times at the server jitter by the connect time of each request: a gap under
        # half the spacing is a violation, not measurement noise.
        tight = sum(1 for a, b in zip(s, s[1:], strict=False) if b - a < spacing * 0.5)
        return tight + (1 if self.max_active > concurrency else 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=3, help="cycles after the first full poll")
    ap.add_argument("--changed", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=0.05)
    args = ap.parse_args(argv)

    hosts_n = max(1, min(args.hosts, args.feeds))
    per_host = [args.feeds // hosts_n + (1 if h < args.feeds % hosts_n else 0)
                for h in range(hosts_n)]
    hosts = [Host(f"127.0.1.{h + 1}", n, etags=h % 2 == 0) for h, n in enumerate(per_host)]
    parses = defaultdict(int)
    real_parse = pipeline.parse_feed

    def counting_parse(body, headers, *, now):
        parses[threading.current_thread().name] += 1
        return real_parse(body, headers, now=now)

    pipeline.parse_feed = counting_parse
    tmp = tempfile.TemporaryDirectory()
    settings = Settings.from_env(
        env={}, db_url=f"sqlite:///{tmp.name}/bench.db", allow_networks="127.0.0.0/8",
        host_concurrency=args.concurrency, host_spacing=args.spacing, extract_workers=2,
        poll_workers=args.workers, obey_robots=True,
    )
    summary = {}
    try:
        with Services(settings) as svc:
            svc.store.sync_feeds(FeedConfig(name=f"h{h}-f{i}", url=host.srv.url(f"/feed/{i}"),
                                            outlet=f"Outlet {h}")
                                 for h, host in enumerate(hosts) for i in range(per_host[h]))
            changed_every = max(1, round(1 / args.changed)) if args.changed > 0 else 0
            cpu_unchanged, cpu_changed, cycle_times, rates = [], [], [], []
            unchanged_parses = 0
            for cycle in range(args.cycles + 1):
                if cycle:
                    for h, host in enumerate(hosts):
                        for i in range(per_host[h]):
                            if changed_every and (i + cycle) % changed_every == 0:
                                host.version[i] += 1
                for host in hosts:
                    host.starts.clear()
                rows = svc.store.list_feeds()
                parses.clear()

                def timed(feed):
                    t0 = time.thread_time()
                    before = parses[threading.current_thread().name]
                    poll = gather(svc, feed)
                    parsed = parses[threading.current_thread().name] - before
                    return poll, time.thread_time() - t0, parsed

                t0 = time.monotonic()
                with ThreadPoolExecutor(args.workers) as pool:
                    results = list(pool.map(timed, rows))
                commit(svc, [p for p, _, _ in results])
                wall = time.monotonic() - t0
                un = [(c, n) for p, c, n in results if p.report.ok and p.report.not_modified]
                ch = [c for p, c, _ in results if p.report.ok and not p.report.not_modified]
                failed = sum(1 for p, _, _ in results if not p.report.ok)
                rps = max(len(h.starts) / wall for h in hosts)
                if cycle:
                    cpu_unchanged += [c for c, _ in un]
                    cpu_changed += ch
                    unchanged_parses += sum(n for _, n in un)
                    cycle_times.append(wall)
                    rates.append(rps)
                print(json.dumps({
                    "cycle": cycle, "feeds": len(rows), "unchanged": len(un), "changed": len(ch),
                    "failed": failed, "cycle_s": round(wall, 3),
                    "cpu_ms_unchanged": round(1000 * _mean([c for c, _ in un]), 3),
                    "cpu_ms_changed": round(1000 * _mean(ch), 3),
                    "max_requests_per_host_per_s": round(rps, 2),
                }), flush=True)
            violations = sum(h.violations(args.concurrency, args.spacing) for h in hosts)
            mu, mc = _mean(cpu_unchanged), _mean(cpu_changed)
            summary = {
                "summary": True, "feeds": args.feeds, "hosts": hosts_n, "cycles": args.cycles,
                "cycle_s": round(_mean(cycle_times), 3),
                "cpu_ms_unchanged": round(1000 * mu, 3), "cpu_ms_changed": round(1000 * mc, 3),
                "unchanged_cpu_ratio": round(mu / mc, 4) if mc else None,
                "unchanged_parses": unchanged_parses,
                "max_requests_per_host_per_s": round(max(rates or [0]), 2),
                "host_limit": {"concurrency": args.concurrency, "spacing_s": args.spacing,
                               "max_rps": round(1 / args.spacing, 2) if args.spacing else None},
                "host_limit_violations": violations,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
    finally:
        pipeline.parse_feed = real_parse
        for h in hosts:
            h.srv.close()
        tmp.cleanup()
    print(json.dumps(summary), flush=True)
    return 0


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


if __name__ == "__main__":
    sys.exit(main())
