"""The command line: each command is a few lines around a library call.

Library exceptions become user messages here, at the edge, and nowhere else. Exit codes:
0 ok (also when some feeds failed: they are recorded on the feed), 2 bad configuration or usage,
3 the store is unusable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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
    """A rich progress bar on a terminal; silent otherwise (logs and CI stay clean)."""
    if not sys.stderr.isatty() or total == 0:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("polling"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.description}"), console=Console(stderr=True))
    task = bar.add_task("", total=total)
    bar.start()
    done = [0]

    def show(report) -> None:
        done[0] += 1
        state = "ok" if report.ok else "FAILED"
        bar.update(task, advance=1, description=f"{report.feed}: {state}")
        if done[0] >= total:
            bar.stop()

    return show


def cmd_serve(args) -> int:
    from .web.serve import serve

    settings = _settings(args)
    open_store(settings.db_url).close()  # migrate (and fail on a bad URL) once, before any worker starts
    print(f"serving http://{settings.host}:{settings.port}/", file=sys.stderr)
    serve(settings.db_url, host=settings.host, port=settings.port, operator_token=settings.operator_token,
          workers=args.workers, cache_bytes=settings.web_cache_bytes(in_daemon=False))
    return 0


def cmd_run(args) -> int:
    import scheduler  # the daemon lives at the top level; imported only for this command

    return scheduler.run(_settings(args))


def cmd_stories(args) -> int:
    settings = _settings(args)
    store = open_store(settings.db_url)
    if getattr(args, "stories_cmd", None):
        return _correct(store, args)
    limit = args.limit if args.limit and args.limit > 0 else store.count_stories()
    for story in store.list_stories(limit=limit):
        print(json.dumps(story_json(story), ensure_ascii=False))
    return 0


def _correct(store, args) -> int:
    """`aggregator stories merge|move|split`: an operator's correction, recorded in the store.
    A running daemon picks it up before it clusters its next article."""
    from store import CorrectionError

    try:
        if args.stories_cmd == "merge":
            live = store.merge_stories(args.src, args.dst, note=args.note)
            print(f"story {args.src} merged into story {live}")
        elif args.stories_cmd == "move":
            live = store.move_article(args.article, args.story, note=args.note)
            print(f"article {args.article} moved to story {live}")
        else:
            live = store.split_story(args.story, args.articles, note=args.note)
            print(f"articles {', '.join(map(str, sorted(set(args.articles))))} are now story {live}")
    except CorrectionError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    return 0


def story_json(story) -> dict:
    """One story for `aggregator stories --json`: the stored facts plus what readers are shown
    (roles decided by the whole story, reuse, wire credit, what each source adds)."""
    from .storyview import describe

    view = describe(story)
    members = {m.article_id: m for m in view.members}
    t0 = view.members[0].when if view.members else None
    return {
        "id": story.id,
        "title": story.title,
        "first_seen": _iso(story.first_seen),
        "updated": _iso(story.updated),
        "outlets": story.outlets,
        "outlet_count": view.outlets,
        "independent_reports": view.independent_reports,
        "wire": list(view.wire_credits),
        "sources": [_source_json(s, members.get(s.article_id), t0) for s in story.sources],
    }


def _source_json(s, m, t0) -> dict:
    return {
        "article_id": s.article_id,
        "outlet": s.outlet,
        "title": s.title,
        "url": s.url,
        "author": s.author,
        "published": _iso(s.published),
        "first_seen": _iso(s.first_seen),
        "role": m.role if m else s.role,
        "reuse": round(m.reuse if m else s.reuse, 3),
        "copy_of": m.copy_of if m else s.copy_of,
        "wire": (m.wire if m else s.wire) or None,
        "adds": list(m.adds) if m else [],
        "added_quotes": list(m.added_quotes) if m else [],
        "lag_seconds": int((m.when - t0).total_seconds()) if m else None,
    }


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def cmd_feeds(args) -> int:
    if args.feeds_cmd == "check":
        path = args.path or _settings(args).feeds_path
        feeds = load_feeds(path)  # ConfigError is printed by main()
        print(f"{path}: {len(feeds)} feeds, ok")
        return 0
    if args.feeds_cmd in ("import", "export"):
        return _feeds_opml(args)
    settings = _settings(args)
    store = open_store(settings.db_url)
    if args.feeds_cmd == "enable":
        if not store.enable_feed(args.name):
            print(f"no feed named {args.name!r}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"{args.name}: enabled")
        return 0
    if args.feeds_cmd == "status":
        return _feeds_status(store)
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from .web.export import export_site

    store = open_store(_settings(args).db_url)
    report = export_site(store, Path(args.out), base_url=args.base_url)
    print(f"wrote {report.files} files ({report.bytes} bytes) to {args.out}", file=sys.stderr)
    for path in report.skipped:
        print(f"skipped {path}", file=sys.stderr)
    return 0


def _feeds_opml(args) -> int:
    from pathlib import Path

    from .opml import OpmlError, append_to_yaml, parse_opml, to_opml

    path = Path(args.feeds or _settings(args).feeds_path)
    if args.feeds_cmd == "export":
        sys.stdout.write(to_opml(load_feeds(path)))
        return 0
    try:
        outlines = parse_opml(Path(args.file).read_bytes())
    except (OSError, OpmlError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new, added = append_to_yaml(text, outlines, str(path))  # ConfigError → main()
    if added and not args.dry_run:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: {len(added)} feeds added, {len(outlines) - len(added)} already listed"
          + (" (dry run)" if args.dry_run else ""))
    return 0


def feed_state(f) -> str:
    return ("removed" if not f.in_config else "disabled" if not f.enabled
            else "auto-off" if f.disabled_reason else "failing" if f.error_count else "ok")


def _feeds_status(store) -> int:
    """One line per feed; `copies` is the share of its articles that copy another outlet's."""
    now = datetime.now(UTC)
    stats = store.feed_stats(now, days=7)
    print(f"{'feed':24} {'state':8} {'last fetch':20} {'http':>4} {'next check':20} "
          f"{'articles':>8} {'/day':>5} {'copies':>6}  error / discovered feed")
    for f in store.list_feeds():
        st = stats.get(f.id, {"articles": 0, "recent": 0, "copies": 0})
        share = f"{st['copies'] / st['articles']:.0%}" if st["articles"] else "-"
        note = f.disabled_reason or f.last_error or ""
        if f.discovered_url:
            note = (note + " " if note else "") + f"(feed found at {f.discovered_url})"
        print(f"{f.name[:24]:24} {feed_state(f):8} {_iso(f.last_fetch_at) or 'never':20} "
              f"{f.last_status or '':>4} {_iso(f.next_check_at) or 'now':20} "
              f"{st['articles']:>8} {st['recent'] / 7:>5.1f} {share:>6}  {note}")
    return 0


def cmd_store(args) -> int:
    """``store migrate``: copy a whole store into another (resumable; counts verified)."""
    from store.copy import CopyError, copy_store

    src, dst = open_store(args.source), open_store(args.target)
    try:
        counts = copy_store(src, dst, progress=_copy_progress())
    except CopyError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_STORE
    finally:
        src.close()
        dst.close()
    print("copied and verified: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    return 0


def _copy_progress():
    """A progress bar per table on a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=Console(stderr=True))
    tasks: dict[str, int] = {}
    bar.start()

    def show(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = bar.add_task(table, total=total)
        bar.update(tasks[table], completed=done)
        if table == "corrections" and done >= total:
            bar.stop()

    return show


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
    sp.add_argument("--workers", type=int, default=None,
                    help="worker processes, each with its own page cache (default: one per CPU, at most 4)")
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
    ssub = sp.add_subparsers(dest="stories_cmd", required=False, metavar="{merge,move,split}")
    c = ssub.add_parser("merge", help="merge story SRC into story DST (SRC keeps a redirect)")
    c.add_argument("src", type=int)
    c.add_argument("dst", type=int)
    c = ssub.add_parser("move", help="move an article into another story")
    c.add_argument("article", type=int)
    c.add_argument("story", type=int)
    c = ssub.add_parser("split", help="split articles off a story into a story of their own")
    c.add_argument("story", type=int)
    c.add_argument("articles", type=int, nargs="+")
    for c in ssub.choices.values():
        c.add_argument("--note", default="", help="why (kept with the correction)")
        # SUPPRESS: `stories --db X merge 1 2` keeps X (a subparser default would override it)
        c.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as for stories)")

    sp = sub.add_parser("feeds", help="check, list and re-enable feeds")
    fsub = sp.add_subparsers(dest="feeds_cmd", required=True)
    c = fsub.add_parser("check", help="validate a feeds file; problems as file:line")
    c.add_argument("path", nargs="?")
    c.add_argument("--feeds", help=argparse.SUPPRESS)
    s = fsub.add_parser("status", help="a table of every feed's state")
    db(s)
    i = fsub.add_parser("import", help="append the feeds of an OPML file to feeds.yaml")
    i.add_argument("file")
    i.add_argument("--feeds", help="feeds file to append to (default feeds.yaml)")
    i.add_argument("--dry-run", action="store_true", help="show the count, write nothing")
    x = fsub.add_parser("export", help="print feeds.yaml as OPML")
    x.add_argument("--feeds", help="feeds file (default feeds.yaml)")
    e = fsub.add_parser("enable", help="re-enable a feed the daemon disabled")
    e.add_argument("name")
    db(e)
    sp.set_defaults(func=cmd_feeds)

    sp = sub.add_parser("export", help="write the whole reader site as static files")
    sp.add_argument("--out", required=True, help="directory to write into")
    sp.add_argument("--base-url", default="http://localhost:8080",
                    help="where the site will be served (absolute links in the feeds)")
    db(sp)
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("store", help="operate on the store itself")
    ssub = sp.add_subparsers(dest="store_cmd", required=True)
    m = ssub.add_parser("migrate", help="copy a whole store into another, e.g. SQLite to PostgreSQL "
                        "(resumable: run it again after an interruption; row counts verified)")
    m.add_argument("--from", dest="source", required=True, metavar="URL", help="sqlite:///PATH or postgresql://...")
    m.add_argument("--to", dest="target", required=True, metavar="URL", help="sqlite:///PATH or postgresql://...")
    sp.set_defaults(func=cmd_store)

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
    except BrokenPipeError:
        # Output piped into `head` or a pager that quit: not an error. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
