"""Clean text and metadata from an article page, in worker processes that can be killed.

trafilatura is CPU-bound, holds the GIL and has no timeout of its own (11 MB of flat HTML took
147 s), so it runs in separate processes: a job that overruns its deadline gets its worker killed
and replaced, and the article falls back to its feed summary. The worker also computes the
article's fingerprint, the other CPU-heavy pure step, so the parent only does I/O and bookkeeping.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing as mp
import operator
import os
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass

from .models import Extracted
from .pagetext import TRAFILATURA_OPTIONS, charge, extract_page, extraction_cpu, stage_cpu  # noqa: F401 - re-exported

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


def process_job(job: Job):
    """Extract then fingerprint: the whole CPU-heavy part of one article. Pure."""
    from .cluster import featurize

    if job.html:
        try:
            html = job.html
            if isinstance(html, bytes):
                started = time.thread_time()
                html = html.decode(job.charset, errors="replace")
                charge("decode", started)
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
    charge("featurize", started)
    return ex, features


# The reply crosses the pipe as plain tuples: pickling a dataclass instance goes through its
# __reduce_ex__ and an attribute dict, 17 µs per reply in the worker (and 22 µs to load in the
# daemon) against 10 (and 14) as tuples, on the articles of ../shared/data/pages.
_EXTRACTED_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Extracted)))


def _to_wire(result) -> tuple:
    ex, f = result
    return _EXTRACTED_FIELDS(ex), (f.scheme, f.signature, f.payload, f.language)


def _from_wire(value: tuple):
    from .cluster.features import Features

    ex, (scheme, signature, payload, language) = value
    return Extracted(*ex), Features(scheme=scheme, signature=signature, payload=payload, language=language)


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
    # What the warm-up imported (trafilatura, lxml, numpy: some 64,000 objects) lives as long as
    # the worker: frozen, it is out of the collector's reach, and a full collection no longer
    # walks it all (50 ms each, charged to whichever step happened to trigger it).
    gc.freeze()
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
        charge("ipc", started)
        try:
            result = _to_wire(process_job(job))
            spent = dict(stages)  # since the last reply, with that reply's pickling as "ipc"
            stages.clear()
            started = time.thread_time()
            conn.send(("ok", (result, spent)))
            charge("ipc", started)
        except Exception as exc:  # noqa: BLE001 - keep the worker alive for the next job
            conn.send(("error", f"extract: {type(exc).__name__}: {exc}"[:300]))


class _StartFailed(Exception):
    pass


def _read_timeout(conn, seconds: float) -> None:
    """Make a blocking read on ``conn`` (a socketpair end) fail with BlockingIOError when no
    data came for ``seconds`` (SO_RCVTIMEO), so waiting for a reply is the read itself."""
    sec, usec = divmod(max(round(seconds * 1e6), 1), 1_000_000)  # 0 would mean "never"
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", sec, usec))


class _Worker:
    def __init__(self, ctx, deadline: float) -> None:
        self.conn, child = ctx.Pipe()
        _read_timeout(self.conn, deadline)
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
        # The hand-off costs little in syscalls and bytes but runs with cold caches (after
        # 30 ms of trafilatura, every Python step misses), so each step dropped counts: a
        # SimpleQueue waits in C where a Queue goes through a Python Condition, and see ``run``.
        # Together 0.68 → 0.56 ms of the daemon's CPU per job (median of 4 interleaved runs of
        # 300 real pages, extraction replaced by 30 ms of cache-flushing work).
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        # CPU seconds spent inside trafilatura by the jobs this pool ran (see ``extract_page``),
        # and in every step of the workers by name ("trafilatura" included; see ``stage_cpu``).
        self.extraction_cpu = 0.0
        self.stage_cpu: dict[str, float] = {}
        for _ in range(workers):
            self._add()

    def _add(self) -> None:
        w = _Worker(self._ctx, self.deadline)
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
            # A read that times out at the deadline (SO_RCVTIMEO) rather than poll() then read:
            # no selector built per job (≈ 0.05 ms of the daemon's CPU per job, cold).
            try:
                status, value = w.conn.recv()
            except BlockingIOError:
                raise TimeoutError from None
        except (TimeoutError, EOFError, OSError, _StartFailed) as exc:
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
        return _from_wire(value)

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
