"""The command line: each command is a few lines around a library call.

Library exceptions become user messages here, at the edge, and nowhere else. Exit codes:
0 ok (also when some feeds failed: they are recorded on the feed), 2 bad configuration or usage,
3 the store is unusable.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime

from store import StoreError, open_store

from .feeds_config import ConfigError, load_feeds
from .logs import setup_logging
from .settings import Settings

EXIT_CONFIG = 2
EXIT_STORE = 3


def _settings(args) -> Settings:
    return Settings.from_env(
        db_url=getattr(args, "db", None),
        feeds_path=getattr(args, "feeds", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        log_format=getattr(args, "log_format", None),
    )


def cmd_poll(args) -> int:
    from .pipeline import Services, poll_once

    if not args.once:
        print("aggregator poll: only --once is supported; run the daemon with 'aggregator run'",
              file=sys.stderr)
        return EXIT_CONFIG
    settings = _settings(args)
    feeds = load_feeds(settings.feeds_path)
    with Services(settings) as svc:
        svc.store.sync_feeds(feeds)
        rows = [f for f in svc.store.list_feeds() if f.active]
        reports = poll_once(svc, rows, progress=_progress(len(rows)))
    ok = [r for r in reports if r.ok]
    failed = [r for r in reports if not r.ok]
    stories = set().union(*(r.stories for r in reports)) if reports else set()
    for r in failed:
        print(f"  failed  {r.feed}: {r.error}", file=sys.stderr)
    print(
        f"feeds ok: {len(ok)}, failed: {len(failed)}, "
        f"new articles: {sum(r.new_articles for r in reports)}, stories touched: {len(stories)}"
    )
    return 0


def _progress(total: int):
    """One line per feed on a terminal; silent otherwise (logs and CI stay clean)."""
    if not sys.stderr.isatty():
        return None
    done = [0]

    def show(report) -> None:
        done[0] += 1
        state = "ok" if report.ok else "FAILED"
        print(f"[{done[0]}/{total}] {report.feed}: {state}, {report.new_articles} new",
              file=sys.stderr)

    return show


def cmd_serve(args) -> int:
    import uvicorn

    from .web.app import create_app

    settings = _settings(args)
    store = open_store(settings.db_url)
    print(f"serving http://{settings.host}:{settings.port}/", file=sys.stderr)
    uvicorn.run(create_app(store), host=settings.host, port=settings.port, log_level="warning")
    return 0


def cmd_run(args) -> int:
    import scheduler  # the daemon lives at the top level; imported only for this command

    return scheduler.run(_settings(args))


def cmd_stories(args) -> int:
    settings = _settings(args)
    store = open_store(settings.db_url)
    limit = args.limit if args.limit and args.limit > 0 else store.count_stories()
    for story in store.list_stories(limit=limit):
        print(json.dumps(story_json(story), ensure_ascii=False))
    return 0


def story_json(story) -> dict:
    return {
        "id": story.id,
        "title": story.title,
        "first_seen": _iso(story.first_seen),
        "updated": _iso(story.updated),
        "outlets": story.outlets,
        "sources": [
            {
                "article_id": s.article_id,
                "outlet": s.outlet,
                "title": s.title,
                "url": s.url,
                "author": s.author,
                "published": _iso(s.published),
                "role": s.role,
                "reuse": round(s.reuse, 3),
                "copy_of": s.copy_of,
            }
            for s in story.sources
        ],
    }


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def cmd_feeds(args) -> int:
    if args.feeds_cmd == "check":
        path = args.path or _settings(args).feeds_path
        feeds = load_feeds(path)  # ConfigError is printed by main()
        print(f"{path}: {len(feeds)} feeds, ok")
        return 0
    settings = _settings(args)
    store = open_store(settings.db_url)
    if args.feeds_cmd == "enable":
        if not store.enable_feed(args.name):
            print(f"no feed named {args.name!r}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"{args.name}: enabled")
        return 0
    # status
    rows = store.list_feeds()
    print(f"{'feed':28} {'state':10} {'last fetch':20} {'http':>4} {'articles':>8}  error")
    for f in rows:
        state = ("removed" if not f.in_config else "disabled" if not f.enabled
                 else "auto-off" if f.disabled_reason else "failing" if f.error_count else "ok")
        last = _iso(f.last_fetch_at) or "never"
        print(f"{f.name[:28]:28} {state:10} {last:20} {f.last_status or '':>4} {f.articles:>8}  "
              f"{f.disabled_reason or f.last_error or ''}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(host=args.host or "127.0.0.1", port=args.port or 8080) or 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aggregator", description=__doc__.splitlines()[0])
    p.add_argument("--log-format", choices=["text", "json"], default=None)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    def db(sp):
        sp.add_argument("--db", help="database URL (default sqlite:///data/aggregator.db; "
                                     "env AGGREGATOR_DB)")

    sp = sub.add_parser("poll", help="poll every enabled feed once and process new articles")
    sp.add_argument("--once", action="store_true", help="poll once regardless of schedule")
    sp.add_argument("--feeds", help="feeds file (default feeds.yaml; env AGGREGATOR_FEEDS)")
    db(sp)
    sp.set_defaults(func=cmd_poll)

    sp = sub.add_parser("serve", help="serve the reader web UI")
    sp.add_argument("--host", default=None)
    sp.add_argument("--port", type=int, default=None)
    db(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("run", help="the daemon: scheduled polling plus the web UI")
    sp.add_argument("--feeds")
    sp.add_argument("--host", default=None)
    sp.add_argument("--port", type=int, default=None)
    db(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("stories", help="print stories, one JSON object per line")
    sp.add_argument("--json", action="store_true", help="JSON Lines output (the only format)")
    sp.add_argument("--limit", type=int, default=0)
    db(sp)
    sp.set_defaults(func=cmd_stories)

    sp = sub.add_parser("feeds", help="check, list and re-enable feeds")
    fsub = sp.add_subparsers(dest="feeds_cmd", required=True)
    c = fsub.add_parser("check", help="validate a feeds file; problems as file:line")
    c.add_argument("path", nargs="?")
    c.add_argument("--feeds", help=argparse.SUPPRESS)
    s = fsub.add_parser("status", help="a table of every feed's state")
    db(s)
    e = fsub.add_parser("enable", help="re-enable a feed the daemon disabled")
    e.add_argument("name")
    db(e)
    sp.set_defaults(func=cmd_feeds)

    sp = sub.add_parser("demo", help="poll a built-in loopback newsroom and serve its stories")
    sp.add_argument("--host", default=None)
    sp.add_argument("--port", type=int, default=None)
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format or "text", logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_STORE


if __name__ == "__main__":
    sys.exit(main())
