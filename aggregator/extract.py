"""Clean text and metadata from an article page, in worker processes that can be killed.

trafilatura is CPU-bound, holds the GIL and has no timeout of its own (11 MB of flat HTML took
147 s), so it runs in separate processes: a job that overruns its deadline gets its worker killed
and replaced, and the article falls back to its feed summary. The worker also computes the
article's fingerprint, the other CPU-heavy pure step, so the parent only does I/O and bookkeeping.
"""

from __future__ import annotations

import html as htmllib
import logging
import multiprocessing as mp
import queue
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import Extracted

log = logging.getLogger(__name__)


class ExtractError(Exception):
    """Extraction failed or overran its deadline (message starts with "extract:")."""


@dataclass(frozen=True)
class Job:
    # The page as the server sent it (bytes, decoded in the worker with ``charset``) or as
    # text. Bytes cross the pipe as one copy; a str was encoded by pickle in the daemon and
    # decoded again in the worker, ≈ 1 ms of the daemon's CPU per 170 KB page (issue 7).
    html: str | bytes
    url: str
    title: str  # from the feed: used when the page has none, and for the fingerprint
    summary: str  # from the feed: the fallback text
    charset: str = "utf-8"  # of ``html`` when it is bytes (already checked to exist)


# The one set of trafilatura settings (benchmarks.pipeline measures its floor with these).
# Measured on the 250 pages of ../shared/data/pages (issue 7): trafilatura's metadata pass
# (with_metadata=True: htmldate, author and site-name heuristics) cost 40 % of the CPU (3.9 s on
# one page); the feed gives title and date, and ``head_metadata`` reads the rest from <head>.
# fast=True skips the fallback extractors: 1.45x the throughput, word F1 vs the zyte ground
# truth 0.957 -> 0.961.
TRAFILATURA_OPTIONS = {"with_metadata": False, "fast": True, "include_comments": False,
                       "include_tables": False, "deduplicate": False}

_HEAD_SCAN = 300_000  # <head> metadata is looked for before <body> and within this many chars
_BODY = re.compile(r"<body[\s>]", re.I)
_TAG = re.compile(r"<(link|meta|title|html)\b([^>]*)>", re.I)
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
_TITLE_END = re.compile(r"</title", re.I)
_AUTHOR_KEYS = ("author", "article:author", "byl", "parsely-author", "sailthru.author", "dc.creator")
_DATE_KEYS = ("article:published_time", "datepublished", "pubdate", "publishdate", "date",
              "parsely-pub-date", "dc.date", "dc.date.issued", "og:published_time")


def head_metadata(html: str) -> dict[str, str]:
    """canonical URL, title, author, site name, date, language from the page's <head>, with one
    regex scan of its tags (trafilatura's own metadata pass parses the page again and costs more
    than the text extraction on some pages). Values are plain text; empty when absent."""
    m = _BODY.search(html, 0, _HEAD_SCAN)
    head = html[: m.start() if m else _HEAD_SCAN]
    meta: dict[str, str] = {}
    out = {"canonical": "", "title": "", "author": "", "site_name": "", "date": "",
           "language": ""}
    for tag in _TAG.finditer(head):
        name = tag.group(1).lower()
        raw = tag.group(2)
        # Tags that cannot change the result are not parsed (≈ 20 % of head_metadata's CPU): a
        # link without "canonical" in it, and a second <title> or <html> (the first one wins).
        if (name == "link" and (out["canonical"] or "canonical" not in raw.lower())) or \
                (name == "title" and out["title"]) or (name == "html" and out["language"]):
            continue
        attrs = {k.lower(): htmllib.unescape(v.strip("\"'")).strip() for k, v in _ATTR.findall(raw)}
        if name == "link":
            if "canonical" in attrs.get("rel", "").lower().split() and not out["canonical"]:
                out["canonical"] = attrs.get("href", "")
        elif name == "meta":
            key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").lower()
            if key and attrs.get("content") and key not in meta:
                meta[key] = attrs["content"]
        elif name == "title" and not out["title"]:
            end = _TITLE_END.search(head, tag.end())
            out["title"] = htmllib.unescape(head[tag.end() : end.start() if end else tag.end()]).strip()
        elif name == "html" and not out["language"]:
            out["language"] = attrs.get("lang", "").split("-")[0].lower()[:8]
    out["canonical"] = out["canonical"] or meta.get("og:url", "")
    out["title"] = " ".join((meta.get("og:title") or out["title"]).split())
    out["author"] = next((meta[k] for k in _AUTHOR_KEYS if meta.get(k) and "://" not in meta[k]), "")
    out["site_name"] = meta.get("og:site_name") or meta.get("application-name") or ""
    out["date"] = next((meta[k] for k in _DATE_KEYS if meta.get(k)), "")
    return out


# CPU seconds this thread spent inside trafilatura (the extraction floor of issue 7) and in the
# worker's other steps (decode, head_metadata, featurize, ipc = the job's unpickling and the
# previous reply's pickling): the worker sends them with every reply, so
# ``ExtractorPool.extraction_cpu`` tells the ingest benchmark how much of the run was
# extraction alone, measured in the same processes at the same moment (a separate floor run on
# a shared machine varied by 30 %), and ``ExtractorPool.stage_cpu`` where the rest went.
_cpu = threading.local()


def stage_cpu() -> dict[str, float]:
    """Seconds of CPU the calling thread has spent per worker step so far (a live dict)."""
    d = getattr(_cpu, "stages", None)
    if d is None:
        d = _cpu.stages = {}
    return d


def _charge(stage: str, started: float) -> float:
    now = time.thread_time()
    d = stage_cpu()
    d[stage] = d.get(stage, 0.0) + now - started
    return now


def extraction_cpu() -> float:
    """Seconds of CPU the calling thread has spent in trafilatura so far."""
    return stage_cpu().get("trafilatura", 0.0)


def extract_page(html: str, url: str) -> Extracted:
    """Run trafilatura on one page (in the calling process)."""
    import trafilatura

    started = time.thread_time()
    try:
        doc = trafilatura.bare_extraction(html, url=url, **TRAFILATURA_OPTIONS)
    finally:
        started = _charge("trafilatura", started)
    if doc is None or not (doc.text or "").strip():
        return Extracted(text="", method="summary", note="extract: no article text found on page")
    head = head_metadata(html)
    _charge("head_metadata", started)
    published = None
    if head["date"]:
        try:
            published = datetime.strptime(head["date"][:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            published = None
    return Extracted(
        text=doc.text.strip(),
        title=head["title"],
        author=head["author"],
        published=published,
        site_name=head["site_name"],
        language=head["language"],
        canonical_url=head["canonical"],
    )


def process_job(job: Job):
    """Extract then fingerprint: the whole CPU-heavy part of one article. Pure."""
    from .cluster import featurize

    if job.html:
        try:
            html = job.html
            if isinstance(html, bytes):
                started = time.thread_time()
                html = html.decode(job.charset, errors="replace")
                _charge("decode", started)
            ex = extract_page(html, job.url)
        except Exception as exc:  # noqa: BLE001 - trafilatura/lxml on hostile markup: fall back, never crash
            ex = Extracted(text="", method="summary", note=f"extract: {type(exc).__name__}: {exc}"[:300])
    else:
        ex = Extracted(text="", method="summary", note="extract: page not fetched")
    if not ex.text:
        ex = Extracted(text=job.summary, title=ex.title, author=ex.author, published=ex.published,
                       site_name=ex.site_name, language=ex.language,
                       canonical_url=ex.canonical_url, method="summary", note=ex.note)
    started = time.thread_time()
    features = featurize(job.title or ex.title, ex.text if ex.method == "page" else "", job.summary)
    _charge("featurize", started)
    return ex, features


# A worker imports trafilatura (and warms it on a tiny page) before it says it is ready; the job
# deadline starts after that, so a freshly spawned replacement on a busy machine is not killed
# for its own start-up (one overrun would otherwise cascade into killing every replacement).
STARTUP_TIMEOUT = 120.0
_WARM_UP = Job(html="<html><body><article><p>Warm up.</p></article></body></html>",
               url="http://warm-up.invalid/", title="", summary="")


def _worker(conn) -> None:
    try:
        process_job(_WARM_UP)
    except Exception:  # noqa: BLE001 - a real job will report the problem
        pass
    try:
        conn.send(("ready", None))
    except OSError:
        return
    stages = stage_cpu()
    stages.clear()  # the warm-up is not part of any job
    while True:
        started = time.thread_time()
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        _charge("ipc", started)
        try:
            result = process_job(job)
            spent = dict(stages)  # since the last reply, with that reply's pickling as "ipc"
            stages.clear()
            started = time.thread_time()
            conn.send(("ok", (result, spent)))
            _charge("ipc", started)
        except Exception as exc:  # noqa: BLE001 - keep the worker alive for the next job
            conn.send(("error", f"extract: {type(exc).__name__}: {exc}"[:300]))


class _StartFailed(Exception):
    pass


class _Worker:
    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False

    def wait_ready(self) -> None:
        """Block until the worker has imported and warmed up (not counted in any deadline)."""
        if self.ready:
            return
        if not self.conn.poll(STARTUP_TIMEOUT):
            raise _StartFailed(f"extract: worker not ready after {STARTUP_TIMEOUT:.0f} s")
        status, _ = self.conn.recv()
        if status != "ready":
            raise _StartFailed(f"extract: worker sent {status!r} before it was ready")
        self.ready = True

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class ExtractorPool:
    """A fixed set of extraction processes; ``run(job)`` blocks the calling thread only.

    ``workers=0`` runs jobs in the calling process (no deadline): for tools and tests that
    want no subprocesses."""

    def __init__(self, workers: int = 2, deadline: float = 20.0) -> None:
        self.deadline = deadline
        self.workers = workers
        self._ctx = mp.get_context("spawn")  # fork in a threaded daemon can copy held locks
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        # CPU seconds spent inside trafilatura by the jobs this pool ran (see ``extract_page``),
        # and in every step of the workers by name ("trafilatura" included; see ``stage_cpu``).
        self.extraction_cpu = 0.0
        self.stage_cpu: dict[str, float] = {}
        for _ in range(workers):
            self._add()

    def _add(self) -> None:
        w = _Worker(self._ctx)
        with self._lock:
            self._all.append(w)
        self._idle.put(w)

    def run(self, job: Job):
        if self.workers == 0:
            before = dict(stage_cpu())
            try:
                return process_job(job)
            finally:
                self._count({k: v - before.get(k, 0.0) for k, v in stage_cpu().items()})
        w = self._idle.get()
        try:
            w.wait_ready()
            w.conn.send(job)
            if not w.conn.poll(self.deadline):
                raise TimeoutError
            status, value = w.conn.recv()
        except (TimeoutError, EOFError, OSError, BrokenPipeError, _StartFailed) as exc:
            # Overran or died: kill it and start a fresh one so the pool keeps its size.
            with self._lock:
                self._all.remove(w)
            w.kill()
            self._add()
            if isinstance(exc, TimeoutError):
                raise ExtractError(f"extract: timeout after {self.deadline:g} s") from None
            if isinstance(exc, _StartFailed):
                raise ExtractError(str(exc)) from None
            raise ExtractError(f"extract: worker died ({type(exc).__name__})") from exc
        self._idle.put(w)
        if status != "ok":
            raise ExtractError(value)
        value, cpu = value
        self._count(cpu)
        return value

    def _count(self, cpu: dict[str, float]) -> None:
        with self._lock:
            self.extraction_cpu += cpu.get("trafilatura", 0.0)
            for k, v in cpu.items():
                self.stage_cpu[k] = self.stage_cpu.get(k, 0.0) + v

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for w in workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
            w.proc.join(2)
            if w.proc.is_alive():
                w.kill()

    def __enter__(self) -> "ExtractorPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
