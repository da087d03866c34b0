"""LSH band index over MinHash signatures, in flat numpy arrays (≈ 0.6-0.85 KB per article).

Same contract as the dict-of-deques index it replaces (``index.BandIndex``): every signature is
cut into ``bands`` bands; articles whose band values are equal in some band are candidates of
each other; per bucket (band, band value) only the newest ``cap`` ids are kept, so a query costs
the same at 10k and at 1M articles. A dict of deques cost ≈ 29 KB per article (1M ≈ 29 GB).

Layout (b = bands, n = slots, one per article added):

* per band an open-addressing table (linear probing) of ``nb`` home buckets of ``W`` cells plus
  one to spill into: ``_tkeys`` uint32 band hash (0 = empty cell), ``_theads`` int32 newest slot
  of the bucket. The home bucket of a key is ``key * nb >> 32``: ordered like the key, so a bulk
  build places sorted keys with one cumulative maximum instead of one probe per key;
* ``_nxt[n, b]`` int32: the next older slot of the same bucket (a chain, newest first);
* ``_bkeys[n, b]`` uint32: the slot's band hashes, 0 where the slot was pushed out of that bucket
  by ``cap`` newer ones (what growth and compaction rebuild the tables from);
* ``_ids[n]`` int64, ``_alive[n]``.

Semantics kept from the deque index: a bucket holds at most ``cap`` *present* ids; adding to a
full bucket pushes out its oldest present id for good; ``discard`` frees a place (a deque's
``remove``). The chain of a bucket holds its present slots and discarded ones (skipped); the
link from the oldest present slot is cut when one is pushed out, so a walk never sees ids the
deque would have dropped. Discarded slots are reclaimed by a rebuild once they outnumber the live
ones (amortised O(bands) per discard); the tables grow by rebuilding at load 0.75 to load 0.5.
A rebuild is a pause of ≈ 5 s CPU at 1M articles (numpy sorts), once per 50 % growth.

Per article the work is ≈ 25 numpy calls on 32-element arrays plus a Python walk of the chains
of the buckets it hits: a bucket full of ``cap`` identical stubs costs ``cap`` steps per band
(≈ 1 ms at 32 bands x 256), where the deques were merged by ``set.update`` in C.

Band hashes are 32 bits: two different band values share a bucket for ≈ n·b / 2^32 of queries
(0.75 % at 1M), which only adds candidates that the exact signature check afterwards removes.
Signatures are MinHash values below 2^32 (datasketch with a 32-bit hash), any integer dtype.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

W = 8  # cells per bucket: 32 bytes of keys, one gather per band per probe
_GROW_LOAD = 0.75  # rebuild when a band's table may be fuller than this
_BUILD_LOAD = 0.5  # ... to this load
# Smallest table: 4,096 cells per band (1 MB for 32 bands). Starting at 128 cells, a window
# filling from empty rebuilt ~20 times before 3,000 articles: 18 % of assign's time on the
# labeled sets. The slot arrays likewise start at 1,024 articles.
_MIN_BUCKETS = 512
_MIN_SLOTS = 1024
_THREADS = min(2, os.cpu_count() or 1)  # for a bulk rebuild ...
_THREADED_FROM = 50_000  # ... of this many articles or more
_CHUNK = 65_536  # signatures hashed at once in a bulk build (bounds the uint64 temporaries)

_S32 = np.uint64(32)
_ONE = np.uint64(1)


def _multipliers(shape: tuple[int, int]) -> np.ndarray:
    """Odd 64-bit constants from splitmix64 (fixed: the same keys in every process)."""
    out, x = [], 0x9E3779B97F4A7C15
    for _ in range(shape[0] * shape[1]):
        x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, dtype=np.uint64).reshape(shape)


def _words(sigs: np.ndarray, bands: int) -> np.ndarray:
    """Signatures (n, num_perm) as uint64 words (n, bands, words per band): two rows per word
    when a band has an even number of rows (half the arithmetic)."""
    sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
    n, num_perm = sigs.shape
    rows = num_perm // bands
    if rows % 2 == 0:
        return sigs.view(np.uint64).reshape(n, bands, rows // 2)
    return sigs.astype(np.uint64).reshape(n, bands, rows)


def band_keys(sigs: np.ndarray, bands: int) -> np.ndarray:
    """uint32 band hashes of shape (n, bands), never 0 (0 marks an empty cell), for signatures
    of shape (n, num_perm).

    Multiply-shift (the high half of sum(word · odd constant) mod 2^64): two different band
    values meet with probability ≈ 2^-31 — enough, since a collision only adds a candidate —
    in a few numpy passes, which is what a query costs per article. Each band has its own
    table, so equal values in different bands never meet."""
    words = _words(sigs, bands)
    mult = _multipliers(words.shape[1:])
    h = words[:, :, 0] * mult[:, 0]
    for j in range(1, words.shape[2]):
        h += words[:, :, j] * mult[:, j]
    return np.maximum(h >> _S32, _ONE).astype(np.uint32)


class BandIndex:
    """Candidates for near-duplicates: ``query(sig)``, ``add(id, sig)``, ``discard(id, sig)``.

    ``query_add`` does both with one hashing and one probe, and a ``query`` followed by ``add``
    of the same signature reuses the query's probe. ``build`` / ``extend`` load many articles
    at once (a restart): the same state as adding them one by one, built with sorts. Article ids
    are unique; ascending ids (SQLite rowids) make ``discard`` a binary search."""

    def __init__(self, num_perm: int, bands: int, cap: int = 256) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.num_perm, self.bands, self.rows, self.cap = num_perm, bands, num_perm // bands, cap
        self._n = 0  # slots in use
        self._dead = 0  # slots discarded (or pushed out of every band): reclaimed by _rebuild
        self._ascending = True  # ids added in ascending order so far: discard by binary search
        self._last_id = 0
        self._memo: tuple | None = None  # the last query's probe, until the index changes
        self._bar = np.arange(bands)
        self._pairs = self.rows % 2 == 0
        self._words = self.rows // 2 if self._pairs else self.rows  # uint64 words per band
        mult = _multipliers((bands, self._words))
        self._mult = [mult[:, j].copy() for j in range(self._words)]
        self._bar2w = self._bar * 2 * W
        self._alloc(_MIN_SLOTS)
        self._table(_MIN_BUCKETS)

    @classmethod
    def build(cls, num_perm: int, bands: int, ids: np.ndarray, sigs: np.ndarray, cap: int = 256) -> BandIndex:
        idx = cls(num_perm, bands, cap)
        idx.extend(ids, sigs)
        return idx

    def __len__(self) -> int:
        return self._n - self._dead

    def nbytes(self) -> int:
        arrays = (self._ids, self._alive, self._nxt, self._bkeys, self._tkeys, self._theads)
        return sum(a.nbytes for a in arrays)

    # ----- storage ----------------------------------------------------------------------
    def _alloc(self, capacity: int) -> None:
        """Slot arrays for ``capacity`` articles, keeping slots 0..n-1."""
        b, n = self.bands, self._n
        ids, alive = np.empty(capacity, np.int64), np.zeros(capacity, np.uint8)
        nxt, bkeys = np.empty((capacity, b), np.int32), np.empty((capacity, b), np.uint32)
        if n:
            ids[:n], alive[:n], nxt[:n], bkeys[:n] = self._ids[:n], self._alive[:n], self._nxt[:n], self._bkeys[:n]
        self._ids, self._alive, self._nxt, self._bkeys = ids, alive, nxt, bkeys
        # per-article work reads single elements from Python: a memoryview access costs ≈ 30 ns,
        # a numpy scalar access ≈ 100 ns
        self._vids, self._valive, self._vnxt = memoryview(ids), memoryview(alive), memoryview(nxt.reshape(-1))

    def _table(self, nb: int) -> None:
        """Empty tables of ``nb`` home buckets per band (plus one to spill into)."""
        b = self.bands
        self._nb, self._nb64 = nb, np.uint64(nb)
        self._stride = (nb + 1) * W  # cells per band
        self._tkeys = np.zeros(b * self._stride, np.uint32)
        self._theads = np.full(b * self._stride, -1, np.int32)
        # row r = cells r·W .. r·W + 2W - 1: a home bucket and the one after it, in one gather
        self._twin = np.lib.stride_tricks.as_strided(
            self._tkeys, shape=(b * (nb + 1) - 1, 2 * W), strides=(W * 4, 4), writeable=False
        )
        self._vtheads = memoryview(self._theads)
        self._band_bucket0 = (self._bar * (nb + 1)).astype(np.uint64)
        self._entries = 0  # upper bound on the keys in any one band's table
        self._grow_at = int(nb * W * _GROW_LOAD)

    # ----- one article ------------------------------------------------------------------
    def _keys(self, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``band_keys`` of one signature (as uint32 and uint64), in as few numpy calls as
        possible: each costs ≈ 1 µs on 32 elements, and they are most of a query's cost."""
        v = np.asarray(sig)
        if v.dtype != np.uint32:
            v = v.astype(np.uint32)
        w = v.view(np.uint64) if self._pairs else v.astype(np.uint64)
        step = self._words
        h = w[0::step] * self._mult[0]
        for j in range(1, step):
            h += w[j::step] * self._mult[j]
        k64 = np.maximum(h >> _S32, _ONE)
        return k64.astype(np.uint32), k64

    def _probe(self, keys: np.ndarray, k64: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per band, the flat cell holding the key (found) or the empty cell it would go to.

        Keys are never removed from a table between rebuilds, so a key is in the first cell
        holding it or empty along its probe path. One gather reads the home bucket and the next
        (an overlapping view); longer paths, rare at load ≤ 0.75, are walked in Python."""
        home = (k64 * self._nb64) >> _S32
        rows = (self._band_bucket0 + home).view(np.int64)
        block = self._twin[rows]
        hit = block == keys[:, None]
        stop = hit | (block == 0)
        pos = stop.argmax(axis=1)
        first = self._bar2w + pos  # flat index of each band's first stop in block
        cells = rows * W + pos
        if stop.reshape(-1)[first].all():
            return cells, hit.reshape(-1)[first]
        for b in np.flatnonzero(~stop.reshape(-1)[first]).tolist():
            cells[b] = self._walk_on(b, int(home[b]) + 2, int(keys[b]))
        return cells, self._tkeys[cells] == keys

    def _walk_on(self, b: int, bucket: int, key: int) -> int:
        """Linear probing from ``bucket`` on (each band has nb + 1 buckets: the last is only
        ever reached by spilling over from the one before it, so every home bucket's next one
        is in the same band)."""
        tk, nb1, start = self._tkeys, self._nb + 1, b * self._stride
        while True:
            base = start + (bucket % nb1) * W
            for cell in range(base, base + W):
                x = tk[cell]
                if x == key or x == 0:
                    return cell
            bucket += 1

    def _members(self, cells: np.ndarray, found: np.ndarray) -> tuple[set[int], list[tuple[int, int, int]]]:
        """The present ids of the found buckets, and per full bucket (band, second oldest
        present slot or -1, oldest present slot): what adding one more pushes out."""
        hv, nv, av, iv = self._vtheads, self._vnxt, self._valive, self._vids
        bands, cap = self.bands, self.cap
        out: set[int] = set()
        full: list[tuple[int, int, int]] = []
        bands_found = found.nonzero()[0].tolist()
        if not bands_found:
            return out, full
        cell_of = cells.tolist()
        for b in bands_found:
            s = hv[cell_of[b]]
            count, newer, oldest = 0, -1, -1
            while s >= 0:
                if av[s]:
                    out.add(iv[s])
                    count += 1
                    newer, oldest = oldest, s
                s = nv[s * bands + b]
            if count >= cap:
                full.append((b, newer, oldest))
        return out, full

    def _lookup(self, sig: np.ndarray):
        keys, k64 = self._keys(sig)
        cells, found = self._probe(keys, k64)
        out, full = self._members(cells, found)
        return keys, cells, found, out, full

    def query(self, sig: np.ndarray) -> set[int]:
        keys, cells, found, out, full = self._lookup(sig)
        self._memo = (np.asarray(sig).tobytes(), keys, cells, found, full)
        return out

    def add(self, article_id: int, sig: np.ndarray) -> None:
        memo = self._memo
        if memo is not None and memo[0] == np.asarray(sig).tobytes():
            _, keys, cells, found, full = memo
        else:
            keys, cells, found, _, full = self._lookup(sig)
        self._place(int(article_id), keys, cells, found, full)

    def query_add(self, article_id: int, sig: np.ndarray) -> set[int]:
        """The candidates of ``sig`` (before it is added), then add it: one hashing, one probe."""
        keys, cells, found, out, full = self._lookup(sig)
        self._place(int(article_id), keys, cells, found, full)
        return out

    def _place(self, article_id: int, keys, cells, found, full) -> None:
        if self._n == len(self._ids):
            self._alloc(max(_MIN_SLOTS, self._n * 5 // 4))
        s = self._n
        self._vids[s] = article_id
        self._valive[s] = 1
        self._nxt[s] = self._theads[cells]  # -1 from an empty cell
        self._bkeys[s] = keys
        self._tkeys[cells] = keys
        self._theads[cells] = s
        for b, newer, oldest in full:
            self._push_out(s, b, newer, oldest)
        if self._ascending and s and article_id <= self._last_id:
            self._ascending = False
        self._last_id = article_id
        self._n += 1
        self._memo = None
        self._entries += 1  # one article adds at most one key to each band's table
        if self._entries > self._grow_at:
            self._rebuild()

    def _push_out(self, new: int, b: int, newer: int, oldest: int) -> None:
        """Bucket b was full: its oldest present slot leaves it for good (cut the chain above it)."""
        self._bkeys[oldest, b] = 0
        self._vnxt[(newer if newer >= 0 else new) * self.bands + b] = -1
        if not self._bkeys[oldest].any():  # in no bucket any more: as good as discarded
            self._valive[oldest] = 0
            self._dead += 1

    def discard(self, article_id: int, sig: np.ndarray) -> None:
        s = self._slot(int(article_id), sig)
        if s < 0:
            return
        self._valive[s] = 0
        self._dead += 1
        self._memo = None
        # dead slots are reclaimed once they outnumber the live ones -- and not before there
        # are _MIN_SLOTS of them: a sparse window (tens of live articles) would rebuild every
        # few discards, at a fixed cost of a few numpy passes per band
        if self._dead > max(self._n - self._dead, _MIN_SLOTS):
            self._rebuild()

    def _slot(self, article_id: int, sig: np.ndarray) -> int:
        """The live slot of ``article_id``, or -1."""
        if self._ascending:
            s = int(np.searchsorted(self._ids[: self._n], article_id))
            return s if s < self._n and self._vids[s] == article_id and self._valive[s] else -1
        cells, found = self._probe(*self._keys(sig))
        hv, nv, av, iv, bands = self._vtheads, self._vnxt, self._valive, self._vids, self.bands
        for b in np.flatnonzero(found).tolist():
            s = hv[int(cells[b])]
            while s >= 0:
                if iv[s] == article_id and av[s]:
                    return s
                s = nv[s * bands + b]
        return -1

    # ----- many articles ----------------------------------------------------------------
    def extend(self, ids: np.ndarray, sigs: np.ndarray) -> None:
        """Add many articles, in the given order: the same state as ``add`` one by one."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        m = len(ids)
        if m == 0:
            return
        if len(sigs) != m:
            raise ValueError(f"{m} ids but {len(sigs)} signatures")
        n = self._n
        if n + m > len(self._ids):
            self._alloc(max(_MIN_SLOTS, (n + m) * 9 // 8))  # room for the next adds without a copy
        self._ids[n : n + m] = ids
        self._alive[n : n + m] = 1
        for start in range(0, m, _CHUNK):
            stop = min(m, start + _CHUNK)
            self._bkeys[n + start : n + stop] = band_keys(sigs[start:stop], self.bands)
        if self._ascending and (bool((ids[1:] <= ids[:-1]).any()) or (n and ids[0] <= self._last_id)):
            self._ascending = False
        self._last_id = int(ids[-1])
        self._n = n + m
        self._rebuild()

    def _rebuild(self) -> None:
        """Drop discarded slots, then rebuild tables and chains from the band hashes.

        Per band: sort (key, slot) pairs; a run of equal keys is a bucket, its slots chained
        newest first; beyond the newest ``cap`` present slots a bucket pushes slots out (only
        after ``extend``: between rebuilds ``_place`` keeps every bucket within ``cap``)."""
        self._memo = None
        live = np.flatnonzero(self._alive[: self._n])
        m = len(live)
        if m < self._n:  # compaction keeps the slots' order: chains stay newest first
            ids, bkeys = self._ids[live], self._bkeys[live]
            self._n = 0
            self._alloc(max(_MIN_SLOTS, m * 9 // 8))
            self._ids[:m], self._bkeys[:m], self._alive[:m] = ids, bkeys, 1
            del ids, bkeys
            self._n, self._dead = m, 0
        self._table(max(_MIN_BUCKETS, int(m / _BUILD_LOAD) // W + 1))
        slots = np.arange(m, dtype=np.uint64)
        pushed_out = False
        # bands are independent and numpy's sorts and passes release the GIL: two threads
        # halve a restart's wall time when the second core is free (the CPU time is the same)
        pool = ThreadPoolExecutor(_THREADS) if m >= _THREADED_FROM and _THREADS > 1 else None
        try:
            for b0 in range(0, self.bands, 8):  # a few bands at a time, as contiguous rows
                columns = self._bkeys[:m, b0 : b0 + 8].T.copy()
                links = np.empty_like(columns, dtype=np.int32)
                args = (range(b0, b0 + len(columns)), columns, [slots] * len(columns), links)
                done = list((pool.map if pool else map)(self._rebuild_band, *args))  # every band, no short cut
                pushed_out |= any(done)
                self._nxt[:m, b0 : b0 + 8] = links.T
                del columns, links
        finally:
            if pool:
                pool.shutdown()
        self._entries = m
        if pushed_out:  # slots now in no bucket at all are as good as discarded
            gone = ~self._bkeys[:m].any(axis=1) & (self._alive[:m] == 1)
            self._alive[:m][gone] = 0
            self._dead += int(gone.sum())

    def _rebuild_band(self, b: int, column: np.ndarray, slots: np.ndarray, nxt_out: np.ndarray) -> bool:
        """Chains and table of band b from its column of hashes; ``nxt_out`` (this band's links,
        contiguous: scattered writes into one 4 MB row rather than across all of ``_nxt``)."""
        cap = self.cap
        pairs = (column.astype(np.uint64) << _S32) | slots
        pairs.sort()
        keys = (pairs >> _S32).astype(np.uint32)
        order = (pairs & np.uint64(0xFFFFFFFF)).astype(np.intp)
        del pairs
        z = int(np.searchsorted(keys, 1))  # key 0: pushed out of this band earlier
        nxt_out[order[:z]] = -1
        keys, order = keys[z:], order[z:]
        k = len(keys)
        if k == 0:
            return False
        same = keys[1:] == keys[:-1]
        nxt = np.empty(k, np.int32)
        nxt[0] = -1
        nxt[1:] = np.where(same, order[:-1], -1)
        last = np.ones(k, bool)
        last[:-1] = ~same
        ends = np.flatnonzero(last)
        runs = np.diff(ends, prepend=-1)  # bucket sizes
        pushed_out = int(runs.max()) > cap
        if pushed_out:
            depth = np.repeat(ends, runs) - np.arange(k)  # 0 = newest of its bucket
            nxt[depth == cap - 1] = -1
            self._bkeys[order[depth >= cap], b] = 0
        nxt_out[order] = nxt
        self._place_sorted(b, keys[last], order[last].astype(np.int32))
        return pushed_out

    def _place_sorted(self, b: int, ukeys: np.ndarray, heads: np.ndarray) -> None:
        """Put distinct ascending keys in band b's table. Homes ascend with the keys, so linear
        probing puts key i at max(home_i·W, cell of key i-1 + 1): a cumulative maximum."""
        size = self._stride
        home = ((ukeys.astype(np.uint64) * self._nb64) >> _S32).astype(np.intp)
        i = np.arange(len(ukeys))
        pos = i + np.maximum.accumulate(home * W - i)
        wrap = int(np.searchsorted(pos, size))  # those past the end continue at cell 0
        base = b * size
        tk, th = self._tkeys[base : base + size], self._theads[base : base + size]
        tk[pos[:wrap]], th[pos[:wrap]] = ukeys[:wrap], heads[:wrap]
        if wrap < len(ukeys):
            free = np.flatnonzero(tk == 0)[: len(ukeys) - wrap]
            tk[free], th[free] = ukeys[wrap:], heads[wrap:]
