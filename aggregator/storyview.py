"""What readers see of a story: each member's role, wire credit, reuse, what it adds, the
timeline and why it was grouped. Pure: ``describe(story)`` reads only the Story value.

    view = describe(story)
    view.outlets, view.independent_reports      # "3 outlets, 2 independent reports"
    for m in view.members:                      # earliest first
        m.role, m.reuse, m.wire, m.adds, m.why

Roles are decided by the whole story, not by the order articles arrived in. Members are
grouped into *copy groups* (a member whose text is mostly found in an earlier member, or that
the clusterer linked with ``copy_of``, joins that member's group); the earliest-published
member of a group is its original and the others are ``wire`` (near-verbatim, maybe trimmed)
or ``copy`` (substantial reuse, edited). An original is a ``report`` (independent reporting)
unless its text credits a wire service that is not its own outlet: a paper running AP copy is
``wire`` even when AP's own feed is not polled, and the story credits The Associated Press.
Independent reports = distinct origins: one per copy group, with every group credited to the
same wire service counted once.

Text overlap is word-shingle containment computed only among the story's members, so the cost
depends on the story's size, never on the store's.
"""

from __future__ import annotations

import heapq
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import Story, StorySource

WIRE, COPY, REPORT = "wire", "copy", "report"

SHINGLE = 5  # words per shingle for reuse and grouping
COPY_MIN = 0.5  # share of a member's shingles found in an earlier member to call it a copy
WIRE_CONTAINMENT = 0.9  # ... near-verbatim (a trimmed copy stays "wire")
WIRE_JACCARD = 0.8
MIN_SHINGLES = 20  # shorter texts are never called copies on their own overlap (stubs)
ADD_MAX_SHARED = 0.5  # a paragraph is "added" when at most this share of it appears elsewhere
ADD_MIN_WORDS = 6  # shorter paragraphs (bylines, datelines, "Advertisement") are not adds
PASSAGE_WORDS = 8  # shortest shared run of words shown as a shared passage
MAX_ADDS = 6
MAX_PASSAGES = 3
MAX_NAMES = 10
MAX_WORDS = 5000  # cap on the words of one member that are compared
# Members compared exactly with each member: those sharing most of its SKETCH smallest shingle
# hashes. A member with half its shingles in another misses all 16 with probability 2^-16, and
# a story of 200 members costs 200 x CANDIDATES comparisons instead of 200 x 200.
SKETCH = 16
CANDIDATES = 12

# Wire services: code → full name, and the patterns that credit them. Only wire services:
# a broadcaster's own dateline ("— CNN") is a report by that outlet, not wire copy.
WIRE_NAMES = {
    "AP": "The Associated Press",
    "Reuters": "Reuters",
    "AFP": "Agence France-Presse",
    "UPI": "United Press International",
    "Bloomberg": "Bloomberg News",
}
_CODES = r"(AP|Reuters|AFP|UPI|Bloomberg)"
_DASH = r"\s*[—–-]{1,2}"
# "SPRINGFIELD, Ill. (AP) —", "LONDON (Reuters) -", "PARIS (AFP) –": a dateline near the start.
_DATELINE = re.compile(r"\(" + _CODES + r"\)" + _DASH)
# "By The Associated Press", "By JOHN DOE Associated Press", an author field naming a service.
_BYLINE = re.compile(
    r"\b(?:(The )?Associated Press|Reuters|Agence France[- ]Presse|AFP|United Press International|"
    r"UPI|Bloomberg News)\b"
)
_BYLINE_CODE = {
    "associated press": "AP",
    "the associated press": "AP",
    "reuters": "Reuters",
    "agence france-presse": "AFP",
    "agence france presse": "AFP",
    "afp": "AFP",
    "united press international": "UPI",
    "upi": "UPI",
    "bloomberg news": "Bloomberg",
}
# A wire service credited for help ("The Associated Press contributed to this report") is not
# wire copy: the outlet did its own reporting.
_CONTRIBUTED = re.compile(r"contributed|contributing|additional reporting|material from", re.I)
_BY = re.compile(r"^\s*(?:by|from)\b", re.I)

_TOKEN = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_QUOTE = re.compile(r"“([^”]{12,600})”|\"([^\"]{12,600})\"")
_SENTENCE_END = re.compile(r"[.!?:\"“”]\s*$")


# ----- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Why:
    """Why a member is in the story: the clusterer's decision and the evidence in the texts."""

    method: str  # "new" (founded the story), "copy", "story" (similar report), "correction", ...
    score: float
    nearest: int | None  # the member it was compared with (None for the founder)
    nearest_outlet: str = ""
    passages: tuple[str, ...] = ()  # longest runs of words shared with ``nearest``
    names: tuple[str, ...] = ()  # names it shares with the rest of the story
    quotes: tuple[str, ...] = ()  # quotes it shares with the rest of the story
    evidence: dict = field(default_factory=dict)  # as stored by the clusterer


@dataclass(frozen=True)
class MemberView:
    article_id: int
    outlet: str
    title: str
    url: str
    when: datetime  # published, else first seen
    published: datetime | None
    first_seen: datetime
    role: str  # "wire", "copy" or "report"
    original: bool  # the earliest member of its copy group
    group: int  # article id of its copy group's original
    copy_of: int | None  # the earlier member whose text it reuses most (within its group)
    reuse: float  # share of its text found in earlier members (0..1)
    wire: str  # wire service whose copy this is ("AP", "Reuters", ...), "" if none
    adds: tuple[str, ...]  # paragraphs found only in this version (at most MAX_ADDS)
    adds_total: int  # how many such paragraphs in all
    added_quotes: tuple[str, ...]  # quotes found only in this version
    why: Why

    @property
    def credit(self) -> str:
        """The wire service to credit for this text ("The Associated Press"); "" when none or
        when the outlet is that service itself."""
        if not self.wire or is_wire_outlet(self.outlet, self.wire):
            return ""
        return WIRE_NAMES.get(self.wire, self.wire)


@dataclass(frozen=True)
class Headline:
    title: str
    outlets: tuple[str, ...]


@dataclass(frozen=True)
class TimelineEntry:
    article_id: int
    outlet: str
    when: datetime
    lag: timedelta  # after the first publication in the story
    published: datetime | None
    first_seen: datetime
    seen_lag: timedelta  # first-seen time after the story's first sighting
    update: bool  # the outlet had already published in this story (a follow-up or update)

    @property
    def lag_label(self) -> str:
        return "first" if self.lag <= timedelta(0) else "+" + duration(self.lag)

    @property
    def seen_label(self) -> str:
        return "first seen" if self.seen_lag <= timedelta(0) else "seen +" + duration(self.seen_lag)


@dataclass(frozen=True)
class StoryView:
    story_id: int
    members: tuple[MemberView, ...]  # earliest first (ties by article id)
    outlets: int
    independent_reports: int
    wire_credits: tuple[str, ...]  # wire services whose copy the story carries, codes
    base_id: int | None  # the member whose text is the story's shared base text
    headlines: tuple[Headline, ...]
    timeline: tuple[TimelineEntry, ...]

    def entry(self, article_id: int) -> TimelineEntry | None:
        for e in self.timeline:
            if e.article_id == article_id:
                return e
        return None

    def copies_of(self, article_id: int) -> int:
        """How many members copy the text of this group original."""
        return sum(1 for m in self.members if m.group == article_id and m.article_id != article_id)

    def member(self, article_id: int) -> MemberView | None:
        for m in self.members:
            if m.article_id == article_id:
                return m
        return None

    @property
    def credits(self) -> tuple[str, ...]:
        """Full names of the credited wire services ("The Associated Press")."""
        return tuple(WIRE_NAMES.get(c, c) for c in self.wire_credits)

    @property
    def counts_line(self) -> str:
        o, r = self.outlets, self.independent_reports
        return f"{o} outlet{'s' if o != 1 else ''}, {r} independent report{'s' if r != 1 else ''}"


def duration(d: timedelta) -> str:
    """A lag for readers: "45 min", "3 h 05 min", "2 days"."""
    s = int(d.total_seconds())
    if s < 3600:
        return f"{max(1, s // 60)} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} days"


# ----- text helpers ---------------------------------------------------------------------------


@dataclass
class _Text:
    src: StorySource
    when: datetime
    raw: str
    spans: list[tuple[int, int]]  # character span of each token in ``raw``
    norm: list[str]  # casefolded tokens
    shingles: set  # hashed SHINGLE-word shingles
    sketch: tuple  # the SKETCH smallest shingle hashes: finds similar members without pairwise work
    flat: str  # " w1 w2 ... " for quote look-ups
    _grams: dict | None = None

    @property
    def grams(self) -> dict:
        """PASSAGE_WORDS-gram → first position (for shared passages), built when first needed."""
        if self._grams is None:
            self._grams = {}
            for i, gram in enumerate(_ngrams(self.norm, PASSAGE_WORDS)):
                self._grams.setdefault(gram, i)
        return self._grams


def _norm(word: str) -> str:
    if word.isascii():
        return word.lower()
    return unicodedata.normalize("NFKC", word).casefold().replace("’", "'")


def _text_of(s: StorySource) -> str:
    return s.text if (s.text or "").strip() else (s.summary or "")


def _prepare(s: StorySource) -> _Text:
    raw = _text_of(s)
    spans = [m.span() for m in itertools.islice(_TOKEN.finditer(raw), MAX_WORDS)]
    if raw.isascii():  # lower() keeps ASCII token boundaries: one C-level pass instead of a call per word
        norm = _TOKEN.findall(raw.lower())[:MAX_WORDS]
    else:
        norm = [_norm(raw[a:b]) for a, b in spans]
    # shingles as ints: a tuple re-hashes itself on every set operation (measured 10x slower)
    sh = set(map(hash, _ngrams(norm, SHINGLE)))
    sketch = tuple(heapq.nsmallest(SKETCH, sh))
    return _Text(s, s.published or s.first_seen, raw, spans, norm, sh, sketch, " " + " ".join(norm) + " ")


def _ngrams(words: list[str], n: int):
    """The n-word tuples of ``words`` in order (equal to ``tuple(words[i:i + n])``, built in C)."""
    return zip(*(itertools.islice(words, k, None) for k in range(n)), strict=False)


def _containment(a: set, b: set) -> float:
    return len(a & b) / len(a) if a else 0.0


def _jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n+", text) if p.strip()]


def _words(text: str) -> list[str]:
    if text.isascii():
        return _TOKEN.findall(text.lower())
    return [_norm(x) for x in _TOKEN.findall(text)]


def _shingles_of(text: str) -> set:
    w = _words(text)
    if len(w) < SHINGLE:
        return {hash(tuple(w))} if w else set()
    return set(map(hash, _ngrams(w, SHINGLE)))


def _quotes(text: str) -> list[str]:
    out = []
    for m in _QUOTE.finditer(text):
        q = (m.group(1) or m.group(2)).strip()
        if len(q.split()) >= 4 and q not in out:
            out.append(q)
    return out


def _flat(text: str) -> str:
    return " " + " ".join(_words(text)) + " "


def _names(t: _Text) -> dict[str, str]:
    """Capitalised words not at a sentence start (a cheap, language-neutral name guess):
    normalised form → the word as written, in order of appearance."""
    out: dict[str, str] = {}
    for (start, end), n in zip(t.spans, t.norm, strict=False):
        word = t.raw[start:end]
        if not word[0].isupper() or len(word) < 3:
            continue
        before = t.raw[max(0, start - 3) : start]
        if start == 0 or _SENTENCE_END.search(before) or "\n" in before:
            continue
        out.setdefault(n, word)
    return out


# ----- wire services --------------------------------------------------------------------------


def detect_wire(author: str, text: str) -> str:
    """The wire service whose copy this is, from the byline and the dateline; "" if none.

    Looks at the author field, the first lines (dateline "CITY (AP) —", "By The Associated
    Press") and the last line ("— Reuters" sign-off is not used: too ambiguous). A credit for
    help ("The Associated Press contributed to this report") does not make a text wire copy."""
    m = _BYLINE.search(author or "")
    if m and not _CONTRIBUTED.search(author):
        return _BYLINE_CODE.get(m.group(0).casefold(), "")
    head = (text or "")[:400]
    m = _DATELINE.search(head)
    if m:
        return m.group(1)
    for line in head.split("\n")[:3]:
        if _BY.match(line) and not _CONTRIBUTED.search(line):
            m = _BYLINE.search(line)
            if m:
                return _BYLINE_CODE.get(m.group(0).casefold(), "")
    return ""


def is_wire_outlet(outlet: str, code: str) -> bool:
    """True when ``outlet`` is the wire service ``code`` itself (AP's own feed)."""
    if not code:
        return False
    o = " ".join(re.findall(r"\w+", (outlet or "").casefold()))
    full = " ".join(re.findall(r"\w+", WIRE_NAMES.get(code, code).casefold()))
    short = full.removeprefix("the ")
    return o in (full, short, code.casefold()) or short in o or code.casefold() in o.split()


# ----- the view -------------------------------------------------------------------------------


class _Groups:
    def __init__(self, ids) -> None:
        self.parent = {i: i for i in ids}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int, rank: dict) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the earlier member (by rank) stays the root: the group's original
            if rank[rb] < rank[ra]:
                ra, rb = rb, ra
            self.parent[rb] = ra


def describe(story: Story) -> StoryView:
    texts = sorted((_prepare(s) for s in story.sources), key=lambda t: (t.when, t.src.article_id))
    if not texts:
        return StoryView(story.id, (), 0, 0, (), None, (), ())
    ids = [t.src.article_id for t in texts]
    rank = {aid: n for n, aid in enumerate(ids)}
    by_id = {t.src.article_id: t for t in texts}

    # 1. copy groups: a member whose text is mostly found in an earlier member joins its group
    groups = _Groups(ids)
    idx = _Index(texts)
    best_copy: dict[int, tuple[float, int]] = {}  # member → (containment, earlier member)
    for t in texts:
        if len(t.shingles) < MIN_SHINGLES:
            continue
        best = None
        for e in idx.similar(t, before=True):
            if len(e.shingles) < MIN_SHINGLES:
                continue
            c = _containment(t.shingles, e.shingles)
            if c >= COPY_MIN and (best is None or c > best[0]):
                best = (c, e.src.article_id)
        if best is not None:
            best_copy[t.src.article_id] = best
            groups.union(best[1], t.src.article_id, rank)
    for t in texts:  # the clusterer's copy links count too (it saw the full signatures)
        target = t.src.copy_of
        if target in by_id and target != t.src.article_id:
            groups.union(target, t.src.article_id, rank)

    # 2. reuse: share of each member's shingles found in the members before it
    seen: set = set()
    reuse: dict[int, float] = {}
    for t in texts:
        if len(t.shingles) >= MIN_SHINGLES or seen & t.shingles:
            reuse[t.src.article_id] = _containment(t.shingles, seen)
        else:  # too little text to measure: keep what the clusterer recorded
            reuse[t.src.article_id] = float(t.src.reuse or 0.0)
        seen |= t.shingles

    # 3. wire credits per group
    own_wire = {t.src.article_id: detect_wire(t.src.author, t.raw) for t in texts}
    group_wire: dict[int, str] = {}
    for t in texts:
        root = groups.find(t.src.article_id)
        w = own_wire[t.src.article_id] or getattr(t.src, "wire", "")
        if w and root not in group_wire:
            group_wire[root] = w
    members_of: dict[int, list[int]] = {}
    for aid in ids:
        members_of.setdefault(groups.find(aid), []).append(aid)

    # 4. the base text and what each member adds to it
    base = next((t for t in texts if t.src.extraction == "page" and t.src.text.strip()), texts[0])

    members = []
    for t in texts:
        aid = t.src.article_id
        root = groups.find(aid)
        original = root == aid
        wire = own_wire[aid] or group_wire.get(root, "")
        root_outlet = by_id[root].src.outlet
        if original:
            role = WIRE if wire and not is_wire_outlet(root_outlet, wire) else REPORT
            copy_of = None
        else:
            copy_of, role = _copy_role(t, idx, groups, root, rank, best_copy)
        adds = [] if t is base else _adds(t, idx)
        members.append(
            MemberView(
                article_id=aid,
                outlet=t.src.outlet,
                title=t.src.title,
                url=t.src.url,
                when=t.when,
                published=t.src.published,
                first_seen=t.src.first_seen,
                role=role,
                original=original,
                group=root,
                copy_of=copy_of,
                reuse=round(min(1.0, max(0.0, reuse[aid])), 4),
                wire=wire,
                adds=tuple(adds[:MAX_ADDS]),
                adds_total=len(adds),
                added_quotes=tuple(q for q in idx.quotes[aid] if not idx.quoted_elsewhere(q, aid)),
                why=_why(t, by_id, copy_of, idx),
            )
        )

    # 5. counts: one independent report per origin (a wire service counts once)
    origins = set()
    for root in members_of:
        w = group_wire.get(root, "")
        origins.add(("wire", w) if w else ("group", root))
    credits = []
    for m in members:
        if m.wire and m.wire not in credits:
            credits.append(m.wire)
    return StoryView(
        story_id=story.id,
        members=tuple(members),
        outlets=len({t.src.outlet for t in texts}),
        independent_reports=len(origins),
        wire_credits=tuple(credits),
        base_id=base.src.article_id,
        headlines=_headlines(texts),
        timeline=_timeline(texts),
    )


def _copy_role(t: _Text, idx: _Index, groups: _Groups, root: int, rank, best_copy) -> tuple[int, str]:
    """(the earlier group member it reuses most, "wire" or "copy")."""
    aid = t.src.article_id

    def in_group_before(other: int) -> bool:
        return groups.find(other) == root and rank[other] < rank[aid]

    if aid in best_copy and in_group_before(best_copy[aid][1]):
        target = best_copy[aid][1]
    else:  # grouped through the clusterer's link: the most similar earlier group member
        near = [e for e in idx.similar(t, before=True) if in_group_before(e.src.article_id)]
        closest = max(near, key=lambda e: (_containment(t.shingles, e.shingles), -rank[e.src.article_id]), default=None)
        target = closest.src.article_id if closest is not None else root
    e = idx.by_id[target]
    if len(t.shingles) < MIN_SHINGLES or len(e.shingles) < MIN_SHINGLES:
        role = t.src.role if t.src.role in (WIRE, COPY) else COPY  # too little text: trust the store
    else:
        near = (
            _containment(t.shingles, e.shingles) >= WIRE_CONTAINMENT or _jaccard(t.shingles, e.shingles) >= WIRE_JACCARD
        )
        role = WIRE if near else COPY
    return target, role


class _Index:
    """Story-wide facts computed once, so each member's look-ups cost no more than its own
    length: which members hold each shingle, and every member's names and quotes."""

    def __init__(self, texts: list[_Text]) -> None:
        self.postings: dict[int, list[int]] = {}
        self.names: dict[int, dict[str, str]] = {}
        self.name_count: dict[str, int] = {}
        self.quotes: dict[int, list[str]] = {}
        self.flats = {t.src.article_id: t.flat for t in texts}
        self.by_id = {t.src.article_id: t for t in texts}
        self.rank = {t.src.article_id: n for n, t in enumerate(texts)}
        for t in texts:
            aid = t.src.article_id
            for sh in t.shingles:
                self.postings.setdefault(sh, []).append(aid)
            self.names[aid] = _names(t)
            for n in self.names[aid]:
                self.name_count[n] = self.name_count.get(n, 0) + 1
            self.quotes[aid] = _quotes(t.raw)

    def similar(self, t: _Text, *, before: bool = False) -> list[_Text]:
        """Up to CANDIDATES other members (only earlier ones with ``before``) sharing the most of
        ``t``'s sketch, most first, earliest on ties."""
        aid, mine = t.src.article_id, self.rank[t.src.article_id]
        hits: dict[int, int] = {}
        for h in t.sketch:
            for other in self.postings.get(h, ()):
                if other != aid and (not before or self.rank[other] < mine):
                    hits[other] = hits.get(other, 0) + 1
        best = sorted(hits, key=lambda o: (-hits[o], self.rank[o]))[:CANDIDATES]
        return [self.by_id[o] for o in best]

    def elsewhere(self, sh: int, aid: int) -> bool:
        holders = self.postings.get(sh, ())
        return len(holders) > 1 or (len(holders) == 1 and holders[0] != aid)

    def quoted_elsewhere(self, quote: str, aid: int) -> bool:
        """Whether another member carries this quote (every shingle of it, for long quotes)."""
        words = _words(quote)
        if len(words) < SHINGLE + 2:
            flat = " " + " ".join(words) + " "
            return any(flat in f for other, f in self.flats.items() if other != aid)
        holders: set | None = None
        for i in range(len(words) - SHINGLE + 1):
            found = set(self.postings.get(hash(tuple(words[i : i + SHINGLE])), ())) - {aid}
            holders = found if holders is None else holders & found
            if not holders:
                return False
        return bool(holders)


def _adds(t: _Text, idx: _Index) -> list[str]:
    aid = t.src.article_id
    out = []
    for para in _paragraphs(t.raw):
        if len(_TOKEN.findall(para)) < ADD_MIN_WORDS:
            continue
        sh = _shingles_of(para)
        shared = sum(1 for x in sh if idx.elsewhere(x, aid))
        if not sh or shared / len(sh) <= ADD_MAX_SHARED:
            out.append(para)
    return out


def _why(t: _Text, by_id: dict, copy_of: int | None, idx: _Index) -> Why:
    ev = dict(t.src.evidence or {})
    aid = t.src.article_id
    method = str(ev.get("method") or ("copy" if t.src.copy_of else "story"))
    nearest = copy_of
    if nearest is None:
        cand = ev.get("nearest")
        if isinstance(cand, int) and cand in by_id and cand != aid:
            nearest = cand
    if nearest is None and method != "new":
        # the other member sharing the most text, earliest first on ties
        others = idx.similar(t)
        if others:
            best = max(others, key=lambda o: (len(t.shingles & o.shingles), -idx.rank[o.src.article_id]))
            nearest = best.src.article_id
    passages: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ()
    if nearest is not None:
        passages = tuple(_shared_passages(t, by_id[nearest]))
    names = tuple(word for n, word in idx.names[aid].items() if idx.name_count[n] > 1)[:MAX_NAMES]
    quotes = tuple(q for q in idx.quotes[aid] if idx.quoted_elsewhere(q, aid))
    return Why(
        method=method,
        score=float(t.src.score or 0.0),
        nearest=nearest,
        nearest_outlet=by_id[nearest].src.outlet if nearest is not None else "",
        passages=passages,
        names=names,
        quotes=quotes,
        evidence=ev,
    )


def _shared_passages(a: _Text, b: _Text) -> list[str]:
    """The longest runs of at least PASSAGE_WORDS words that ``a`` shares with ``b``, as written
    in ``a``, longest first."""
    runs: list[tuple[int, int]] = []
    i, n = 0, len(a.norm)
    while i <= n - PASSAGE_WORDS:
        j = b.grams.get(tuple(a.norm[i : i + PASSAGE_WORDS]))
        if j is None:
            i += 1
            continue
        length = PASSAGE_WORDS
        while i + length < n and j + length < len(b.norm) and a.norm[i + length] == b.norm[j + length]:
            length += 1
        runs.append((i, length))
        i += length
    runs.sort(key=lambda r: (-r[1], r[0]))
    out = []
    for start, length in runs[:MAX_PASSAGES]:
        s, e = a.spans[start][0], a.spans[start + length - 1][1]
        out.append(" ".join(a.raw[s:e].split()))
    return out


def _headlines(texts: list[_Text]) -> tuple[Headline, ...]:
    order: dict[str, tuple[str, list[str]]] = {}
    for t in texts:
        title = " ".join((t.src.title or "").split())
        if not title:
            continue
        key = _flat(title)
        shown, outlets = order.setdefault(key, (title, []))
        if t.src.outlet not in outlets:
            outlets.append(t.src.outlet)
    return tuple(Headline(title, tuple(outlets)) for title, outlets in order.values())


def _timeline(texts: list[_Text]) -> tuple[TimelineEntry, ...]:
    t0 = texts[0].when
    seen0 = min(t.src.first_seen for t in texts)
    outlets: set[str] = set()
    out = []
    for t in texts:
        out.append(
            TimelineEntry(
                article_id=t.src.article_id,
                outlet=t.src.outlet,
                when=t.when,
                lag=t.when - t0,
                published=t.src.published,
                first_seen=t.src.first_seen,
                seen_lag=t.src.first_seen - seen0,
                update=t.src.outlet in outlets,
            )
        )
        outlets.add(t.src.outlet)
    return tuple(out)
