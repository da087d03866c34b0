"""Text and JSON helpers shared by the pages, the feeds and the API.

Everything that came from a feed or an article page is untrusted plain text: ``clean_text``
removes what XML/HTML cannot carry, ``safe_url`` keeps only absolute http(s) links, and the
templates escape the rest.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aggregator.models import Story, StorySource

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


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def human_time(dt: datetime | None) -> str:
    if dt is None:
        return ""
    d = _aware(dt).astimezone(UTC)
    # English month names whatever the locale (strftime's %b follows it, and costs a locale look-up)
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year:04d}, {d.hour:02d}:{d.minute:02d} UTC"


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
