"""``aggregator demo``: the whole product in a minute, offline.

Starts the loopback newsroom with our own fixture articles (``aggregator/newsroom_fixtures``:
an AP wire story republished by two papers and reported independently by a third, a second
multi-outlet story and unrelated articles), writes a ``feeds.yaml`` for it into a temporary
directory, runs ``aggregator poll --once`` into a temporary SQLite store and then serves the
reader UI on it. The newsroom keeps running while the UI is up, so the source links on the
story pages open the "original" articles. Everything is removed on exit (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .newsroom import Newsroom, load_fixture_articles

DEMO_ENV = {
    # The newsroom lives on loopback, which the egress guard refuses by default.
    "AGGREGATOR_ALLOW_NETWORKS": "127.0.0.0/8",
    # One host serves every outlet; no need to be polite to ourselves.
    "AGGREGATOR_HOST_SPACING": "0",
}


@contextmanager
def _environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _call(cli_main, argv: list[str]) -> int:
    try:
        return cli_main(argv) or 0
    except SystemExit as exc:  # argparse and friends
        return exc.code if isinstance(exc.code, int) else 1


def run_demo(port: int = 8080, host: str = "127.0.0.1", serve: bool = True) -> int:
    """Poll the fixture newsroom into a temporary store and serve it. Returns an exit code."""
    from . import cli

    articles = load_fixture_articles()
    with tempfile.TemporaryDirectory(prefix="aggregator-demo-") as tmp, _environ(DEMO_ENV), \
            Newsroom(articles) as newsroom:
        tmpdir = Path(tmp)
        feeds = newsroom.write_feeds_yaml(tmpdir / "feeds.yaml")
        db_url = f"sqlite:///{tmpdir / 'demo.db'}"
        print(f"demo newsroom: {newsroom.base_url}/ ({len(newsroom.feeds)} feeds, "
              f"{len(articles)} articles)", file=sys.stderr)
        code = _call(cli.main, ["poll", "--once", "--feeds", str(feeds), "--db", db_url])
        if code != 0:
            print(f"demo: polling the newsroom failed (exit {code})", file=sys.stderr)
            return code
        if not serve:
            return 0
        print(f"\n  Open http://{host}:{port}/ to read the merged stories (Ctrl-C to stop).\n",
              flush=True)
        try:
            return _call(cli.main, ["serve", "--db", db_url, "--host", host, "--port", str(port)])
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(run_demo())
