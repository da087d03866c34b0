"""The loopback newsroom serves what the e2e benchmark, the demo and the seed test rely on."""

from __future__ import annotations

import email.utils
import http.client
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml

from aggregator.newsroom import NewsArticle, Newsroom, lead_sentences, load_fixture_articles

T0 = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def _articles() -> list[NewsArticle]:
    arts = []
    outlets = ["Alpha Post", "Beta Times", "Gamma Herald", "Delta Daily", "Epsilon Wire"]
    for i in range(15):
        arts.append(NewsArticle(
            id=f"a{i}",
            title=f"Headline number {i} & <friends> \"quoted\"" if i == 3 else f"Headline number {i}",
            text="\n".join(f"Paragraph {j} of article {i} says something about topic {i}. More words here."
                           for j in range(6)),
            outlet=outlets[i % len(outlets)],
            author="Jo Writer" if i % 2 else "",
            published=None if i == 7 else T0 - timedelta(hours=i),
        ))
    return arts


@pytest.fixture(scope="module")
def newsroom():
    with Newsroom(_articles()) as nr:
        yield nr


def test_feeds_parse_with_every_entry(newsroom):
    assert len(newsroom.feeds) == 5
    versions = set()
    seen_links = set()
    for feed in newsroom.feeds:
        status, headers, body = _get(feed["url"])
        assert status == 200
        assert "xml" in headers["content-type"]
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
        assert not parsed.bozo, parsed.get("bozo_exception")
        versions.add(parsed.version)
        expected = [a for a in newsroom.articles if a.outlet == feed["outlet"]]
        assert len(parsed.entries) == len(expected)
        for entry in parsed.entries:
            assert entry.get("id")
            assert entry.title.startswith("Headline number")
            assert entry.summary.startswith("Paragraph 0 of article")
            seen_links.add(entry.link)
    assert versions == {"rss20", "atom10"}
    assert {newsroom.article_id_for(link) for link in seen_links} == {a.id for a in newsroom.articles}


def test_feed_escapes_and_dates(newsroom):
    feed = next(f for f in newsroom.feeds if f["outlet"] == "Delta Daily")  # holds a3 and a8
    _, headers, body = _get(feed["url"])
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    titles = {e.title: e for e in parsed.entries}
    tricky = 'Headline number 3 & <friends> "quoted"'
    assert tricky in titles
    entry = titles[tricky]
    assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == T0 - timedelta(hours=3)
    assert entry.get("author") == "Jo Writer"


def test_undated_article_has_no_date(newsroom):
    undated = next(a for a in newsroom.articles if a.published is None)
    feed = next(f for f in newsroom.feeds if f["outlet"] == undated.outlet)
    _, headers, body = _get(feed["url"])
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    entry = next(e for e in parsed.entries if newsroom.article_id_for(e.link) == undated.id)
    assert not entry.get("published_parsed")
    _, _, page = _get(newsroom.url_of[undated.id])
    assert b"<time" not in page


def test_pages_hold_text_inside_chrome(newsroom):
    art = newsroom.articles[5]
    status, headers, body = _get(newsroom.url_of[art.id])
    assert status == 200 and headers["content-type"].startswith("text/html")
    page = body.decode("utf-8")
    for para in art.paragraphs:
        assert f"<p>{para}</p>" in page
    assert f'<link rel="canonical" href="{newsroom.url_of[art.id]}">' in page
    assert 'property="og:title"' in page and 'property="og:site_name"' in page
    assert "<h1" in page
    nav = re.search(r"<nav[^>]*Sections.*?</nav>", page, re.DOTALL)
    assert nav and nav.group(0).count("<a ") >= 10
    assert "Breadcrumb" in page
    assert "Related Stories" in page
    others = [a.title for a in newsroom.articles if a.id != art.id]
    assert sum(t in page for t in others) >= 3  # the rail shows other articles' headlines
    assert "cookie" in page.lower() and "Accept all" in page
    assert 'id="comments"' in page and page.count("comment__body") >= 3
    assert "Sign up for The Daily Briefing" in page
    assert "<footer" in page and page.count("<a ") > 40
    assert "<script>" in page


def test_chrome_varies_by_outlet(newsroom):
    classes = set()
    for outlet in {a.outlet for a in newsroom.articles}:
        art = next(a for a in newsroom.articles if a.outlet == outlet)
        page = _get(newsroom.url_of[art.id])[2].decode()
        body_class = re.search(r'<div class="([^"]+)"[^>]*>\s*<p>', page).group(1)
        classes.add(body_class)
    assert len(classes) == 5


def test_conditional_get_answers_304(newsroom):
    feed = newsroom.feeds[0]
    path = urlsplit(feed["url"]).path
    before = newsroom.hits[path]
    status, headers, body = _get(feed["url"])
    assert status == 200 and headers.get("etag") and headers.get("last-modified")
    status, _, body = _get(feed["url"], {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""
    status, _, _ = _get(feed["url"], {"If-Modified-Since": headers["last-modified"]})
    assert status == 304
    status, _, _ = _get(feed["url"], {"If-None-Match": '"other"'})
    assert status == 200
    old = email.utils.format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    status, _, _ = _get(feed["url"], {"If-Modified-Since": old})
    assert status == 200
    assert newsroom.hits[path] == before + 5


def test_tracking_parameters_only_in_feed_links(newsroom):
    tracked = [aid for aid, link in newsroom.feed_link_of.items() if "utm_source" in link]
    assert tracked  # some outlets add them, as real feeds do
    for aid in tracked:
        assert "utm_" not in newsroom.url_of[aid]
        status, _, page = _get(newsroom.feed_link_of[aid])
        assert status == 200 and f'rel="canonical" href="{newsroom.url_of[aid]}"'.encode() in page


def test_unknown_path_is_404(newsroom):
    status, _, _ = _get(newsroom.base_url + "/nope")
    assert status == 404


def test_feeds_yaml(newsroom, tmp_path):
    path = newsroom.write_feeds_yaml(tmp_path / "feeds.yaml")
    data = yaml.safe_load(path.read_text())
    assert [f["url"] for f in data["feeds"]] == [f["url"] for f in newsroom.feeds]
    names = [f["name"] for f in data["feeds"]]
    assert len(set(names)) == len(names)
    for f in data["feeds"]:
        assert f["url"].startswith(newsroom.base_url)
        assert f["enabled"] is True and f["interval"] == 900 and f["tags"] == ["news"]
    try:
        from aggregator.feeds_config import load_feeds
    except ImportError:  # pragma: no cover - the loader lands with the pipeline
        return
    assert [f.outlet for f in load_feeds(str(path))] == [f["outlet"] for f in newsroom.feeds]


def test_lead_sentences():
    assert lead_sentences("PROVIDENCE, R.I. (AP) — A map was found. It was old.", 45) == (
        "PROVIDENCE, R.I. (AP) — A map was found.")
    assert lead_sentences("Mr. Smith said yes. Then no.\nSecond paragraph.") == "Mr. Smith said yes. Then no."


def test_fixture_articles_shape():
    arts = load_fixture_articles(anchor=T0)
    by_id = {a.id: a for a in arts}
    assert len(by_id) == len(arts)
    assert max(a.published for a in arts) == T0
    seed = [a for a in arts if a.extra.get("story") == "seed-storm"]
    assert {a.outlet for a in seed} == {"The Associated Press", "Chicago Tribune",
                                         "New York Daily News", "The Washington Times"}
    ap = by_id["ap-storm"]
    assert 8 <= len(ap.paragraphs) <= 10
    assert ap.paragraphs[0].startswith("CHICAGO (AP)")
    for copy in ("tribune-storm", "dailynews-storm"):
        c = by_id[copy]
        assert c.paragraphs[0].startswith("CHICAGO (AP)")
        assert c.title != ap.title
        assert ap.paragraphs[-1] not in c.paragraphs  # trimmed last paragraph
        assert len(set(c.paragraphs) - set(ap.paragraphs)) == 1  # one added local sentence
    wt = by_id["washtimes-storm"]
    quotes = set(re.findall(r'"([^"]{40,})"', ap.text))
    assert len(quotes) >= 3 and all(q in wt.text for q in quotes)
    shared = set(wt.paragraphs) & set(ap.paragraphs)
    assert len(shared) <= 2 and all('"' in p for p in shared)  # only quote paragraphs coincide
    for outlet in {a.outlet for a in seed}:
        assert sum(a.outlet == outlet and a.extra.get("story") != "seed-storm" for a in arts) >= 2


def test_publish_reveals_articles_in_rounds():
    arts = _articles()
    with Newsroom(arts) as nr:
        feed = nr.feeds[0]
        nr.publish([])
        status, headers, body = _get(feed["url"])
        assert status == 200 and not feedparser.parse(io.BytesIO(body)).entries
        nr.publish(None)
        status, _, body = _get(feed["url"], {"If-None-Match": headers["etag"],
                                             "If-Modified-Since": headers["last-modified"]})
        assert status == 200  # changed content is never answered with 304
        expected = sum(a.outlet == feed["outlet"] for a in arts)
        assert len(feedparser.parse(io.BytesIO(body)).entries) == expected


def test_duplicate_ids_are_refused():
    arts = _articles()[:2]
    arts[1].id = arts[0].id
    with pytest.raises(ValueError):
        Newsroom(arts)
