"""Operator routes: Prometheus ``/metrics`` and ``/readyz`` (``/healthz`` lives in app.py).

Counters come from ``aggregator.metrics`` (this process: the daemon's when served by
``aggregator run``); gauges are read from the store at scrape time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from aggregator import metrics

log = logging.getLogger("aggregator.web.ops")


def _gauges(store: Any) -> dict[str, tuple[str, float]]:
    now = datetime.now(UTC)
    feeds = store.list_feeds()
    active = [f for f in feeds if f.active]
    r = store._r()
    one = lambda sql: r.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "aggregator_due_feeds": ("Feeds due and not claimed (the daemon's queue).",
                                 store.due_count(now)),
        "aggregator_feeds": ("Feeds in the feed list.", sum(f.in_config for f in feeds)),
        "aggregator_feeds_active": ("Feeds being polled.", len(active)),
        "aggregator_feeds_failing": ("Active feeds whose last poll failed.",
                                     sum(1 for f in active if f.error_count)),
        "aggregator_feeds_auto_disabled": ("Feeds disabled after repeated failures.",
                                           sum(1 for f in feeds if f.disabled_reason)),
        "aggregator_articles": ("Articles stored.", one("SELECT COUNT(*) FROM articles")),
        "aggregator_stories": ("Stories (not merged into another).",
                               one("SELECT COUNT(*) FROM stories WHERE merged_into IS NULL")),
        "aggregator_articles_summary_only": (
            "Articles whose page could not be extracted (feed summary kept).",
            one("SELECT COUNT(*) FROM articles WHERE extraction <> 'page'")),
    }


def routes(store: Any, app_state: Any = None) -> list[Route]:
    """``app_state``: the app's state, for the page cache's gauges (read at scrape time)."""

    def gauges() -> dict[str, tuple[str, float]]:
        out = _gauges(store)
        cache = getattr(app_state, "page_cache", None)
        if cache is not None:
            st = cache.stats()
            out["aggregator_web_cache_pages"] = ("Rendered pages in this process's page cache.", st["pages"])
            out["aggregator_web_cache_bytes"] = ("Bytes those pages hold (bodies plus overhead).", st["bytes"])
            out["aggregator_web_cache_renders"] = ("Pages rendered on a cache miss.", st["renders"])
            warmer = getattr(app_state, "warmer", None)
            out["aggregator_web_cache_warming"] = ("1 while the warmer's first pass runs.",
                                                   int(bool(warmer and warmer.warming)))
        return out

    async def metrics_page(request: Request) -> Response:
        return PlainTextResponse(metrics.render(gauges()),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    async def readyz(request: Request) -> Response:
        try:
            store._r().execute("SELECT 1 FROM feeds LIMIT 1").fetchall()
        except Exception as exc:  # noqa: BLE001 - any store failure means "not ready"
            log.warning("not ready", extra={"error": str(exc)})
            return PlainTextResponse(f"not ready: {type(exc).__name__}", status_code=503)
        return PlainTextResponse("ready")

    return [Route("/metrics", metrics_page, name="metrics"), Route("/readyz", readyz, name="readyz")]
