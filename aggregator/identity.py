"""What makes two links the same article: the canonical URL.

Tracking parameters (utm_*, fbclid, ...), fragments, default ports and host case are removed so
the same article reached from a newsletter, a social post and the feed is stored once.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|_ga|_gl|yclid|igshid|"
    r"ocid|cmpid|cmp|smid|smtyp|sr_share|taid|mbid|ito|itm_\w+|ns_\w+|at_\w+|"
    r"rss|rssfeed|feed|src|ref|ref_src|referrer|cid|xtor|__twitter_impression|share|"
    r"s_cid|icid|partner|traffic_source|origin)$",
    re.IGNORECASE,
)


def canonical_url(url: str) -> str:
    """Normalise a URL for identity; returns "" for anything that is not http(s)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    scheme = parts.scheme.lower()
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def same_site(a: str, b: str) -> bool:
    """True when two URLs are on the same registrable-ish host (last two labels)."""
    ha, hb = urlsplit(a).hostname or "", urlsplit(b).hostname or ""
    return ha.split(".")[-2:] == hb.split(".")[-2:]
