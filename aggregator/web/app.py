"""The reader web UI: server-rendered pages over the store's read API.

``create_app(store)`` returns a Starlette application. The store is anything with

    browse_stories(limit, offset, *, outlet=None, tag=None, now=None) -> list[Story]  # ranked
    count_browse(*, outlet=None, tag=None) -> int
    get_story(story_id) -> Story | None
    resolve_story(story_id) -> int | None        # id a merged story lives under; None if unknown
    search(query, *, outlet=None, limit, offset) -> list[(Story, snippet)]; count_search(...)
    list_outlets(), list_tags(), story_tags(story_id), list_feeds()
    data_version() -> int                        # optional: enables the page cache
    story_stamp(story_id), stories_version()     # optional: per-story and listing cache stamps
    changed_stories(after, limit), recent_story_ids(limit)   # optional: the cache warmer

and, for operators, ``merge_stories``, ``move_article``, ``split_story`` and ``enable_feed``.

Security model (see ../shared/DESIGN.md, "Pitfalls"): everything that came from a feed or an
article page is untrusted plain text. Templates autoescape every value; article text is never
rendered as HTML; URLs become links only when they are absolute http(s) URLs (``safe_url``);
search snippets are escaped piece by piece before their match markers become ``<mark>``; and
every response carries a strict Content-Security-Policy with no inline script or style, so even
a mistake in a template cannot run script. Assets are self-hosted under ``/static``. Operator
actions need a signed session and a CSRF token (``operator.py``).

Store calls are plain synchronous calls made from the event loop: reads are short (indexed, a
few queries per page), and this keeps working with a store that holds a thread-bound SQLite
connection. Rendered pages are cached (``cache.py``): a story page per (story id, the story's
version), so the daemon's other writes leave it cached; listings, feeds and search pages until
any story changes or the minute turns (ages like "4 h ago" stay right). While served, a warmer
keeps the newest story pages rendered and re-renders each story that changes.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.models import Story
from aggregator.storyview import describe

from . import operator as op
from .cache import PageCache, Warmer
from .openapi import MAX_PER_PAGE, MAX_QUERY, openapi_document
from .ops import routes as ops_routes
from .syndication import Channel, atom_feed, json_feed
from .text import (  # noqa: F401  (re-exported: templates, tests and other modules use them)
    ROLE_HINTS,
    ROLE_LABELS,
    age,
    byline,
    canonical_source,
    clean_text,
    coverage,
    coverage_line,
    human_time,
    iso,
    own_wire,
    paragraphs,
    percent,
    safe_url,
    source_json,
    sources_line,
    story_body,
    story_json,
    timeline,
    truncate,
)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

PAGE_SIZE = 30
MAX_PAGE = 100_000  # keeps OFFSET bounded; nobody pages this far by hand
MAX_ID = 2**63 - 1  # larger ids cannot exist in SQLite/PostgreSQL bigint and would overflow
FEED_SIZE = 30  # stories per Atom / JSON feed
PAGE_PARAMS = frozenset({"page", "q", "outlet"})  # the query parameters cached pages read
CACHE_BYTES = 256 * 2**20  # rendered pages kept per process (LRU by bytes): ~12 KB a story page, ~20,000 stories
DESCRIBE_SIZE = 256  # story views kept for uncached (operator) renders

MARK_START, MARK_END = "\x02", "\x03"  # the store's snippet markers (store/search.py)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=(), camera=(), microphone=(), geolocation=()"),
]

# --- security headers -----------------------------------------------------------------------------


class SecurityHeaders:
    """Adds the CSP and friends to every response, including errors and static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in existing]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StoryHits:
    """Serves a story page confirmed in the cache during this event-loop turn without routing,
    request objects or a store query (about half the cost of a hit). Only for plain GETs with no
    cookie at all (an operator's session goes the long way) and no root path; anything else, and
    every miss, goes through the app. Sits inside ``SecurityHeaders``, so the headers are the same."""

    PATH = re.compile(r"/story/([0-9]{1,19})")

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app, self.cache = app, cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            m = self.PATH.fullmatch(scope["path"])
            if m and not any(k == b"cookie" for k, _ in scope["headers"]):
                resp = self.cache.peek(("story", int(m.group(1)), ""), self.cache.gate())
                if resp is not None:
                    await resp(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# --- the application ------------------------------------------------------------------------------


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # on for every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        safe_url=safe_url,
        clean=clean_text,
        paragraphs=paragraphs,
        truncate_text=truncate,
        iso=iso,
        human_time=human_time,
        percent=percent,
        byline=byline,
    )
    env.globals.update(
        role_label=lambda r: ROLE_LABELS.get(r, clean_text(r) or "source"),
        role_hint=lambda r: ROLE_HINTS.get(r, ""),
        role_class=lambda r: r if r in ROLE_LABELS else "other",
        coverage=coverage,
        coverage_line=coverage_line,
        sources_line=sources_line,
        own_wire=own_wire,
    )
    return env


def highlight(snippet: str) -> Markup:
    """A search snippet as HTML: every piece of text escaped, matched terms in ``<mark>``.

    The markers are split off before anything else, so the text itself can never open a tag."""
    out, inside = [], False
    for piece in re.split(f"([{MARK_START}{MARK_END}])", snippet or ""):
        if piece == MARK_START:
            inside = True
        elif piece == MARK_END:
            inside = False
        elif piece:
            text = escape(" ".join(clean_text(piece).split(" ")))
            out.append(Markup("<mark>%s</mark>") % text if inside else text)
    return Markup("").join(out)


def plain_snippet(snippet: str) -> str:
    """A search snippet as plain text for the API: matches between ``[[`` and ``]]``."""
    return clean_text((snippet or "").replace(MARK_START, "[[").replace(MARK_END, "]]"))


MAX_FORM = 64 * 1024


async def read_form(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body (the only kind our forms send), capped at ``MAX_FORM`` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(400, "Send the form as application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPException(413, "The form is too large.")
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                                max_num_fields=1000):
        form.setdefault(key, []).append(value)
    return form


def part(value: str) -> str:
    """A path segment (outlet name, tag) quoted for a URL."""
    return quote(value, safe="")


def create_app(
    store: Any,
    *,
    site_name: str = "aggregator",
    page_size: int = PAGE_SIZE,
    clock: Callable[[], datetime] | None = None,
    debug: bool = False,
    operator_token: str = "",
    static_site: bool = False,
    cache_bytes: int = CACHE_BYTES,
    warm: bool = True,
) -> Starlette:
    """The reader app. ``operator_token`` empty: no operator pages. ``static_site``: links page
    as ``/page/N`` paths and no search box (``export.py`` renders the site through this).
    ``cache_bytes`` 0: no page cache. ``warm``: while served (ASGI lifespan), keep the newest
    story pages rendered in the cache and re-render each story the store stamps as changed."""
    env = make_env()
    env.globals["site_name"] = site_name
    env.globals["static_site"] = static_site
    env.filters["part"] = part
    env.filters["highlight"] = highlight
    now = clock or (lambda: datetime.now(UTC))
    cache = PageCache(store, cache_bytes)
    views: OrderedDict[tuple, Any] = OrderedDict()  # (story id, stamp) → describe(story)
    views_lock = threading.Lock()

    def operator_nonce(request: Request) -> str | None:
        return op.session_nonce(operator_token, request.cookies.get(op.SESSION_COOKIE))

    def page_html(name: str, root: str, **context: Any) -> str:
        context.setdefault("title", site_name)
        context.setdefault("canonical", None)
        context.setdefault("active", None)
        context.setdefault("query", "")
        context.setdefault("feeds", None)
        context.setdefault("operator", None)
        return env.get_template(name).render(root=root, **context)

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        root = context.pop("root", request.scope.get("root_path", ""))
        return HTMLResponse(page_html(name, root, **context), status_code=status_code)

    def age_of(dt: datetime | None) -> str:
        return age(dt, now())

    env.globals["age"] = age_of

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    story_stamp = getattr(store, "story_stamp", None)
    # Listings, feeds and search show every story: valid while no story changed. A store without
    # story versions falls back to any write at all.
    listing_stamp = getattr(store, "stories_version", None) or getattr(store, "data_version", None)

    def operator_session(request: Request) -> bool:
        return bool(operator_token and request.cookies.get(op.SESSION_COOKIE))

    def cached(handler: Callable[[Request], Awaitable[Response]]):
        """Serve a GET listing, feed or search page from the cache, unless an operator is signed in
        (their pages differ). Keyed by the full URL (feeds hold absolute links to this host);
        valid while no story changed and the minute holds (ages such as "4 h ago", the ranking)."""

        async def wrapper(request: Request) -> Response:
            if operator_session(request):
                return await handler(request)
            minute = int(now().timestamp() // 60)
            # Parameters the pages do not read make no new entry (no cache-busting with ?x=1).
            params = tuple((k, v) for k, v in request.query_params.multi_items() if k in PAGE_PARAMS)
            key = (str(request.base_url), request.url.path, params)
            return await cache.get(key, lambda: handler(request), listing_stamp, minute)

        wrapper.__name__ = handler.__name__
        return wrapper

    # --- parameters ---------------------------------------------------------------------------

    def page_number(request: Request) -> int:
        raw = request.path_params.get("page", request.query_params.get("page", "1"))
        raw = str(raw)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            raise HTTPException(400, "The page number must be a whole number, 1 or more.")
        return int(raw)

    def page_args(request: Request) -> tuple[int, int]:
        raw_page = request.query_params.get("page", "1")
        raw_size = request.query_params.get("per_page", str(page_size))
        if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
            raise HTTPException(400, "page must be a whole number, 1 or more")
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PER_PAGE:
            raise HTTPException(400, f"per_page must be a whole number from 1 to {MAX_PER_PAGE}")
        return int(raw_page), int(raw_size)

    def filter_arg(request: Request, name: str) -> str | None:
        value = request.query_params.get(name)
        if value is None or value == "":
            return None
        if len(value) > MAX_QUERY:
            raise HTTPException(400, f"{name} is too long")
        return value

    def query_arg(request: Request, *, required: bool) -> str:
        q = request.query_params.get("q", "")
        if len(q) > MAX_QUERY:
            raise HTTPException(400, f"The search is too long (at most {MAX_QUERY} characters).")
        if required and not q.strip():
            raise HTTPException(400, "q is required: the words to search for")
        return q

    def pager(path: str, page: int, pages: int, query: dict | None = None) -> dict:
        """Links of a paged listing: ``path?page=N`` (``path/page/N`` for a static site)."""

        def url(n: int) -> str:
            if static_site:
                return path if n == 1 else f"{path.rstrip('/')}/page/{n}"
            q = dict(query or {})
            if n > 1:
                q["page"] = n
            return path + ("?" + urlencode(q) if q else "")

        return {
            "page": page,
            "pages": pages,
            "prev": url(page - 1) if page > 1 else None,
            "next": url(page + 1) if page < pages else None,
        }

    # --- listings ------------------------------------------------------------------------------

    def feed_links(root: str, path: str, query: dict | None = None) -> dict:
        suffix = "?" + urlencode(query) if query else ""
        return {"atom": f"{root}{path}feed.atom{suffix}", "json": f"{root}{path}feed.json{suffix}"}

    async def listing(request: Request, *, outlet: str | None = None, tag: str | None = None,
                      path: str, heading: str, kind: str) -> Response:
        page = page_number(request)
        total = store.count_browse(outlet=outlet, tag=tag)
        if total == 0 and kind != "front":
            raise HTTPException(404, f"No stories for this {kind}.")
        pages = max(1, math.ceil(total / page_size))
        if page > pages:
            raise HTTPException(404, "There is no page with that number.")
        stories = store.browse_stories(
            limit=page_size, offset=(page - 1) * page_size, outlet=outlet, tag=tag, now=now()
        )
        root = request.scope.get("root_path", "")
        feed_path = "/" if kind == "front" else f"{path}/"
        return render(
            request,
            "index.html",
            stories=stories,
            total=total,
            heading=heading,
            kind=kind,
            pager=pager(root + path, page, pages),
            feeds=feed_links(root, feed_path),
            title=(heading if page == 1 else f"{heading}, page {page}") + f" · {site_name}",
            active="front" if kind == "front" else None,
        )

    async def front(request: Request) -> Response:
        return await listing(request, path="/", heading="Top stories", kind="front")

    async def outlet_page(request: Request) -> Response:
        name = request.path_params["name"]
        return await listing(request, outlet=name, path=f"/outlet/{part(name)}",
                             heading=f"Stories from {clean_text(name)}", kind="outlet")

    async def tag_page(request: Request) -> Response:
        tag = request.path_params["tag"]
        return await listing(request, tag=tag, path=f"/tag/{part(tag)}",
                             heading=f"Stories tagged {clean_text(tag)}", kind="tag")

    async def outlets_page(request: Request) -> Response:
        return render(request, "outlets.html", outlets=store.list_outlets(), tags=store.list_tags(),
                      title=f"Outlets · {site_name}", active="outlets")

    async def search_page(request: Request) -> Response:
        q = query_arg(request, required=False)
        outlet = filter_arg(request, "outlet")
        page = page_number(request)
        hits, total = [], 0
        if q.strip():
            total = store.count_search(q, outlet=outlet)
            pages = max(1, math.ceil(total / page_size))
            if page > pages:
                raise HTTPException(404, "There is no page with that number.")
            hits = store.search(q, outlet=outlet, limit=page_size, offset=(page - 1) * page_size)
        else:
            pages = 1
        root = request.scope.get("root_path", "")
        args = {"q": q, **({"outlet": outlet} if outlet else {})}
        return render(
            request,
            "search.html",
            hits=hits,
            total=total,
            query=q,
            outlet=outlet or "",
            outlets=store.list_outlets() if not static_site else [],
            pager=pager(f"{root}/search", page, pages, args),
            feeds=feed_links(root, "/search/", args) if q.strip() else None,
            title=(f"Search: {clean_text(q)}" if q.strip() else "Search") + f" · {site_name}",
            active="search",
        )

    # --- story ---------------------------------------------------------------------------------

    def story_view(story: Story, stamp: Any) -> Any:
        """``describe(story)`` kept per (story, stamp): a story version is described once, however
        many operator (uncached) renders ask for it."""
        if stamp is None:
            return describe(story)
        key = (story.id, stamp)
        with views_lock:  # the warmer renders in a thread
            view = views.get(key)
            if view is not None:
                views.move_to_end(key)
                return view
        view = describe(story)
        with views_lock:
            views[key] = view
            while len(views) > DESCRIBE_SIZE:
                views.popitem(last=False)
        return view

    def story_response(story_id: int, root: str, nonce: str | None) -> Response:
        """A story page (or the redirect of a merged story), built from the store alone, so the
        warmer renders exactly what a reader's request would."""
        stamp = story_stamp(story_id) if story_stamp is not None else None  # before the reads
        live = store.resolve_story(story_id)
        if live is None:
            raise HTTPException(404, "No story has that number.")
        if live != story_id:
            return RedirectResponse(f"{root}/story/{live}", status_code=301)
        story = store.get_story(story_id)
        if story is None:
            raise HTTPException(404, "No story has that number.")
        html = page_html(
            "story.html",
            root,
            story=story,
            body=story_body(story),
            canonical_source=canonical_source(story),
            timeline=timeline(story),
            view=story_view(story, stamp),  # roles, wire credit, reuse, adds, why grouped
            tags=store.story_tags(story_id),
            operator=operator_panel(nonce),
            title=f"{clean_text(story.title)} · {site_name}",
        )
        return HTMLResponse(html)

    async def story_page(request: Request) -> Response:
        """Cached per (story id, the story's version): other stories' writes leave it alone. The
        page shows no clock-relative ages, so it stays right for as long as the story does."""
        story_id: int = request.path_params["story_id"]
        if story_id > MAX_ID:
            raise HTTPException(404, "No story has that number.")
        root = request.scope.get("root_path", "")
        if operator_session(request) or story_stamp is None:
            return story_response(story_id, root, operator_nonce(request))

        async def make() -> Response:
            return story_response(story_id, root, None)

        return await cache.get(("story", story_id, root), make, lambda: story_stamp(story_id))

    async def warm_story(story_id: int) -> bool:
        """Render a story page into the cache unless it is there at its current version."""
        key = ("story", story_id, "")
        gate = cache.gate()  # before the stamp, as in PageCache.get
        stamp = story_stamp(story_id)
        if stamp is None or cache.holds(key, stamp):
            return False
        try:
            # In a thread: the interpreter hands the GIL back to the event loop every few ms, so
            # readers' cached pages keep flowing during a render instead of waiting for all of it.
            resp = await asyncio.to_thread(story_response, story_id, "", None)
        except HTTPException:
            return False
        if resp.status_code == 200:
            cache.put(key, (stamp, None), gate, resp)
        return True

    def operator_panel(nonce: str | None) -> dict | None:
        if nonce is None:
            return None
        return {
            "csrf": op.csrf_token(operator_token, nonce),
            "can_merge": callable(getattr(store, "merge_stories", None)),
            "can_move": callable(getattr(store, "move_article", None)),
            "can_split": callable(getattr(store, "split_story", None)),
        }

    async def about(request: Request) -> Response:
        return render(request, "about.html", title=f"About · {site_name}", active="about")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    # --- feeds ---------------------------------------------------------------------------------

    def channel_for(request: Request) -> tuple[Channel, list[Story]]:
        """The channel and stories of a feed URL (front page, outlet, tag or search)."""
        base = base_of(request)
        params = request.path_params
        if "name" in params:
            name = params["name"]
            if store.count_browse(outlet=name) == 0:
                raise HTTPException(404, "No stories for this outlet.")
            path = f"/outlet/{part(name)}"
            title, sub = f"{site_name}: {clean_text(name)}", f"Stories {clean_text(name)} carried"
            stories = store.browse_stories(limit=FEED_SIZE, offset=0, outlet=name, now=now())
            query = ""
        elif "tag" in params:
            tag = params["tag"]
            if store.count_browse(tag=tag) == 0:
                raise HTTPException(404, "No stories for this tag.")
            path = f"/tag/{part(tag)}"
            title, sub = f"{site_name}: {clean_text(tag)}", f"Stories tagged {clean_text(tag)}"
            stories = store.browse_stories(limit=FEED_SIZE, offset=0, tag=tag, now=now())
            query = ""
        elif request.url.path.startswith("/search/"):
            q = query_arg(request, required=True)
            outlet = filter_arg(request, "outlet")
            path = "/search"
            args = {"q": q, **({"outlet": outlet} if outlet else {})}
            query = "?" + urlencode(args)
            title = f"{site_name}: search for {clean_text(q)}"
            sub = "Stories matching a search" + (f" in {clean_text(outlet)}" if outlet else "")
            stories = [s for s, _ in store.search(q, outlet=outlet, limit=FEED_SIZE, offset=0)]
        else:
            path, query = "", ""
            title, sub = site_name, "Stories merged from many outlets, one entry per story"
            stories = store.browse_stories(limit=FEED_SIZE, offset=0, now=now())
        feed_base = f"{base}{path}/" if path else f"{base}/"
        channel = Channel(
            title=title,
            subtitle=sub,
            home=f"{base}{path or '/'}{query}",
            atom=f"{feed_base}feed.atom{query}",
            json=f"{feed_base}feed.json{query}",
        )
        return channel, stories

    def entry_html(request: Request) -> Callable[[Story], str]:
        base = base_of(request)
        template = env.get_template("_atom_entry.html")
        return lambda s: template.render(story=s, base=base)

    async def atom(request: Request) -> Response:
        channel, stories = channel_for(request)
        body = atom_feed(stories, channel=channel, base=base_of(request), now=now(),
                         entry_html=entry_html(request))
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    async def json_feed_route(request: Request) -> Response:
        channel, stories = channel_for(request)
        doc = json_feed(stories, channel=channel, base=base_of(request), entry_html=entry_html(request))
        return JSONResponse(doc, media_type="application/feed+json")

    # --- API -----------------------------------------------------------------------------------

    def next_url(request: Request, page: int, per_page: int, total: int) -> str | None:
        if page * per_page >= total:
            return None
        q = {"page": str(page + 1), "per_page": str(per_page)}
        q.update((k, v) for k, v in request.query_params.items() if k not in q)
        return f"{base_of(request)}{request.url.path}?{urlencode(q)}"

    async def api_stories(request: Request) -> Response:
        page, per_page = page_args(request)
        outlet, tag = filter_arg(request, "outlet"), filter_arg(request, "tag")
        total = store.count_browse(outlet=outlet, tag=tag)
        stories = store.browse_stories(
            limit=per_page, offset=(page - 1) * per_page, outlet=outlet, tag=tag, now=now()
        )
        base = base_of(request)
        return JSONResponse(
            {
                "stories": [story_json(s, base) for s in stories],
                "page": page,
                "per_page": per_page,
                "total": total,
                "next": next_url(request, page, per_page, total),
            }
        )

    def live_story(request: Request, route: str) -> Story | Response:
        story_id: int = request.path_params["story_id"]
        live = store.resolve_story(story_id) if story_id <= MAX_ID else None
        if live is None:
            raise HTTPException(404, "no story has that id")
        if live != story_id:
            return RedirectResponse(request.url_for(route, story_id=live).path, status_code=301)
        story = store.get_story(story_id)
        if story is None:
            raise HTTPException(404, "no story has that id")
        return story

    async def api_story(request: Request) -> Response:
        story = live_story(request, "api_story")
        if isinstance(story, Response):
            return story
        return JSONResponse(story_json(story, base_of(request), full=True))

    async def api_sources(request: Request) -> Response:
        story = live_story(request, "api_sources")
        if isinstance(story, Response):
            return story
        return JSONResponse({"story_id": story.id, "sources": [source_json(s) for s in story.sources]})

    async def api_search(request: Request) -> Response:
        q = query_arg(request, required=True)
        outlet = filter_arg(request, "outlet")
        page, per_page = page_args(request)
        total = store.count_search(q, outlet=outlet)
        hits = store.search(q, outlet=outlet, limit=per_page, offset=(page - 1) * per_page)
        base = base_of(request)
        return JSONResponse(
            {
                "query": q,
                "results": [{"story": story_json(s, base), "snippet": plain_snippet(snip)}
                            for s, snip in hits],
                "page": page,
                "per_page": per_page,
                "total": total,
                "next": next_url(request, page, per_page, total),
            }
        )

    async def api_feeds(request: Request) -> Response:
        page, per_page = page_args(request)
        feeds = store.list_feeds()
        chosen = feeds[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            {
                "feeds": [feed_json(f) for f in chosen],
                "page": page,
                "per_page": per_page,
                "total": len(feeds),
                "next": next_url(request, page, per_page, len(feeds)),
            }
        )

    async def api_openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(site_name))

    # --- operators -----------------------------------------------------------------------------

    def require_operator(request: Request) -> str:
        if not operator_token:
            raise HTTPException(404, "There is nothing at this address.")
        nonce = operator_nonce(request)
        if nonce is None:
            raise HTTPException(403, "Sign in as an operator first.")
        return nonce

    async def checked_form(request: Request) -> dict:
        """The POSTed form of a signed-in operator, after the CSRF and origin checks."""
        nonce = require_operator(request)
        form = await read_form(request)
        given = form.get("csrf", [""])[0]
        expected = op.csrf_token(operator_token, nonce)
        if not op.same_origin(request) or not hmac.compare_digest(given, expected):
            raise HTTPException(403, "The form expired or came from another site; reload and retry.")
        return {k: v[0] for k, v in form.items()} | {"article_ids": form.get("article_id", [])}

    async def login(request: Request) -> Response:
        if not operator_token:
            raise HTTPException(404, "There is nothing at this address.")
        nxt = op.local_path(request.query_params.get("next"), "/operator/feeds")
        if request.method == "GET":
            token = secrets.token_urlsafe(16)
            resp = render(request, "login.html", csrf=token, next=nxt, failed=False,
                          title=f"Operator sign-in · {site_name}")
            resp.set_cookie(op.LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/operator/")
            return resp
        form = {k: v[0] for k, v in (await read_form(request)).items()}
        cookie = request.cookies.get(op.LOGIN_COOKIE, "")
        given = form.get("csrf", "")
        if not cookie or not op.same_origin(request) or not hmac.compare_digest(cookie, given):
            raise HTTPException(403, "The form expired or came from another site; reload and retry.")
        nxt = op.local_path(form.get("next", ""), "/operator/feeds")
        if not op.check_token(operator_token, form.get("token", "")):
            resp = render(request, "login.html", status_code=403, csrf=given, next=nxt, failed=True,
                          title=f"Operator sign-in · {site_name}")
            return resp
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(op.SESSION_COOKIE, op.new_session(operator_token), max_age=op.SESSION_SECONDS,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
        resp.delete_cookie(op.LOGIN_COOKIE, path="/operator/")
        return resp

    async def logout(request: Request) -> Response:
        await checked_form(request)
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(op.SESSION_COOKIE)
        return resp

    async def feed_health(request: Request) -> Response:
        nonce = require_operator(request)
        feeds = store.list_feeds()
        return render(request, "feed_health.html", rows=[feed_row(f, now()) for f in feeds],
                      operator=operator_panel(nonce), title=f"Feed health · {site_name}",
                      active="operator")

    async def enable_feed(request: Request) -> Response:
        form = await checked_form(request)
        if not store.enable_feed(form.get("name", "")):
            raise HTTPException(404, "No feed has that name.")
        return RedirectResponse("/operator/feeds", status_code=303)

    def story_id_field(form: dict, key: str) -> int:
        raw = form.get(key, "").strip().lstrip("#")
        if not raw.isdigit() or int(raw) > MAX_ID:
            raise HTTPException(400, f"{key} must be a story number")
        return int(raw)

    def correction(name: str) -> Callable:
        fn = getattr(store, name, None)
        if not callable(fn):
            raise HTTPException(501, "This store cannot make that correction yet.")
        return fn

    async def merge(request: Request) -> Response:
        form = await checked_form(request)
        src = request.path_params["story_id"]
        dst = store.resolve_story(story_id_field(form, "into"))
        if dst is None or store.resolve_story(src) != src or dst == src:
            raise HTTPException(400, "Both stories must exist and differ.")
        correction("merge_stories")(src, dst)
        return RedirectResponse(f"/story/{dst}", status_code=303)

    async def move(request: Request) -> Response:
        form = await checked_form(request)
        src = request.path_params["story_id"]
        article = story_id_field(form, "article")
        dst = store.resolve_story(story_id_field(form, "to"))
        story = store.get_story(src)
        if dst is None or story is None or article not in {s.article_id for s in story.sources}:
            raise HTTPException(400, "Choose one of this story's sources and an existing story.")
        correction("move_article")(article, dst)
        back = store.resolve_story(src)
        return RedirectResponse(f"/story/{back if back is not None else dst}", status_code=303)

    async def split(request: Request) -> Response:
        form = await checked_form(request)
        src = request.path_params["story_id"]
        story = store.get_story(src)
        members = {s.article_id for s in story.sources} if story else set()
        chosen = [int(a) for a in form["article_ids"] if a.isdigit() and int(a) in members]
        if not chosen or len(chosen) >= len(members):
            raise HTTPException(400, "Choose some, not all, of this story's sources to split off.")
        new_id = correction("split_story")(src, chosen)
        target = new_id if isinstance(new_id, int) else src
        return RedirectResponse(f"/story/{target}", status_code=303)

    # --- errors --------------------------------------------------------------------------------

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or ""
        headers = getattr(exc, "headers", None)
        if status in (204, 304):
            return Response(status_code=status, headers=headers)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail or "error", "status": status},
                                status_code=status, headers=headers)
        titles = {400: "Bad request", 403: "Not allowed", 404: "Not found",
                  405: "Method not allowed", 501: "Not available"}
        heading = titles.get(status, "Something went wrong")
        if status == 404 and detail in ("", "Not Found"):
            detail = "There is nothing at this address."
        if status == 405 and detail in ("", "Method Not Allowed"):
            detail = "This address only answers GET."
        resp = render(
            request,
            "error.html",
            status_code=status,
            status=status,
            heading=heading,
            detail=detail,
            title=f"{heading} · {site_name}",
        )
        if headers:
            resp.headers.update(headers)
        return resp

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette's ServerErrorMiddleware sits outside user middleware, so this response does
        # not pass through SecurityHeaders: set the headers here.
        resp = render(
            request,
            "error.html",
            status_code=500,
            status=500,
            heading="Something went wrong",
            detail="The page could not be shown. The error has been logged.",
            title=f"Error · {site_name}",
        )
        for key, value in SECURITY_HEADERS:
            resp.headers[key.decode()] = value.decode()
        return resp

    state = State()  # becomes app.state: /metrics reads the page cache from it
    routes = [
        Route("/", cached(front), name="front"),
        Route("/page/{page:int}", cached(front), name="front_page"),
        Route("/story/{story_id:int}", story_page, name="story"),
        Route("/outlets", cached(outlets_page), name="outlets"),
        # Names may hold "/" (quoted as %2F, decoded before routing): the specific routes first.
        Route("/outlet/{name:path}/feed.atom", cached(atom), name="outlet_atom"),
        Route("/outlet/{name:path}/feed.json", cached(json_feed_route), name="outlet_json"),
        Route("/outlet/{name:path}/page/{page:int}", cached(outlet_page), name="outlet_page"),
        Route("/outlet/{name:path}", cached(outlet_page), name="outlet"),
        Route("/tag/{tag:path}/feed.atom", cached(atom), name="tag_atom"),
        Route("/tag/{tag:path}/feed.json", cached(json_feed_route), name="tag_json"),
        Route("/tag/{tag:path}/page/{page:int}", cached(tag_page), name="tag_page"),
        Route("/tag/{tag:path}", cached(tag_page), name="tag"),
        Route("/search", cached(search_page), name="search"),
        Route("/search/feed.atom", cached(atom), name="search_atom"),
        Route("/search/feed.json", cached(json_feed_route), name="search_json"),
        Route("/feed.atom", cached(atom), name="atom"),
        Route("/feed.json", cached(json_feed_route), name="json_feed"),
        Route("/about", about, name="about"),
        Route("/api/v1/stories", api_stories, name="api_stories"),
        Route("/api/v1/stories/{story_id:int}", api_story, name="api_story"),
        Route("/api/v1/stories/{story_id:int}/sources", api_sources, name="api_sources"),
        Route("/api/v1/search", api_search, name="api_search"),
        Route("/api/v1/feeds", api_feeds, name="api_feeds"),
        Route("/api/v1/openapi.json", api_openapi, name="api_openapi"),
        Route("/operator/login", login, methods=["GET", "POST"], name="operator_login"),
        Route("/operator/logout", logout, methods=["POST"], name="operator_logout"),
        Route("/operator/feeds", feed_health, name="operator_feeds"),
        Route("/operator/feeds/enable", enable_feed, methods=["POST"], name="operator_enable"),
        Route("/operator/stories/{story_id:int}/merge", merge, methods=["POST"], name="op_merge"),
        Route("/operator/stories/{story_id:int}/move", move, methods=["POST"], name="op_move"),
        Route("/operator/stories/{story_id:int}/split", split, methods=["POST"], name="op_split"),
        Route("/healthz", healthz, name="healthz"),
        *ops_routes(store, state),  # /metrics, /readyz
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    warmer = Warmer(store, cache, warm_story) if warm and cache.enabled and story_stamp else None

    @asynccontextmanager
    async def lifespan(app: Starlette):
        task = warmer.start() if warmer is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    app = Starlette(
        debug=debug,
        routes=routes,
        exception_handlers={HTTPException: http_error, 500: server_error},
        lifespan=lifespan,
    )
    if cache.enabled and story_stamp is not None:
        app.add_middleware(StoryHits, cache=cache)
    app.add_middleware(SecurityHeaders)  # added last: the outermost, around StoryHits too
    app.state = state
    app.state.store = store
    app.state.page_cache = cache
    app.state.warmer = warmer
    app.state.warm_story = warm_story
    return app


def feed_state(f: Any) -> str:
    if not f.in_config:
        return "removed"
    if not f.enabled:
        return "off"
    if f.disabled_reason:
        return "disabled"
    if f.error_count:
        return "failing"
    return "active"


def feed_json(f: Any) -> dict:
    """A feed as the public API shows it (no error texts: they can name internal addresses)."""
    return {
        "name": clean_text(f.name),
        "outlet": clean_text(f.outlet),
        "url": safe_url(f.url),
        "tags": [clean_text(t) for t in f.tags],
        "state": feed_state(f),
        "last_fetch": iso(f.last_fetch_at) or None,
        "last_status": f.last_status,
        "next_check": iso(f.next_check_at) or None,
        "articles": f.articles,
    }


def feed_row(f: Any, now: datetime) -> dict:
    """A feed as the operators' health page shows it."""
    return {**feed_json(f), "raw_url": clean_text(f.url), "last_error": clean_text(f.last_error),
            "disabled_reason": clean_text(f.disabled_reason), "error_count": f.error_count,
            "last_fetch_at": f.last_fetch_at, "next_check_at": f.next_check_at,
            "overdue": bool(f.next_check_at and f.next_check_at < now and feed_state(f) == "active")}


__all__ = ["CSP", "coverage_line", "create_app", "highlight", "safe_url", "sources_line"]
