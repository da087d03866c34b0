"""Ingest benchmark: the whole path per article against trafilatura extraction alone.

    python -m benchmarks.pipeline [--limit N] [--feeds 10] [--repeat 1]

The article pages in ``../shared/data/pages/`` (zyte/html/*.html.gz with ground-truth.json,
readability/*/source.html) are served with RSS feeds from a loopback server in *another
process* (it stands for the internet: its CPU is not ours). Then, in this process, the daemon's
own code polls them once (``aggregator.pipeline.poll_once``: fetch, parse, identity, extract,
fingerprint, cluster, store into a fresh SQLite file), first with 1 extraction worker process,
then with 2. Afterwards the floor is measured in the same run: ``trafilatura.bare_extraction``
alone on the same decoded pages with the same settings (``aggregator.extract.TRAFILATURA_OPTIONS``)
in this process, plus trafilatura's default ``extract()`` for reference, and the machine's own
scaling (trafilatura alone in 1 vs 2 warmed processes: the ceiling for ``scaling_2_workers`` on a
shared machine).

CPU of the ingest = CPU of this process (all its threads: HTTP, feedparser, SQLite, clusterer)
+ CPU of the extraction workers, read from ``/proc/<pid>/stat`` while they are alive (getrusage
does not see live children). Workers are warmed (imports done) before the first snapshot.

The floor is also measured *inside* the ingest: the workers time their own trafilatura calls
(``ExtractorPool.extraction_cpu``), so ``cpu_ratio_vs_extraction_in_run`` compares the ingest's
CPU with the extraction of the same pages in the same processes at the same moment; the separate
floor run above moves by 30 % between runs on a shared machine.

Prints package versions, one JSON line per run, the floor, the text quality (word F1 against
the zyte ground truth for the stored text and for the floor's text), then
``{"summary": true, "cpu_ratio_vs_extraction", "scaling_2_workers", "peak_rss_mb"}``.
Skips with a message (exit 0) when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import html as htmllib
import ipaddress
import json
import multiprocessing as mp
import os
import re
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

from benchmarks.e2e import word_f1
from benchmarks.scoring import SHARED_DATA

PAGES = SHARED_DATA / "pages"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
_TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# The pages


def load_pages(root: Path = PAGES, limit: int | None = None) -> list[dict]:
    """[{id, body (raw bytes), title, summary, published, gold (zyte text or None)}]."""
    pages: list[dict] = []
    zyte = root / "zyte"
    if (zyte / "ground-truth.json").exists():
        truth = json.loads((zyte / "ground-truth.json").read_text(encoding="utf-8"))
        for path in sorted((zyte / "html").glob("*.html.gz")):
            pid = path.name.split(".")[0]
            body = gzip.decompress(path.read_bytes())
            gold = (truth.get(pid) or {}).get("articleBody")
            m = _TITLE.search(body)
            title = htmllib.unescape(m.group(1).decode("utf-8", "replace")).strip() if m else ""
            pages.append({"id": f"z-{pid[:16]}", "body": body, "title": " ".join(title.split()),
                          "summary": " ".join((gold or "").split()[:40]), "published": None,
                          "gold": gold})
    for d in sorted((root / "readability").glob("*")):
        src = d / "source.html"
        if not src.exists():
            continue
        meta = {}
        if (d / "expected-metadata.json").exists():
            meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
        pages.append({"id": f"r-{d.name}", "body": src.read_bytes(), "title": meta.get("title") or "",
                      "summary": meta.get("excerpt") or "", "published": meta.get("publishedTime"),
                      "gold": None})
    base = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for n, p in enumerate(pages):
        when = None
        if p["published"]:
            try:
                when = datetime.fromisoformat(p["published"].replace("Z", "+00:00"))
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
            except ValueError:
                when = None
        p["published"] = (when or base - timedelta(minutes=7 * n)).astimezone(UTC)
    return pages[:limit] if limit else pages


def decoded(body: bytes) -> str:
    """What the pipeline hands the extractor for a page served without a charset."""
    return body.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# The loopback "internet" (runs in its own process)


def _rss(base: str, name: str, items: list[dict]) -> bytes:
    x = htmllib.escape
    out = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{name}</title>'
           f"<link>{base}/</link><description>bench</description>"]
    for p in items:
        out.append(
            f"<item><title>{x(p['title'])}</title><link>{base}/p/{p['id']}.html</link>"
            f"<guid isPermaLink=\"false\">{p['id']}</guid>"
            f"<pubDate>{email.utils.format_datetime(p['published'], usegmt=True)}</pubDate>"
            f"<description>{x(p['summary'])}</description></item>"
        )
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def serve(pages: list[dict], n_feeds: int, conn) -> None:
    resources: dict[str, tuple[bytes, str]] = {"/robots.txt": (b"User-agent: *\nAllow: /\n", "text/plain")}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            body, ctype = resources.get(self.path.split("?")[0], (b"not found", "text/plain"))
            self.send_response(200 if self.path.split("?")[0] in resources else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    for p in pages:
        resources[f"/p/{p['id']}.html"] = (p["body"], "text/html")  # no charset: raw bytes
    for f in range(n_feeds):
        resources[f"/feed/{f}.xml"] = (_rss(base, f"feed-{f}", pages[f::n_feeds]), "application/rss+xml")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    conn.send(base)
    conn.recv()  # until the parent says stop (or dies)
    srv.shutdown()


# ---------------------------------------------------------------------------------------------
# CPU and memory of live processes


def proc_cpu(pid: int) -> float:
    """utime + stime of a live process, seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        rest = fh.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / _TICK


def proc_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class WorkerWatch:
    """Samples the CPU of the pool's workers every ``period`` s, so a worker killed at the
    deadline (and replaced) still counts up to its last sample; the final read is exact."""

    def __init__(self, pool, start: dict[int, float], period: float = 0.1) -> None:
        self.pool, self.start, self.period = pool, dict(start), period
        self.last: dict[int, float] = dict(start)
        self.hwm: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for w in list(self.pool._all):
            pid = w.proc.pid
            try:
                self.last[pid] = proc_cpu(pid)
                self.hwm[pid] = proc_hwm_mb(pid)
            except (OSError, IndexError, ValueError):
                pass  # gone between listing and reading

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def cpu(self) -> float:
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())


def breakdown(before: dict[str, float], after: dict[str, float], total: float, n: int) -> dict[str, float]:
    """ms per article by stage (the counters' difference), plus "other" (``total`` minus the
    stages) and "total"."""
    stages = {k: v - before.get(k, 0.0) for k, v in after.items()}
    out = {k: round(1000 * v / n, 3) for k, v in sorted(stages.items())}
    out["other"] = round(1000 * (total - sum(stages.values())) / n, 3)
    out["total"] = round(1000 * total / n, 3)
    return out


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------------------------------------
# One ingest run


def _warm(pool, page: dict, base: str) -> None:
    """One job per worker at once, so every worker has imported trafilatura before we measure."""
    from aggregator.extract import Job

    job = Job(html=page["body"], url=f"{base}/warm", title=page["title"], summary=page["summary"])
    threads = [threading.Thread(target=pool.run, args=(job,)) for _ in range(pool.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ingest(base: str, n_feeds: int, workers: int, pages: list[dict], workdir: Path) -> dict:
    from aggregator import metrics
    from aggregator.models import FeedConfig
    from aggregator.pipeline import Services, poll_once
    from aggregator.settings import Settings

    db = workdir / f"ingest-{workers}.db"
    for stale in workdir.glob(db.name + "*"):
        stale.unlink()
    settings = Settings(
        db_url=f"sqlite:///{db}", allow_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        host_spacing=0.0, host_concurrency=8, extract_workers=workers, poll_workers=4,
    )
    feeds = [FeedConfig(name=f"feed-{f}", url=f"{base}/feed/{f}.xml", outlet=f"Outlet {f}")
             for f in range(n_feeds)]
    with Services(settings) as svc:
        svc.store.sync_feeds(feeds)
        rows = [f for f in svc.store.list_feeds() if f.active]
        _warm(svc.extractor, pages[0], base)
        pids = [w.proc.pid for w in svc.extractor._all]
        w0 = {pid: proc_cpu(pid) for pid in pids}
        watch = WorkerWatch(svc.extractor, w0)
        x0 = getattr(svc.extractor, "extraction_cpu", 0.0)  # (absent before issue 7's change)
        s0, ws0 = metrics.stopwatch.snapshot(), dict(svc.extractor.stage_cpu)
        c0, t0 = self_cpu(), time.perf_counter()
        reports = poll_once(svc, rows)
        wall = time.perf_counter() - t0
        main_cpu = self_cpu() - c0
        s1, ws1 = metrics.stopwatch.snapshot(), dict(svc.extractor.stage_cpu)
        extraction_cpu = getattr(svc.extractor, "extraction_cpu", 0.0) - x0
        watch.stop()
        worker_cpu = watch.cpu()
        alive = [w.proc.pid for w in svc.extractor._all]
        worker_hwm = [watch.hwm.get(pid, 0.0) for pid in alive]
        replaced = len(set(watch.last) - set(alive))
    new = sum(r.new_articles for r in reports)
    conn = sqlite3.connect(db)
    try:
        methods = dict(conn.execute("SELECT extraction, count(*) FROM articles GROUP BY extraction").fetchall())
        texts = dict(conn.execute("SELECT url, text FROM articles").fetchall())
    finally:
        conn.close()
    n = len(pages)
    main_ms = breakdown(s0, s1, main_cpu, n)
    worker_ms = breakdown(ws0, ws1, worker_cpu, n)
    worker_ms["total_beyond_trafilatura"] = round(worker_ms.pop("total") - worker_ms.pop("trafilatura", 0.0), 3)
    return {
        "run": "ingest", "workers": workers, "articles": n, "stored": new, "extraction": methods,
        "feeds_failed": sum(not r.ok for r in reports), "wall_s": round(wall, 3),
        "articles_per_s": round(n / wall, 2), "main_cpu_s": round(main_cpu, 3),
        "worker_cpu_s": round(worker_cpu, 3), "cpu_ms_per_article": round(1000 * (main_cpu + worker_cpu) / n, 2),
        "extraction_cpu_ms_per_article": round(1000 * extraction_cpu / n, 2),
        "cpu_ratio_in_run": round((main_cpu + worker_cpu) / extraction_cpu, 3) if extraction_cpu else None,
        "worker_utilisation": round(worker_cpu / (wall * workers), 3),
        "main_cpu_share": round(main_cpu / (main_cpu + worker_cpu), 3) if main_cpu + worker_cpu else 0.0,
        # Where the CPU beyond extraction goes (no profiler: time.thread_time() per stage, see
        # aggregator.metrics.Stopwatch). Main process: fetch_feed/fetch_page (HTTP client),
        # parse (feedparser), prepare (identity, store lookups, bookkeeping of the poll threads),
        # job (pickling jobs and results, the pipe), assign (the clusterer), store (the writes),
        # other (threads and work outside those stages). Workers: every step but trafilatura.
        "main_ms_per_article": main_ms, "worker_extra_ms_per_article": worker_ms,
        "workers_replaced": replaced, "worker_peak_rss_mb": [round(x, 1) for x in worker_hwm],
        "loadavg": loadavg(), "_texts": texts,
    }


# ---------------------------------------------------------------------------------------------
# The floor


def floor(pages: list[dict], base: str, options: dict | None) -> dict:
    """trafilatura alone, in this process, on the same decoded pages. ``options`` None: the
    library's default ``extract()`` (for reference)."""
    import trafilatura

    htmls = [decoded(p["body"]) for p in pages]
    urls = [f"{base}/p/{p['id']}.html" for p in pages]

    def one(h: str, u: str) -> str:
        if options is None:
            return trafilatura.extract(h, url=u) or ""
        doc = trafilatura.bare_extraction(h, url=u, **options)
        return (doc.text or "") if doc is not None else ""

    one(htmls[0], urls[0])  # imports and first-call caches outside the measurement
    texts, c0, t0 = {}, self_cpu(), time.perf_counter()
    for p, h, u in zip(pages, htmls, urls, strict=True):
        try:
            texts[p["id"]] = one(h, u)
        except Exception:  # noqa: BLE001 - a page trafilatura chokes on costs what it cost
            texts[p["id"]] = ""
    cpu, wall = self_cpu() - c0, time.perf_counter() - t0
    return {"run": "floor", "settings": "default extract()" if options is None else options,
            "articles": len(pages), "cpu_ms_per_article": round(1000 * cpu / len(pages), 2),
            "wall_s": round(wall, 3), "loadavg": loadavg(), "_texts": texts}


def _pool_init(options: dict) -> None:
    global _OPTIONS
    import trafilatura

    _OPTIONS = options
    trafilatura.bare_extraction("<html><body><article><p>Warm up.</p></article></body></html>", **options)


_OPTIONS: dict = {}


def _pool_extract(html: str) -> int:
    import trafilatura

    try:
        trafilatura.bare_extraction(html, **_OPTIONS)
    except Exception:  # noqa: BLE001 - the floor only measures time
        pass
    return 0


def floor_scaling(pages: list[dict], options: dict) -> dict:
    """The machine's own scaling: trafilatura alone in 1 and in 2 warmed processes, same pages.
    On a shared 2-core machine this is the ceiling for ``scaling_2_workers``."""
    htmls = [decoded(p["body"]) for p in pages]
    ctx = mp.get_context("spawn")
    walls = {}
    for procs in (1, 2):
        with ctx.Pool(procs, initializer=_pool_init, initargs=(options,)) as pool:
            pool.map(_pool_extract, htmls[:procs], chunksize=1)  # every process started and warm
            t = time.perf_counter()
            pool.map(_pool_extract, htmls, chunksize=1)
            walls[procs] = time.perf_counter() - t
    return {"run": "floor_scaling", "wall_s_1": round(walls[1], 3), "wall_s_2": round(walls[2], 3),
            "scaling_2_processes": round(walls[1] / walls[2], 3), "loadavg": loadavg()}


def text_f1(pages: list[dict], by_id: dict[str, str]) -> tuple[float, int]:
    gold = [p for p in pages if p["gold"]]
    if not gold:
        return 0.0, 0
    return sum(word_f1(by_id.get(p["id"], ""), p["gold"]) for p in gold) / len(gold), len(gold)


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("trafilatura", "lxml", "feedparser", "httpx", "datasketch", "numpy", "xxhash"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="use the first N pages")
    ap.add_argument("--feeds", type=int, default=10, help="feeds the pages are spread over")
    ap.add_argument("--repeat", type=int, default=1, help="ingest runs per worker count (best wall kept)")
    ap.add_argument("--no-reference", action="store_true", help="skip the default-extract() reference")
    ap.add_argument("--data", type=Path, default=PAGES)
    args = ap.parse_args(argv)

    if not args.data.exists():
        print(json.dumps({"skipped": f"../shared/data absent: {args.data} not found"}))
        print(json.dumps({"summary": True, "skipped": True, "cpu_ratio_vs_extraction": None,
                          "scaling_2_workers": None, "peak_rss_mb": None}))
        return 0
    from aggregator.extract import TRAFILATURA_OPTIONS

    pages = load_pages(args.data, args.limit)
    print(json.dumps({"versions": versions(), "pages": len(pages), "cpus": os.cpu_count(),
                      "loadavg": loadavg(), "trafilatura_options": TRAFILATURA_OPTIONS}), flush=True)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(pages, args.feeds, child), daemon=True)
    server.start()
    base = parent.recv()
    id_of_url = {f"{base}/p/{p['id']}.html": p["id"] for p in pages}
    runs: dict[int, dict] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            for _ in range(max(1, args.repeat)):
                for workers in (1, 2):
                    res = ingest(base, args.feeds, workers, pages, Path(tmp))
                    texts = res.pop("_texts")
                    print(json.dumps(res), flush=True)
                    if workers not in runs or res["wall_s"] < runs[workers]["wall_s"]:
                        runs[workers] = res | {"_texts": texts}
        ingest_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        fl = floor(pages, base, TRAFILATURA_OPTIONS)
        floor_texts = fl.pop("_texts")
        print(json.dumps(fl), flush=True)
        fs = floor_scaling(pages, TRAFILATURA_OPTIONS)
        print(json.dumps(fs), flush=True)
        ref_f1 = None
        if not args.no_reference:
            ref = floor(pages, base, None)
            ref_texts = ref.pop("_texts")
            ref_f1, _ = text_f1(pages, ref_texts)
            ref["text_f1_zyte"] = round(ref_f1, 4)
            print(json.dumps(ref), flush=True)
    finally:
        parent.send("stop")
        server.join(5)
        if server.is_alive():
            server.kill()

    two = runs[2]
    stored = {id_of_url.get(u, u): t or "" for u, t in two["_texts"].items()}
    f1_stored, n_gold = text_f1(pages, stored)
    f1_floor, _ = text_f1(pages, floor_texts)
    print(json.dumps({"quality": True, "zyte_pages": n_gold, "text_f1_stored": round(f1_stored, 4),
                      "text_f1_floor_same_settings": round(f1_floor, 4),
                      "text_f1_default_extract": round(ref_f1, 4) if ref_f1 is not None else None}), flush=True)
    ratio = two["cpu_ms_per_article"] / fl["cpu_ms_per_article"] if fl["cpu_ms_per_article"] else None
    ratio_1 = runs[1]["cpu_ms_per_article"] / fl["cpu_ms_per_article"] if fl["cpu_ms_per_article"] else None
    peak = ingest_peak + max(sum(r["worker_peak_rss_mb"]) for r in runs.values())
    print(json.dumps({
        "summary": True,
        "cpu_ratio_vs_extraction": round(ratio, 3) if ratio else None,
        "cpu_ratio_vs_extraction_1_worker": round(ratio_1, 3) if ratio_1 else None,
        # The same ratio against the trafilatura CPU measured inside the workers during the run
        # itself (same pages, settings, processes and moment): far less noisy on a shared machine.
        "cpu_ratio_vs_extraction_in_run": two["cpu_ratio_in_run"],
        "cpu_ratio_vs_extraction_in_run_1_worker": runs[1]["cpu_ratio_in_run"],
        "floor_cpu_ms_per_article": fl["cpu_ms_per_article"],
        "ingest_cpu_ms_per_article": two["cpu_ms_per_article"],
        "scaling_2_workers": round(runs[1]["wall_s"] / two["wall_s"], 3),
        "floor_scaling_2_processes": fs["scaling_2_processes"],
        "articles_per_s_2_workers": two["articles_per_s"],
        "peak_rss_mb": round(peak, 1),
        "main_peak_rss_mb": round(ingest_peak, 1),
        "text_f1_stored": round(f1_stored, 4),
        # Where the CPU beyond extraction went in that run (ms per article; see the ingest lines).
        "main_ms_per_article_2_workers": two["main_ms_per_article"],
        "worker_extra_ms_per_article_2_workers": two["worker_extra_ms_per_article"],
        "loadavg": loadavg(),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
