"""The daemon: when things happen.

One APScheduler interval job ticks; each tick *claims* due feeds from the store (enabled, under
the error limit, at most ``host_claim_cap`` per host, each claim a lease written on the feed) and
hands them to a bounded thread pool that runs ``pipeline.refresh_feed``. The schedule lives in
the store (``feeds.next_check_at`` + ``claimed_until``), so a restart resumes it: nothing is
polled early, and a dead daemon's claims come back when their lease ends. The reader web UI is
served from the same process.

Signals (the main thread handles them; uvicorn runs in a thread so it installs none):
SIGTERM/SIGINT stop claiming, cancel queued polls (their claims are released), give in-flight
polls ``shutdown_grace`` seconds, then abandon the rest: the store's write lock is taken first,
so no transaction is cut in half (SQLite rolls back whatever was not committed), and the
process exits. SIGHUP, or a new mtime of feeds.yaml seen by a tick, reloads the feed list; an
invalid file keeps the old list and logs every problem.

    python scheduler.py [--feeds feeds.yaml] [--db sqlite:///data/aggregator.db]
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator.feeds_config import ConfigError, load_feeds
from aggregator.pipeline import Services, refresh_feed
from aggregator.settings import Settings

log = logging.getLogger("aggregator.daemon")
TICK_SECONDS = 15


class Daemon:
    def __init__(self, settings: Settings, svc: Services | None = None) -> None:
        self.settings = settings
        self.svc = svc or Services(settings)
        self.pool = ThreadPoolExecutor(settings.poll_workers, thread_name_prefix="refresh")
        self.in_flight: set[int] = set()
        self.lock = threading.Lock()
        self.stopping = self.svc.stopping
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.owner = f"{os.getpid()}@{socket.gethostname()}"
        self._feeds_mtime: float | None = None
        # Ticks are serialised (the scheduler's, and the early ones a drained pool starts).
        self._tick_lock = threading.Lock()
        self._backlog = False  # the last claim was full: more feeds may be due right now
        self._queued: dict[int, object] = {}  # feed id -> its Future, until it has run

    # -- the feed list --------------------------------------------------------------------------

    def reload_feeds(self) -> bool:
        """Re-read feeds.yaml; an invalid file keeps the current list (and says why)."""
        self._feeds_mtime = self._mtime()
        try:
            feeds = load_feeds(self.settings.feeds_path)
        except ConfigError as exc:
            log.error("feeds file invalid; keeping the previous feed list:\n%s", exc,
                      extra={"error": str(exc)})
            return False
        self.svc.store.sync_feeds(feeds)
        log.info("feeds loaded", extra={"feeds": len(feeds)})
        return True

    def _mtime(self) -> float | None:
        try:
            return os.stat(self.settings.feeds_path).st_mtime_ns
        except OSError:
            return None

    def reload_if_changed(self) -> bool:
        """Reload when feeds.yaml's mtime moved since the last (attempted) load."""
        if self._mtime() != self._feeds_mtime:
            return self.reload_feeds()
        return False

    # -- the tick -------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list:
        """Claim what is due and start it; returns the claimed feeds.

        A claim is at most twice the pool: when it was full (a backlog), the pool claims again
        as soon as it has drained to its size instead of idling until the next tick, so one
        daemon's throughput is bounded by its workers, not by ``TICK_SECONDS``."""
        with self._tick_lock:
            if self.stopping.is_set():
                return []
            self.reload_if_changed()
            now = now or datetime.now(UTC)
            with self.lock:
                free = self.settings.poll_workers * 2 - len(self.in_flight)
            if free <= 0:
                return []
            claimed = self.svc.store.claim_due_feeds(
                now, owner=self.owner, lease=self.settings.claim_lease, limit=free,
                per_host=self.settings.host_claim_cap, error_limit=self.settings.error_limit,
            )
            self._backlog = len(claimed) >= free
            for n, feed in enumerate(claimed):
                with self.lock:
                    self.in_flight.add(feed.id)
                try:
                    fut = self.pool.submit(self._refresh, feed)
                    with self.lock:
                        self._queued[feed.id] = fut
                        self._queued = {k: f for k, f in self._queued.items() if not f.done()}
                except RuntimeError:  # the pool was shut down (stopping): give the rest back
                    left = [f.id for f in claimed[n:]]
                    self.svc.store.release_claims(left)
                    with self.lock:
                        self.in_flight.difference_update(left)
                    return claimed[:n]
            return claimed

    def _refresh(self, feed) -> None:
        try:
            if not self.stopping.is_set():
                report = refresh_feed(self.svc, feed)
                log.info("feed refreshed", extra={
                    "feed_url": feed.url, "articles": report.new_articles,
                    "status": report.status, "error": report.error})
        except Exception:
            log.exception("refresh crashed", extra={"feed_url": feed.url})
        finally:
            if self.stopping.is_set():
                # Not polled, or abandoned half-way: give the claim back, the feed stays due.
                try:
                    self.svc.store.release_claims([feed.id])
                except Exception:
                    log.exception("claim not released", extra={"feed_url": feed.url})
            with self.lock:
                self.in_flight.discard(feed.id)
                drained = len(self.in_flight) <= self.settings.poll_workers
        if drained and self._backlog and not self.stopping.is_set():
            try:
                self.tick()  # more is due: claim it now rather than at the next tick
            except Exception:
                log.exception("early tick failed")

    def wait_idle(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if not self.in_flight:
                    return True
            time.sleep(0.05)
        with self.lock:
            return not self.in_flight

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS, id="tick",
                               next_run_time=datetime.now(UTC), max_instances=1, coalesce=True)
        self.scheduler.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop claiming, cancel queued polls, wait up to ``timeout`` seconds for in-flight ones.

        True: everything finished and the services are closed. False: some polls are still
        running; the store's write lock is then held (no transaction can start or be cut half
        way) and the caller should exit the process at once."""
        timeout = self.settings.shutdown_grace if timeout is None else timeout
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.pool.shutdown(wait=False, cancel_futures=True)
        with self.lock:  # queued polls that will never run: not in flight, their claims given back
            cancelled = [k for k, f in self._queued.items() if f.cancelled()]
            self.in_flight.difference_update(cancelled)
        if cancelled:
            self.svc.store.release_claims(cancelled)
        if self.wait_idle(timeout):
            self.svc.close()
            return True
        with self.lock:
            left = sorted(self.in_flight)
        log.warning("shutdown: abandoning in-flight polls", extra={"feeds": len(left)})
        # Abandoned feeds stay due: the next start polls them at once instead of after the lease.
        self.svc.store.release_claims(left)
        if self.svc.store.hold_writes(timeout=max(5.0, timeout)):
            return False
        log.error("shutdown: a write did not finish in time")
        return False


def run(settings: Settings) -> int:
    import uvicorn

    from aggregator.web.app import create_app

    daemon = Daemon(settings)
    if not daemon.reload_feeds():
        return 2
    done = threading.Event()

    def on_stop(signum, _frame) -> None:
        log.info("signal received: stopping", extra={"signal": signal.Signals(signum).name})
        done.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: daemon.reload_feeds())

    app = create_app(daemon.svc.store, operator_token=settings.operator_token,
                     cache_bytes=settings.web_cache_bytes(in_daemon=True))
    config = uvicorn.Config(app,
                            host=settings.host, port=settings.port,
                            log_level="warning")
    server = uvicorn.Server(config)
    # Off the main thread uvicorn installs no signal handlers: ours stay in charge.
    web = threading.Thread(target=server.run, name="web", daemon=True)
    web.start()
    daemon.start()
    log.info("daemon started; serving http://%s:%s/", settings.host, settings.port)
    while not done.wait(0.5):
        if not web.is_alive():
            log.error("web server stopped; stopping the daemon")
            break
    server.should_exit = True
    clean = daemon.stop()
    web.join(5)
    logging.shutdown()
    if not clean:
        os._exit(0)  # in-flight polls abandoned with the write lock held: nothing half-written
    return 0


def main(argv: list[str] | None = None) -> int:
    from aggregator.cli import main as cli_main

    return cli_main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
