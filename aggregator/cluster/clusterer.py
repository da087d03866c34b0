"""The incremental clusterer: one article in, one Decision out.

State is only what ``restore`` can rebuild from persisted Features and memberships: per live
article its signature, story vector and time; per story its members; the two indexes. All
iteration is over deterministically ordered containers, so the same input order gives the same
decisions, whether the stream ran uninterrupted or was restored from the store.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from .copies import best_copy
from .features import Features
from .index import BandIndex, TermIndex
from .params import ClusterParams
from .roles import REPORT, role_for
from .stories import StoryVector, accumulate, cosine, idf, shared_terms, weighted


@dataclass(frozen=True)
class Decision:
    story_id: int
    copy_of: int | None
    reuse: float
    role: str
    score: float
    evidence: dict = field(default_factory=dict)


@dataclass
class _Article:
    id: int
    when: datetime
    story: int
    sig: np.ndarray
    n_shingles: int
    vec: StoryVector
    nums: frozenset[str]
    names: frozenset[str]
    norm: float = 0.0  # norm of the IDF-weighted vector as of norm_at documents
    norm_at: int = 0


class Clusterer:
    def __init__(self, params: ClusterParams | None = None) -> None:
        self.params = p = params or ClusterParams()
        self._window = timedelta(days=p.window_days)
        self._articles: dict[int, _Article] = {}
        self._stories: dict[int, list[int]] = {}  # story id → live member ids, in id order
        self._bands = BandIndex(p.num_perm, p.lsh_bands)
        self._terms = TermIndex(p.posting_cap)
        self._expiry: list[tuple[datetime, int]] = []  # heap of (when, id)
        self._newest: datetime | None = None
        # per-decision memo (IDF changes only between decisions); reset in _decide
        self._idf_cache: dict[str, float] = {}
        self._vec_cache = {}

    def __len__(self) -> int:
        return len(self._articles)

    # ----- public API -------------------------------------------------------------------
    def assign(self, article_id: int, when: datetime, features: Features, outlet: str = "") -> Decision:
        art = self._make(article_id, when, features, story=article_id)
        self._expire(when)
        decision = self._decide(art)
        art.story = decision.story_id
        self._insert(art)
        return decision

    def restore(
        self, article_id: int, when: datetime, features: Features, story_id: int, copy_of: int | None = None
    ) -> None:
        art = self._make(article_id, when, features, story=story_id)
        self._expire(when)
        self._insert(art)

    def move(self, article_id: int, story_id: int) -> None:
        art = self._articles.get(article_id)
        if art is None or art.story == story_id:
            return
        self._leave(art)
        art.story = story_id
        self._join(art)

    def story_of(self, article_id: int) -> int | None:
        art = self._articles.get(article_id)
        return art.story if art else None

    # ----- state ------------------------------------------------------------------------
    def _make(self, article_id: int, when: datetime, f: Features, story: int) -> _Article:
        p = self.params
        if f.scheme != p.scheme:
            raise ValueError(f"features of scheme {f.scheme!r}, clusterer expects {p.scheme!r}")
        data = f.data()
        return _Article(
            id=article_id,
            when=when,
            story=story,
            sig=f.hashvalues(),
            n_shingles=int(data.get("n", 0)),
            vec=StoryVector.from_payload(data, p),
            nums=frozenset(data.get("nums", ())),
            names=frozenset(data.get("names", ())),
        )

    def _insert(self, art: _Article) -> None:
        self._articles[art.id] = art
        self._join(art)
        self._bands.add(art.id, art.sig)
        self._terms.add(art.id, art.vec.weights)
        heapq.heappush(self._expiry, (art.when, art.id))
        if self._newest is None or art.when > self._newest:
            self._newest = art.when

    def _join(self, art: _Article) -> None:
        members = self._stories.setdefault(art.story, [])
        members.append(art.id)
        members.sort()

    def _leave(self, art: _Article) -> None:
        members = self._stories.get(art.story)
        if members and art.id in members:
            members.remove(art.id)
            if not members:
                del self._stories[art.story]

    def _expire(self, when: datetime) -> None:
        newest = when if self._newest is None or when > self._newest else self._newest
        horizon = newest - self._window
        while self._expiry and self._expiry[0][0] < horizon:
            _, aid = heapq.heappop(self._expiry)
            art = self._articles.pop(aid, None)
            if art is None:
                continue
            self._leave(art)
            self._bands.discard(aid, art.sig)
            self._terms.discard(aid, art.vec.weights)

    def _live(self, aid: int, when: datetime) -> _Article | None:
        art = self._articles.get(aid)
        if art is None or abs(art.when - when) > self._window:
            return None
        return art

    # ----- the decision -----------------------------------------------------------------
    def _weighted(self, art: _Article) -> tuple:
        """The member's IDF-weighted vector, with a norm refreshed only when the stream has
        grown by 5 % since it was computed: recomputing every member's norm under the
        current IDF at every decision cost 8x the rest of assign (measured 33 vs 300 docs/s).
        Deterministic: refreshes depend only on the stream."""
        w = self._vec_cache.get(art.id)
        if w is None:
            n = self._terms.n_docs
            if art.norm_at == 0 or n > art.norm_at * 1.05:
                art.norm = weighted(art.vec, self._terms, self._idf_cache)[1]
                art.norm_at = n
            cache, index = self._idf_cache, self._terms
            vec = {}
            for t, x in art.vec.weights.items():
                v = cache.get(t)
                if v is None:
                    v = cache[t] = idf(index, t)
                vec[t] = x * v
            w = self._vec_cache[art.id] = (vec, art.norm)
        return w

    def _threshold(self, a: datetime, b: datetime) -> float:
        """Same-event reports cluster in time: demand more similarity the further apart they are."""
        p = self.params
        days = abs((a - b).total_seconds()) / 86400.0
        ramp = min(1.0, days / p.ramp_days) if p.ramp_days > 0 else 1.0
        return p.story_threshold + (p.story_threshold_far - p.story_threshold) * ramp

    def _story_score(self, q, art: _Article, sid: int) -> tuple[float, int]:
        """(score, most similar member) of story ``sid`` for the query vector ``q``.

        Members compared: the first few (what the story is about) and the newest (where it
        went); bounded, so a huge story costs the same as a small one."""
        p = self.params
        members = self._stories.get(sid, [])
        half = p.story_members // 2
        chosen = members if len(members) <= p.story_members else members[:half] + members[-half:]
        sims = []
        for mid in chosen:
            other = self._live(mid, art.when)
            if other is not None:
                sims.append((cosine(q, self._weighted(other)), mid))
        if not sims:
            return 0.0, members[0]
        best, member = max(sims, key=lambda x: (x[0], -x[1]))
        mean = sum(x for x, _ in sims) / len(sims)
        return p.link_max * best + (1.0 - p.link_max) * mean, member

    def _decide(self, art: _Article) -> Decision:
        p = self.params
        self._idf_cache = {}
        self._vec_cache = {}
        q = weighted(art.vec, self._terms, self._idf_cache)

        # 1. story candidates: cheap accumulation, exact cosine on the best few
        acc = accumulate(q[0], self._terms, p)
        top = sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[: p.rescore]
        scored: list[tuple[float, int]] = []  # (cosine, article id)
        for aid, _ in top:
            other = self._live(aid, art.when)
            if other is None:
                continue
            scored.append((cosine(q, self._weighted(other)), aid))

        # 2. copies: LSH candidates plus the best story candidates, exact signature check
        copy_ids = set(self._bands.query(art.sig)) | {aid for _, aid in scored}
        cands = []
        for aid in sorted(copy_ids):
            other = self._live(aid, art.when)
            if other is not None:
                cands.append((aid, other.sig, other.n_shingles))
        copy, overlap = best_copy(art.sig, art.n_shingles, cands, p)

        if copy is not None:
            target = self._articles[copy.article_id]
            role = role_for(copy.article_id, copy.jaccard, copy.containment, p)
            return Decision(
                story_id=target.story,
                copy_of=copy.article_id,
                reuse=round(copy.containment, 4),
                role=role,
                score=round(copy.containment, 4),
                evidence={"method": "copy", "jaccard": round(copy.jaccard, 4), "containment": round(copy.containment, 4)},
            )

        # 3. story join: every candidate story scored against (a bounded set of) its members
        best_story, best_score, best_member, best_margin = None, 0.0, None, -1.0
        for sid in sorted({self._articles[aid].story for _, aid in scored}):
            s, member = self._story_score(q, art, sid)
            margin = s - self._threshold(art.when, self._articles[member].when)
            if margin > best_margin:
                best_story, best_score, best_member, best_margin = sid, s, member, margin
        reuse = overlap.containment if overlap is not None else 0.0
        if best_story is not None and best_margin >= 0.0:
            if overlap is None or self._articles[overlap.article_id].story != best_story:
                reuse = 0.0
            other = self._articles[best_member]
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
                    "shared_terms": shared_terms(q[0], other.vec.weights),
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
