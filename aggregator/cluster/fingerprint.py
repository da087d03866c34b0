"""MinHash signatures of word shingles (datasketch's affine32 scheme, xxh32 shingle hashes).

The scheme string in ``ClusterParams.scheme`` names everything that makes two signatures
comparable; datasketch 2.0 changed its default scheme, so it is always passed explicitly.

``signature`` computes exactly what ``datasketch.MinHash(scheme="affine32",
hashfunc=xxh32_intdigest).update_batch`` computes (the permutations are taken from datasketch,
the arithmetic is its affine32 step), without its per-item Python work and its temporaries:
the xxh32 calls go through ``map``, and the (num_perm x shingles) products are computed in
place, a bounded block at a time, with the permutations on the outer axis so each minimum is
one contiguous reduction. ``tests/test_cluster_featurize_fast.py`` checks it against datasketch
bit for bit.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xxhash
from datasketch import MinHash

SCHEME = "affine32"
_MAX = np.uint32(0xFFFFFFFF)  # datasketch's empty-sketch value
# MurmurHash3's 32-bit finalizer, which datasketch applies once to every input hash (affine32).
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_BLOCK = 4096  # shingles per step: bounds the (num_perm x block) scratch array at 2 MB


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's (a, b) for this (num_perm, seed), shaped (num_perm, 1) for broadcasting.

    Taken from datasketch itself, so the permutations are its own whatever its generator."""
    m = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME, hashfunc=xxhash.xxh32_intdigest)
    a, b = np.asarray(m.permutations, dtype=np.uint32)
    return a.reshape(-1, 1).copy(), b.reshape(-1, 1).copy()


def shingles(tokens: list[str], k: int) -> set[bytes]:
    """Distinct k-word shingles (the words joined by one space, UTF-8); a text shorter than k
    words is one shingle."""
    if not tokens:
        return set()
    if len(tokens) < k:
        return {" ".join(tokens).encode("utf-8")}
    # One encode of the whole text instead of one per shingle; splitting it back gives each
    # token's bytes unless a token holds a space itself (never from ``text.words``).
    enc = " ".join(tokens).encode("utf-8").split(b" ")
    if len(enc) != len(tokens):
        enc = [t.encode("utf-8") for t in tokens]
    return set(map(b" ".join, zip(*(enc[i:] for i in range(k)), strict=False)))


def hashes(items: set[bytes]) -> np.ndarray:
    """xxh32 of each item (any order: the signature is a minimum)."""
    return np.fromiter(map(xxhash.xxh32_intdigest, items), dtype=np.uint32, count=len(items))


def signature(items: set[bytes], num_perm: int, seed: int) -> np.ndarray:
    """uint32 MinHash values of ``items`` (all-max when empty)."""
    return minhash(hashes(items), num_perm, seed)


def minhash(hv: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """affine32 MinHash of uint32 input hashes: min over h of a*fmix(h) + b, mod 2^32."""
    a, b = _permutations(num_perm, seed)
    out = np.full(num_perm, _MAX, dtype=np.uint32)
    if not len(hv):
        return out
    s1, m1, s2, m2, s3 = _FMIX
    h = hv ^ (hv >> s1)
    h *= m1  # uint32 arithmetic wraps: that is the mod 2^32 of the scheme
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    for i in range(0, len(h), _BLOCK):
        block = np.multiply(a, h[i : i + _BLOCK])  # (num_perm, block)
        block += b
        np.minimum(out, block.min(axis=1), out=out)
    return out


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
