"""The article in a page: clean text with trafilatura, metadata from the page's <head>.

Pure functions, run inside the extraction workers (``aggregator.extract``), which also count
the CPU each step takes (``stage_cpu``) so the ingest benchmark can compare the whole path with
trafilatura alone, measured in the same processes at the same moment (issue 7).
"""

from __future__ import annotations

import html as htmllib
import re
import threading
import time
from datetime import UTC, datetime

from .models import Extracted

# The one set of trafilatura settings (benchmarks.pipeline measures its floor with these).
# Measured on the 250 pages of ../shared/data/pages (issue 7): trafilatura's metadata pass
# (with_metadata=True: htmldate, author and site-name heuristics) cost 40 % of the CPU (3.9 s on
# one page); the feed gives title and date, and ``head_metadata`` reads the rest from <head>.
# fast=True skips the fallback extractors: 1.45x the throughput, word F1 vs the zyte ground
# truth 0.957 -> 0.961.
TRAFILATURA_OPTIONS = {"with_metadata": False, "fast": True, "include_comments": False,
                       "include_tables": False, "deduplicate": False}

_HEAD_SCAN = 300_000  # <head> metadata is looked for before <body> and within this many chars
_BODY = re.compile(r"<body[\s>]", re.I)
_TAG = re.compile(r"<(link|meta|title|html)\b([^>]*)>", re.I)
# An attribute name is matched only where a run of name characters starts: a match can never
# begin inside a run (the run from its start would have matched first, or the suffix fails the
# same way), so the look-behind changes no result, but without it a 30,000-character run with
# no "=" (a hostile head) was retried from each of its characters: 20 s of CPU.
_ATTR = re.compile(r"""(?<![\w:.-])([\w:.-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
_TITLE_END = re.compile(r"</title", re.I)
_AUTHOR_KEYS = ("author", "article:author", "byl", "parsely-author", "sailthru.author", "dc.creator")
_DATE_KEYS = ("article:published_time", "datepublished", "pubdate", "publishdate", "date",
              "parsely-pub-date", "dc.date", "dc.date.issued", "og:published_time")
_OTHER_KEYS = ("og:url", "og:title", "og:site_name", "application-name")
# A <meta> whose lower-cased text holds none of these pieces of the keys read below cannot give
# one of them (its key is one of its attribute values, lower-cased), unless an entity spells it
# ("&"): such tags, most of a news page's head (og:image, twitter:*, viewport, ...), are not
# parsed. Plain substring tests: one regex alternation of them cost 4 µs per tag.
# tests/test_pagetext.py checks that every key holds one of them.
_META_HINTS = ("author", "byl", "creator", "date", "published_time", "og:url", "og:title", "og:site_name",
               "application-name", "&")


def head_metadata(html: str) -> dict[str, str]:
    """canonical URL, title, author, site name, date, language from the page's <head>, with one
    regex scan of its tags (trafilatura's own metadata pass parses the page again and costs more
    than the text extraction on some pages). Values are plain text; empty when absent."""
    m = _BODY.search(html, 0, _HEAD_SCAN)
    end = m.start() if m else min(len(html), _HEAD_SCAN)  # scanned in place: no copy of the head
    # A tag needs a ">" after it: none is looked for past the last one. Same tags (every start
    # before it finds its ">"), but 10,000 unclosed "<meta a=" (80 KB) are not each scanned to
    # the end of the head (7.5 s of CPU; a whole 300,000-character head, minutes).
    tags_end = html.rfind(">", 0, end) + 1
    meta: dict[str, str] = {}
    out = {"canonical": "", "title": "", "author": "", "site_name": "", "date": "",
           "language": ""}
    for tag in _TAG.finditer(html, 0, tags_end):
        name = tag.group(1).lower()
        raw = tag.group(2)
        # Tags that cannot change the result are not parsed: a link without "canonical" in it,
        # a second <title> or <html> (the first one wins), a <meta> of no key read here.
        if name == "meta":
            if not any(map(raw.lower().__contains__, _META_HINTS)):
                continue
        elif (name == "link" and (out["canonical"] or "canonical" not in raw.lower())) or \
                (name == "title" and out["title"]) or (name == "html" and out["language"]):
            continue
        attrs = {k.lower(): htmllib.unescape(v.strip("\"'")).strip() for k, v in _ATTR.findall(raw)}
        if name == "link":
            if "canonical" in attrs.get("rel", "").lower().split() and not out["canonical"]:
                out["canonical"] = attrs.get("href", "")
        elif name == "meta":
            key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").lower()
            if key and attrs.get("content") and key not in meta:
                meta[key] = attrs["content"]
        elif name == "title" and not out["title"]:
            stop = _TITLE_END.search(html, tag.end(), end)
            out["title"] = htmllib.unescape(html[tag.end() : stop.start() if stop else tag.end()]).strip()
        elif name == "html" and not out["language"]:
            out["language"] = attrs.get("lang", "").split("-")[0].lower()[:8]
    out["canonical"] = out["canonical"] or meta.get("og:url", "")
    out["title"] = " ".join((meta.get("og:title") or out["title"]).split())
    out["author"] = next((meta[k] for k in _AUTHOR_KEYS if meta.get(k) and "://" not in meta[k]), "")
    out["site_name"] = meta.get("og:site_name") or meta.get("application-name") or ""
    out["date"] = next((meta[k] for k in _DATE_KEYS if meta.get(k)), "")
    return out


# CPU seconds this thread spent inside trafilatura (the extraction floor of issue 7) and in the
# worker's other steps (decode, head_metadata, featurize, ipc = the job's unpickling and the
# previous reply's pickling): the worker sends them with every reply, so
# ``ExtractorPool.extraction_cpu`` tells the ingest benchmark how much of the run was
# extraction alone, measured in the same processes at the same moment (a separate floor run on
# a shared machine varied by 30 %), and ``ExtractorPool.stage_cpu`` where the rest went.
_cpu = threading.local()


def stage_cpu() -> dict[str, float]:
    """Seconds of CPU the calling thread has spent per worker step so far (a live dict)."""
    d = getattr(_cpu, "stages", None)
    if d is None:
        d = _cpu.stages = {}
    return d


def charge(stage: str, started: float) -> float:
    now = time.thread_time()
    d = stage_cpu()
    d[stage] = d.get(stage, 0.0) + now - started
    return now


def extraction_cpu() -> float:
    """Seconds of CPU the calling thread has spent in trafilatura so far."""
    return stage_cpu().get("trafilatura", 0.0)


def extract_page(html: str, url: str) -> Extracted:
    """Run trafilatura on one page (in the calling process)."""
    import trafilatura

    # The head is read before trafilatura, while the page just decoded is still in the CPU's
    # caches: after trafilatura has walked its trees the same scan cost 3x the CPU (0.3 vs 0.9 ms
    # per page on ../shared/data/pages), and trafilatura's own CPU did not grow by the difference.
    # trafilatura gets the string, not a tree parsed here and shared with the head scan:
    # bare_extraction copies a tree it is given, +2.7 M instructions per page (callgrind, 40 of
    # those pages), while this whole scan is 1.0 M (0.34 ms) and an XPath read of the head from
    # the tree still took 0.26 ms. The text was the same on all 250 pages either way.
    started = time.thread_time()
    head = head_metadata(html)
    started = charge("head_metadata", started)
    try:
        doc = trafilatura.bare_extraction(html, url=url, **TRAFILATURA_OPTIONS)
    finally:
        charge("trafilatura", started)
    if doc is None or not (doc.text or "").strip():
        return Extracted(text="", method="summary", note="extract: no article text found on page")
    published = None
    if head["date"]:
        try:
            published = datetime.strptime(head["date"][:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            published = None
    return Extracted(
        text=doc.text.strip(),
        title=head["title"],
        author=head["author"],
        published=published,
        site_name=head["site_name"],
        language=head["language"],
        canonical_url=head["canonical"],
    )
