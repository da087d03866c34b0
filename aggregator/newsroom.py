"""A loopback newsroom: feeds and article pages served from 127.0.0.1 for tests, demo and e2e.

Give it articles (``NewsArticle`` or plain dicts with ``id, title, text, outlet, author,
published, slug``); it renders one feed per outlet (RSS 2.0 and Atom, alternating by outlet index)
and one HTML page per article inside realistic page chrome -- site navigation, breadcrumb, byline,
a "related stories" rail with *other* articles' headlines, newsletter box, cookie banner, reader
comments, a long footer, canonical link, Open Graph tags, analytics scripts -- so that the
extractor has to see through it. The chrome varies per outlet (four layouts, outlet-specific class
prefixes) so nothing can overfit a single template.

    with Newsroom(articles) as nr:
        nr.write_feeds_yaml(tmp / "feeds.yaml")
        ...  # poll nr.base_url
        nr.hits["/chicago-tribune/feed.xml"]

The server is a real threaded HTTP server on a free port; it answers conditional GETs (ETag,
Last-Modified) with 304 and counts hits per path (query string removed). Nothing here imports the
pipeline: the newsroom is a stand-in for the internet, not part of the product's data path.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import json
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as _xml_escape

FIXTURES_DIR = Path(__file__).resolve().parent / "newsroom_fixtures"


# --------------------------------------------------------------------------------------------
# Articles


@dataclass
class NewsArticle:
    id: str
    title: str
    text: str  # paragraphs separated by "\n"
    outlet: str
    author: str = ""
    published: datetime | None = None
    slug: str | None = None
    extra: dict = field(default_factory=dict)  # free-form labels (fixture story, expected role)

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.text.split("\n") if p.strip()]


def as_article(obj: NewsArticle | Mapping) -> NewsArticle:
    if isinstance(obj, NewsArticle):
        return obj
    known = {"id", "title", "text", "outlet", "author", "published", "slug"}
    published = obj.get("published")
    if isinstance(published, str) and published:
        published = parse_datetime(published)
    return NewsArticle(
        id=str(obj["id"]),
        title=obj.get("title") or "",
        text=obj.get("text") or "",
        outlet=obj.get("outlet") or "Newsroom",
        author=obj.get("author") or "",
        published=published or None,
        slug=obj.get("slug"),
        extra={k: v for k, v in obj.items() if k not in known},
    )


def parse_datetime(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def slugify(text: str, words: int = 8) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    parts = re.findall(r"[a-z0-9]+", text)
    return "-".join(parts[:words]) or "story"


def _stable(value: str) -> int:
    return int.from_bytes(hashlib.sha1(value.encode("utf-8")).digest()[:8], "big")


_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """Remove characters XML 1.0 cannot carry (they do occur in scraped data sets)."""
    return _INVALID_XML.sub("", text)


def xml(text: str) -> str:
    return _xml_escape(clean(text), {'"': "&quot;"})


def h(text: str) -> str:
    return html.escape(clean(text), quote=True)


_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(?=\s+[\"'“‘(]?[A-Z0-9])")
_ABBREV = re.compile(r"(?:^|\b)(?:[A-Z]\.)+$|^(?:Mr|Mrs|Ms|Dr|Gov|Sen|Rep|St|Jr|Sr|Gen|Lt|Col|No|Mt|Ft|Inc|Co|Corp|vs)\.$")


def lead_sentences(text: str, limit: int = 280) -> str:
    """First sentence(s) of the text, up to ``limit`` characters, for feed summaries."""
    first = next((p.strip() for p in text.split("\n") if p.strip()), "")
    sentences, start = [], 0
    for m in _SENTENCE_END.finditer(first):
        word = first[start : m.start() + 1].rsplit(None, 1)[-1]
        if _ABBREV.search(word):
            continue
        sentences.append(first[start : m.end()].strip())
        start = m.end()
    sentences.append(first[start:].strip())
    out = ""
    for s in sentences:
        if out and len(out) + len(s) + 1 > limit:
            break
        out = f"{out} {s}".strip()
    if len(out) > limit:
        out = out[:limit].rsplit(" ", 1)[0] + "…"
    return out


def headline_for(article: NewsArticle) -> str:
    if article.title.strip():
        return " ".join(article.title.split())
    words = lead_sentences(article.text, 120).split()
    return " ".join(words[:12]) + ("…" if len(words) > 12 else "") if words else f"Story {article.id}"


# --------------------------------------------------------------------------------------------
# Outlets and page chrome

SECTIONS = [
    "News", "Local", "Nation", "World", "Politics", "Business", "Opinion", "Sports",
    "Entertainment", "Lifestyle", "Health", "Science", "Weather", "Obituaries", "Podcasts",
]
FOOTER_LINKS = [
    "About Us", "Contact", "Careers", "Advertise", "Subscribe", "Manage Subscription",
    "E-Edition", "Newsletters", "Archives", "Corrections", "Terms of Service", "Privacy Policy",
    "Cookie Settings", "Accessibility", "Site Map", "Licensing & Reprints", "Help Center",
    "Do Not Sell My Personal Information",
]
COMMENTERS = ["riverside_reader", "J. Okafor", "mkpatel", "Old Town Resident", "sam_w", "Lena B."]
COMMENTS = [
    "Thanks for covering this. Would love a follow-up once more details come out.",
    "I have lived here thirty years and never seen anything like it.",
    "Does anyone know where to find the full report mentioned in the article?",
    "Good reporting, but the headline oversells it a little in my opinion.",
    "Sharing this with my neighbors, everyone should read it.",
    "Paywall again? I subscribed last year and still get logged out.",
    "The photos in the print edition were better than the ones online.",
    "This is exactly why local journalism matters.",
]


@dataclass
class Outlet:
    name: str
    slug: str
    index: int
    domain_style: int  # which of the page layouts
    fmt: str  # "rss" or "atom"
    prefix: str  # class-name prefix unique to this outlet
    tracking: bool  # feed links carry utm_* parameters; the page's canonical link does not

    @property
    def feed_path(self) -> str:
        return f"/{self.slug}/feed.xml" if self.fmt == "rss" else f"/{self.slug}/atom.xml"


def _outlet(name: str, index: int, taken: set[str]) -> Outlet:
    base = slugify(name, 6)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    prefix = "".join(w[0] for w in base.split("-"))[:3] or "x"
    return Outlet(
        name=name,
        slug=slug,
        index=index,
        domain_style=index % 4,
        fmt="rss" if index % 2 == 0 else "atom",
        prefix=f"{prefix}{index % 10}",
        tracking=index % 3 == 1,
    )


def _article_path(outlet: Outlet, article: NewsArticle, slug: str) -> str:
    d = article.published
    style = outlet.domain_style
    if style == 0:
        if d:
            return f"/{outlet.slug}/news/{d:%Y/%m/%d}/{slug}.html"
        return f"/{outlet.slug}/news/{slug}.html"
    if style == 1:
        return f"/{outlet.slug}/story/{slug}"
    if style == 2:
        if d:
            return f"/{outlet.slug}/{d:%Y/%m/%d}/{slug}/"
        return f"/{outlet.slug}/archive/{slug}/"
    return f"/{outlet.slug}/article/{slug}"


def _fmt_human(d: datetime) -> str:
    return f"{d:%B} {d.day}, {d:%Y} at {d.strftime('%I:%M %p').lstrip('0')} UTC"


_ANALYTICS = """<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){{dataLayer.push(arguments);}}
  gtag('js', new Date()); gtag('config', 'G-{code}', {{ 'page_type': 'article', 'section': '{section}' }});
</script>"""
_ADS = """<script>
  var googletag = googletag || {{cmd: []}};
  googletag.cmd.push(function() {{
    googletag.defineSlot('/2231/{prefix}/article', [[300, 250], [728, 90]], 'ad-{n}').addService(googletag.pubads());
    googletag.enableServices();
  }});
</script>"""


class _PageRenderer:
    """Builds the HTML of one article page. Layout and class names depend on the outlet."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def render(self, outlet: Outlet, art: NewsArticle, url: str, related: list[tuple[str, str]]) -> str:
        p = outlet.prefix
        title = headline_for(art)
        section = SECTIONS[_stable(art.id) % 6]
        author = art.author or f"{outlet.name} Staff"
        paragraphs = art.paragraphs
        summary = lead_sentences(art.text, 200)
        d = art.published

        head = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{h(title)} | {h(outlet.name)}</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="description" content="{h(summary)}">',
            f'<meta name="author" content="{h(author)}">',
            f'<link rel="canonical" href="{h(url)}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:title" content="{h(title)}">',
            f'<meta property="og:description" content="{h(summary)}">',
            f'<meta property="og:url" content="{h(url)}">',
            f'<meta property="og:site_name" content="{h(outlet.name)}">',
            f'<meta property="og:image" content="{self.base_url}/{outlet.slug}/static/share-{_stable(art.id) % 97}.jpg">',
            '<meta name="twitter:card" content="summary_large_image">',
            f'<link rel="stylesheet" href="/{outlet.slug}/static/site.{_stable(outlet.slug) % 10**6:06d}.css">',
            (f'<link rel="alternate" type="application/{outlet.fmt}+xml" title="{h(outlet.name)}" '
             f'href="{self.base_url}{outlet.feed_path}">'),
        ]
        if d:
            head.append(f'<meta property="article:published_time" content="{d.isoformat()}">')
        head.append(f'<meta property="article:section" content="{section}">')
        if outlet.domain_style in (1, 3):
            ld = {
                "@context": "https://schema.org",
                "@type": "NewsArticle",
                "headline": clean(title),
                "author": [{"@type": "Person", "name": clean(author)}],
                "publisher": {"@type": "Organization", "name": outlet.name},
                "mainEntityOfPage": url,
            }
            if d:
                ld["datePublished"] = d.isoformat()
            head.append('<script type="application/ld+json">'
                        + json.dumps(ld).replace("</", "<\\/") + "</script>")
        head.append(_ANALYTICS.format(code=f"{_stable(outlet.slug) % 10**8:08d}", section=section))
        head.append("</head>")

        nav = "\n".join(
            f'<li class="{p}-nav__item"><a href="/{outlet.slug}/section/{s.lower()}">{s}</a></li>'
            for s in SECTIONS
        )
        header = f"""<header class="{p}-masthead site-header" role="banner">
  <div class="{p}-topbar"><a href="/{outlet.slug}/subscribe" class="{p}-cta">Subscribe for $1</a>
    <a href="/{outlet.slug}/login">Sign in</a> <a href="/{outlet.slug}/e-edition">Today's Paper</a></div>
  <a class="{p}-logo" href="/{outlet.slug}/"><img src="/{outlet.slug}/static/logo.svg" alt="{h(outlet.name)}"></a>
  <nav class="{p}-nav main-navigation" aria-label="Sections"><ul>
{nav}
  </ul></nav>
  <form class="{p}-search" action="/{outlet.slug}/search"><input name="q" placeholder="Search"></form>
</header>"""
        crumbs = f"""<nav class="{p}-breadcrumb breadcrumbs" aria-label="Breadcrumb"><ol>
  <li><a href="/{outlet.slug}/">Home</a></li><li><a href="/{outlet.slug}/section/{section.lower()}">{section}</a></li>
  <li aria-current="page">{h(title[:60])}</li></ol></nav>"""
        time_html = (
            f'<time datetime="{d.isoformat()}" class="{p}-timestamp">{_fmt_human(d)}</time>' if d else ""
        )
        byline = f"""<div class="{p}-byline">By <a rel="author" class="{p}-author" href="/{outlet.slug}/staff/{slugify(author, 4)}">{h(author)}</a>
  {time_html}
  <span class="{p}-share"><a href="#share-fb">Share</a> <a href="#share-x">Post</a> <a href="#share-mail">Email</a></span></div>"""

        body_ps = []
        for n, para in enumerate(paragraphs):
            body_ps.append(f"<p>{h(para)}</p>")
            if n == 2 and len(paragraphs) > 5:
                if outlet.domain_style in (0, 2):
                    body_ps.append(
                        f'<div class="{p}-ad-slot ad-container" id="ad-{n}"><span class="{p}-ad-label">Advertisement</span></div>'
                    )
                else:
                    body_ps.append(
                        f'<aside class="{p}-inline-promo" data-module="promo"><a href="/{outlet.slug}/newsletters">'
                        f"Get the morning briefing in your inbox</a></aside>"
                    )
        body = "\n".join(body_ps)

        rel = "\n".join(f'<li><a href="{h(u)}">{h(t)}</a></li>' for t, u in related)
        sidebar = f"""<aside class="{p}-rail sidebar" aria-label="Related">
  <section class="{p}-related"><h2>Related Stories</h2><ul>
{rel}
  </ul></section>
  <section class="{p}-most-read"><h2>Most Read</h2><ol>
{rel}
  </ol></section>
</aside>"""
        newsletter = f"""<div class="{p}-newsletter signup-box">
  <h3>Sign up for The Daily Briefing</h3>
  <p>The day's top stories from {h(outlet.name)}, delivered every morning.</p>
  <form action="/{outlet.slug}/newsletters/subscribe" method="post"><input type="email" name="email" placeholder="Email address">
  <button type="submit">Sign Up</button></form>
  <small>By signing up you agree to our Terms of Service and Privacy Policy.</small>
</div>"""
        cookie = f"""<div id="{p}-consent" class="cookie-banner cmp-container" role="dialog" aria-label="Cookie consent">
  <p>We use cookies and similar technologies to personalise content and ads, to provide social media features and to analyse our traffic. You can change your choices at any time in Cookie Settings.</p>
  <button class="{p}-accept">Accept all</button> <button class="{p}-reject">Reject all</button> <a href="/{outlet.slug}/privacy">Manage options</a>
</div>"""
        k = _stable(art.id)
        comments = []
        for i in range(3 + k % 3):
            who = COMMENTERS[(k + i) % len(COMMENTERS)]
            what = COMMENTS[(k // 7 + i * 3) % len(COMMENTS)]
            comments.append(
                f'<li class="{p}-comment comment"><div class="{p}-comment__author">{h(who)}</div>'
                f'<div class="{p}-comment__time">{i + 1} hours ago</div>'
                f'<div class="{p}-comment__body"><p>{h(what)}</p></div>'
                f'<a href="#reply" class="{p}-reply">Reply</a> <span class="likes">{(k >> i) % 40} likes</span></li>'
            )
        comments_html = f"""<section id="comments" class="{p}-comments comments-area">
  <h2>{len(comments)} Comments</h2>
  <p class="{p}-comment-policy">Comments are moderated. Please keep the conversation civil.</p>
  <ol class="{p}-commentlist">
{chr(10).join(comments)}
  </ol>
</section>"""
        foot_links = "\n".join(
            f'<li><a href="/{outlet.slug}/{slugify(x, 4)}">{h(x)}</a></li>' for x in FOOTER_LINKS
        )
        footer = f"""<footer class="{p}-footer site-footer" role="contentinfo">
  <div class="{p}-footer__sections"><ul>
{nav}
  </ul></div>
  <div class="{p}-footer__links"><ul>
{foot_links}
  </ul></div>
  <p class="{p}-copyright">Copyright © {(d or datetime(2024, 1, 1, tzinfo=UTC)).year} {h(outlet.name)}. All rights reserved. This material may not be published, broadcast, rewritten or redistributed.</p>
</footer>"""
        ads = _ADS.format(prefix=p, n=k % 1000)
        tags = f'<div class="{p}-tags">Topics: <a href="/{outlet.slug}/tag/{section.lower()}">{section}</a> <a href="/{outlet.slug}/tag/top-stories">Top Stories</a></div>'

        style = outlet.domain_style
        if style == 0:  # classic newspaper CMS
            main = f"""<div id="{p}-wrapper" class="page-wrap">
{crumbs}
<main id="main-content" class="{p}-main">
  <article class="{p}-story" itemscope itemtype="http://schema.org/NewsArticle">
    <h1 class="{p}-headline" itemprop="headline">{h(title)}</h1>
    {byline}
    <div class="{p}-story-body" itemprop="articleBody">
{body}
    </div>
    {tags}
  </article>
  {newsletter}
  {comments_html}
</main>
{sidebar}
</div>"""
        elif style == 1:  # modern component layout
            main = f"""<div id="app" data-{p}-page="article">
<main class="{p}-layout">
  <div class="{p}-layout__column">
    {crumbs}
    <article class="{p}-article" data-component="article">
      <header class="{p}-article__header">
        <span class="{p}-kicker">{section}</span>
        <h1 class="{p}-article__title">{h(title)}</h1>
        {byline}
      </header>
      <div class="{p}-article__body" data-component="body">
{body}
      </div>
    </article>
    {tags}
    {comments_html}
  </div>
  <div class="{p}-layout__rail">{sidebar}{newsletter}</div>
</main>
</div>"""
        elif style == 2:  # blog-style theme
            main = f"""<div id="page" class="site {p}-site">
<div id="content" class="site-content">
{crumbs}
<div id="primary" class="content-area"><main id="main" class="site-main">
  <div class="post {p}-post hentry">
    <header class="entry-header"><h1 class="entry-title">{h(title)}</h1>
      <div class="entry-meta">{byline}</div></header>
    <div class="entry-content {p}-entry">
{body}
    </div>
    <footer class="entry-footer">{tags}</footer>
  </div>
  {comments_html}
</main></div>
<div id="secondary" class="widget-area">{sidebar}<div class="widget">{newsletter}</div></div>
</div></div>"""
        else:  # wire-service style page
            main = f"""<div class="Page-content {p}-page">
{crumbs}
<main class="Page-main">
  <div class="Page-headline"><h1 class="Page-title {p}-title">{h(title)}</h1>
    <div class="Page-byline">{byline}</div></div>
  <div class="RichTextStoryBody RichTextBody {p}-rtb">
{body}
  </div>
  {tags}
  <div class="Page-below">{newsletter}{comments_html}</div>
</main>
<div class="Page-aside">{sidebar}</div>
</div>"""
        parts = head + ["<body>", cookie, header, main, footer, ads,
                        f'<script async src="/{outlet.slug}/static/vendor.js"></script>', "</body>", "</html>"]
        return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Feeds


def _rss(outlet: Outlet, base: str, items: list[tuple[NewsArticle, str, str]], built: datetime) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        ('<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
         'xmlns:atom="http://www.w3.org/2005/Atom">'),
        "<channel>",
        f"<title>{xml(outlet.name)} - Top Stories</title>",
        f"<link>{xml(base)}/{outlet.slug}/</link>",
        f"<description>Latest news from {xml(outlet.name)}</description>",
        "<language>en-us</language>",
        f"<lastBuildDate>{email.utils.format_datetime(built)}</lastBuildDate>",
        f'<atom:link href="{xml(base + outlet.feed_path)}" rel="self" type="application/rss+xml"/>',
        "<ttl>15</ttl>",
    ]
    for art, link, guid in items:
        out.append("<item>")
        out.append(f"<title>{xml(headline_for(art))}</title>")
        out.append(f"<link>{xml(link)}</link>")
        out.append(f'<guid isPermaLink="false">{xml(guid)}</guid>')
        out.append(f"<description>{xml(lead_sentences(art.text))}</description>")
        if art.author:
            out.append(f"<dc:creator>{xml(art.author)}</dc:creator>")
        if art.published:
            out.append(f"<pubDate>{email.utils.format_datetime(art.published)}</pubDate>")
        out.append("</item>")
    out += ["</channel>", "</rss>"]
    return "\n".join(out)


def _atom(outlet: Outlet, base: str, items: list[tuple[NewsArticle, str, str]], built: datetime) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
        f"<title>{xml(outlet.name)}</title>",
        f"<subtitle>News and analysis from {xml(outlet.name)}</subtitle>",
        f'<link rel="alternate" type="text/html" href="{xml(base)}/{outlet.slug}/"/>',
        f'<link rel="self" type="application/atom+xml" href="{xml(base + outlet.feed_path)}"/>',
        f"<id>tag:newsroom.invalid,2024:{xml(outlet.slug)}</id>",
        f"<updated>{built.isoformat()}</updated>",
    ]
    for art, link, guid in items:
        out.append("<entry>")
        out.append(f'<title type="text">{xml(headline_for(art))}</title>')
        out.append(f'<link rel="alternate" type="text/html" href="{xml(link)}"/>')
        out.append(f"<id>{xml(guid)}</id>")
        if art.published:
            out.append(f"<published>{art.published.isoformat()}</published>")
            out.append(f"<updated>{art.published.isoformat()}</updated>")
        if art.author:
            out.append(f"<author><name>{xml(art.author)}</name></author>")
        out.append(f'<summary type="text">{xml(lead_sentences(art.text))}</summary>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class _Resource:
    body: bytes
    content_type: str
    etag: str
    last_modified: datetime


class Newsroom:
    """Serve ``articles`` as feeds and pages on 127.0.0.1 from a background thread."""

    def __init__(self, articles: Iterable[NewsArticle | Mapping], host: str = "127.0.0.1", port: int = 0,
                 related: int = 5):
        self.articles = [as_article(a) for a in articles]
        dupes = [i for i, n in Counter(a.id for a in self.articles).items() if n > 1]
        if dupes:
            raise ValueError(f"duplicate article ids: {dupes[:5]}")
        self.host = host
        self._want_port = port
        self._related_n = related
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.resources: dict[str, _Resource] = {}
        self.outlets: dict[str, Outlet] = {}
        self.url_of: dict[str, str] = {}  # article id -> canonical URL
        self.id_of_url: dict[str, str] = {}  # canonical URL -> article id
        self.feed_link_of: dict[str, str] = {}  # article id -> link as written in the feed
        self.feeds: list[dict] = []
        self.base_url = ""
        self.visible: set[str] | None = None  # article ids listed in the feeds (None: all)

    # -- lifecycle --
    def start(self) -> Self:
        newsroom = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "LoopbackNewsroom/1.0"
            # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
            # client's delayed ACK adds ~40 ms to every keep-alive response.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                newsroom._serve(self, head=True)

            def do_GET(self):
                newsroom._serve(self, head=False)

        self._server = ThreadingHTTPServer((self.host, self._want_port), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.port = port
        self.base_url = f"http://{self.host}:{port}"
        self._build()
        self._thread = threading.Thread(target=self._server.serve_forever, name="newsroom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- content --
    def _build(self) -> None:
        built = datetime.now(UTC).replace(microsecond=0)
        taken: set[str] = set()
        by_outlet: dict[str, list[NewsArticle]] = {}
        for art in self.articles:
            if art.outlet not in self.outlets:
                self.outlets[art.outlet] = _outlet(art.outlet, len(self.outlets), taken)
            by_outlet.setdefault(art.outlet, []).append(art)

        renderer = _PageRenderer(self.base_url)
        paths: set[str] = set()
        placed: list[tuple[Outlet, NewsArticle, str]] = []
        for art in self.articles:
            outlet = self.outlets[art.outlet]
            slug = art.slug or f"{slugify(headline_for(art))}-{_stable(art.id) % 10**6:06d}"
            path, n = _article_path(outlet, art, slug), 2
            while path in paths:
                path, n = _article_path(outlet, art, f"{slug}-{n}"), n + 1
            paths.add(path)
            url = self.base_url + path
            self.url_of[art.id] = url
            self.id_of_url[url] = art.id
            link = url + ("?utm_source=rss&utm_medium=feed&utm_campaign=" + outlet.slug if outlet.tracking else "")
            self.feed_link_of[art.id] = link
            placed.append((outlet, art, path))

        for outlet, art, path in placed:
            # "Related stories": other articles from the same outlet (as a real rail would show),
            # topped up from other outlets; chosen deterministically.
            pool = [a for a in by_outlet[art.outlet] if a.id != art.id]
            k = _stable(art.id)
            if pool:
                start = k % len(pool)
                pool = pool[start:] + pool[:start]
            rel = pool[: self._related_n]
            if len(rel) < self._related_n:
                others = [a for a in self.articles if a.outlet != art.outlet]
                if others:
                    start = k % len(others)
                    rel += (others[start:] + others[:start])[: self._related_n - len(rel)]
            related = [(headline_for(a), self.url_of[a.id]) for a in rel]
            page = renderer.render(outlet, art, self.url_of[art.id], related)
            self._put(path, page.encode("utf-8"), "text/html; charset=utf-8", art.published or built)

        self._by_outlet = by_outlet
        self._built = built
        self._render_feeds()
        self.feeds = [{"name": o.slug, "url": self.base_url + o.feed_path, "outlet": o.name}
                      for o in self.outlets.values()]

        self._put("/robots.txt", b"User-agent: *\nAllow: /\n", "text/plain; charset=utf-8", built)
        index = "".join(f'<li><a href="{h(f["url"])}">{h(f["outlet"])}</a></li>' for f in self.feeds)
        self._put("/", f"<!DOCTYPE html><title>Loopback newsroom</title><ul>{index}</ul>".encode(),
                  "text/html; charset=utf-8", built)

    def _render_feeds(self) -> None:
        for outlet in self.outlets.values():
            arts = [a for a in self._by_outlet[outlet.name]
                    if self.visible is None or a.id in self.visible]
            # Newest first, undated last in the given order -- how feeds usually list items.
            order = sorted(range(len(arts)), key=lambda i: (arts[i].published is None,
                                                            -(arts[i].published.timestamp() if arts[i].published else 0), i))
            items = []
            for i in order:
                art = arts[i]
                guid = (f"{outlet.slug}-{_stable(art.id) % 10**10}" if outlet.fmt == "rss"
                        else f"tag:newsroom.invalid,2024:{outlet.slug}/{_stable(art.id) % 10**10}")
                items.append((art, self.feed_link_of[art.id], guid))
            dates = [a.published for a in arts if a.published]
            updated = max(dates) if dates else self._built
            if outlet.fmt == "rss":
                doc, ctype = _rss(outlet, self.base_url, items, updated), "application/rss+xml; charset=utf-8"
            else:
                doc, ctype = _atom(outlet, self.base_url, items, updated), "application/atom+xml; charset=utf-8"
            self._put(outlet.feed_path, doc.encode("utf-8"), ctype, updated)

    def publish(self, ids: Iterable[str] | None) -> None:
        """Show only these articles in the feeds (None: all of them); pages stay reachable.

        Lets a caller replay a stream: reveal articles in rounds and poll after each round."""
        self.visible = None if ids is None else set(ids)
        if self._server is not None:
            self._render_feeds()

    def _put(self, path: str, body: bytes, ctype: str, modified: datetime) -> None:
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        modified = modified.astimezone(UTC).replace(microsecond=0)
        old = self.resources.get(path)
        if old is not None and old.etag != etag and modified <= old.last_modified:
            modified = old.last_modified + timedelta(seconds=1)  # changed content: newer date
        self.resources[path] = _Resource(body, ctype, etag, modified)

    # -- serving --
    def _serve(self, req: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlsplit(req.path).path
        res = self.resources.get(path)
        with self._lock:
            self.hits[path] += 1
        if res is None:
            body = b"<!DOCTYPE html><title>Not found</title><h1>Page not found</h1>"
            status = 404
            req.send_response(404)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            if not head:
                req.wfile.write(body)
        else:
            status = 304 if self._not_modified(req, res) else 200
            req.send_response(status)
            req.send_header("ETag", res.etag)
            req.send_header("Last-Modified", email.utils.format_datetime(res.last_modified, usegmt=True))
            req.send_header("Cache-Control", "max-age=60")
            if status == 304:
                req.send_header("Content-Length", "0")
                req.end_headers()
            else:
                req.send_header("Content-Type", res.content_type)
                req.send_header("Content-Length", str(len(res.body)))
                req.end_headers()
                if not head:
                    req.wfile.write(res.body)
        with self._lock:
            self.requests.append((req.command, path, status))

    @staticmethod
    def _not_modified(req: BaseHTTPRequestHandler, res: _Resource) -> bool:
        inm = req.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            return "*" in tags or res.etag in tags or f"W/{res.etag}" in tags
        ims = req.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return res.last_modified <= since
        return False

    # -- helpers for callers --
    def article_id_for(self, url: str) -> str | None:
        """Map a URL seen by the pipeline (canonical, or the feed link) back to an article id."""
        if url in self.id_of_url:
            return self.id_of_url[url]
        parts = urlsplit(url)
        return self.id_of_url.get(f"{parts.scheme}://{parts.netloc}{parts.path}")

    def write_feeds_yaml(self, path: str | Path, interval: int = 900, tags: Iterable[str] = ("news",)) -> Path:
        path = Path(path)
        tag_list = ", ".join(tags)
        lines = ["# Generated by aggregator.newsroom (loopback newsroom).", "feeds:"]
        for f in self.feeds:
            lines += [
                f"  - name: {f['name']}",
                f"    url: {f['url']}",
                f"    outlet: {json.dumps(f['outlet'], ensure_ascii=False)}",
                f"    interval: {interval}",
                "    enabled: true",
                f"    tags: [{tag_list}]",
            ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


# --------------------------------------------------------------------------------------------
# Our own demo articles


def load_fixture_articles(anchor: datetime | None = None, directory: Path | None = None) -> list[NewsArticle]:
    """The demo/seed-scenario articles from ``newsroom_fixtures/*.yaml`` (text we wrote).

    Publication times in the files are absolute; they are shifted together so the newest one is
    ``anchor`` (default: now, to the minute) -- relative order and gaps are kept, and the demo
    never shows stale dates.
    """
    import yaml

    directory = directory or FIXTURES_DIR
    rows: list[dict] = []
    for file in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for row in data.get("articles", []):
            row = dict(row)
            if isinstance(row.get("published"), datetime):
                row["published"] = row["published"].isoformat()
            rows.append(row)
    arts = [as_article(r) for r in rows]
    for a in arts:
        a.text = "\n".join(" ".join(p.split()) for p in a.text.split("\n") if p.strip())
        a.title = " ".join(a.title.split())
    dated = [a.published for a in arts if a.published]
    if dated:
        anchor = anchor or datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
        shift = anchor - max(dated)
        for a in arts:
            if a.published:
                a.published = a.published + shift
    return arts
