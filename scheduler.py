"""The daemon: when things happen.

One APScheduler interval job ticks; each tick asks the store for due feeds and hands them to a
bounded thread pool that runs ``pipeline.refresh_feed``. The schedule itself lives in the store
(``feeds.next_check_at``), so a restart resumes it: nothing is polled early. The reader web UI is
served from the same process. SIGTERM/SIGINT stop claiming feeds, let in-flight refreshes finish
(each one is bounded by its fetch and extraction deadlines) and exit; SIGHUP re-reads feeds.yaml.

    python scheduler.py [--feeds feeds.yaml] [--db sqlite:///data/aggregator.db]
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator.feeds_config import ConfigError, load_feeds
from aggregator.pipeline import Services, refresh_feed
from aggregator.settings import Settings

log = logging.getLogger("aggregator.daemon")
TICK_SECONDS = 15


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.svc = Services(settings)
        self.pool = ThreadPoolExecutor(settings.poll_workers, thread_name_prefix="refresh")
        self.in_flight: set[int] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(timezone="UTC")

    def reload_feeds(self) -> bool:
        """Re-read feeds.yaml; an invalid file keeps the current list (and says why)."""
        try:
            feeds = load_feeds(self.settings.feeds_path)
        except ConfigError as exc:
            log.error("feeds file invalid; keeping the previous feed list:\n%s", exc)
            return False
        self.svc.store.sync_feeds(feeds)
        log.info("feeds loaded", extra={"feeds": len(feeds)})
        return True

    def tick(self) -> None:
        if self.stopping.is_set():
            return
        now = datetime.now(UTC)
        for feed in self.svc.store.due_feeds(now):
            with self.lock:
                if feed.id in self.in_flight:
                    continue
                self.in_flight.add(feed.id)
            self.pool.submit(self._refresh, feed)

    def _refresh(self, feed) -> None:
        try:
            if not self.stopping.is_set():
                report = refresh_feed(self.svc, feed)
                log.info("feed refreshed", extra={"feed_url": feed.url, "articles": report.new_articles})
        except Exception:
            log.exception("refresh crashed", extra={"feed_url": feed.url})
        finally:
            with self.lock:
                self.in_flight.discard(feed.id)

    def start(self) -> None:
        self.scheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS, id="tick",
                               next_run_time=datetime.now(UTC), max_instances=1, coalesce=True)
        self.scheduler.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.svc.close()


def run(settings: Settings) -> int:
    import uvicorn

    from aggregator.web.app import create_app

    daemon = Daemon(settings)
    if not daemon.reload_feeds():
        return 2
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: daemon.reload_feeds())
    daemon.start()
    log.info("daemon started; serving http://%s:%s/", settings.host, settings.port)
    try:
        # uvicorn handles SIGTERM/SIGINT: it returns once the server has shut down.
        uvicorn.run(create_app(daemon.svc.store), host=settings.host, port=settings.port,
                    log_level="warning")
    finally:
        daemon.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    from aggregator.cli import main as cli_main

    return cli_main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
