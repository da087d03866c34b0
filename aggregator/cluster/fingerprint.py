"""MinHash signatures of word shingles (datasketch, affine32 scheme, xxh32 shingle hashes).

The scheme string in ``ClusterParams.scheme`` names everything that makes two signatures
comparable; datasketch 2.0 changed its default scheme, so it is always passed explicitly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xxhash
from datasketch import LeanMinHash, MinHash

SCHEME = "affine32"


@lru_cache(maxsize=8)
def _template(num_perm: int, seed: int) -> MinHash:
    # Building the permutations is the slow part of MinHash(); they depend only on
    # (num_perm, seed), so share one deterministic template per process.
    return MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME, hashfunc=xxhash.xxh32_intdigest)


def shingles(tokens: list[str], k: int) -> set[bytes]:
    """Distinct k-word shingles; a text shorter than k words is one shingle."""
    if not tokens:
        return set()
    if len(tokens) < k:
        return {" ".join(tokens).encode("utf-8")}
    return {" ".join(tokens[i : i + k]).encode("utf-8") for i in range(len(tokens) - k + 1)}


def signature(items: set[bytes], num_perm: int, seed: int) -> np.ndarray:
    """uint32 MinHash values of ``items`` (all-max when empty)."""
    t = _template(num_perm, seed)
    m = MinHash(
        num_perm=num_perm,
        seed=seed,
        scheme=SCHEME,
        hashfunc=xxhash.xxh32_intdigest,
        permutations=t.permutations,
    )
    if items:
        m.update_batch(sorted(items))  # sorted: identical bytes in, identical state out
    return np.asarray(LeanMinHash(m).hashvalues, dtype=np.uint32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures of the same scheme."""
    return float(np.count_nonzero(a == b)) / len(a)


def containment(j: float, n_a: int, n_b: int) -> float:
    """Estimated share of A's shingles found in B, from Jaccard and the two set sizes.

    |A∩B| = J(|A|+|B|)/(1+J). This is what lets a truncated copy (A ⊂ B, small J) still be
    recognised as a copy."""
    if n_a <= 0:
        return 0.0
    inter = j * (n_a + n_b) / (1.0 + j)
    return min(1.0, inter / n_a)
