"""The story decision: TF-IDF over title + lead, IDF learned from the live window.

An article is compared with *members* (not a running centroid, which drifts as a story grows):
cheap candidate accumulation over the term index, then exact cosine on the best few.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .index import TermIndex
from .params import ClusterParams


@dataclass(frozen=True)
class StoryVector:
    """Sub-linear term weights (before IDF) of title + lead."""

    weights: dict[str, float]

    @classmethod
    def from_payload(cls, data: dict, p: ClusterParams) -> "StoryVector":
        tf: dict[str, float] = {}
        for t, n in data.get("l", {}).items():
            tf[t] = tf.get(t, 0.0) + n
        for t in data.get("t", ()):
            tf[t] = tf.get(t, 0.0) + p.title_weight
        return cls({t: 1.0 + math.log(n) for t, n in sorted(tf.items()) if n > 0})


def idf(index: TermIndex, term: str) -> float:
    # Smoothed; +1 for the article being scored so a brand-new term is not infinitely rare.
    return math.log((index.n_docs + 1) / (index.df.get(term, 0) + 1)) + 1.0


def weighted(
    vec: StoryVector, index: TermIndex, cache: dict[str, float] | None = None
) -> tuple[dict[str, float], float]:
    """IDF-weighted vector and its norm; ``cache`` memoises IDF within one decision."""
    if cache is None:
        cache = {}
    w = {}
    for t, x in vec.weights.items():
        v = cache.get(t)
        if v is None:
            v = cache[t] = idf(index, t)
        w[t] = x * v
    norm = math.sqrt(sum(v * v for v in w.values()))
    return w, norm


def cosine(a: tuple[dict[str, float], float], b: tuple[dict[str, float], float]) -> float:
    wa, na = a
    wb, nb = b
    if not na or not nb:
        return 0.0
    if len(wa) > len(wb):
        wa, wb = wb, wa
    return sum(v * wb[t] for t, v in wa.items() if t in wb) / (na * nb)


def shared_terms(a: dict[str, float], b: dict[str, float], k: int = 8) -> list[str]:
    common = [(a[t] * b[t], t) for t in a if t in b]
    common.sort(key=lambda x: (-x[0], x[1]))
    return [t for _, t in common[:k]]


def accumulate(query: dict[str, float], index: TermIndex, p: ClusterParams) -> dict[int, float]:
    """Cheap upper-level score per indexed article: sum of the query's IDF-weighted shared terms.

    Terms present in more than ``max_df_ratio`` of the window offer no candidates (they would
    offer everyone); the posting caps bound the rest."""
    acc: dict[int, float] = {}
    get = acc.get
    n = index.n_docs
    cap = p.max_df_ratio * n if n >= 20 else float("inf")
    for t in sorted(query):  # sorted: the float sums come out the same in any process
        df = index.df.get(t, 0)
        if not df or df > cap:
            continue
        w = query[t]
        for aid in index.postings(t):
            acc[aid] = get(aid, 0.0) + w
    return acc
