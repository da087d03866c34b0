"""Candidate indexes with bounded cost per query.

Both indexes keep, per key, only the newest ``cap`` articles, so the work of a lookup depends on
the number of keys in the query and on ``cap`` — never on how many articles the window holds.
Expired articles are removed by the clusterer (``discard``).

``BandIndex`` here is the dict-of-deques LSH index (≈ 29 KB per article); the clusterer uses the
flat-array one in ``bands.py`` and this one stays as the reference the benchmarks compare with.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable
from operator import itemgetter

import numpy as np
import xxhash


class BandIndex:
    """LSH over MinHash signatures: ``bands`` buckets per article, band-hash → newest ids."""

    def __init__(self, num_perm: int, bands: int, cap: int = 256) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
        self.bands = bands
        self.rows = num_perm // bands
        self.cap = cap
        self._buckets: dict[int, deque[int]] = {}

    def _keys(self, sig: np.ndarray) -> list[int]:
        r = self.rows
        # the band number is mixed into the key so equal values in different bands never meet
        return [xxhash.xxh64_intdigest(sig[b * r : (b + 1) * r].tobytes(), seed=b) for b in range(self.bands)]

    def query(self, sig: np.ndarray) -> set[int]:
        out: set[int] = set()
        for k in self._keys(sig):
            ids = self._buckets.get(k)
            if ids:
                out.update(ids)
        return out

    def add(self, article_id: int, sig: np.ndarray) -> None:
        for k in self._keys(sig):
            ids = self._buckets.get(k)
            if ids is None:
                ids = self._buckets[k] = deque(maxlen=self.cap)
            ids.append(article_id)

    def query_add(self, article_id: int, sig: np.ndarray) -> set[int]:
        out = self.query(sig)
        self.add(article_id, sig)
        return out

    def extend(self, ids: Iterable[int], sigs: np.ndarray) -> None:
        for article_id, sig in zip(ids, sigs, strict=True):
            self.add(int(article_id), sig)

    def discard(self, article_id: int, sig: np.ndarray) -> None:
        for k in self._keys(sig):
            ids = self._buckets.get(k)
            if ids is None:
                continue
            try:
                ids.remove(article_id)
            except ValueError:
                pass
            if not ids:
                del self._buckets[k]


class TermIndex:
    """Vocabulary, document frequencies and the inverted index term → newest live articles.

    Terms are interned to int ids (``id``): the clusterer's vectors, postings and per-decision
    caches hold small ints, and each term string is kept once for the window (a dict of str per
    article cost ≈ 13 KB per article with the per-term deques, issue 7).

    The document frequencies are the stream-learned IDF the story stage uses (a fixed corpus
    inflates new terms: "2023" once became a story). They count every article ever added and
    are *not* reduced when an article leaves the window: a sparse window (a quiet feed list,
    or the labeled sets, 2–10 articles per 30 days) gives a meaningless IDF — measured −0.1 B3
    F1 on pac. Memory is one counter (and one string) per vocabulary word.

    Postings hold the clusterer's *slots* (small ints, reused once an article has left): per
    term an ``array('i')`` of at most ``cap`` slots, oldest first — adding to a full one drops
    its oldest, ``discard`` frees a place, as the deque it replaces did (≈ 700 bytes per term
    for a deque's block against 80 + 4 per posting). A term with no posting left holds None.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.n_docs = 0
        self.df = array("i")  # per term id: articles ever added that contain the term
        self.terms: list[str] = []  # term id → term
        self._ids: dict[str, int] = {}
        self._postings: list[array | None] = []

    def id(self, term: str) -> int:
        """The id of ``term``, interned on first sight (df 0 until an article with it is added)."""
        tid = self._ids.get(term)
        if tid is None:
            tid = self._ids[term] = len(self.terms)
            self.terms.append(term)
            self.df.append(0)
            self._postings.append(None)
        return tid

    def ids(self, terms: list[str]) -> list[int]:
        """``id`` of each term (one C call when they are all known: a restart interns every
        term of the window)."""
        if len(terms) < 2:
            return [self.id(t) for t in terms]
        get = itemgetter(*terms)
        try:
            return list(get(self._ids))
        except KeyError:
            self._intern([t for t in dict.fromkeys(terms) if t not in self._ids])
            return list(get(self._ids))

    def _intern(self, new: list[str]) -> None:
        """Give the unknown ``new`` terms the next ids, in order, as ``id`` would one by one
        (in bulk: a young stream brings dozens of new terms with every article)."""
        first, k = len(self.terms), len(new)
        self._ids.update(zip(new, range(first, first + k), strict=True))
        self.terms.extend(new)
        self.df.frombytes(bytes(k * self.df.itemsize))
        self._postings.extend([None] * k)

    def postings(self, tid: int) -> Iterable[int]:
        return self._postings[tid] or ()

    @property
    def postings_by_id(self) -> list[array | None]:
        """Per term id its postings (None when it has none); read only, for ``accumulate``,
        which walks a few hundred of them per decision."""
        return self._postings

    def add(self, slot: int, tids: Iterable[int]) -> None:
        self.n_docs += 1
        df, postings, cap = self.df, self._postings, self.cap
        first = array("i", (slot,))  # a term's first posting: copied (a slice is ≈ 3x cheaper than the constructor)
        for t in tids:
            df[t] += 1
            ids = postings[t]
            if ids is None:
                if cap > 0:
                    postings[t] = first[:]
            else:
                if len(ids) >= cap:
                    del ids[0]
                ids.append(slot)

    def extend(self, slots: np.ndarray, tids: np.ndarray, docs: int) -> None:
        """``docs`` articles at once (a restart replays a window): posting ``i`` is term
        ``tids[i]`` of slot ``slots[i]``, in the order ``add`` would have seen them. The same
        state as adding them one by one — each term keeps the newest ``cap`` — in a few numpy
        passes and one step per distinct term."""
        self.n_docs += docs
        if not len(tids):
            return
        df = np.frombuffer(self.df, dtype=np.int32)
        df += np.bincount(tids, minlength=len(df)).astype(np.int32)
        del df  # a live buffer view would stop the array from growing
        order = np.argsort(tids, kind="stable")  # by term, each term's postings in order
        terms, owners = tids[order], slots[order].astype(np.int32)
        starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]])
        ends = np.r_[starts[1:], len(terms)]
        postings, cap = self._postings, self.cap
        if cap <= 0:
            return
        for t, a, b in zip(terms[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
            new = owners[max(a, b - cap) : b].tobytes()
            ids = postings[t]
            if ids is None:
                postings[t] = array("i", new)
            else:
                ids.frombytes(new)
                if len(ids) > cap:
                    del ids[: len(ids) - cap]

    def discard(self, slot: int, tids: Iterable[int]) -> None:
        postings = self._postings
        for t in tids:
            ids = postings[t]
            if ids is not None and slot in ids:
                ids.remove(slot)
                if not ids:
                    postings[t] = None
