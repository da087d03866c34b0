"""Reading over the real SQLite store: ranked front page, outlet and tag pages, search, the Atom
and JSON feeds of each, the JSON API against its OpenAPI document, operator pages (sign-in,
CSRF, feed health, corrections) and the static export.

Texts are written for these tests (see test_web.py for the stories SEED and HOSTILE)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import feedparser
import httpx
import jsonschema
import lxml.html
import pytest
from test_web import HOSTILE, SEED, FakeStore, assert_no_active_content, css
from test_web_store import add_story, article

from aggregator.models import FeedConfig
from aggregator.web import CSP, create_app
from aggregator.web.app import highlight
from aggregator.web.export import export_site, file_for
from store import FeedOutcome, Membership, open_store

NOW = datetime(2025, 11, 28, 16, 0, tzinfo=UTC)
SEED_TITLE = SEED.sources[0].title  # the store titles a story after its canonical source
TOKEN = "operator-token-for-tests-0123456789"


class Client:
    """A synchronous client over the ASGI app that keeps cookies (operator sessions)."""

    def __init__(self, app):
        self.transport = httpx.ASGITransport(app=app)
        self.cookies = httpx.Cookies()

    def request(self, method, path, **kw) -> httpx.Response:
        async def go():
            async with httpx.AsyncClient(transport=self.transport, base_url="http://testserver",
                                         cookies=self.cookies) as c:
                r = await c.request(method, path, **kw)
                self.cookies = c.cookies
                return r

        return asyncio.run(go())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


def doc_of(r) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(r.text)


def story_like(sid, outlets, hours_ago, title, text, role="report"):
    """A Story value (for add_story) with one source per outlet, published ``hours_ago``."""
    base = SEED.sources[0]
    t = NOW - timedelta(hours=hours_ago)
    sources = tuple(
        replace(base, article_id=sid * 100 + i, outlet=o, title=title if i == 0 else f"{title} ({o})",
                url=f"https://{o.lower().replace(' ', '')}.example/{sid}", author="", published=t
                + timedelta(minutes=i), first_seen=t + timedelta(minutes=i + 1), role=role,
                text=f"{text} Reported by {o}.", wire="", evidence={})
        for i, o in enumerate(outlets)
    )
    return replace(SEED, id=sid, title=title, sources=sources)


BIG = story_like(50, ["Harbor Gazette", "Valley Courier", "Metro Daily"], 5, "Dam repairs finished",
                 "Crews finished repairing the river dam ahead of the spring floods.")
SMALL_NEW = story_like(51, ["Metro Daily"], 1, "Parking fees rise downtown",
                       "The city will raise downtown parking fees next month.")
OLD = story_like(52, ["Harbor Gazette", "Valley Courier", "Metro Daily"], 24 * 6,
                 "Ferry strike ends", "Ferry workers ended their strike after a new contract.")


@pytest.fixture
def site(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'site.db'}")
    outlets = sorted({s.outlet for st in (SEED, HOSTILE, BIG, SMALL_NEW, OLD) for s in st.sources})
    tags = {"The Washington Times": ("politics", "news"), "Chicago Tribune": ("news",),
            "Harbor Gazette": ("local",)}
    store.sync_feeds(
        FeedConfig(name=f"feed-{i}", url=f"https://feeds.example/{i}.xml", outlet=o,
                   tags=tags.get(o, ()))
        for i, o in enumerate(outlets)
    )
    feeds = {f.outlet: f.id for f in store.list_feeds()}
    ids = {name: add_story(store, feeds, st) for name, st in
           (("seed", SEED), ("hostile", HOSTILE), ("big", BIG), ("small", SMALL_NEW), ("old", OLD))}
    yield store, ids, feeds
    store.close()


def titles(r) -> list[str]:
    return [a.text_content() for a in css(doc_of(r), "h2.story-title a")]


# --- front page, outlets, tags -------------------------------------------------------------------


def test_front_page_ranks_by_coverage_and_recency(site):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    order = titles(c.get("/"))
    # Three outlets five hours ago beat one outlet an hour ago; six days old comes last.
    assert order.index("Dam repairs finished") < order.index("Parking fees rise downtown")
    assert order[-1] == "Ferry strike ends"
    r = c.get("/")
    assert "3 outlets · 3 independent reports" in doc_of(r).text_content()
    assert "4 h ago" in doc_of(r).text_content()  # the last source joined 4 h 57 min ago


def test_outlet_page_and_badges_link_to_it(site):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    front = doc_of(c.get("/"))
    hrefs = {a.get("href") for a in css(front, ".outlet-badge a")}
    assert "/outlet/Chicago%20Tribune" in hrefs
    r = c.get("/outlet/Chicago%20Tribune")
    assert r.status_code == 200
    assert titles(r) == [SEED_TITLE]
    assert "Stories from Chicago Tribune" in r.text
    assert c.get("/outlet/Nobody%20Here").status_code == 404
    # Hostile outlet names are escaped in pages and quoted in links.
    evil = [o for o in HOSTILE.outlets if "<script>" in o][0]
    r = c.get("/outlet/" + quote(evil, safe=""))
    assert r.status_code == 200
    assert_no_active_content(r.text)
    outlets = c.get("/outlets")
    assert outlets.status_code == 200 and "Harbor Gazette" in outlets.text
    assert_no_active_content(outlets.text)


def test_tag_pages_follow_feed_tags(site):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    assert titles(c.get("/tag/politics")) == [SEED_TITLE]
    assert set(titles(c.get("/tag/local"))) == {BIG.title, OLD.title}
    assert c.get("/tag/unknown").status_code == 404
    story = doc_of(c.get(f"/story/{ids['seed']}"))
    assert [a.text_content() for a in css(story, ".tag-list a")] == ["news", "politics"]


def test_paging_of_filtered_listings(site):
    store, ids, feeds = site
    for i in range(4):
        add_story(store, feeds, story_like(60 + i, ["Metro Daily"], 30 + i, f"Council note {i}",
                                           f"A council note number {i}."))
    c = Client(create_app(store, clock=lambda: NOW, page_size=3))
    r = c.get("/outlet/Metro%20Daily")
    assert len(titles(r)) == 3
    nxt = css(doc_of(r), '.pager a[rel="next"]')[0].get("href")
    assert nxt == "/outlet/Metro%20Daily?page=2"
    assert len(titles(c.get(nxt))) == 3
    assert c.get("/outlet/Metro%20Daily?page=9").status_code == 404
    assert c.get("/outlet/Metro%20Daily?page=x").status_code == 400


# --- search ---------------------------------------------------------------------------------------


def test_search_page_highlights_and_filters(site):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    r = c.get("/search?q=senate")
    assert r.status_code == 200
    doc = doc_of(r)
    assert titles(r) == [SEED_TITLE]
    marks = [m.text_content().lower() for m in css(doc, ".snippet mark")]
    assert marks and set(marks) == {"senate"}
    assert "1 story found" in doc.text_content()
    feeds = {a.text_content(): a.get("href") for a in css(doc, ".listing-meta a")}
    assert feeds["Atom"] == "/search/feed.atom?q=senate"
    assert titles(c.get('/search?q="rail+lines"&outlet=Chicago+Tribune')) == [SEED_TITLE]
    assert titles(c.get('/search?q="rail+lines"&outlet=Metro+Daily')) == []
    assert "No story matches" in c.get("/search?q=zebra").text
    empty = c.get("/search")
    assert empty.status_code == 200 and not titles(empty)
    assert c.get("/search?q=" + "a" * 501).status_code == 400


@pytest.mark.parametrize("q", ["script", "alert", "onerror", '"<script>"', "<img", "NEAR(", '"', "*"])
def test_search_of_hostile_text_stays_text(site, q):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    r = c.get("/search", params={"q": q})
    assert r.status_code == 200
    assert_no_active_content(r.text)
    assert "<script>alert" not in r.text


def test_highlight_escapes_before_marking():
    html = str(highlight("a <b>\x02x</b>\x03 \x02<script>\x03 & c"))
    assert html == "a &lt;b&gt;<mark>x&lt;/b&gt;</mark> <mark>&lt;script&gt;</mark> &amp; c"
    assert str(highlight("\x03unbalanced\x02")) == "unbalanced"


# --- feeds -----------------------------------------------------------------------------------------

FEEDS = ["/feed.atom", "/outlet/Chicago%20Tribune/feed.atom", "/tag/local/feed.atom",
         "/search/feed.atom?q=bridges"]


@pytest.mark.parametrize("path", FEEDS)
def test_atom_feeds_are_valid_one_entry_per_story(site, path):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    r = c.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    links = [e.link for e in parsed.entries]
    assert len(links) == len(set(links)) >= 1
    for e in parsed.entries:
        sid = int(e.link.rsplit("/", 1)[1])
        story = store.get_story(sid)
        assert [a.name for a in e.authors] == story.outlets
        assert "Sources: " in e.content[0].value
    assert parsed.feed.links[0].href == "http://testserver" + path
    json_path = path.replace("feed.atom", "feed.json")
    j = c.get(json_path)
    assert j.status_code == 200 and j.headers["content-type"].startswith("application/feed+json")
    items = j.json()["items"]
    assert [i["url"] for i in items] == links
    assert j.json()["feed_url"].endswith(json_path)


def test_feed_entry_updated_moves_when_a_source_joins(site):
    store, ids, feeds = site
    c = Client(create_app(store, clock=lambda: NOW, cache_bytes=0))

    def updated() -> str:
        parsed = feedparser.parse(c.get("/outlet/Metro%20Daily/feed.atom").content)
        return {e.link: e.updated for e in parsed.entries}[f"http://testserver/story/{ids['small']}"]

    before = updated()
    joiner = replace(SMALL_NEW.sources[0], outlet="Valley Courier", url="https://vc.example/parking",
                     first_seen=NOW - timedelta(minutes=5), published=NOW - timedelta(minutes=10))
    store.add_article(article(feeds["Valley Courier"], joiner), "g-join", joiner.url,
                      lambda aid: Membership(story_id=ids["small"], copy_of=None, role="report",
                                             reuse=0.0, score=1.0))
    assert updated() == "2025-11-28T15:55:00Z" != before


def test_search_feed_requires_a_query(site):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    assert c.get("/search/feed.atom").status_code == 400
    assert c.get("/tag/none/feed.json").status_code == 404


def test_pages_are_cached_until_the_store_changes(site):
    store, ids, feeds = site
    c = Client(create_app(store, clock=lambda: NOW))
    first = c.get("/outlet/Metro%20Daily")
    assert c.get("/outlet/Metro%20Daily").text == first.text
    add_story(store, feeds, story_like(70, ["Metro Daily"], 2, "Library hours extended",
                                       "The central library will stay open until nine."))
    assert "Library hours extended" in c.get("/outlet/Metro%20Daily").text


# --- API -------------------------------------------------------------------------------------------


def validate(spec: dict, path: str, status: int, body) -> None:
    op = spec["paths"][path]["get"]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_api_matches_its_openapi_document(site):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    spec = c.get("/api/v1/openapi.json").json()
    jsonschema.Draft202012Validator.check_schema({"components": spec["components"]})
    calls = [
        ("/api/v1/stories", "/api/v1/stories", {}),
        ("/api/v1/stories", "/api/v1/stories", {"per_page": 2, "page": 2}),
        ("/api/v1/stories", "/api/v1/stories", {"outlet": "Metro Daily"}),
        ("/api/v1/stories", "/api/v1/stories", {"tag": "local"}),
        ("/api/v1/stories/{story_id}", f"/api/v1/stories/{ids['seed']}", {}),
        ("/api/v1/stories/{story_id}", f"/api/v1/stories/{ids['hostile']}", {}),
        ("/api/v1/stories/{story_id}/sources", f"/api/v1/stories/{ids['seed']}/sources", {}),
        ("/api/v1/search", "/api/v1/search", {"q": "senate"}),
        ("/api/v1/search", "/api/v1/search", {"q": '"rail lines"', "outlet": "Chicago Tribune"}),
        ("/api/v1/search", "/api/v1/search", {"q": "NEAR( ^ *"}),
        ("/api/v1/feeds", "/api/v1/feeds", {}),
        ("/api/v1/feeds", "/api/v1/feeds", {"per_page": 1}),
    ]
    for key, path, params in calls:
        r = c.get(path, params=params)
        assert r.status_code == 200, (path, params, r.text)
        validate(spec, key, 200, r.json())
    body = c.get("/api/v1/stories", params={"per_page": 2}).json()
    assert body["total"] == 5 and body["next"] == "http://testserver/api/v1/stories?page=2&per_page=2"
    hits = c.get("/api/v1/search", params={"q": "senate"}).json()
    assert hits["total"] == 1 and "[[Senate]]" in hits["results"][0]["snippet"]
    feeds = c.get("/api/v1/feeds").json()["feeds"]
    assert {f["outlet"] for f in feeds} >= {"Chicago Tribune", "Metro Daily"}
    assert all("last_error" not in f for f in feeds)
    sources = c.get(f"/api/v1/stories/{ids['seed']}/sources").json()["sources"]
    assert [s["url"] for s in sources] == [s.url for s in SEED.sources]


@pytest.mark.parametrize(
    "path, params, status",
    [
        ("/api/v1/search", {}, 400),
        ("/api/v1/search", {"q": "   "}, 400),
        ("/api/v1/search", {"q": "x" * 501}, 400),
        ("/api/v1/search", {"q": "bridges", "per_page": 0}, 400),
        ("/api/v1/stories", {"page": "abc"}, 400),
        ("/api/v1/stories", {"per_page": 101}, 400),
        ("/api/v1/feeds", {"page": 0}, 400),
        ("/api/v1/stories/987654/sources", {}, 404),
    ],
)
def test_api_errors_match_the_document(site, path, params, status):
    store, ids, _ = site
    c = Client(create_app(store, clock=lambda: NOW))
    spec = c.get("/api/v1/openapi.json").json()
    r = c.get(path, params=params)
    assert r.status_code == status
    key = "/api/v1/stories/{story_id}/sources" if "sources" in path else path
    validate(spec, key, status, r.json())


# --- operators -------------------------------------------------------------------------------------


class Corrections(FakeStore):
    """FakeStore with the correction methods recorded (the real ones belong to the store)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []
        self.enabled = []

    def merge_stories(self, src, dst):
        self.calls.append(("merge", src, dst))
        self.merged[src] = dst

    def move_article(self, article_id, story_id):
        self.calls.append(("move", article_id, story_id))

    def split_story(self, story_id, article_ids):
        self.calls.append(("split", story_id, list(article_ids)))
        return story_id

    def enable_feed(self, name):
        self.enabled.append(name)
        return name == "known"


def sign_in(c: Client, token: str = TOKEN) -> httpx.Response:
    page = c.get("/operator/login?next=/story/1")
    csrf = css(doc_of(page), 'input[name="csrf"]')[0].get("value")
    return c.post("/operator/login", data={"csrf": csrf, "token": token, "next": "/story/1"})


def csrf_of(r) -> str:
    return css(doc_of(r), 'input[name="csrf"]')[0].get("value")


def test_operator_pages_are_off_without_a_token():
    c = Client(create_app(Corrections([SEED, HOSTILE])))
    for path in ("/operator/login", "/operator/feeds"):
        assert c.get(path).status_code == 404
    assert c.post("/operator/stories/1/merge", data={"into": "2"}).status_code == 404
    assert "operator-tools" not in c.get("/story/1").text


def test_operator_sign_in_and_csrf():
    store = Corrections([SEED, HOSTILE])
    c = Client(create_app(store, operator_token=TOKEN))
    assert c.get("/operator/feeds").status_code == 403
    assert "operator-tools" not in c.get("/story/1").text
    # Sign-in needs its double-submit token and the right operator token.
    assert c.post("/operator/login", data={"token": TOKEN}).status_code == 403
    bad = sign_in(c, token="wrong")
    assert bad.status_code == 403 and "not right" in bad.text
    ok = sign_in(c)
    assert ok.status_code == 303 and ok.headers["location"] == "/story/1"
    cookie = ok.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = c.get("/story/1")
    assert "operator-tools" in page.text
    assert page.headers["content-security-policy"] == CSP
    csrf = csrf_of(page)
    # Without the CSRF field, with a wrong one, or from another origin: refused, nothing done.
    assert c.post("/operator/stories/1/merge", data={"into": "2"}).status_code == 403
    assert c.post("/operator/stories/1/merge", data={"into": "2", "csrf": "x" * 64}).status_code == 403
    assert c.post("/operator/stories/1/merge", data={"into": "2", "csrf": csrf},
                  headers={"origin": "https://evil.example"}).status_code == 403
    assert store.calls == []
    # Forms only POST.
    assert c.get("/operator/stories/1/merge").status_code == 405
    r = c.post("/operator/stories/2/merge", data={"into": "1", "csrf": csrf},
               headers={"origin": "http://testserver"})
    assert r.status_code == 303 and r.headers["location"] == "/story/1"
    assert store.calls == [("merge", 2, 1)]
    r = c.post("/operator/stories/1/move", data={"article": "11", "to": "1", "csrf": csrf})
    assert r.status_code == 303 and store.calls[-1] == ("move", 11, 1)
    assert c.post("/operator/stories/1/move", data={"article": "999", "to": "1", "csrf": csrf}
                  ).status_code == 400
    r = c.post("/operator/stories/1/split", data={"article_id": ["12", "13"], "csrf": csrf})
    assert r.status_code == 303 and store.calls[-1] == ("split", 1, [12, 13])
    every = [str(s.article_id) for s in SEED.sources]
    assert c.post("/operator/stories/1/split", data={"article_id": every, "csrf": csrf}
                  ).status_code == 400
    # A forged session cookie is no session.
    forged = Client(create_app(store, operator_token=TOKEN))
    forged.cookies.set("agg_operator", "1.abc.def")
    assert forged.get("/operator/feeds").status_code == 403
    # Sign out ends the session.
    assert c.post("/operator/logout", data={"csrf": csrf}).status_code == 303
    assert c.get("/operator/feeds").status_code == 403


def test_sign_in_redirect_stays_on_this_site():
    c = Client(create_app(Corrections([SEED]), operator_token=TOKEN))
    page = c.get("/operator/login")
    r = c.post("/operator/login", data={"csrf": csrf_of(page), "token": TOKEN,
                                        "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/operator/feeds"


def test_feed_health_page(site):
    store, ids, feeds = site
    fid = feeds["Chicago Tribune"]
    for _ in range(3):
        store.record_poll(fid, FeedOutcome(fetched_at=NOW - timedelta(minutes=20), status=503,
                                           error="fetcher: HTTP 503 <script>alert(1)</script>",
                                           next_check_at=NOW + timedelta(minutes=30)),
                          error_limit=3)
    c = Client(create_app(store, clock=lambda: NOW, operator_token=TOKEN))
    sign_in(c)
    r = c.get("/operator/feeds")
    assert r.status_code == 200
    assert_no_active_content(r.text)
    doc = doc_of(r)
    rows = {css(tr, "th")[0].text_content().split("Chicago")[0]: tr for tr in css(doc, "tbody tr")}
    row = next(tr for tr in css(doc, "tbody tr") if "Chicago Tribune" in tr.text_content())
    text = row.text_content()
    assert "disabled" in text and "503" in text and "<script>alert(1)</script>" in text
    assert "3 failures in a row" in text and "20 min ago" in text
    assert len(rows) >= 1
    form = css(row, "form")[0]
    r = c.post(form.get("action"), data={"csrf": csrf_of(r), "name": form.xpath(
        './/input[@name="name"]')[0].get("value")})
    assert r.status_code == 303
    assert store.get_feed(f"feed-{sorted(feeds).index('Chicago Tribune')}").disabled_reason is None


def test_real_store_corrections_when_the_store_has_them(site):
    store, ids, _ = site
    if not callable(getattr(store, "merge_stories", None)):
        pytest.skip("store.merge_stories not built yet (issue 3b)")
    c = Client(create_app(store, clock=lambda: NOW, operator_token=TOKEN))
    sign_in(c)
    csrf = csrf_of(c.get(f"/story/{ids['small']}"))
    r = c.post(f"/operator/stories/{ids['small']}/merge", data={"into": str(ids["big"]), "csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/story/{ids['big']}"
    assert store.resolve_story(ids["small"]) == ids["big"]
    assert c.get(f"/story/{ids['small']}", follow_redirects=False).status_code == 301


# --- static export ---------------------------------------------------------------------------------


def test_export_writes_a_browsable_site(site, tmp_path):
    store, ids, _ = site
    out = tmp_path / "site"
    report = export_site(store, out, base_url="https://news.example.org", page_size=2)
    assert report.skipped == ["outlet 'Evil <script>alert(1)</script> Outlet': cannot be a directory name"]
    assert (out / "index.html").exists() and (out / "feed.atom").exists()
    assert (out / "page" / "3" / "index.html").exists()  # 5 stories, 2 per page
    assert (out / "story" / str(ids["seed"]) / "index.html").exists()
    assert (out / "outlet" / "Chicago Tribune" / "index.html").exists()
    assert (out / "tag" / "local" / "feed.json").exists()
    assert (out / "static" / "style.css").exists()
    feed = feedparser.parse((out / "feed.atom").read_bytes())
    assert not feed.bozo and feed.entries[0].link.startswith("https://news.example.org/story/")
    # Every local link of every page resolves to an exported file.
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert 'action="/search"' not in html
        for href in re.findall(r'(?:href|src)="(/[^"#]*)', html):
            if href.startswith("/outlet/Evil"):
                continue  # the unexportable name above
            target = file_for(out, href.split("?")[0])
            assert target.exists(), (page, href)
    # The hostile outlet name became a directory inside the output, nothing outside it.
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))


def test_story_page_cache_follows_the_story(site):
    """A cached story page changes when a source joins that story (its own stamp moves)."""
    store, ids, feeds = site
    c = Client(create_app(store, clock=lambda: NOW))
    path = f"/story/{ids['small']}"
    assert c.get(path).text == c.get(path).text
    assert "Valley Courier" not in c.get(path).text
    joiner = replace(SMALL_NEW.sources[0], outlet="Valley Courier", url="https://vc.example/fees",
                     first_seen=NOW - timedelta(minutes=5), published=NOW - timedelta(minutes=10))
    store.add_article(article(feeds["Valley Courier"], joiner), "g-fees", joiner.url,
                      lambda aid: Membership(story_id=ids["small"], copy_of=None, role="report",
                                             reuse=0.0, score=1.0))
    assert "Valley Courier" in c.get(path).text
