"""Copy detection: LSH candidates, then an exact check on the signatures.

A copy needs (1) enough text on both sides — boilerplate and video stubs share their few
shingles with everything — and (2) most of the *new* article's shingles found in the earlier
one (containment), which covers a truncated wire copy whose Jaccard is small, and (3) the two
reading alike as stories (the caller's ``confirm``): page chrome that extraction kept, a
newsletter box under every article of an outlet, is most of the shingles of a short article.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .fingerprint import containment
from .params import ClusterParams


def jaccard_of(equal: int, num_perm: int) -> float:
    """``fingerprint.jaccard`` from the count of equal MinHash values (the same float)."""
    return float(equal) / num_perm


@dataclass(frozen=True)
class CopyMatch:
    article_id: int
    jaccard: float
    containment: float  # share of the new article's shingles found in article_id


def best_copy(
    sig: np.ndarray,
    n_shingles: int,
    ids: list[int],
    sigs: np.ndarray,
    n_other: list[int],
    p: ClusterParams,
    confirm: Callable[[int], bool] | None = None,
) -> tuple[CopyMatch | None, CopyMatch | None]:
    """(best match that qualifies as a copy, best overlap seen at all) over the candidates.

    Candidate ``i`` is article ``ids[i]`` with signature ``sigs[i]`` (one row of a matrix: the
    signatures are compared in one numpy pass) and ``n_other[i]`` shingles, in a deterministic
    order; ties go to the earliest article (the original rather than a copy of it). A candidate
    that passes the shingle tests qualifies only if ``confirm(article id)`` holds as well (the
    clusterer's check that the two also read alike: ``Clusterer._reads_alike``)."""
    best: CopyMatch | None = None
    seen: CopyMatch | None = None
    if not ids:
        return best, seen
    equal = np.count_nonzero(sigs == sig, axis=1).tolist()
    for aid, same, n in zip(ids, equal, n_other, strict=True):
        if not same:
            continue
        j = jaccard_of(same, len(sig))
        c = containment(j, n_shingles, n)
        m = CopyMatch(aid, j, c)
        if seen is None or (c, j, -aid) > (seen.containment, seen.jaccard, -seen.article_id):
            seen = m
        if n_shingles < p.min_copy_shingles or n < p.min_copy_shingles:
            continue
        if c < p.copy_containment:
            continue
        if best is None or (c, j, -aid) > (best.containment, best.jaccard, -best.article_id):
            if confirm is None or confirm(aid):
                best = m
    return best, seen
