"""Issue 6, case 2 (XSS): hostile markup and URLs in every field, through the real pipeline into a
real store, then out through every page and feed of the web app.

77 payloads (tests/hostile_payloads.py: 58 markup, 19 URL) go into the feed title, entry titles,
summaries, content:encoded, authors, links, enclosures and the article pages (so trafilatura's
extracted text carries them too), once in a well-formed RSS feed (escaped text) and once raw in an
ill-formed one (feedparser's loose parser). Everything the app serves is re-parsed.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import lxml.etree
import lxml.html
import pytest

from aggregator.models import FeedConfig
from aggregator.pipeline import poll_once
from aggregator.web.app import create_app
from tests.hostile_payloads import (
    ALLOWED,
    FILLER,
    MARKUP,
    URLS,
    article_page,
    hostile_settings,
    rss,
    services,
    xml_escape,
)
from tests.servers import Reply, Server

pytestmark = pytest.mark.hostile

TEMPLATES = Path(__file__).resolve().parents[1] / "aggregator" / "web" / "templates"
# The only elements a page may contain are those our own templates write (plus what an HTML
# parser implies). A payload element that survived as markup would be a new tag name.
TEMPLATE_TAGS = set(re.findall(r"<([a-z][a-z0-9]*)", "".join(
    p.read_text() for p in TEMPLATES.glob("*.html")))) | {"html", "head", "body", "br"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "background",
             "data", "codebase", "cite", "longdesc", "ping", "manifest", "icon", "content"}


def _url_ok(value: str) -> bool:
    v = value.strip()
    if v.startswith(("/", "#", "?")) and not v.startswith(("//", "/\\")):
        return True
    scheme = urlsplit(v).scheme.lower()
    return scheme in ("http", "https") and not any(ord(c) < 0x21 for c in v)


def check_html(html: str, where: str) -> None:
    """No script-capable element, no event/style attribute, no non-http(s) URL."""
    doc = lxml.html.document_fromstring(html) if html.strip() else None
    if doc is None:
        return
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue  # comments and processing instructions do not run
        tag = el.tag.lower()
        assert tag in TEMPLATE_TAGS, (where, "unexpected element", tag)
        if tag == "script":
            assert el.get("src", "").endswith("/static/keys.js") and not (el.text or "").strip(), (
                where, lxml.html.tostring(el))
        if tag == "meta":
            assert el.get("http-equiv") is None, (where, lxml.html.tostring(el))
        if tag == "link":
            assert el.get("rel") in ("stylesheet", "alternate", "canonical", "prev", "next"), where
        for name, value in el.attrib.items():
            n = name.lower()
            assert not n.startswith("on"), (where, tag, name, value)
            assert n not in ("style", "srcdoc", "formaction"), (where, tag, name)
            if n in URL_ATTRS and not (tag == "meta" and n == "content"):
                assert _url_ok(value), (where, tag, name, value)


def check_json_urls(obj, where: str) -> None:
    """Every JSON field named like a URL is null, an http(s) URL, or the untrusted raw_url."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "content_html":
                check_html(v, where + ":content_html")
            elif k in ("url", "home_page_url", "feed_url", "next", "external_url", "image",
                       "banner_image", "icon", "favicon") and v is not None:
                assert isinstance(v, str) and _url_ok(v), (where, k, v)
            else:
                check_json_urls(v, where)
    elif isinstance(obj, list):
        for v in obj:
            check_json_urls(v, where)


def check_atom(body: bytes, where: str) -> None:
    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = lxml.etree.fromstring(body, parser)
    ns = "{http://www.w3.org/2005/Atom}"
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag.startswith(ns), (where, el.tag)  # no foreign (e.g. XHTML/SVG) elements
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (where, el.tag, name)
            if name in ("href", "src", "uri"):
                assert _url_ok(value), (where, name, value)
        if el.tag == ns + "content" or (el.tag in (ns + "title", ns + "summary")
                                        and el.get("type") in ("html", "xhtml")):
            check_html(el.text or "", where + ":" + el.tag)


def unique_text(i: int) -> str:
    """Words of its own for article i, so the articles form many stories, not one."""
    words = ["harbor", "senate", "orchard", "turbine", "glacier", "ballot", "vaccine", "canal",
             "satellite", "tariff", "wildfire", "museum", "railway", "drought", "festival", "mine"]
    picked = [words[(i * 7 + k * 3) % len(words)] + str(i) for k in range(12)]
    return f"Officials in district {i} discussed the " + " and the ".join(picked) + " on Monday."


def build_newsroom(srv: Server) -> list[FeedConfig]:
    base = srv.url("")
    ok = lambda u: u.replace("ok.example", f"{ALLOWED}:{srv.port}")  # noqa: E731
    items, raw_items = [], []
    for i, p in enumerate(MARKUP):
        enclosure = xml_escape(ok(URLS[i % len(URLS)]))
        cdata = p.replace("]]>", "]]]]><![CDATA[>")
        items.append({
            "guid": f"g{i}", "link": f"{base}/a/{i}",
            "title": xml_escape(f"{unique_text(i).split()[6]} {p}"),
            "description": xml_escape(f"{p} {unique_text(i)}"),
            "author": xml_escape(p), "pubdate": "Tue, 24 Nov 2026 10:00:00 GMT",
            "extra": (f"<content:encoded><![CDATA[<p>{cdata}</p><p>{unique_text(i)}</p>]]></content:encoded>"
                      f"<dc:creator>{xml_escape(p)}</dc:creator>"
                      f'<enclosure url="{enclosure}" type="audio/mpeg" length="1"/>'
                      f'<source url="{enclosure}">{xml_escape(p)}</source>'),
        })
        raw_items.append({"guid": f"r{i}", "link": f"{base}/r/{i}", "title": f"Raw {i} {p}",
                          "description": f"{p} {unique_text(i + 100)}", "author": p})
        page = article_page(f"Bridge {i} {p}", [f"Report {i}: {p}", unique_text(i), p, unique_text(i + 1000)],
                            head=f'<link rel="canonical" href="javascript:alert({i})">')
        srv.route(f"/a/{i}", Reply(body=page, headers={"Content-Type": "text/html"}))
        srv.route(f"/r/{i}", Reply(body=page, headers={"Content-Type": "text/html"}))
    for j, u in enumerate(URLS):
        items.append({"guid": f"u{j}", "link": xml_escape(ok(u)),
                      "title": xml_escape(f"Link {j} {u}"), "description": xml_escape(FILLER)})
        raw_items.append({"guid": f"ru{j}", "link": ok(u), "title": f"Raw link {j} {u}"})
    srv.route("/escaped.xml", Reply(body=rss(items, title=xml_escape(MARKUP[0] + MARKUP[3])),
                                    headers={"Content-Type": "application/rss+xml"}))
    raw = rss(raw_items, title=MARKUP[9]).replace(b"&", b"&amp;").replace(b"&amp;#", b"&#")
    srv.route("/raw.xml", Reply(body=raw, headers={"Content-Type": "application/rss+xml"}))
    srv.route("*", Reply(body=article_page("Fallback", [FILLER]), headers={"Content-Type": "text/html"}))
    return [
        FeedConfig(name="escaped", url=srv.url("/escaped.xml"), outlet=MARKUP[1]),
        FeedConfig(name="raw", url=srv.url("/raw.xml"), outlet="Raw <b onmouseover=alert(1)>Outlet</b>"),
    ]


def fetch_all(app, paths):
    async def go():
        out = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for p in paths:
                out[p] = await c.get(p)
        return out

    return asyncio.run(go())


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xss")
    with Server(ALLOWED) as srv:
        feeds = build_newsroom(srv)
        svc = services(hostile_settings(tmp / "store.db"))
        svc.store.sync_feeds(feeds)
        reports = poll_once(svc, svc.store.list_feeds(), workers=2)
        yield svc, reports
        svc.close()


def test_payloads_reach_the_store(hostile_store):
    """Pass: both feeds poll ok and every payload is stored (the test would prove nothing if the
    payloads had been dropped on the way in)."""
    svc, reports = hostile_store
    assert all(r.ok for r in reports), [r.error for r in reports]
    rows = svc.store._r().execute(
        "SELECT title || ' ' || author || ' ' || summary || ' ' || text || ' ' || url "
        "FROM articles").fetchall()
    stored = " ".join(r[0] for r in rows)
    missing = [p for p in MARKUP if re.search(r"XSS\d+", p) and
               re.search(r"XSS\d+", p).group(0) not in stored]
    assert len(rows) >= len(MARKUP) + len(URLS) and not missing, missing
    assert svc.store.count_stories() > 0


def test_every_page_and_feed_is_inert(hostile_store):
    """Pass: every HTML page (front pages, every story, about, errors), the Atom feed (and the
    HTML inside it), the JSON Feed (and its content_html) and every API document re-parse with
    no script-capable element, no on* attribute, no non-http(s) URL; every response carries the
    strict CSP."""
    svc, _ = hostile_store
    app = create_app(svc.store)
    ids = svc.store.story_ids()
    pages = max(1, -(-svc.store.count_stories() // 30))
    html_paths = (["/", "/about", "/nope", "/story/999999"]
                  + [f"/?page={n}" for n in range(1, pages + 1)]
                  + [f"/story/{i}" for i in ids])
    api_paths = (["/feed.json"]
                 + [f"/api/v1/stories?per_page=100&page={n}" for n in range(1, len(ids) // 100 + 2)]
                 + [f"/api/v1/stories/{i}" for i in ids])
    responses = fetch_all(app, html_paths + api_paths + ["/feed.atom", "/healthz"])
    seen_markers: set[str] = set()
    for path, r in responses.items():
        csp = r.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "object-src 'none'" in csp and "unsafe" not in csp, path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        if path in html_paths:
            assert r.headers["content-type"].startswith("text/html"), path
            check_html(r.text, path)
            seen_markers.update(re.findall(r"XSS-?U?\d+", lxml.html.fromstring(r.text).text_content()))
        elif path in api_paths:
            assert r.status_code == 200, path
            check_json_urls(r.json(), path)
        elif path == "/feed.atom":
            check_atom(r.content, path)
    # The payloads were shown (as text), not dropped: at least 50 distinct ones on the pages.
    assert len(seen_markers) >= 50, sorted(seen_markers)
    assert len(ids) >= 20 and len(responses) > 60


def test_json_is_not_sniffable_as_html(hostile_store):
    """Pass: JSON responses are application/*json and carry nosniff, so a browser never renders a
    payload inside them as HTML."""
    svc, _ = hostile_store
    ids = svc.store.story_ids()[:3]
    responses = fetch_all(create_app(svc.store), ["/feed.json"] + [f"/api/v1/stories/{i}" for i in ids])
    for path, r in responses.items():
        assert "json" in r.headers["content-type"], path
        json.loads(r.text)
