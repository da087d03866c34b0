"""OPML import and export for the feed list.

Import appends entries to feeds.yaml as *text* (the operator's comments and order stay exactly
as they were; round-tripping YAML through a dumper would drop them), skipping URLs already
listed, then validates the result with the same checker as ``aggregator feeds check`` before
anything is written. OPML is parsed by lxml with entities unresolved and no network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

from .feeds_config import NAME_RE, parse_feeds


class OpmlError(Exception):
    pass


@dataclass(frozen=True)
class Outline:
    title: str
    xml_url: str
    html_url: str = ""
    category: str = ""  # the enclosing outline's title, if any


def parse_opml(data: bytes) -> list[Outline]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"opml: not well-formed XML: {exc}") from None
    if root.tag != "opml":
        raise OpmlError(f"opml: the root element is <{root.tag}>, not <opml>")
    out: list[Outline] = []
    for el in root.iter("outline"):
        url = (el.get("xmlUrl") or "").strip()
        if not url:
            continue
        parent = el.getparent()
        category = (parent.get("title") or parent.get("text") or "") if parent.tag == "outline" else ""
        out.append(Outline(title=(el.get("title") or el.get("text") or url).strip(), xml_url=url,
                           html_url=(el.get("htmlUrl") or "").strip(), category=category.strip()))
    return out


def to_opml(feeds, title: str = "aggregator feeds") -> str:
    """OPML 2.0 for FeedConfig-like objects (name, url, outlet, tags)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">',
             f"  <head><title>{_esc(title)}</title></head>", "  <body>"]
    for f in feeds:
        attrs = {"type": "rss", "text": f.outlet, "title": f.name, "xmlUrl": f.url}
        if f.tags:
            attrs["category"] = ",".join(f.tags)
        lines.append("    <outline " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
                     + "/>")
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
    return s or "feed"


def append_to_yaml(text: str, outlines: list[Outline], filename: str = "feeds.yaml"
                   ) -> tuple[str, list[str]]:
    """``text`` with new entries appended; returns (new text, names added). Raises ConfigError
    (from the checker) if the result would not be a valid feeds file."""
    existing = parse_feeds(text, filename) if text.strip() else []
    names = {f.name for f in existing}
    urls = {f.url for f in existing}
    m = re.search(r"^feeds:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*([ \t]*)- ", text, re.M)
    indent = m.group(1) if m else "  "
    out = text if text.strip() else "feeds:\n"
    if not out.endswith("\n"):
        out += "\n"
    added = []
    for o in outlines:
        if o.xml_url in urls:
            continue
        base = slug(o.title)
        name, n = base, 2
        while name in names or not NAME_RE.match(name):
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        urls.add(o.xml_url)
        entry = (f"{indent}- name: {name}\n{indent}  url: {json.dumps(o.xml_url)}\n"
                 f"{indent}  outlet: {json.dumps(o.title, ensure_ascii=False)}\n")
        if o.category:
            entry += f"{indent}  tags: [{json.dumps(slug(o.category))}]\n"
        out += entry
        added.append(name)
    parse_feeds(out, filename)  # refuse to write what the checker would refuse
    return out, added
