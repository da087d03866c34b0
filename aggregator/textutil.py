"""Small text helpers shared by the stages."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/blockquote)\b[^>]*>")


def squash(text: str) -> str:
    """Collapse all whitespace to single spaces."""
    return " ".join(text.split())


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (paragraph breaks kept as newlines). Never raises."""
    if not fragment or ("<" not in fragment and "&" not in fragment):
        return fragment.strip()
    try:
        doc = lxml.html.fromstring("<div>" + _BLOCK.sub("\n", fragment) + "</div>")
        for bad in doc.xpath("//script|//style"):
            bad.drop_tree()
        text = doc.text_content()
    except (etree.ParserError, ValueError):
        text = re.sub(r"<[^>]*>", " ", fragment)
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
