"""The story decision: TF-IDF over title + lead, IDF learned from the stream.

An article is compared with *members* (not a running centroid, which drifts as a story grows):
cheap candidate accumulation over the term index, then exact cosine on the best few.

Vectors are held as term ids (``index.TermIndex``) in the order of the term *strings*, with one
small code per term for its weight (``VectorPool``). Every float sum below runs over terms in that
order — the order the dict-of-str vectors they replace iterated in — so the scores, and with them
the decisions, are the same to the last bit.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import add, itemgetter, mul

import numpy as np

from .index import TermIndex
from .params import ClusterParams
from .text import fold


class TfWeights:
    """Term weights ``1 + log(tf) + body_weight * (1 + log(btf))``, times ``name_weight`` for a
    name, one small code per distinct (tf, btf, name).

    tf is a lead count plus ``title_weight`` for a title term, btf the count in the body after
    the lead (payload "b"); either may be 0, meaning that part is absent (never a fractional
    count under the log, so each part is ≥ 1 and ≥ body_weight). A few hundred distinct
    values in a whole stream, so a vector stores a 2-byte code per term instead of a float, and
    the weight read back is the very float computed once from that key. Without a body part the
    weight is exactly ``1 + log(tf)`` (times name_weight), as before body terms."""

    def __init__(self, name_weight: float = 1.0, body_weight: float = 0.0) -> None:
        self.weight: list[float] = []  # code → weight
        self._codes: dict[tuple[float, int, bool], int] = {}
        self._name_weight = name_weight
        self._body_weight = body_weight

    def code(self, tf: float, btf: int = 0, name: bool = False) -> int:
        key = (tf, btf, name)
        c = self._codes.get(key)
        if c is None:
            c = self._codes[key] = len(self.weight)
            if btf <= 0:
                w = 1.0 + math.log(tf)
            elif tf <= 0:
                w = self._body_weight * (1.0 + math.log(btf))
            else:
                w = 1.0 + math.log(tf) + self._body_weight * (1.0 + math.log(btf))
            self.weight.append(w * self._name_weight if name else w)
        return c

    def codes(self, tfs: list[float], btfs: list[int], names: list[bool]) -> list[int]:
        keys = list(zip(tfs, btfs, names, strict=True))
        try:
            return lookup(self._codes, keys)
        except KeyError:
            return [self.code(*k) for k in keys]


def lookup(table: dict, keys: list) -> list:
    """``[table[k] for k in keys]`` in one C call (itemgetter): a restart does this for every
    term of every article in the window. KeyError when one is missing."""
    if len(keys) > 1:
        return list(itemgetter(*keys)(table))
    return [table[k] for k in keys]


def story_terms(data: dict, p: ClusterParams, index: TermIndex, tfw: TfWeights) -> tuple[list[int], list[int]]:
    """(term ids, weight codes) of title + lead from a Features payload, in term order.

    tf is the lead count plus ``title_weight`` for a title term, as the float sums of the
    dict-of-str vectors had it (an int count and the float it was summed into are equal keys
    and give the same ``log``). A term that is one of the payload's ``names`` (capitalised
    words of title and lead, not at a sentence start; folded like the terms) is a name.

    Body terms (payload "b", counts in the ``body_words`` after the lead) join with
    ``body_weight`` times their own weight ``1 + log(count)``. featurize leaves title and lead
    terms out of "b": such a term keeps its title/lead weight alone (one here anyway is
    skipped). ``body_weight`` 0 ignores them."""
    tf = data.get("l", {})
    title = data.get("t", ())
    if title:
        tf = dict(tf)
        w = p.title_weight
        for t in title:
            tf[t] = tf.get(t, 0) + w
    if tf and min(tf.values()) <= 0:  # a zero count: no weight (never from featurize)
        tf = {t: n for t, n in tf.items() if n > 0}
    body = data.get("b") if p.body_weight > 0 else None
    if body:
        body = {t: n for t, n in body.items() if t not in tf and isinstance(n, int) and n > 0}
    if body:
        # merged in term order; 0 marks the absent part (TfWeights)
        terms = sorted(tf.keys() | body.keys())
        values = [tf.get(t, 0) for t in terms]
        btfs = [body.get(t, 0) for t in terms]
    else:
        terms = sorted(tf)
        values = lookup(tf, terms)
        btfs = [0] * len(terms)
    names = {fold(n) for n in data.get("names", ())}
    return index.ids(terms), tfw.codes(values, btfs, list(map(names.__contains__, terms)))


class VectorPool:
    """Story vectors and fact ids of the live articles, in flat arrays indexed by slot.

    A slot's entry is a run of ``nvec`` term ids (with their weight codes) followed by its
    ``nfact`` fact ids, at ``start`` in ``_terms``/``_codes``. Runs are appended; a dropped slot
    leaves its run as garbage, squeezed out by one numpy gather once it passes a quarter of the
    live entries (amortised a few copies per entry; the arrays stay ≤ 1.25x what is live).
    ≈ 6 bytes per term against ≈ 100 for a str → float dict entry."""

    def __init__(self, name_weight: float = 1.0, body_weight: float = 0.0) -> None:
        self.tf = TfWeights(name_weight, body_weight)
        self._terms = array("i")
        self._codes = array("H")  # widened to "I" should a stream ever show 65,536 distinct tfs
        self._start = array("q")  # per slot; -1: free
        self._nvec = array("i")
        self._nfact = array("i")
        self._live = 0  # entries held by live slots

    def put(self, slot: int, tids: Sequence[int], codes: Sequence[int], facts: Sequence[int]) -> None:
        while len(self._start) <= slot:
            self._start.append(-1)
            self._nvec.append(0)
            self._nfact.append(0)
        if self._codes.typecode == "H" and len(self.tf.weight) > 0xFFFF:
            self._codes = array("I", self._codes)
        self._start[slot] = len(self._terms)
        self._nvec[slot] = len(tids)
        self._nfact[slot] = len(facts)
        self._terms.extend(tids)
        self._terms.extend(facts)
        self._codes.extend(codes)
        self._codes.extend(bytes(len(facts)))
        self._live += len(tids) + len(facts)

    def drop(self, slot: int) -> None:
        self._live -= self._nvec[slot] + self._nfact[slot]
        self._start[slot] = -1
        self._nvec[slot] = self._nfact[slot] = 0
        garbage = len(self._terms) - self._live
        if garbage > 4096 and garbage * 4 > self._live:
            self._compact()

    def vector(self, slot: int) -> tuple[array, array]:
        """(term ids, weight codes) of the slot's story vector, in term order."""
        s = self._start[slot]
        e = s + self._nvec[slot]
        return self._terms[s:e], self._codes[s:e]

    def terms(self, slot: int) -> array:
        s = self._start[slot]
        return self._terms[s : s + self._nvec[slot]]

    def facts(self, slot: int) -> array:
        s = self._start[slot] + self._nvec[slot]
        return self._terms[s : s + self._nfact[slot]]

    def runs(self, slots: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(slot of each term, term id) of the story vectors of ``slots``, in that order."""
        sl = np.array(slots, dtype=np.int64)
        starts = np.frombuffer(self._start, dtype=np.int64)[sl]
        n = np.frombuffer(self._nvec, dtype=np.int32)[sl].astype(np.int64)
        begin = np.cumsum(n) - n
        src = np.repeat(starts - begin, n) + np.arange(int(n.sum()), dtype=np.int64)
        return np.repeat(sl.astype(np.int32), n), np.frombuffer(self._terms, dtype=np.int32)[src]

    def nbytes(self) -> int:
        cols = (self._terms, self._codes, self._start, self._nvec, self._nfact)
        return sum(a.itemsize * len(a) for a in cols)

    def _compact(self) -> None:
        starts = np.frombuffer(self._start, dtype=np.int64)
        lens = np.frombuffer(self._nvec, dtype=np.int32).astype(np.int64)
        lens += np.frombuffer(self._nfact, dtype=np.int32)
        live = np.flatnonzero(starts >= 0)
        live = live[np.argsort(starts[live], kind="stable")]  # keep the runs in their order
        n = lens[live]
        new = np.cumsum(n) - n
        src = np.repeat(starts[live] - new, n) + np.arange(int(n.sum()), dtype=np.int64)
        terms = np.frombuffer(self._terms, dtype=np.int32)[src]
        codes = np.frombuffer(self._codes, dtype=np.uint16 if self._codes.typecode == "H" else np.uint32)[src]
        moved = starts.copy()
        moved[live] = new
        del starts  # release the buffer views before the arrays are replaced
        self._terms = array("i", terms.tobytes())
        self._codes = array(self._codes.typecode, codes.tobytes())
        self._start = array("q", moved.tobytes())


def idf(index: TermIndex, tid: int) -> float:
    # Smoothed; +1 for the article being scored so a brand-new term is not infinitely rare.
    return math.log((index.n_docs + 1) / (index.df[tid] + 1)) + 1.0


class IdfTable(dict):
    """IDF by document frequency for one decision (``n_docs`` is fixed while one is decided).

    The IDF of a term depends only on its df, and a decision's few hundred terms share a few
    dozen dfs: ``table[df]`` computes each one once (``__missing__``), ``values_of`` maps a run of
    term ids to their IDFs in C (``map``), where a call per term cost most of a member's norm
    refresh in a young stream (issue 7). Each value is the very float ``idf`` returns."""

    __slots__ = ("_n1", "df")

    def __init__(self, index: TermIndex) -> None:
        super().__init__()
        self._n1 = index.n_docs + 1
        self.df = index.df  # per term id

    def __missing__(self, d: int) -> float:
        v = self[d] = math.log(self._n1 / (d + 1)) + 1.0
        return v

    def values_of(self, tids: Iterable[int]) -> Iterable[float]:
        """The IDF of each term id, lazily, in order."""
        return map(self.__getitem__, map(self.df.__getitem__, tids))


def term_weights(tids: Iterable[int], codes: Iterable[int], weight: list[float], idfs: IdfTable) -> list[float]:
    """``weight[code] * idf`` per term, in order (the IDF-weighted vector's values)."""
    return list(map(mul, map(weight.__getitem__, codes), idfs.values_of(tids)))


def weighted(
    tids: Sequence[int], codes: Sequence[int], weight: list[float], idfs: IdfTable
) -> tuple[dict[int, float], float]:
    """IDF-weighted vector (term id → weight, in term order) and its norm."""
    ws = term_weights(tids, codes, weight, idfs)
    return dict(zip(tids, ws, strict=True)), math.sqrt(sum(map(mul, ws, ws)))


def norm(tids: Sequence[int], codes: Sequence[int], weight: list[float], idfs: IdfTable) -> float:
    """The norm ``weighted`` would return, without building the vector. The squares are summed
    left to right, as ``sum`` of a list did: the same float."""
    ws = term_weights(tids, codes, weight, idfs)
    return math.sqrt(sum(map(mul, ws, ws)))


def dot(
    query: dict[int, float], tids: Sequence[int], codes: Sequence[int], weight: list[float], idfs: IdfTable
) -> float:
    """Dot product of the IDF-weighted query with a member's vector weighted by the same IDFs.

    The shared terms are taken in the member's order, which is the query's (both are in
    term-string order), and each product is ``query weight * tf weight * idf``, summed left to
    right: the float the per-term loop over a sorted intersection gave. Every step runs in C
    (``map``/``compress``), where a Python loop step costs ≈ 0.5 µs a term."""
    shared = list(map(query.__contains__, tids))
    if True not in shared:
        return 0.0
    common = list(compress(tids, shared))
    products = map(mul, map(query.__getitem__, common), map(weight.__getitem__, compress(codes, shared)))
    return sum(map(mul, products, idfs.values_of(common)))


def shared_terms(
    query: dict[int, float],
    tids: Iterable[int],
    codes: Iterable[int],
    weight: list[float],
    index: TermIndex,
    k: int = 8,
) -> list[str]:
    """The ``k`` terms contributing most to the cosine of the query with a member (evidence)."""
    words = index.terms
    common = [(query[t] * weight[c], words[t]) for t, c in zip(tids, codes, strict=True) if t in query]
    common.sort(key=lambda x: (-x[0], x[1]))
    return [t for _, t in common[:k]]


def accumulate(query: dict[int, float], index: TermIndex, p: ClusterParams) -> dict[int, float]:
    """Cheap upper-level score per indexed slot: sum of the query's IDF-weighted shared terms.

    Terms present in more than ``max_df_ratio`` of the window offer no candidates (they would
    offer everyone); the posting caps bound the rest. The query is in term order: the float
    sums come out the same in any process."""
    acc: dict[int, float] = {}
    get, update = acc.get, acc.update
    n = index.n_docs
    cap = p.max_df_ratio * n if n >= 20 else float("inf")
    df, postings = index.df, index.postings_by_id
    for t, w in query.items():
        d = df[t]
        if not d or d > cap:
            continue
        slots = postings[t]
        if slots:
            # acc[s] = acc.get(s, 0.0) + w for each posting, in C: update consumes the lazy
            # pairs one by one, so each get sees the writes before it, as the loop did
            update(zip(slots, map(add, map(get, slots, repeat(0.0)), repeat(w)), strict=True))
    return acc
