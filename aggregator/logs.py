"""Structured logging with stable keys (feed_url, article_url, story_id, error).

Pass context with ``log.info("msg", extra={"feed_url": ...})``; the text format appends the keys
as key=value, the JSON format (``--log-format json``) writes one object per line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

KEYS = ("feed_url", "article_url", "story_id", "error", "feeds", "articles", "status",
        "discovered_url", "signal")


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)!r}" for k in KEYS if hasattr(record, k))
        return f"{base} {extra}" if extra else base


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: getattr(record, k) for k in KEYS if hasattr(record, k)})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (trafilatura warns on every odd page) stays out of operators' logs.
    for noisy in ("trafilatura", "htmldate", "courlan", "httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level > logging.DEBUG else level)
