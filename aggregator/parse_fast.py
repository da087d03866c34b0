"""A fast path for well-formed RSS 2.0 and Atom 1.0 feeds (issue 7).

feedparser costs about 1.5 ms per item; lxml parses the same bytes 40-65 times faster. This
module reads a well-formed document with lxml and gives *exactly* the values feedparser's strict
(SAX) parser would give for the fields ``parse.py`` keeps (feed title, link, ttl; entry id, link,
title, summary, content, author and dates), or it declines by returning None, and feedparser
parses the document as before. Declining is always safe; a different answer is a bug, so the
rules below follow feedparser 6's state machine (``feedparser/mixin.py``,
``feedparser/namespaces/_base.py``) and decline wherever its outcome depends on state this
module does not model: duplicated title or summary elements, nested feed elements, inline
markup, base64 or XHTML content, RSS 0.9x/1.0, prefixes that feedparser would map to another
namespace, ... ``tests/test_parse_fast.py`` checks the equivalence on ~2,000 real and test feeds.

Several feedparser helpers are reused as they are (encoding detection, date parsing, URL joining,
the cp1252 table), so those parts cannot drift apart.

Security: lxml runs without entity expansion, DTD loading or network access, with libxml2's
default limits (no ``huge_tree``: depth 256, 10 MB text nodes), on the same bytes feedparser
would get (DOCTYPEs already stripped, size already bounded by ``parse.py``). Every walk below is
iterative and linear in the number of elements.
"""

from __future__ import annotations

import functools
import re

from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import replace_doctype
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree


class Decline(Exception):
    """The fast path does not model this document; feedparser must parse it."""


ATOM = "http://www.w3.org/2005/Atom"
XML_NS = "http://www.w3.org/XML/1998/namespace"
# feedparser's namespace table, keyed the way it looks URIs up (lower case).
_MATCH = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_STD_PREFIXES = {v for v in _MATCH.values() if v}
# Declaring these changes feedparser's version detection or its attributes (xlink).
_DECLINED_URIS = {"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/",
                  "http://www.w3.org/1999/xlink"}
# Starts with the literal so that the scan jumps from "xmlns" to "xmlns" (a leading \s made it
# try every blank of the document: 4 ms a feed).
_DECL = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_BASE_ATTR = re.compile(rb"base\s*=")
_C1 = re.compile("[" + "".join(map(chr, sorted(_cp1252))) + "]")

# Element names as feedparser dispatches them ("prefix_local", lower case).
TITLE = {"title", "dc_title"}
DESCRIPTION = {"description", "dc_description", "media_description"}
SUMMARY = {"description", "summary"}
FEED_SUMMARY = {"summary", "itunes_summary"}
CONTENT = {"content", "content_encoded"}
AUTHOR = {"author", "managingeditor", "dc_creator", "dc_author", "itunes_author"}
PUBLISHED = {"published", "issued", "pubdate", "dcterms_issued"}
UPDATED = {"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"}
CREATED = {"created", "dcterms_created"}
PERSON_PARTS = {"name", "email", "url", "uri", "homepage"}
# Handlers that never touch the keys parse.py reads nor the parser state they depend on (when
# they hold no feed elements, which is checked separately).
INERT = {
    "category", "keywords", "enclosure", "rights", "copyright", "subtitle", "tagline", "info",
    "dc_subject", "dc_publisher", "dc_rights", "dc_language", "dc_contributor", "dcterms_valid",
    "language", "generator", "expirationdate", "cloud", "tags", "webmaster", "contributor",
    "media_content", "media_thumbnail", "media_group", "media_credit", "media_category",
    "media_keywords", "media_rating", "media_restriction", "media_license", "media_player",
    "itunes_image", "itunes_link", "itunes_category", "itunes_keywords", "itunes_block",
    "itunes_explicit", "itunes_subtitle", "itunes_owner", "itunes_name", "itunes_email",
    "georss_point", "georss_line", "georss_polygon", "georss_box", "georss_where", "where",
    "gml_point", "gml_linestring", "gml_polygon", "gml_exterior", "gml_linearring", "gml_pos",
    "gml_poslist", "cc_license", "creativecommons_license", "admin_generatoragent",
    "admin_errorreportsto", "feedburner_browserfriendly",
} | PERSON_PARTS | {"width", "height"}
# Inert at the feed level only (at the entry level they are fields parse.py reads).
FEED_INERT = INERT | AUTHOR | PUBLISHED | UPDATED | CREATED | {
    "description", "dc_description", "media_description", "image", "newlocation"}
# push_content elements: a child element in them is inline markup, which feedparser turns
# into text with its own rules (and an end tag of a known element inside corrupts its state).
CONTENTISH = TITLE | SUMMARY | CONTENT | {
    "media_title", "subtitle", "tagline", "itunes_subtitle", "rights", "copyright", "dc_rights",
    "info", "feedburner_browserfriendly", "dc_description", "media_description", "abstract",
    "itunes_summary", "fullitem", "body", "xhtml_body"}
# Keys an unknown element must not write into a feed or entry (feedparser stores unknown
# elements under their own name).
COLLIDE = {"title", "link", "links", "id", "summary", "content", "author", "authors",
           "author_detail", "published", "published_parsed", "updated", "updated_parsed",
           "created", "created_parsed", "ttl", "guidislink", "image", "textinput", "source",
           "tags", "summary_detail", "title_detail", "href"}
_TEXT_TYPES = {"text/plain", "text/html"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_ENTITYISH = re.compile("&([A-Za-z0-9_]+);")


@functools.lru_cache(maxsize=4096)
def _has_handler(name: str) -> bool:
    return hasattr(_FeedParserMixin, "_start_" + name) or hasattr(_FeedParserMixin, "_end_" + name)


def _map_type(value: str) -> str:
    return _FeedParserMixin.map_content_type(value)


class Doc:
    """One parsed document: the name feedparser gives each element, the attributes as it sees
    them, and the xml:base in effect at each element."""

    def __init__(self, root, data: bytes):
        self.root = root
        self.prefix_of, declined = self._namespace_prefixes(data)
        for uri in declined:  # the scan also sees text (SVG in CDATA): ask the tree
            if root.xpath("boolean(//namespace::*[. = $u])", u=uri):
                raise Decline(f"{uri} declared: RSS 1.0, or xlink attributes")
        self.names: dict[str, str] = {}
        self.bases: dict | None = None
        if _BASE_ATTR.search(data) and root.xpath("boolean(//@*[local-name()='base'])"):
            self.bases = self._simulate_bases()

    @staticmethod
    def _namespace_prefixes(data: bytes) -> tuple[dict[str, str], set[str]]:
        """URI -> the prefix feedparser's expat handler uses for elements of that namespace.

        feedparser names an element of an unknown namespace after the first prefix declared for
        that URI and a known one after its own table, and it remaps a document prefix bound to a
        known URI; the scan over-approximates the declarations (it also sees text), so any
        ambiguity declines."""
        by_uri: dict[str, set] = {}
        by_prefix: dict[str | None, set] = {}
        declined: set[str] = set()
        for m in _DECL.finditer(data):
            if m.start() == 0 or data[m.start() - 1] not in b" \t\r\n":
                continue  # not an attribute ("fooxmlns=...")
            prefix = m.group(1).decode("utf-8") if m.group(1) else None
            uri = (m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8")
            if "&" in uri or "<" in uri:
                raise Decline("namespace declaration with markup in it")
            if uri.lower() in _DECLINED_URIS:
                declined.add(uri)
            by_uri.setdefault(uri, set()).add(prefix)
            by_prefix.setdefault(prefix, set()).add(uri)
        out = {"": ""}
        for uri, prefixes in by_uri.items():
            low = uri.lower()
            if "backend.userland.com/rss" in low:
                out[uri] = ""
                continue
            if low in _MATCH:
                std = _MATCH[low]
                # feedparser remaps document prefix p to std: p must not name another namespace
                for p in prefixes:
                    if p is not None and p != std and (p in _STD_PREFIXES or len(by_prefix[p]) > 1):
                        raise Decline(f"prefix {p} is bound to a known namespace")
                out[uri] = std
                continue
            if len(prefixes) != 1:
                raise Decline(f"unknown namespace {uri} has two prefixes")
            (p,) = prefixes
            if p is None:  # no name in namespaces_in_use: its elements get no prefix at all
                out[uri] = ""
                continue
            if len(by_prefix[p]) > 1:
                raise Decline(f"prefix {p} names two namespaces")
            out[uri] = p.lower()
        return out, declined

    def name(self, el) -> str:
        tag = el.tag
        name = self.names.get(tag)
        if name is None:
            if tag[0] == "{":
                uri, local = tag[1:].split("}", 1)
                if uri not in self.prefix_of:
                    raise Decline("an element namespace the declaration scan did not see")
                prefix = self.prefix_of[uri]
            else:
                prefix, local = "", tag
            name = f"{prefix}_{local.lower()}" if prefix else local.lower()
            self.names[tag] = name
        return name

    @staticmethod
    def attrs(el) -> dict[str, str]:
        """Attributes keyed as feedparser's SAX handler keys them (``xml:base`` also as
        ``base``); rel and type values lower-cased."""
        out: dict[str, str] = {}
        if not len(el.attrib):
            return out
        for key, value in el.attrib.items():
            keys = [key]
            if key[0] == "{":
                uri, local = key[1:].split("}", 1)
                prefix = _MATCH.get(uri.lower(), "")
                keys = [f"{prefix}:{local}" if prefix else local, local]
            for k in dict.fromkeys(x.lower() for x in keys):
                if k in out:
                    raise Decline("attributes feedparser would merge")
                out[k] = value.lower() if k in ("rel", "type") else value
        return out

    def _simulate_bases(self) -> dict:
        """feedparser's xml:base tracking, quirks included: a base only returns to the parent's
        when the parent's is not empty, so it leaks to the following siblings."""
        bases = {}
        baseuri, stack = "", []
        for event, el in etree.iterwalk(self.root, events=("start", "end")):
            if not isinstance(el.tag, str):
                continue  # comments and PIs are no elements to feedparser
            if event == "start":
                a = self.attrs(el)
                given = a.get("xml:base", a.get("base")) or baseuri
                if baseuri:
                    baseuri = make_safe_absolute_uri(baseuri, given) or baseuri
                else:
                    baseuri = _urljoin(baseuri, given)
                stack.append(baseuri)
                bases[el] = baseuri
            else:
                stack.pop()
                if stack and stack[-1]:
                    baseuri = stack[-1]
        return bases

    def base(self, el) -> str:
        return self.bases[el] if self.bases is not None else ""


def _text(el) -> str:
    """Character data feedparser collects for a leaf element (comments and PIs skipped)."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            raise Decline("child element in a text field")
        parts.append(child.tail or "")
    return "".join(parts)


def _out(text: str, base: str | None = None) -> str:
    """What feedparser's ``pop`` makes of collected text: stripped, resolved against the base
    for URI elements, "UTF-8 read as Latin-1" repaired, C1 controls mapped as cp1252."""
    out = text.strip()
    if base is not None and out:
        out = _urljoin(base or "", out)
    if out.isascii():
        return out  # both repairs below leave ASCII as it is
    try:
        out = out.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    # str.translate with a dict costs a lookup per character (it was 40% of the fast path);
    # only strings with a C1 control have anything to translate.
    return out.translate(_cp1252) if _C1.search(out) else out


def _content_type(el, attrs: dict, default: str) -> str:
    kind = _map_type(attrs.get("type", default))
    if kind not in _TEXT_TYPES or attrs.get("mode"):
        raise Decline(f"content of type {kind!r}")  # xhtml inline markup, base64, ...
    return kind


def _check_inert(doc: Doc, el, allowed: set) -> None:
    """``el`` and everything below it leave the fields we read alone."""
    if doc.name(el) == "image" and "image" in allowed:
        _check_image(doc, el)
        return
    for sub in el.iter():
        if not isinstance(sub.tag, str):
            continue
        name = doc.name(sub)
        if sub is el:
            if name not in allowed and (_has_handler(name) or name in COLLIDE):
                raise Decline(f"element {name}")
        elif _has_handler(name):
            if name not in INERT:
                raise Decline(f"element {name} inside {doc.name(el)}")
        elif name in COLLIDE:
            raise Decline(f"unknown element {name} would overwrite a field")
        if name in CONTENTISH or (sub is not el and name in PERSON_PARTS):
            if len(sub):
                _text(sub)  # declines on child elements, tolerates comments


def _check_image(doc: Doc, el) -> None:
    """A channel image: its title and link go to the image (feedparser's ``inimage``) as long
    as no other unprefixed element resets that flag."""
    for child in el:
        if isinstance(child.tag, str) and (
                doc.name(child) not in {"title", "link", "url", "width", "height", "description"}
                or len(child)):
            raise Decline("image with other children")


def _link(doc: Doc, el, ctx: dict, in_entry: bool) -> None:
    """``_start_link``/``_end_link``: an href link sets ``link`` when it is an HTML alternate;
    a text link always does (after feedparser's query-string "entity" repair)."""
    attrs = doc.attrs(el)
    rel = attrs.setdefault("rel", "alternate")
    kind = attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs["href"] = href
    if "href" in attrs:
        if len(el) and any(isinstance(c.tag, str) for c in el):
            raise Decline("link with children")
        if rel == "alternate" and _map_type(kind) in _HTML_TYPES:
            ctx["link"] = _urljoin(doc.base(el) or "", attrs["href"])
        return
    out = _out(_text(el), doc.base(el))
    if in_entry:
        out = out.replace("&amp;", "&")
    ctx["link"] = _ENTITYISH.sub(r"&\g<1>", out)


def _guid(doc: Doc, el, ctx: dict) -> None:
    """``_start_guid``/``_end_guid``: the id, which is also the link when it is a permalink and
    no link came before it."""
    is_link = doc.attrs(el).get("ispermalink", "true") == "true"
    value = _out(_text(el), doc.base(el) if is_link else None)
    ctx["id"] = value
    if is_link:
        ctx.setdefault("link", value)


def _person(doc: Doc, el) -> str:
    """An Atom person construct: "name (email)", the name or the email; else the element's own
    text (``_sync_author_detail``). An unknown child with attributes is not pushed by
    feedparser, so its text counts as the author's own (Blogger's ``gd:image``)."""
    parts: dict[str, str] = {}
    own = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            name = doc.name(child)
            if name in PERSON_PARTS and name not in parts:
                parts[name] = _text(child).strip()  # pushed without expecting text: no repair
            elif _has_handler(name) or name in COLLIDE or name in parts:
                raise Decline("author with other children")
            elif doc.attrs(child):
                own.append(_text(child))
            else:
                _text(child)
        own.append(child.tail or "")
    name, email = parts.get("name"), parts.get("email")
    if name and email:
        return f"{name} ({email})"
    return name or email or _out("".join(own))


def _dates(name: str, el, e: dict) -> None:
    value = _parse_date(_out(_text(el)))
    key = ("published_parsed" if name in PUBLISHED else
           "updated_parsed" if name in UPDATED else "created_parsed")
    e[key] = value  # feedparser overwrites: the last element wins, even unparseable


def _walk(el):
    """Descendants of ``el`` in document order with their depth below it (children: 1)."""
    stack = [iter(el)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child.tag, str):
            yield child, len(stack)
            stack.append(iter(child))


class _Entry:
    """One item as feedparser's handlers fill it. Titles and summaries are modelled at any
    depth (media:title and media:description sit inside media:content), with the two pieces of
    state that decide which one wins: ``title_depth`` and the per-key depth map."""

    def __init__(self, doc: Doc):
        self.doc = doc
        self.e: dict = {}
        self.title_depth = -1
        self.depths: dict[str, int] = {}
        self.has_content = False
        self.authors = self.persons = 0

    def store(self, key: str, depth: int, value) -> None:
        """``pop``'s depth map: a value set deeper does not overwrite a shallower one."""
        old = self.depths.get(key)
        if old is None or depth <= old:
            self.depths[key] = depth
            self.e[key] = value

    def title(self, name: str, el, depth: int) -> None:
        _content_type(el, self.doc.attrs(el), "text/plain")
        value = _out(_text(el))
        saved = self.title_depth
        if not -1 < self.title_depth <= depth:
            self.store("title", depth, value)
        if value:
            self.title_depth = depth
        if name == "media_title":
            self.title_depth = saved  # _end_media_title restores it

    def summary(self, name: str, el, depth: int) -> None:
        attrs = self.doc.attrs(el)
        if name != "abstract" and "summary" in self.e and not self.has_content:
            self.content(el, attrs, "text/plain")  # a second summary becomes content
            return
        _content_type(el, attrs, "text/html" if name in DESCRIPTION else "text/plain")
        self.store("summary", depth, _out(_text(el)))

    def content(self, el, attrs: dict, default: str) -> None:
        self.has_content = True
        kind = _content_type(el, attrs, default)
        value = _out(_text(el))
        self.e.setdefault("content", []).append({"type": kind, "value": value})
        self.e.setdefault("summary", value)  # _end_content copies text/HTML content

    def author(self, el) -> None:
        self.authors += 1
        if any(isinstance(c.tag, str) for c in el):
            self.persons += 1
            self.store("author", 1, _person(self.doc, el))
        else:
            self.store("author", 1, _out(_text(el)))

    def element(self, name: str, el, depth: int) -> None:
        doc, e = self.doc, self.e
        if name in TITLE or name == "media_title":
            self.title(name, el, depth)
        elif name in SUMMARY or name in DESCRIPTION or name in ("itunes_summary", "abstract"):
            self.summary(name, el, depth)
        elif depth > 1:
            if name not in INERT and (_has_handler(name) or name in COLLIDE):
                raise Decline(f"element {name} below the item")
            if name in CONTENTISH and len(el):
                _text(el)  # inline markup: declined
        elif name == "link":
            _link(doc, el, e, True)
        elif name in ("guid", "id"):
            _guid(doc, el, e)
        elif name in CONTENT:
            self.content(el, doc.attrs(el), "text/html" if name == "content_encoded" else "text/plain")
        elif name in AUTHOR:
            self.author(el)
        elif name in PUBLISHED or name in UPDATED or name in CREATED:
            _dates(name, el, e)
        elif name == "source" and doc.attrs(el).get("url") is not None:
            _text(el)  # RSS <source url="...">: a title only
            self.title_depth = -1  # _start_source
        elif name not in INERT and (_has_handler(name) or name in COLLIDE):
            raise Decline(f"element {name}")
        elif name in CONTENTISH and len(el):
            _text(el)  # inline markup: declined


def _entry(doc: Doc, item, has_content: bool = False) -> dict:
    attrs = doc.attrs(item)
    if {"href", "lastmod", "rdf:about", "about"} & attrs.keys():
        raise Decline("CDF/RDF item attributes")
    state = _Entry(doc)
    state.has_content = has_content
    for el, depth in _walk(item):
        state.element(doc.name(el), el, depth)
    if state.persons and state.authors > 1:
        # a later person picks up the email of an earlier author (``_sync_author_detail``)
        raise Decline("several authors, one of them a person construct")
    return state.e


def _once(seen: set, group: str) -> None:
    if group in seen:
        raise Decline(f"two {group} elements")
    seen.add(group)


def _feed(doc: Doc, channel, entry_name: str) -> tuple[dict, list]:
    attrs = doc.attrs(channel)
    if {"href", "lastmod"} & attrs.keys():
        raise Decline("CDF channel attributes")
    feed: dict = {}
    entries = []
    seen: set[str] = set()
    # feedparser's hasContent: a description after a feed-level summary (a podcast's
    # itunes:summary) is taken as content and sets it; only the end of an item clears it.
    has_summary = has_content = False
    for child in channel:
        if not isinstance(child.tag, str):
            continue
        name = doc.name(child)
        if name == entry_name:
            entries.append(_entry(doc, child, has_content))
            has_content = False
        elif name in FEED_SUMMARY or name in DESCRIPTION:
            _check_inert(doc, child, FEED_INERT | FEED_SUMMARY)
            if has_summary and not has_content:
                has_content = True
            elif name in FEED_SUMMARY:
                has_summary = True
        elif name in TITLE or name == "media_title":
            _once(seen, "title")
            _content_type(child, doc.attrs(child), "text/plain")
            feed["title"] = _out(_text(child))
        elif name == "link":
            _link(doc, child, feed, False)
        elif name in ("guid", "id"):
            _guid(doc, child, feed)
        elif name == "ttl":
            # an unknown element: with attributes feedparser stores them instead of the text
            feed["ttl"] = doc.attrs(child) or _out(_text(child))
        elif name in AUTHOR and any(isinstance(c.tag, str) for c in child):
            _person(doc, child)
        else:
            _check_inert(doc, child, FEED_INERT)
    return feed, entries


def _root(doc: Doc) -> tuple[str, object, str]:
    root = doc.root
    if root.tag == "rss":
        if not doc.attrs(root).get("version", "").startswith("2."):
            raise Decline("RSS other than 2.x")
        kids = [c for c in root if isinstance(c.tag, str)]
        if len(kids) != 1 or kids[0].tag != "channel":
            raise Decline("rss root without exactly one channel")
        return "rss20", kids[0], "item"
    if root.tag == f"{{{ATOM}}}feed":
        return "atom10", root, "entry"
    raise Decline(f"root element {root.tag}")


def parse_fast(body: bytes, content_type: str) -> dict | None:
    """feedparser's result (the keys parse.py reads) for a document the fast path fully
    understands, else None. Never raises."""
    try:
        return _parse(body, content_type)
    except Exception:  # noqa: BLE001 - any surprise means "let feedparser decide"
        return None


def _parse(body: bytes, content_type: str) -> dict:
    # The same bytes, headers and encoding decision feedparser's strict parser gets.
    result: dict = {"bozo": False}
    data = convert_to_utf8({"content-type": content_type}, body, result)
    if not result.get("encoding"):
        raise Decline("encoding unknown: feedparser uses its loose parser")
    version, data, _ = replace_doctype(data)
    if version:
        raise Decline("Netscape RSS 0.91 DOCTYPE")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, recover=False, collect_ids=False)
    root = etree.fromstring(data, parser)
    if root.getroottree().docinfo.internalDTD is not None:
        raise Decline("internal DTD subset")
    if root.tag not in ("rss", f"{{{ATOM}}}feed"):
        raise Decline(f"root element {root.tag}")  # before the namespace scan: not a feed we read
    doc = Doc(root, data)
    version, container, entry_name = _root(doc)
    feed, entries = _feed(doc, container, entry_name)
    out = {"version": version, "feed": feed, "entries": entries, "bozo": result["bozo"]}
    if result["bozo"]:
        out["bozo_exception"] = result["bozo_exception"]
    return out
