"""``aggregator serve``: uvicorn over the reader app, in one or more worker processes.

With ``workers`` > 1 uvicorn starts each worker from an import string, so the store URL and the
operator token reach the workers through the environment (inherited only by the children).
Each worker opens its own store connections and keeps its own page cache and warmer.
uvicorn picks uvloop and httptools when they are installed (they are dependencies).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

# One worker per core (at most 4): a worker is one Python thread of rendering, and on a busy
# machine two processes also keep each other's requests moving when one is descheduled.
# Each keeps its own cache (memory x workers) and warms it on start.
DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)
ENV_DB = "AGGREGATOR_SERVE_DB"
ENV_TOKEN = "AGGREGATOR_SERVE_OPERATOR_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ENV_CACHE = "AGGREGATOR_SERVE_CACHE_BYTES"


def app_from_env() -> Starlette:
    """The app of one worker process (uvicorn's factory)."""
    from store import open_store

    from .app import create_app

    return create_app(open_store(os.environ[ENV_DB]), operator_token=os.environ.get(ENV_TOKEN, ""),
                      cache_bytes=int(os.environ[ENV_CACHE]))


def serve(db_url: str, *, host: str, port: int, operator_token: str = "", workers: int | None = None,
          cache_bytes: int = 256 * 2**20) -> None:
    import uvicorn

    workers = workers or DEFAULT_WORKERS
    if workers <= 1:
        from store import open_store

        from .app import create_app

        app = create_app(open_store(db_url), operator_token=operator_token, cache_bytes=cache_bytes)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        os.environ[ENV_DB] = db_url
        os.environ[ENV_TOKEN] = operator_token
        os.environ[ENV_CACHE] = str(cache_bytes)
        uvicorn.run("aggregator.web.serve:app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level="warning")
