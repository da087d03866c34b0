"""Atom and JSON Feed documents: one entry per story, listing all of its sources.

A feed is described by a ``Channel`` (title, the HTML page it mirrors, its own URL); the entries
are the stories of that page. An entry's ``updated`` (``date_modified``) is the story's
``updated`` time, which the store moves when a source joins, so feed readers show the story again.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aggregator.models import Story

from .text import _aware, clean_text, coverage, iso, source_json, truncate

ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Channel:
    title: str
    subtitle: str
    home: str  # absolute URL of the HTML page
    atom: str  # absolute URL of the Atom feed
    json: str  # absolute URL of the JSON Feed


def atom_feed(
    stories: list[Story],
    *,
    channel: Channel,
    base: str,
    now: datetime,
    entry_html: Callable[[Story], str],
) -> bytes:
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = clean_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", channel.atom)
    sub(feed, "title", channel.title)
    sub(feed, "subtitle", channel.subtitle)
    latest = max((_aware(s.updated) for s in stories), default=_aware(now))
    sub(feed, "updated", iso(latest))
    sub(feed, "link", rel="self", href=channel.atom, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=channel.home, type="text/html")
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


def json_feed(
    stories: list[Story], *, channel: Channel, base: str, entry_html: Callable[[Story], str]
) -> dict:
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": clean_text(channel.title),
        "description": clean_text(channel.subtitle),
        "home_page_url": channel.home,
        "feed_url": channel.json,
        "language": "en",
        "items": [
            {
                "id": f"{base}/story/{s.id}",
                "url": f"{base}/story/{s.id}",
                "title": clean_text(s.title) or "(untitled story)",
                "summary": truncate(s.lead, 500),
                "content_html": str(entry_html(s)),
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
