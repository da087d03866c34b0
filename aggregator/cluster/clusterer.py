"""The incremental clusterer: one article in, one Decision out.

State is only what ``restore`` can rebuild from persisted Features and memberships: per live
article its signature, story vector and time; per story its members; the two indexes. All
iteration is over deterministically ordered containers, so the same input order gives the same
decisions, whether the stream ran uninterrupted or was restored from the store.

The live articles are columns, not objects (issue 7: a 200k-article window cost 13 KB per article
in objects, dicts and deques besides the band index): each live article has a *slot*, a row in
flat arrays — signature (one uint32 matrix), times as int64 microseconds, story, the IDF-dependent
totals — and its story vector and facts as term ids in ``stories.VectorPool``. Slots of expired
articles are reused; nothing outside these arrays is kept per article but its entry in the id →
slot dict, its story's member list and its expiry heap entry.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import insort
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import ge, neg

import numpy as np

from .bands import BandIndex
from .copies import best_copy
from .facts import agreement, weekday_mask
from .features import Features
from .index import TermIndex
from .params import ClusterParams
from .roles import REPORT, role_for
from .stories import IdfTable, VectorPool, accumulate, dot, norm, shared_terms, story_terms, weighted
from .text import fold

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SLOT_BITS = 32  # expiry heap entries are key << 32 | slot
_BULK_CHUNK = 16_384  # restored articles indexed per step (≈ 1M postings of temporaries)


def _micros(when: datetime) -> int:
    """Microseconds since the epoch: exact, so every time comparison is the datetime one (a
    naive time is taken as UTC; the stream must not mix the two, as before)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _US


@dataclass(frozen=True)
class Decision:
    story_id: int
    copy_of: int | None
    reuse: float
    role: str
    score: float
    evidence: dict = field(default_factory=dict)


@dataclass(slots=True)
class _Query:
    """The article being decided: parsed once, inserted after the decision."""

    id: int
    when: int  # microseconds
    sig: np.ndarray
    n_shingles: int
    headline_only: bool  # featurized from title + feed summary (no usable page text)
    tids: list[int]  # story vector: term ids in term order ...
    codes: list[int]  # ... and their tf weight codes (stories.TfWeights)
    facts: list[int]  # folded salient names (term ids): what ``facts.agreement`` compares
    days: int  # weekdays named in title + lead, a bit per day (facts.weekday_mask)
    title: frozenset[int]  # title terms (term ids): what ``_title_bonus`` compares


class Clusterer:
    def __init__(self, params: ClusterParams | None = None) -> None:
        self.params = p = params or ClusterParams()
        self._window = timedelta(days=p.window_days)
        self._window_us = self._window // _US
        self._future_us = timedelta(days=p.future_days) // _US
        self._slots: dict[int, int] = {}  # live article id → slot
        self._free: list[int] = []  # slots of expired articles, reused first
        # per slot
        self._ids = array("q")
        self._when = array("q")  # microseconds
        self._story = array("q")
        self._expiry_at = array("q")  # key of the slot's expiry heap entry
        self._n_shingles = array("q")
        self._headline_only = bytearray()
        self._days = bytearray()  # weekday bits (see _similarity)
        self._day_span_us = int(p.day_span * 86400 * 1_000_000)
        self._norm = array("d")  # norm of the IDF-weighted vector as of norm_at documents
        self._fact_total = array("d")  # IDF weight of the facts as of norm_at documents
        self._norm_at = array("q")
        self._sigs = np.zeros((0, p.num_perm), dtype=np.uint32)
        self._vecs = VectorPool(p.name_weight, p.body_weight)
        self._titles = VectorPool()  # title term ids per slot (its vector runs; codes unused)
        # story id → live member ids, in id order; not kept for the commonest story, an article
        # alone in the story of its own id (what every "new" decision founds): see _members
        self._stories: dict[int, list[int]] = {}
        self._bands = BandIndex(p.num_perm, p.lsh_bands)
        self._terms = TermIndex(p.posting_cap)
        self._unindexed: list[int] = []  # restored slots not yet in the two indexes (added in bulk)
        self._expiry: list[int] = []  # heap of (stream clock at arrival) << 32 | slot
        # The stream clock that drives expiry (see _tick): monotonic, and moved only by what
        # most recent arrivals agree on, so neither arrival order nor one odd date evicts.
        self._clock: int | None = None
        self.stale_restores = 0  # restored articles skipped: features of another scheme
        self._recent: deque[int] = deque(maxlen=max(1, p.clock_arrivals))
        # per-decision memos (IDF changes only between decisions); reset in _decide
        self._idfs = IdfTable(self._terms)  # IDF by df
        self._query: tuple[dict[int, float], float] = ({}, 0.0)  # IDF-weighted vector, norm
        self._cos_cache: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._slots)

    # ----- public API -------------------------------------------------------------------
    def assign(self, article_id: int, when: datetime, features: Features, outlet: str = "") -> Decision:
        art = self._parse(article_id, when, features)
        self._tick(art.when)
        self._index_restored()
        # query then add in one probe: nothing touches the band index in between
        decision = self._decide(art, self._bands.query_add(art.id, art.sig))
        self._insert(art, decision.story_id, indexed=True)
        return decision

    def restore(
        self, article_id: int, when: datetime, features: Features, story_id: int, copy_of: int | None = None
    ) -> None:
        """Replay a stored article. Features of another scheme (stored before a FEATURE_VERSION
        or fingerprint change) cannot be compared with new ones: the article is left out of the
        window and counted in ``stale_restores`` rather than stopping a restart; re-featurizing
        the store brings it back."""
        if features.scheme != self.params.scheme:
            self.stale_restores += 1
            return
        art = self._parse(article_id, when, features)
        self._tick(art.when)
        self._insert(art, story_id, indexed=False)

    def move(self, article_id: int, story_id: int) -> None:
        s = self._slots.get(article_id)
        if s is None or self._story[s] == story_id:
            return
        self._leave(article_id, self._story[s])
        self._story[s] = story_id
        self._join(article_id, story_id)

    def story_of(self, article_id: int) -> int | None:
        s = self._slots.get(article_id)
        return None if s is None else self._story[s]

    # ----- state ------------------------------------------------------------------------
    def _parse(self, article_id: int, when: datetime, f: Features) -> _Query:
        p = self.params
        if f.scheme != p.scheme:
            raise ValueError(f"features of scheme {f.scheme!r}, clusterer expects {p.scheme!r}")
        data = f.data()
        tids, codes = story_terms(data, p, self._terms, self._vecs.tf)
        title = frozenset(self._terms.ids(sorted(data.get("t", ()))) if p.title_bonus else ())
        return _Query(
            id=article_id,
            when=_micros(when),
            sig=f.hashvalues(),
            n_shingles=int(data.get("n", 0)),
            headline_only=bool(data.get("fb", False)),
            tids=tids,
            codes=codes,
            facts=self._terms.ids(sorted({fold(n) for n in data.get("sal", ())})),
            days=weekday_mask(data.get("wd", ())),
            title=title,
        )

    def _new_slot(self) -> int:
        if self._free:
            return self._free.pop()
        s = len(self._ids)
        for col in (self._ids, self._when, self._story, self._expiry_at, self._n_shingles, self._norm_at):
            col.append(0)
        self._norm.append(0.0)
        self._fact_total.append(0.0)
        self._headline_only.append(0)
        self._days.append(0)
        if s == len(self._sigs):
            # doubling: the unused tail is never written, so it costs address space, not RSS
            grown = np.empty((max(1024, 2 * s), self._sigs.shape[1]), dtype=np.uint32)
            grown[:s] = self._sigs
            self._sigs = grown
        return s

    def _insert(self, art: _Query, story: int, indexed: bool) -> None:
        if art.id in self._slots:  # the same id again: the newer features replace the older
            self._remove(self._slots[art.id])
        s = self._new_slot()
        self._slots[art.id] = s
        self._ids[s] = art.id
        self._when[s] = art.when
        self._story[s] = story
        self._n_shingles[s] = art.n_shingles
        self._headline_only[s] = art.headline_only
        self._days[s] = art.days
        self._norm[s] = self._fact_total[s] = 0.0
        self._norm_at[s] = 0
        self._sigs[s] = art.sig
        self._vecs.put(s, art.tids, art.codes, art.facts)
        self._titles.put(s, sorted(art.title), bytes(len(art.title)), ())
        self._join(art.id, story)
        if indexed:  # the band index has it already (query_add)
            self._terms.add(s, art.tids)
        else:
            self._unindexed.append(s)
        key = self._expiry_at[s] = self._expiry_key(art.when)
        heapq.heappush(self._expiry, key << _SLOT_BITS | s)

    def _index_restored(self) -> None:
        """Add the restored articles to the band and term indexes, in bulk: a restart replays a
        whole window before the first decision. Called before anything reads or removes from
        the indexes, so they see the adds and discards in the order the stream made them."""
        pending, self._unindexed = self._unindexed, []
        if len(pending) == 1:
            s = pending[0]
            self._bands.add(self._ids[s], self._sigs[s])
            self._terms.add(s, self._vecs.terms(s))
        elif pending:
            first = pending[0]
            if pending == list(range(first, first + len(pending))):  # a restart: views, no copies
                ids = np.array(self._ids[first : first + len(pending)], dtype=np.int64)
                sigs = self._sigs[first : first + len(pending)]
            else:
                slots = np.array(pending, dtype=np.int64)
                ids, sigs = np.frombuffer(self._ids, dtype=np.int64)[slots], self._sigs[slots]
            self._bands.extend(ids, sigs)
            del ids, sigs
            # the term index in chunks: its temporaries stay small beside a window of postings
            for k in range(0, len(pending), _BULK_CHUNK):
                chunk = pending[k : k + _BULK_CHUNK]
                self._terms.extend(*self._vecs.runs(chunk), docs=len(chunk))

    def _remove(self, s: int) -> None:
        aid = self._ids[s]
        del self._slots[aid]
        self._leave(aid, self._story[s])
        if self._unindexed:
            self._index_restored()
        self._bands.discard(aid, self._sigs[s])
        self._terms.discard(s, self._vecs.terms(s))
        self._vecs.drop(s)
        self._titles.drop(s)
        self._free.append(s)

    def _members(self, story: int) -> list[int]:
        """Live member ids of ``story``, in id order."""
        members = self._stories.get(story)
        if members is not None:
            return members
        s = self._slots.get(story)
        return [story] if s is not None and self._story[s] == story else []

    def _join(self, article_id: int, story: int) -> None:
        """Called once the article's slot holds ``story``."""
        members = self._stories.get(story)
        if members is None:
            if article_id == story:
                return  # alone in its own story: implied by its slot
            members = self._stories[story] = self._members(story)[:]
        insort(members, article_id)

    def _leave(self, article_id: int, story: int) -> None:
        """Called before the article's slot changes story or is freed."""
        members = self._stories.get(story)
        if members and article_id in members:
            members.remove(article_id)
            if not members or members == [story]:  # none, or implied again by its slot
                del self._stories[story]

    def _tick(self, when: int) -> None:
        """Advance the stream clock with one arrival, then expire what fell out of the window.

        The clock is the high-water mark of the *median* publication time of the last
        ``clock_arrivals`` arrivals: it never goes back, and one article dated far in the
        future (or at the epoch) moves the median by at most one rank, so it cannot push the
        clock. An article stays live for one window of this clock *after its arrival* even when
        its own date is older (``_expiry_key``): a backlog arriving newest-first (feeds list their newest items first;
        the daemon polls feeds in any order) is not evicted on arrival, as it was when expiry
        followed publication times. Publication times are compared only pairwise, when
        deciding whether two articles may match (``_live``). Memory is the arrivals of one
        window; the cost of a decision stays bounded by the index caps."""
        self._recent.append(when)
        ranked = sorted(self._recent)
        median = ranked[(len(ranked) - 1) // 2]
        if self._clock is None or median > self._clock:
            self._clock = median
        self._expire(self._clock - self._window_us)

    def _expiry_key(self, when: int) -> int:
        """Live for one window after arrival (stream clock) or after publication, whichever is
        later; a date more than ``future_days`` ahead of the clock is taken for a misdated item
        (it would otherwise stay in memory until the stream reached it)."""
        clock = self._clock if self._clock is not None else when
        if when > clock + self._future_us:
            return clock
        return max(clock, when)

    def _expire(self, horizon: int) -> None:
        heap = self._expiry
        while heap and heap[0] >> _SLOT_BITS < horizon:
            entry = heapq.heappop(heap)
            s = entry & ((1 << _SLOT_BITS) - 1)
            # an entry left by a replaced id may name a reused slot: expire only a slot whose
            # own key this is (a live article whose key is below the horizon is due anyway)
            if self._expiry_at[s] == entry >> _SLOT_BITS and self._slots.get(self._ids[s]) == s:
                self._remove(s)

    def _live(self, aid: int, when: int) -> int | None:
        """The slot of article ``aid`` if it is live and within one window of ``when``."""
        s = self._slots.get(aid)
        if s is None or abs(self._when[s] - when) > self._window_us:
            return None
        return s

    # ----- the decision -----------------------------------------------------------------
    def _refresh(self, s: int, vector: tuple[array, array] | None = None) -> None:
        """Refresh the member's IDF-dependent totals (vector norm, fact weight) when the stream
        has grown by 5 % since they were computed: recomputing every member's norm under the
        current IDF at every decision cost 8x the rest of assign (measured 33 vs 300 docs/s).
        Deterministic: refreshes depend only on the stream."""
        n = self._terms.n_docs
        at = self._norm_at[s]
        if at == 0 or n > at * 1.05:
            tids, codes = vector or self._vecs.vector(s)
            self._norm[s] = norm(tids, codes, self._vecs.tf.weight, self._idfs)
            self._fact_total[s] = sum(self._idfs.values_of(self._vecs.facts(s)))
            self._norm_at[s] = n

    def _cosine(self, s: int) -> float:
        """Cosine of the query (IDF-weighted) with the member in slot ``s``, weighting the
        member's shared terms by the current IDF on the fly (``stories.dot``)."""
        c = self._cos_cache.get(s)
        if c is None:
            vector = self._vecs.vector(s)
            self._refresh(s, vector)
            qw, qn = self._query
            other_norm = self._norm[s]
            if not qn or not other_norm:
                return 0.0
            c = self._cos_cache[s] = dot(qw, *vector, self._vecs.tf.weight, self._idfs) / (qn * other_norm)
        return c

    def _similarity(self, art: _Query, facts: frozenset[int], fact_total: float, s: int) -> float:
        """TF-IDF cosine of title + lead, raised when the titles all but agree (``_title_bonus``),
        lowered when the salient names disagree or, for reports published the same day, the
        weekdays they name do (facts.py)."""
        p = self.params
        sim = self._cosine(s) + self._title_bonus(art, s)
        if p.day_weight and art.days:
            theirs = self._days[s]
            if theirs and not art.days & theirs and abs(art.when - self._when[s]) < self._day_span_us:
                sim -= p.day_weight
        if p.fact_weight and facts and len(facts) <= p.fact_list_max:
            theirs = self._vecs.facts(s)
            if theirs and len(theirs) <= p.fact_list_max:
                shared = sum(self._idfs.values_of(filter(facts.__contains__, theirs)))
                agree = agreement(shared, fact_total, self._fact_total[s])
                if agree is not None:
                    sim -= p.fact_weight * max(0.0, p.fact_center - agree)
        return sim

    def _title_bonus(self, art: _Query, s: int) -> float:
        """A headline re-run (or all but re-run) scores above what its lead alone would earn:
        the lead of a follow-up days later differs, its title hardly does (params.title_bonus)."""
        p = self.params
        if not p.title_bonus or len(art.title) < p.title_min_shared:
            return 0.0
        if art.headline_only and self._headline_only[s]:
            return 0.0  # their vectors are (almost) their titles: the cosine has said it all
        theirs = self._titles.terms(s)
        shared = len(art.title.intersection(theirs))
        if shared < p.title_min_shared:
            return 0.0
        jaccard = shared / (len(art.title) + len(theirs) - shared)
        return p.title_bonus * max(0.0, jaccard - p.title_center)

    def _threshold(self, art: _Query, s: int) -> float:
        """Same-event reports cluster in time: demand more similarity the further apart they are.

        Headline-only items (no page text: title + feed summary) share fewer words even when
        they report the same event, so they need less (``headline_discount``)."""
        p = self.params
        days = abs(art.when - self._when[s]) / 1_000_000 / 86400.0
        ramp = min(1.0, days / p.ramp_days) if p.ramp_days > 0 else 1.0
        t = p.story_threshold + (p.story_threshold_far - p.story_threshold) * ramp
        if art.headline_only and self._headline_only[s]:
            t -= p.headline_discount
        return t

    def _story_score(self, art: _Query, facts: frozenset[int], fact_total: float, sid: int) -> tuple[float, int]:
        """(score, most similar member) of story ``sid`` for the query (``_query``).

        Members compared (``_compared``): bounded, so a huge story costs the same as a small
        one."""
        p = self.params
        members = self._members(sid)
        chosen = self._compared(members, art)
        sims = []
        for mid in chosen:
            s = self._live(mid, art.when)
            if s is not None:
                sims.append((self._similarity(art, facts, fact_total, s), mid))
        if not sims:
            return 0.0, members[0]
        best, member = max(sims, key=lambda x: (x[0], -x[1]))
        mean = sum(x for x, _ in sims) / len(sims)
        return p.link_max * best + (1.0 - p.link_max) * mean, member

    def _compared(self, members: list[int], art: _Query) -> list[int]:
        """The members a story is scored on: the first few (what the story is about) and the
        newest (where it went) — or, while the story is young, its founders alone.

        Comparing the newest members lets one marginal join pull the next reports in after it:
        ECB+'s twin events (a second Qeshm earthquake, a second Chargers DUI arrest) join at
        0.17-0.40 with their first report, and every later report of the twin then matches that
        one. A story whose first member is less than ``ramp_days`` from the new article is
        compared with its first ``story_members`` members only (``founders_only``): ecbplus
        0.879 -> 0.893 (P 0.853 -> 0.899), the other four sets unchanged, LODO held-out
        0.9274 -> 0.931. Not for headline-only articles: the UCI headline stream (stories of
        ~70 headlines whose wording drifts) lost 0.016 B3 F1 with it, at any age limit down to
        6 hours. Past ``ramp_days`` the rising threshold guards against twins and the newest
        members keep a long story together (no set here has a full-text story of more than
        ``story_members`` reports spanning a week: unmeasured)."""
        p = self.params
        if p.founders_only and not art.headline_only:
            first = self._slots.get(members[0]) if members else None
            if first is not None and abs(art.when - self._when[first]) < p.ramp_days * 86400e6:
                return members[: p.story_members]
        if len(members) <= p.story_members:
            return members
        half = p.story_members // 2
        return members[:half] + members[-half:]

    def _reads_alike(self, aid: int) -> bool:
        """A copy must also read like the same story: title + lead cosine at least
        ``copy_min_cosine`` (params.py). Shingles alone are fooled by page chrome on short
        articles; the query vector (``_query``) is set before copies are looked for."""
        return self._cosine(self._slots[aid]) >= self.params.copy_min_cosine

    def _decide(self, art: _Query, band_ids: set[int]) -> Decision:
        p = self.params
        idfs = self._idfs = IdfTable(self._terms)
        self._cos_cache = {}
        weight = self._vecs.tf.weight
        self._query = qw, qn = weighted(art.tids, art.codes, weight, idfs)
        facts = frozenset(art.facts)
        fact_total = sum(idfs.values_of(art.facts))

        # 1. story candidates: cheap accumulation, exact cosine on the best few
        acc = accumulate(qw, self._terms, p)
        # the best few by (score desc, id asc): tuples built and compared in C, no per-item key
        # call, and only for the scores that can make it (ties with the last one included)
        slots, scores = list(acc), list(acc.values())
        if 0 < p.rescore < len(acc):
            least = heapq.nlargest(p.rescore, scores)[-1]
            keep = list(map(ge, scores, repeat(least)))
            slots, scores = list(compress(slots, keep)), list(compress(scores, keep))
        top = heapq.nsmallest(p.rescore, zip(map(neg, scores), map(self._ids.__getitem__, slots), slots, strict=True))
        scored = [(aid, s) for _, aid, s in top if abs(self._when[s] - art.when) <= self._window_us]
        for _, s in scored:  # their norms refresh whether or not a copy is found; cosines when needed
            self._refresh(s)

        # 2. copies: LSH candidates plus the best story candidates, exact signature check
        cand_ids, cand_slots = [], []
        for aid in sorted(band_ids.union(aid for aid, _ in scored)):
            s = self._live(aid, art.when)
            if s is not None:
                cand_ids.append(aid)
                cand_slots.append(s)
        n_shingles = [self._n_shingles[s] for s in cand_slots]
        copy, overlap = best_copy(
            art.sig, art.n_shingles, cand_ids, self._sigs[cand_slots], n_shingles, p, self._reads_alike
        )

        if copy is not None:
            role = role_for(copy.article_id, copy.jaccard, copy.containment, p)
            return Decision(
                story_id=self._story[self._slots[copy.article_id]],
                copy_of=copy.article_id,
                reuse=round(copy.containment, 4),
                role=role,
                score=round(copy.containment, 4),
                evidence={
                    "method": "copy",
                    "jaccard": round(copy.jaccard, 4),
                    "containment": round(copy.containment, 4),
                },
            )

        # 3. story join: every candidate story scored against (a bounded set of) its members
        best_story, best_score, best_member, best_margin = None, 0.0, None, -1.0
        for sid in sorted({self._story[s] for _, s in scored}):
            score, member = self._story_score(art, facts, fact_total, sid)
            margin = score - self._threshold(art, self._slots[member])
            if margin > best_margin:
                best_story, best_score, best_member, best_margin = sid, score, member, margin
        reuse = overlap.containment if overlap is not None else 0.0
        if best_story is not None and best_margin >= 0.0:
            if overlap is None or self._story[self._slots[overlap.article_id]] != best_story:
                reuse = 0.0
            tids, codes = self._vecs.vector(self._slots[best_member])
            return Decision(
                story_id=best_story,
                copy_of=None,
                reuse=round(reuse, 4),
                role=REPORT,
                score=round(best_score, 4),
                evidence={
                    "method": "story",
                    "cosine": round(best_score, 4),
                    "nearest": best_member,
                    "shared_terms": shared_terms(qw, tids, codes, weight, self._terms),
                },
            )
        return Decision(
            story_id=art.id,
            copy_of=None,
            reuse=0.0,
            role=REPORT,
            score=1.0,
            evidence={"method": "new", "nearest_cosine": round(best_score, 4), "nearest": best_member},
        )
