"""Reader web UI, in process, against an in-memory store implementing the store's read API.

The texts below are written for these tests (an AP wire story republished by two papers, an
independent report, and a story whose every field is hostile).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
import httpx
import lxml.etree
import lxml.html
import pytest

from aggregator.models import Story, StorySource
from aggregator.storyview import describe
from aggregator.web import CSP, create_app
from aggregator.web.app import safe_url

NOW = datetime(2025, 11, 28, 16, 0, tzinfo=UTC)
T0 = datetime(2025, 11, 28, 9, 5, tzinfo=UTC)

WIRE_TEXT = """WASHINGTON (AP) — The Senate voted 68-31 on Thursday to approve a bill that would fund the nation's bridges and rail lines for five more years, sending the measure to the House.

"This is the most important investment in our roads in a generation," said Sen. Maria Alvarez, who wrote much of the bill.

Opponents said the bill spends too much. "We are borrowing from our grandchildren," said Sen. Tom Keller.

The House is expected to take up the measure next week."""

TRIBUNE_TEXT = """WASHINGTON (AP) — The Senate voted 68-31 on Thursday to approve a bill that would fund the nation's bridges and rail lines for five more years, sending the measure to the House.

"This is the most important investment in our roads in a generation," said Sen. Maria Alvarez, who wrote much of the bill.

Opponents said the bill spends too much. "We are borrowing from our grandchildren," said Sen. Tom Keller.

Illinois would receive about $9 billion for the Chicago region's rail projects under the bill."""

TIMES_TEXT = """Senators approved a five-year transportation bill Thursday after a week of debate.

Sen. Maria Alvarez called it "the most important investment in our roads in a generation," while Sen. Tom Keller warned that "we are borrowing from our grandchildren."

The vote was 68-31."""


def src(article_id, outlet, title, url, author, minutes, role, reuse, text="", wire="", **kw):
    published = T0 + timedelta(minutes=minutes)
    return StorySource(
        article_id=article_id,
        outlet=outlet,
        feed=outlet.lower().replace(" ", "-"),
        title=title,
        url=url,
        author=author,
        published=published,
        first_seen=published + timedelta(minutes=3),
        role=role,
        reuse=reuse,
        copy_of=kw.pop("copy_of", None),
        score=kw.pop("score", 1.0),
        text=text,
        wire=wire,
        evidence=kw.pop("evidence", {}),
    )


SEED = Story(
    id=1,
    title="Senate passes five-year bridges and rail bill",
    lead=(
        "WASHINGTON (AP) — The Senate voted 68-31 on Thursday to approve a bill that would fund "
        "the nation's bridges and rail lines for five more years, sending the measure to the House."
    ),
    first_seen=T0,
    updated=T0 + timedelta(hours=2),
    sources=(
        src(10, "The Associated Press", "Senate passes bridges and rail bill",
            "https://apnews.com/article/senate-bridges-rail", "By Lisa Mascaro", 0, "report", 0.0,
            WIRE_TEXT, wire="AP"),
        src(11, "Chicago Tribune", "Senate OKs $300B for bridges, rail; Chicago projects in line",
            "https://www.chicagotribune.com/2025/11/28/senate-bridges-rail/", "Associated Press",
            35, "copy", 0.86, TRIBUNE_TEXT, wire="AP", copy_of=10,
            evidence={"jaccard": 0.7412, "containment": 0.86}),
        src(12, "New York Daily News", "Senate approves transportation bill",
            "https://www.nydailynews.com/2025/11/28/senate-transportation-bill/", "Associated Press",
            50, "wire", 0.99, WIRE_TEXT, wire="AP", copy_of=10),
        src(13, "The Washington Times", "Senators approve five-year transportation bill",
            "https://www.washingtontimes.com/news/2025/nov/28/senators-approve-transportation/",
            "Alex Swoyer", 120, "report", 0.0, TIMES_TEXT),
    ),
)

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
HOSTILE = Story(
    id=2,
    title=f"Hostile {XSS_SCRIPT} headline {XSS_IMG}",
    lead=f'Lead "quoted" {XSS_IMG} <a href="javascript:alert(1)">x</a>',
    first_seen=T0 - timedelta(days=1),
    updated=T0 - timedelta(hours=20),
    sources=(
        src(20, f"Evil {XSS_SCRIPT} Outlet", f"Title {XSS_IMG}", "javascript:alert(1)",
            'Author "><svg onload=alert(1)>', 0, "report", 0.0,
            f"Paragraph one {XSS_SCRIPT}\n\n<iframe src=javascript:alert(1)></iframe> two\x00\x07"),
        src(21, "Entity Outlet", "Entity link", "&#106;avascript:alert(1)", "", 10, "copy", 0.5),
        src(22, "Data Outlet", "Data link", "data:text/html,<script>alert(1)</script>", "", 20,
            "wire", 0.9),
        src(23, "Spaced Outlet", "Spaced link", " java\tscript:alert(1)", "", 30, "wire", 0.9),
        src(24, "Relative Outlet", "Protocol-relative", "//evil.example/x", "", 40, "copy", 0.2),
        src(25, "Quote Outlet", "Attribute breakout",
            'https://example.com/"><script>alert(1)</script>', "", 50, "mystery-role", 0.3,
            evidence={"<b>key</b>": "<script>alert(1)</script>"}),
    ),
)


def filler(i: int) -> Story:
    t = T0 - timedelta(days=2, minutes=i)
    return Story(
        id=100 + i,
        title=f"Filler story number {i}",
        lead=f"Lead of filler story {i}.",
        first_seen=t,
        updated=t,
        sources=(src(1000 + i, "Yahoo News", f"Filler {i}", f"https://news.yahoo.com/f{i}",
                     "", -3000 - i, "report", 0.0, f"Text of filler {i}."),),
    )


class FakeStore:
    """The four read methods of the store, over a dict."""

    def __init__(self, stories, merged=None):
        self.stories = {s.id: s for s in stories}
        self.order = [s.id for s in stories]
        self.merged = dict(merged or {})  # old id -> new id
        self.tags: dict[int, tuple[str, ...]] = {1: ("politics",)}

    def list_stories(self, limit: int = 50, offset: int = 0) -> list[Story]:
        return [self.stories[i] for i in self.order[offset : offset + limit]]

    def count_stories(self) -> int:
        return len(self.order)

    def get_story(self, story_id: int) -> Story | None:
        return self.stories.get(story_id)

    def resolve_story(self, story_id: int) -> int | None:
        seen = set()
        while story_id in self.merged and story_id not in seen:
            seen.add(story_id)
            story_id = self.merged[story_id]
        return story_id if story_id in self.stories else None

    # The browse/search side of the store protocol, in store order (ranking is the real store's
    # job and is tested in test_search.py / test_web_store.py).
    def _chosen(self, outlet=None, tag=None):
        out = [self.stories[i] for i in self.order]
        if outlet is not None:
            out = [s for s in out if outlet in s.outlets]
        if tag is not None:
            out = [s for s in out if tag in self.tags.get(s.id, ())]
        return out

    def browse_stories(self, limit=30, offset=0, *, outlet=None, tag=None, now=None):
        return self._chosen(outlet, tag)[offset : offset + limit]

    def count_browse(self, *, outlet=None, tag=None):
        return len(self._chosen(outlet, tag))

    def search(self, query, *, outlet=None, limit=30, offset=0):
        words = query.lower().split()
        hits = [s for s in self._chosen(outlet) if words and all(w in s.title.lower() for w in words)]
        return [(s, "\x02" + s.title + "\x03") for s in hits[offset : offset + limit]]

    def count_search(self, query, *, outlet=None):
        return len(self.search(query, outlet=outlet, limit=10**6))

    def list_outlets(self):
        counts = {}
        for s in self._chosen():
            for o in s.outlets:
                counts[o] = counts.get(o, 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def list_tags(self):
        return sorted({(t, 1) for ts in self.tags.values() for t in ts})

    def story_tags(self, story_id):
        return sorted(self.tags.get(story_id, ()))

    def list_feeds(self):
        return []


class WebClient:
    """Synchronous face over ``httpx.AsyncClient(transport=httpx.ASGITransport(app))``.

    (starlette's own WebClient warns about httpx being deprecated, and warnings are errors.)
    """

    def __init__(self, app, raise_server_exceptions: bool = True):
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_server_exceptions)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def request(self, method: str, path: str, follow_redirects: bool = True) -> httpx.Response:
        async def go():
            async with httpx.AsyncClient(
                transport=self.transport,
                base_url="http://testserver",
                follow_redirects=follow_redirects,
            ) as c:
                return await c.request(method, path)

        return asyncio.run(go())

    def get(self, path: str, **kw) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.request("POST", path, **kw)


def make_store(n_filler: int = 0) -> FakeStore:
    return FakeStore([SEED, HOSTILE] + [filler(i) for i in range(n_filler)], merged={7: 1, 8: 7})


@pytest.fixture
def client():
    app = create_app(make_store(), clock=lambda: NOW)
    with WebClient(app) as c:
        yield c


def parse(resp) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(resp.text)


_STEP = re.compile(
    r"(?P<tag>[a-z0-9]+|\*)?(?P<classes>(?:\.[\w-]+)*)"
    r'(?:\[(?P<attr>[\w-]+)="(?P<val>[^"]*)"\])?(?::not\(\.(?P<not>[\w-]+)\))?$'
)


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def css(el, selector: str) -> list:
    """The few CSS selectors these tests use, as XPath (cssselect is not a dependency)."""
    xpath, axis = ".", "//"
    for token in selector.split():
        if token == ">":
            axis = "/"
            continue
        m = _STEP.match(token)
        assert m, token
        preds = [_has_class(c) for c in m["classes"].split(".") if c]
        if m["attr"]:
            preds.append(f"@{m['attr']}='{m['val']}'")
        if m["not"]:
            preds.append(f"not({_has_class(m['not'])})")
        xpath += axis + (m["tag"] or "*") + "".join(f"[{p}]" for p in preds)
        axis = "//"
    return el.xpath(xpath)


def text_of(doc) -> str:
    return " ".join(doc.text_content().split())


# --- routes ----------------------------------------------------------------------------------------


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.text == "ok"


def test_front_page_lists_stories_in_store_order(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    doc = parse(r)
    links = [a.get("href") for a in css(doc, "h2.story-title a")]
    assert links == ["/story/1", "/story/2"]
    first = css(doc, "li.story-item")[0]
    assert "4 outlets · 2 independent reports" in text_of(first)
    badges = [b.text_content() for b in css(first, ".outlet-badge")]
    assert badges == ["The Associated Press", "Chicago Tribune", "New York Daily News",
                      "The Washington Times"]
    assert css(first, "time")[0].get("datetime") == "2025-11-28T11:05:00Z"
    assert "4 h ago" in text_of(first)
    assert "WASHINGTON (AP)" in text_of(first)


def test_front_page_paging():
    app = create_app(make_store(n_filler=65), page_size=30, clock=lambda: NOW)
    with WebClient(app) as c:
        r1 = parse(c.get("/"))
        assert len(css(r1, "li.story-item")) == 30
        assert css(r1, '.pager a[rel="next"]')[0].get("href") == "/?page=2"
        assert not css(r1, '.pager a[rel="prev"]')
        r3 = c.get("/?page=3")
        assert r3.status_code == 200
        d3 = parse(r3)
        assert len(css(d3, "li.story-item")) == 7  # 67 stories
        assert css(d3, '.pager a[rel="prev"]')[0].get("href") == "/?page=2"
        assert not css(d3, '.pager a[rel="next"]')
        assert "page 3 of 3" in text_of(d3)
        assert c.get("/?page=4").status_code == 404
        for bad in ("0", "-1", "abc", "1e3", "99999999999999999999999"):
            assert c.get(f"/?page={bad}").status_code == 400, bad


def test_empty_front_page():
    with WebClient(create_app(FakeStore([]))) as c:
        r = c.get("/")
        assert r.status_code == 200
        assert "No stories yet" in r.text


def test_story_page_is_a_merged_story(client):
    r = client.get("/story/1")
    assert r.status_code == 200
    doc = parse(r)
    assert [h.text_content() for h in css(doc, "h1")] == [SEED.title]
    assert css(doc, "p.lead")[0].text_content() == SEED.lead
    body = [p.text_content() for p in css(doc, ".story-text > p:not(.attribution)")]
    # The canonical text is sources[0]'s, without repeating the lead.
    assert body[0].startswith("\u201cThis is") or body[0].startswith('"This is')
    assert body[-1] == "The House is expected to take up the measure next week."
    assert "Text as published by The Associated Press" in text_of(css(doc, ".attribution")[0])

    items = css(doc, "li.source")
    assert [i.get("id") for i in items] == ["source-10", "source-11", "source-12", "source-13"]
    for item, s in zip(items, SEED.sources, strict=True):
        t = text_of(item)
        assert s.outlet in t and s.title in t and s.author in t
        a = css(item, "h3 a")[0]
        assert a.get("href") == s.url and a.text_content() == s.title
        assert "noopener" in a.get("rel")
        assert css(item, "time")[0].get("datetime") == s.published.isoformat().replace(
            "+00:00", "Z")
    roles = [css(i, ".role-badge")[0].text_content() for i in items]
    assert roles == ["independent report", "rewritten copy", "wire copy", "independent report"]
    # the badge shows the story view's exact share (the same number "How the sources relate"
    # gives), not the clusterer's MinHash estimate stored with the membership (86 %, 99 %)
    view = describe(SEED)
    for item, s in zip(items[1:3], SEED.sources[1:3], strict=True):
        share = f"{round(view.member(s.article_id).reuse * 100)}% reused"
        assert share in text_of(item)
        assert share.replace(" reused", " of its text found") in text_of(doc)
    assert "86% reused" not in text_of(items[1])
    assert "first published" in text_of(items[0])
    assert "via AP" in text_of(items[1])
    assert "4 outlets · 2 independent reports" in text_of(doc)
    # Why grouped, from the evidence.
    assert "jaccard 0.741" in text_of(css(items[1], "details.evidence")[0])


def test_story_page_ends_with_sources_line(client):
    doc = parse(client.get("/story/1"))
    line = css(doc, ".sources-line")
    assert len(line) == 1
    assert line[0].text_content() == (
        "Sources: The Associated Press, Chicago Tribune, New York Daily News, "
        "The Washington Times"
    )
    # It is the last thing in the article.
    article = css(doc, "article.merged-story")[0]
    assert article[-1] is line[0]


def test_sources_line_names_each_outlet_once():
    dup = replace(SEED, id=3, sources=SEED.sources + (replace(SEED.sources[1], article_id=14),))
    with WebClient(create_app(FakeStore([dup]))) as c:
        line = css(parse(c.get("/story/3")), ".sources-line")[0].text_content()
    assert line.count("Chicago Tribune") == 1
    assert line.startswith("Sources: The Associated Press, Chicago Tribune,")


def test_story_timeline(client):
    doc = parse(client.get("/story/1"))
    rows = css(doc, "figure.timeline li.timeline-row")
    assert len(rows) == 4, "a story with several sources has a coverage timeline"
    labels = [" ".join(r.text_content().split()) for r in rows]
    assert labels[0] == "The Associated Press · first"
    assert labels[-1] == "The Washington Times · +2 h 00 min"
    classes = [r.get("class").split() for r in rows]
    assert "at-0" in classes[0] and "at-20" in classes[-1] and "flip" in classes[-1]
    assert "at-6" in classes[1]  # 35 of 120 minutes, in 5 % steps
    assert rows[0].xpath(".//a")[0].get("href") == "#source-10"
    single = parse(client.get("/story/2"))
    assert css(single, "figure.timeline")  # 6 sources


def test_merged_story_redirects_permanently(client):
    r = client.get("/story/7", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "/story/1"
    r = client.get("/story/8", follow_redirects=False)  # merged twice: straight to the live one
    assert r.status_code == 301
    assert r.headers["location"] == "/story/1"
    assert client.get("/story/7").url.path == "/story/1"


@pytest.mark.parametrize(
    "path", ["/story/999", "/story/0", "/story/abc", "/story/-1", "/story/" + "9" * 40, "/nope"]
)
def test_unknown_is_a_404_page(client, path):
    r = client.get(path)
    assert r.status_code == 404
    doc = parse(r)
    assert [h.text_content() for h in css(doc, "h1")] == ["Not found"]
    assert r.headers["content-security-policy"] == CSP


def test_method_not_allowed(client):
    r = client.post("/story/1")
    assert r.status_code == 405
    assert r.headers["content-security-policy"] == CSP


def test_story_store_inconsistency_is_404():
    class Racy(FakeStore):
        def get_story(self, story_id):
            return None  # deleted between resolve and get

    with WebClient(create_app(Racy([SEED]))) as c:
        assert c.get("/story/1").status_code == 404


def test_server_error_page_has_headers():
    class Broken(FakeStore):
        def count_browse(self, **kw):
            raise RuntimeError("database is gone")

    with WebClient(create_app(Broken([])), raise_server_exceptions=False) as c:
        r = c.get("/")
    assert r.status_code == 500
    assert "database is gone" not in r.text
    assert r.headers["content-security-policy"] == CSP


def test_about_page(client):
    r = client.get("/about")
    assert r.status_code == 200
    assert "independent report" in r.text


def test_static_assets_are_self_hosted(client):
    for path, kind in (("/static/style.css", "text/css"), ("/static/keys.js", "javascript")):
        r = client.get(path)
        assert r.status_code == 200, path
        assert kind in r.headers["content-type"]
        assert r.headers["content-security-policy"] == CSP
    assert client.get("/static/missing.css").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    for page in ("/", "/story/1", "/about", "/story/999"):
        doc = parse(client.get(page))
        for el in doc.xpath("//script[@src] | //link[@href] | //img[@src]"):
            ref = el.get("src") or el.get("href")
            if el.tag == "link" and el.get("rel") in ("canonical", "alternate", "prev", "next"):
                continue
            assert ref.startswith("/") and not ref.startswith("//"), (page, ref)


# --- security --------------------------------------------------------------------------------------

ROUTES = ["/", "/?page=2", "/story/1", "/story/2", "/story/7", "/story/999", "/about", "/healthz",
          "/feed.atom", "/feed.json", "/api/v1/stories", "/api/v1/stories/1", "/api/v1/stories/7",
          "/api/v1/stories/999", "/api/v1/openapi.json", "/static/style.css", "/static/keys.js",
          "/nope"]


@pytest.mark.parametrize("path", ROUTES)
def test_security_headers_on_every_response(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_csp_is_strict():
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP


def assert_no_active_content(html: str):
    doc = lxml.html.document_fromstring(html)
    scripts = doc.xpath("//script")
    assert [s.get("src") for s in scripts] == ["/static/keys.js"]
    assert all(not (s.text or "").strip() for s in scripts)
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag not in ("iframe", "img", "object", "embed", "base", "style", "svg"), el.tag
        if el.tag == "form":  # only our own forms: the search box (GET) and operator forms (POST)
            action = el.get("action", "")
            assert action.startswith("/") and not action.startswith("//"), action
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert name.lower() != "style", el.tag
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href", "srcset"):
                v = value.strip()
                scheme = urlsplit(v).scheme.lower()
                ok = scheme in ("http", "https") or (v.startswith(("/", "#")) and not v.startswith("//"))
                assert ok, (el.tag, name, value)


@pytest.mark.parametrize("path", ["/", "/story/2", "/about", "/story/999"])
def test_hostile_text_is_escaped(client, path):
    r = client.get(path)
    assert_no_active_content(r.text)
    assert "<script>alert" not in r.text
    assert "onerror=alert" not in r.text or "&lt;img" in r.text


def test_hostile_story_shows_payloads_as_text(client):
    r = client.get("/story/2")
    assert r.status_code == 200
    doc = parse(r)
    assert css(doc, "h1")[0].text_content() == HOSTILE.title
    assert XSS_IMG in css(doc, "p.lead")[0].text_content()
    t = text_of(doc)
    assert "Paragraph one " + XSS_SCRIPT in t
    assert "\x00" not in r.text and "\x07" not in r.text
    # Non-http(s) URLs are shown as text and never become links.
    for sid, url in ((20, "javascript:alert(1)"), (21, "&#106;avascript:alert(1)"),
                     (22, "data:text/html,<script>alert(1)</script>"), (24, "//evil.example/x")):
        item = doc.get_element_by_id(f"source-{sid}")
        assert not css(item, "h3 a"), sid
        assert url in css(item, ".unsafe-url code")[0].text_content(), sid
    assert "&amp;#106;avascript" in r.text  # the entity is escaped, so the browser never decodes it
    # An http(s) URL with an attribute break-out stays inside the attribute.
    a = css(doc.get_element_by_id("source-25"), "h3 a")[0]
    assert a.get("href") == 'https://example.com/"><script>alert(1)</script>'
    assert css(doc.get_element_by_id("source-25"), ".role-badge")[0].text_content() == (
        "mystery-role")
    assert "Sources: Evil <script>alert(1)</script> Outlet, Entity Outlet" in text_of(
        css(doc, ".sources-line")[0])


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://apnews.com/a", True),
        ("http://example.com", True),
        ("HTTPS://EXAMPLE.COM/x", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("&#106;avascript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("data:text/html,x", False),
        ("vbscript:x", False),
        ("//evil.example/x", False),
        ("/relative", False),
        ("https:\\\\evil.example", False),
        ("https://", False),
        ("https://exa mple.com", False),
        ("http://[::1", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url(url, ok):
    assert (safe_url(url) is not None) is ok


# --- Atom ------------------------------------------------------------------------------------------


def test_atom_feed_one_entry_per_story(client):
    r = client.get("/feed.atom")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    lxml.etree.fromstring(r.content)  # well-formed, despite NUL/BEL in the hostile text
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.link for e in feed.entries] == ["http://testserver/story/1", "http://testserver/story/2"]
    e = feed.entries[0]
    assert e.title == SEED.title
    assert e.id == "http://testserver/story/1"
    assert e.updated == "2025-11-28T11:05:00Z"
    assert [a.name for a in e.authors] == SEED.outlets
    html = e.content[0].value
    assert "Sources: The Associated Press, Chicago Tribune, New York Daily News, The Washington Times" in html
    for s in SEED.sources:
        assert s.url in html
    # The raw entry HTML (before feedparser's own sanitizer) has no active content either.
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for content in lxml.etree.fromstring(r.content).iterfind("a:entry/a:content", ns):
        assert content.get("type") == "html"
        frag = lxml.html.fragment_fromstring(content.text, create_parent="div")
        assert not frag.xpath("//script | //img | //iframe | //svg")
        for el in frag.iter():
            assert not any(k.startswith("on") for k in el.attrib)
            if el.get("href"):
                assert urlsplit(el.get("href")).scheme in ("http", "https")


# --- JSON Feed and API -----------------------------------------------------------------------------


def test_json_feed(client):
    r = client.get("/feed.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/feed+json")
    feed = r.json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "http://testserver/feed.json"
    items = feed["items"]
    assert [i["id"] for i in items] == ["http://testserver/story/1", "http://testserver/story/2"]
    first = items[0]
    assert first["title"] == SEED.title
    assert first["date_modified"] == "2025-11-28T11:05:00Z"
    assert [a["name"] for a in first["authors"]] == SEED.outlets
    assert "Sources: The Associated Press, Chicago Tribune" in first["content_html"]
    assert [x["url"] for x in first["_aggregator"]["sources"]] == [s.url for s in SEED.sources]
    hostile = lxml.html.fragment_fromstring(items[1]["content_html"], create_parent="div")
    assert not hostile.xpath("//script | //img | //iframe")
    assert all(urlsplit(a.get("href")).scheme in ("http", "https") for a in hostile.iter("a"))


def _check(schema: dict, value, root: dict, where: str = "$") -> None:
    """A small JSON Schema subset (type, required, properties, items, $ref)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _check(root["components"]["schemas"][name], value, root, where)
    types = schema.get("type")
    if types:
        types = [types] if isinstance(types, str) else types
        py = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
              "null": type(None), "boolean": bool}
        assert any(isinstance(value, py[t]) and not (t in ("integer", "number") and
                   isinstance(value, bool)) for t in types), (where, types, value)
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, (where, key)
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _check(sub, value[key], root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            _check(schema["items"], v, root, f"{where}[{i}]")


def test_api_against_its_openapi_document():
    app = create_app(make_store(n_filler=5), clock=lambda: NOW)
    c = WebClient(app)
    spec = c.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    listing = c.get("/api/v1/stories?per_page=3")
    assert listing.status_code == 200
    body = listing.json()
    schema = spec["paths"]["/api/v1/stories"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    _check(schema, body, spec)
    assert [s["id"] for s in body["stories"]] == [1, 2, 100]
    assert body["total"] == 7 and body["next"].endswith("/api/v1/stories?page=2&per_page=3")
    last = c.get("/api/v1/stories?page=3&per_page=3").json()
    assert [s["id"] for s in last["stories"]] == [104] and last["next"] is None

    one = c.get("/api/v1/stories/1")
    story_schema = spec["paths"]["/api/v1/stories/{story_id}"]["get"]["responses"]["200"][
        "content"]["application/json"]["schema"]
    _check(story_schema, one.json(), spec)
    data = one.json()
    assert data["sources_line"] == (
        "Sources: The Associated Press, Chicago Tribune, New York Daily News, The Washington Times")
    assert data["independent_reports"] == 2 and data["outlet_count"] == 4
    assert data["text"].startswith("WASHINGTON (AP)")
    assert [s["role"] for s in data["sources"]] == ["report", "copy", "wire", "report"]

    hostile = c.get("/api/v1/stories/2").json()
    _check(story_schema, hostile, spec)
    urls = {s["article_id"]: s["url"] for s in hostile["sources"]}
    assert urls[20] is None and urls[21] is None and urls[22] is None and urls[24] is None
    assert hostile["sources"][0]["raw_url"] == "javascript:alert(1)"


def test_api_errors_and_redirects():
    c = WebClient(create_app(make_store(), clock=lambda: NOW))
    r = c.get("/api/v1/stories/7", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/api/v1/stories/1"
    r = c.get("/api/v1/stories/999")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"error": "no story has that id", "status": 404}
    for q in ("page=0", "page=x", "per_page=0", "per_page=101"):
        r = c.get(f"/api/v1/stories?{q}")
        assert r.status_code == 400, q
        assert r.json()["status"] == 400
