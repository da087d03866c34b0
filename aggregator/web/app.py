"""The reader web UI: server-rendered pages over the store's read API.

``create_app(store)`` returns a Starlette application. The store is anything with

    list_stories(limit, offset) -> list[Story]   # already ordered for the front page
    count_stories() -> int
    get_story(story_id) -> Story | None
    resolve_story(story_id) -> int | None        # id a merged story lives under; None if unknown

Security model (see ../shared/DESIGN.md, "Pitfalls"): everything that came from a feed or an
article page is untrusted plain text. Templates autoescape every value; article text is never
rendered as HTML; URLs become links only when they are absolute http(s) URLs (``safe_url``); and
every response carries a strict Content-Security-Policy with no inline script or style, so even
a mistake in a template cannot run script. Assets are self-hosted under ``/static``.

Store calls are plain synchronous calls made from the event loop: reads are short, and this keeps
working with a store that holds a thread-bound SQLite connection. A store with slow reads should
be wrapped (or these calls moved to ``run_in_threadpool``) before it is put behind this app.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
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

from aggregator.models import Story, StorySource

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

PAGE_SIZE = 30
MAX_PAGE = 100_000  # keeps OFFSET bounded; nobody pages this far by hand
MAX_ID = 2**63 - 1  # larger ids cannot exist in SQLite/PostgreSQL bigint and would overflow

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

ROLE_LABELS = {
    "wire": "wire copy",
    "copy": "rewritten copy",
    "report": "independent report",
}
ROLE_HINTS = {
    "wire": "republishes the wire text nearly verbatim",
    "copy": "reuses earlier text with edits",
    "report": "its own reporting of the same event",
}

# Characters that are not allowed in XML 1.0 (and are parse errors in HTML): C0 controls except
# tab/newline/carriage return, surrogates, U+FFFE/U+FFFF.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


# --- helpers usable from templates and tests ------------------------------------------------------


def clean_text(value: Any) -> str:
    """Untrusted text made safe to put into an HTML/XML text node (before escaping)."""
    if value is None:
        return ""
    return _INVALID_XML.sub("", str(value))


def safe_url(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else None.

    Anything else (``javascript:``, ``data:``, ``&#106;avascript:``, protocol-relative ``//x``,
    ``https:\\evil``, URLs with whitespace or control characters) is shown as text, not a link.
    """
    if not value or not isinstance(value, str):
        return None
    url = value.strip()
    if len(url) > 4096 or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or not host:
        return None
    return url


def paragraphs(text: Any) -> list[str]:
    """Plain text split into paragraphs (blank or single newlines both separate paragraphs)."""
    return [p.strip() for p in re.split(r"\n+", clean_text(text)) if p.strip()]


def truncate(text: Any, limit: int = 320) -> str:
    text = " ".join(clean_text(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:—-")
    return cut + "…"


def byline(author: Any) -> str:
    """An author line without its own leading "By " (the template adds one)."""
    text = " ".join(clean_text(author).split())
    return re.sub(r"(?i)^by\s+", "", text)


def own_wire(outlet: Any, wire: Any) -> bool:
    """True when the detected wire service is the outlet itself (AP's own story "via AP")."""
    o = clean_text(outlet).lower()
    w = clean_text(wire).strip().lower()
    if not w:
        return True
    words = [x for x in re.findall(r"[a-z]+", o) if x not in ("the", "of")]
    return w in o.split() or w == "".join(x[0] for x in words) or w == " ".join(words)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def iso(dt: datetime | None) -> str:
    if dt is None:
        return ""
    return _aware(dt).astimezone(UTC).isoformat().replace("+00:00", "Z")


def human_time(dt: datetime | None) -> str:
    if dt is None:
        return ""
    d = _aware(dt).astimezone(UTC)
    return f"{d:%b} {d.day}, {d:%Y}, {d:%H:%M} UTC"


def age(dt: datetime | None, now: datetime) -> str:
    if dt is None:
        return ""
    seconds = (now - _aware(dt)).total_seconds()
    if seconds < 0:
        return human_time(dt)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    if days < 14:
        return "1 day ago" if days == 1 else f"{days} days ago"
    d = _aware(dt).astimezone(UTC)
    return f"{d:%b} {d.day}, {d:%Y}"


def percent(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    if math.isnan(v):
        return ""
    return f"{round(max(0.0, min(1.0, v)) * 100)}%"


def coverage(story: Story) -> dict[str, int]:
    return {
        "outlets": len(story.outlets),
        "sources": len(story.sources),
        "reports": sum(1 for s in story.sources if s.role == "report"),
    }


def coverage_line(story: Story) -> str:
    c = coverage(story)
    outlets = "1 outlet" if c["outlets"] == 1 else f"{c['outlets']} outlets"
    reports = (
        "1 independent report" if c["reports"] == 1 else f"{c['reports']} independent reports"
    )
    return f"{outlets} · {reports}"


def sources_line(story: Story) -> str:
    """``Sources: A, B, C`` — every outlet once, in order of first appearance."""
    return "Sources: " + ", ".join(clean_text(o) for o in story.outlets)


def canonical_source(story: Story) -> StorySource | None:
    """The source whose text is shown: the earliest with extracted page text (the store's rule),
    else the earliest with any text, else sources[0]."""
    for s in story.sources:
        if getattr(s, "extraction", "page") == "page" and s.text and s.text.strip():
            return s
    for s in story.sources:
        if _text_of(s).strip():
            return s
    return story.sources[0] if story.sources else None


def _text_of(s: StorySource) -> str:
    """Extracted text, or the feed summary when extraction fell back to it."""
    return s.text or getattr(s, "summary", "") or ""


def story_body(story: Story) -> list[str]:
    """Canonical text paragraphs, minus a first paragraph that only repeats the lead."""
    src = canonical_source(story)
    paras = paragraphs(_text_of(src) if src else "")
    lead = " ".join(clean_text(story.lead).split())
    # The lead is shown above the text; drop it from the text when it is one of the first
    # paragraphs (the store picks the first paragraph of eight words or more).
    for i, p in enumerate(paras[:3]):
        if lead and " ".join(p.split()) == lead:
            return paras[:i] + paras[i + 1 :]
    return paras


TIMELINE_STEPS = 20  # dot positions are quantised to 5 % steps: classes .at-0 … .at-20


def timeline(story: Story) -> dict | None:
    """Rows for the coverage timeline (who published when), earliest first.

    Each row's horizontal position is a class (``at-0`` … ``at-20``) that the stylesheet maps to
    a percentage: the strict CSP forbids inline styles, and HTML (unlike SVG text) keeps the
    labels readable on a phone.
    """
    points = [(s, _aware(s.published or s.first_seen)) for s in story.sources]
    if len(points) < 2:
        return None
    t0 = min(t for _, t in points)
    t1 = max(t for _, t in points)
    span = max((t1 - t0).total_seconds(), 1.0)
    rows = []
    for s, t in sorted(points, key=lambda p: p[1]):
        step = round(TIMELINE_STEPS * (t - t0).total_seconds() / span)
        rows.append(
            {
                "step": step,
                "flip": step > TIMELINE_STEPS * 0.55,  # label on the left of the dot
                "label": clean_text(s.outlet),
                "role": s.role if s.role in ROLE_LABELS else "other",
                "iso": iso(t),
                "when": human_time(t),
                "offset": _offset(t - t0),
                "article_id": s.article_id,
            }
        )
    return {"rows": rows, "start": human_time(t0), "end": human_time(t1)}


def _offset(delta) -> str:
    s = int(delta.total_seconds())
    if s == 0:
        return "first"
    if s < 3600:
        return f"+{max(1, s // 60)} min"
    if s < 86400 * 2:
        return f"+{s // 3600} h {s % 3600 // 60:02d} min"
    return f"+{s // 86400} days"


# --- JSON ----------------------------------------------------------------------------------------


def source_json(s: StorySource) -> dict:
    return {
        "article_id": s.article_id,
        "outlet": clean_text(s.outlet),
        "feed": clean_text(s.feed),
        "title": clean_text(s.title),
        "url": safe_url(s.url),  # only http(s); null otherwise
        "raw_url": clean_text(s.url),
        "author": clean_text(s.author),
        "published": iso(s.published) or None,
        "first_seen": iso(s.first_seen),
        "role": s.role,
        "reuse": round(float(s.reuse), 4) if s.reuse is not None else None,
        "copy_of": s.copy_of,
        "wire": clean_text(s.wire) or None,
    }


def story_json(story: Story, base: str, *, full: bool = False) -> dict:
    c = coverage(story)
    out = {
        "id": story.id,
        "url": f"{base}/story/{story.id}",
        "title": clean_text(story.title),
        "lead": clean_text(story.lead),
        "first_seen": iso(story.first_seen),
        "updated": iso(story.updated),
        "outlets": [clean_text(o) for o in story.outlets],
        "outlet_count": c["outlets"],
        "independent_reports": c["reports"],
        "sources_line": sources_line(story),
        "sources": [source_json(s) for s in story.sources],
    }
    if full:
        src = canonical_source(story)
        out["text"] = "\n\n".join(paragraphs(_text_of(src) if src else ""))
        out["text_from"] = src.article_id if src else None
    return out


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


def create_app(
    store: Any,
    *,
    site_name: str = "aggregator",
    page_size: int = PAGE_SIZE,
    clock: Callable[[], datetime] | None = None,
    debug: bool = False,
) -> Starlette:
    env = make_env()
    env.globals["site_name"] = site_name
    now = clock or (lambda: datetime.now(UTC))

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("title", site_name)
        context.setdefault("canonical", None)
        context.setdefault("active", None)
        context.setdefault("root", request.scope.get("root_path", ""))
        html = env.get_template(name).render(request=request, now=now(), **context)
        return HTMLResponse(html, status_code=status_code)

    def age_of(dt: datetime | None) -> str:
        return age(dt, now())

    env.globals["age"] = age_of

    async def front(request: Request) -> Response:
        raw = request.query_params.get("page", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            raise HTTPException(400, "The page number must be a whole number, 1 or more.")
        page = int(raw)
        total = store.count_stories()
        pages = max(1, math.ceil(total / page_size))
        if page > pages:
            raise HTTPException(404, "There is no page with that number.")
        stories = store.list_stories(limit=page_size, offset=(page - 1) * page_size)
        return render(
            request,
            "index.html",
            stories=stories,
            page=page,
            pages=pages,
            total=total,
            title=site_name if page == 1 else f"Stories, page {page} · {site_name}",
            active="front",
        )

    async def story_page(request: Request) -> Response:
        story_id: int = request.path_params["story_id"]
        if story_id > MAX_ID:
            raise HTTPException(404, "No story has that number.")
        live = store.resolve_story(story_id)
        if live is None:
            raise HTTPException(404, "No story has that number.")
        if live != story_id:
            return RedirectResponse(request.url_for("story", story_id=live).path, status_code=301)
        story = store.get_story(story_id)
        if story is None:
            raise HTTPException(404, "No story has that number.")
        return render(
            request,
            "story.html",
            story=story,
            body=story_body(story),
            canonical_source=canonical_source(story),
            timeline=timeline(story),
            title=f"{clean_text(story.title)} · {site_name}",
        )

    async def about(request: Request) -> Response:
        return render(request, "about.html", title=f"About · {site_name}", active="about")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def atom(request: Request) -> Response:
        stories = store.list_stories(limit=page_size, offset=0)
        body = atom_feed(
            stories,
            base=str(request.base_url).rstrip("/"),
            site_name=site_name,
            now=now(),
            entry_html=lambda s: env.get_template("_atom_entry.html").render(
                story=s, base=str(request.base_url).rstrip("/")
            ),
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def page_args(request: Request) -> tuple[int, int]:
        raw_page = request.query_params.get("page", "1")
        raw_size = request.query_params.get("per_page", str(page_size))
        if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
            raise HTTPException(400, "page must be a whole number, 1 or more")
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
            raise HTTPException(400, "per_page must be a whole number from 1 to 100")
        return int(raw_page), int(raw_size)

    async def json_feed(request: Request) -> Response:
        base = base_of(request)
        stories = store.list_stories(limit=page_size, offset=0)
        entry = env.get_template("_atom_entry.html")
        feed = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": site_name,
            "description": "Stories merged from many outlets, one item per story",
            "home_page_url": f"{base}/",
            "feed_url": f"{base}/feed.json",
            "language": "en",
            "items": [
                {
                    "id": f"{base}/story/{s.id}",
                    "url": f"{base}/story/{s.id}",
                    "title": clean_text(s.title) or "(untitled story)",
                    "summary": truncate(s.lead, 500),
                    "content_html": entry.render(story=s, base=base),
                    "date_published": iso(s.first_seen),
                    "date_modified": iso(s.updated),
                    "authors": [{"name": clean_text(o)} for o in s.outlets],
                    "_aggregator": {
                        "sources": [source_json(x) for x in s.sources],
                        "independent_reports": coverage(s)["reports"],
                    },
                }
                for s in stories
            ],
        }
        return JSONResponse(feed, media_type="application/feed+json")

    async def api_stories(request: Request) -> Response:
        page, per_page = page_args(request)
        total = store.count_stories()
        stories = store.list_stories(limit=per_page, offset=(page - 1) * per_page)
        base = base_of(request)
        more = page * per_page < total
        return JSONResponse(
            {
                "stories": [story_json(s, base) for s in stories],
                "page": page,
                "per_page": per_page,
                "total": total,
                "next": f"{base}/api/v1/stories?page={page + 1}&per_page={per_page}" if more else None,
            }
        )

    async def api_story(request: Request) -> Response:
        story_id: int = request.path_params["story_id"]
        live = store.resolve_story(story_id) if story_id <= MAX_ID else None
        if live is None:
            raise HTTPException(404, "no story has that id")
        if live != story_id:
            return RedirectResponse(
                request.url_for("api_story", story_id=live).path, status_code=301
            )
        story = store.get_story(story_id)
        if story is None:
            raise HTTPException(404, "no story has that id")
        return JSONResponse(story_json(story, base_of(request), full=True))

    async def api_openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(site_name))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or ""
        headers = getattr(exc, "headers", None)
        if status in (204, 304):
            return Response(status_code=status, headers=headers)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail or "error", "status": status},
                                status_code=status, headers=headers)
        titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}
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

    routes = [
        Route("/", front, name="front"),
        Route("/story/{story_id:int}", story_page, name="story"),
        Route("/feed.atom", atom, name="atom"),
        Route("/feed.json", json_feed, name="json_feed"),
        Route("/about", about, name="about"),
        Route("/api/v1/stories", api_stories, name="api_stories"),
        Route("/api/v1/stories/{story_id:int}", api_story, name="api_story"),
        Route("/api/v1/openapi.json", api_openapi, name="api_openapi"),
        Route("/healthz", healthz, name="healthz"),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(
        debug=debug,
        routes=routes,
        exception_handlers={HTTPException: http_error, 500: server_error},
    )
    app.add_middleware(SecurityHeaders)
    app.state.store = store
    return app


# --- Atom -----------------------------------------------------------------------------------------

ATOM_NS = "http://www.w3.org/2005/Atom"


def atom_feed(
    stories: list[Story],
    *,
    base: str,
    site_name: str,
    now: datetime,
    entry_html: Callable[[Story], str],
) -> bytes:
    """One entry per story; the entry's ``updated`` moves when a source joins the story."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = clean_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", f"{base}/")
    sub(feed, "title", site_name)
    sub(feed, "subtitle", "Stories merged from many outlets, one entry per story")
    latest = max((_aware(s.updated) for s in stories), default=_aware(now))
    sub(feed, "updated", iso(latest))
    sub(feed, "link", rel="self", href=f"{base}/feed.atom", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}/", type="text/html")
    sub(feed, "generator", "aggregator")
    for story in stories:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{base}/story/{story.id}")
        sub(entry, "title", story.title or "(untitled story)")
        sub(entry, "link", rel="alternate", href=f"{base}/story/{story.id}", type="text/html")
        sub(entry, "published", iso(story.first_seen))
        sub(entry, "updated", iso(story.updated))
        for outlet in story.outlets:
            author = sub(entry, "author")
            sub(author, "name", outlet or "unknown outlet")
        if story.lead:
            sub(entry, "summary", truncate(story.lead, 500))
        sub(entry, "content", str(entry_html(story)), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


# --- OpenAPI ---------------------------------------------------------------------------------------


def openapi_document(site_name: str) -> dict:
    source = {
        "type": "object",
        "required": ["article_id", "outlet", "title", "url", "raw_url", "role", "first_seen"],
        "properties": {
            "article_id": {"type": "integer"},
            "outlet": {"type": "string"},
            "feed": {"type": "string"},
            "title": {"type": "string"},
            "url": {"type": ["string", "null"], "description": "http(s) link, null otherwise"},
            "raw_url": {"type": "string", "description": "the URL as stored; untrusted"},
            "author": {"type": "string"},
            "published": {"type": ["string", "null"], "format": "date-time"},
            "first_seen": {"type": "string", "format": "date-time"},
            "role": {"type": "string", "examples": ["wire", "copy", "report"]},
            "reuse": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "copy_of": {"type": ["integer", "null"]},
            "wire": {"type": ["string", "null"]},
        },
    }
    story = {
        "type": "object",
        "required": ["id", "url", "title", "lead", "first_seen", "updated", "outlets", "sources"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "title": {"type": "string"},
            "lead": {"type": "string"},
            "first_seen": {"type": "string", "format": "date-time"},
            "updated": {"type": "string", "format": "date-time"},
            "outlets": {"type": "array", "items": {"type": "string"}},
            "outlet_count": {"type": "integer"},
            "independent_reports": {"type": "integer"},
            "sources_line": {"type": "string"},
            "sources": {"type": "array", "items": {"$ref": "#/components/schemas/Source"}},
            "text": {"type": "string", "description": "canonical text (single story only)"},
            "text_from": {"type": ["integer", "null"]},
        },
    }
    error = {
        "type": "object",
        "required": ["error", "status"],
        "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
    }

    def err(desc: str) -> dict:
        return {
            "description": desc,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    int_param = {"type": "integer", "minimum": 1}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{site_name} API", "version": "1"},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/stories": {
                "get": {
                    "operationId": "listStories",
                    "summary": "Stories in front-page order",
                    "parameters": [
                        {"name": "page", "in": "query", "schema": {**int_param, "maximum": MAX_PAGE}},
                        {"name": "per_page", "in": "query", "schema": {**int_param, "maximum": 100}},
                    ],
                    "responses": {
                        "200": {
                            "description": "a page of stories",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["stories", "page", "per_page", "total", "next"],
                                        "properties": {
                                            "stories": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Story"},
                                            },
                                            "page": {"type": "integer"},
                                            "per_page": {"type": "integer"},
                                            "total": {"type": "integer"},
                                            "next": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        },
                        "400": err("bad paging parameters"),
                    },
                }
            },
            "/api/v1/stories/{story_id}": {
                "get": {
                    "operationId": "getStory",
                    "summary": "One merged story with its canonical text and every source",
                    "parameters": [
                        {"name": "story_id", "in": "path", "required": True,
                         "schema": {"type": "integer", "minimum": 0}},
                    ],
                    "responses": {
                        "200": {
                            "description": "the story",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Story"}
                                }
                            },
                        },
                        "301": {"description": "the story was merged; Location names the live one"},
                        "404": err("no story has that id"),
                    },
                }
            },
        },
        "components": {"schemas": {"Story": story, "Source": source, "Error": error}},
    }


__all__ = ["CSP", "coverage_line", "create_app", "safe_url", "sources_line"]
