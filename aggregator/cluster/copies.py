"""Copy detection: LSH candidates, then an exact check on the signatures.

A copy needs (1) enough text on both sides — boilerplate and video stubs share their few
shingles with everything — and (2) most of the *new* article's shingles found in the earlier
one (containment), which covers a truncated wire copy whose Jaccard is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fingerprint import containment, jaccard
from .params import ClusterParams


@dataclass(frozen=True)
class CopyMatch:
    article_id: int
    jaccard: float
    containment: float  # share of the new article's shingles found in article_id


def best_copy(
    sig: np.ndarray,
    n_shingles: int,
    candidates: list[tuple[int, np.ndarray, int]],
    p: ClusterParams,
) -> tuple[CopyMatch | None, CopyMatch | None]:
    """(best match that qualifies as a copy, best overlap seen at all) over ``candidates``.

    ``candidates`` are (article_id, signature, n_shingles) in a deterministic order; ties go to
    the earliest article (the original rather than a copy of it)."""
    best: CopyMatch | None = None
    seen: CopyMatch | None = None
    for aid, other, n_other in candidates:
        j = jaccard(sig, other)
        if j == 0.0:
            continue
        c = containment(j, n_shingles, n_other)
        m = CopyMatch(aid, j, c)
        if seen is None or (c, j, -aid) > (seen.containment, seen.jaccard, -seen.article_id):
            seen = m
        if n_shingles < p.min_copy_shingles or n_other < p.min_copy_shingles:
            continue
        if c < p.copy_containment:
            continue
        if best is None or (c, j, -aid) > (best.containment, best.jaccard, -best.article_id):
            best = m
    return best, seen
