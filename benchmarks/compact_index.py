"""Prototype (issue 7): a band index in flat numpy arrays, for the index_scale comparison.

Not used by the daemon (``aggregator/cluster/index.py`` is ``BandIndex``); this is the design
proposed to replace it, measured side by side by ``benchmarks.index_scale``. Same contract as
``BandIndex``: ``query(sig) -> set[int]``, ``add(id, sig)``, ``discard(id, sig)``, at most the
newest ``cap`` ids per bucket offered.

Layout (b = bands, n = slots = articles inserted, T = table rows per band, a power of two with
load ≤ 0.75):

* ``keys[b, T]`` uint32 band hash (0 = empty) and ``heads[b, T]`` int32 newest slot in the bucket:
  one open-addressing (linear probing) table per band, probed for all bands at once;
* ``nxt[n, b]`` int32: the previous slot in the same bucket (a chain, newest first), so a bucket
  costs 4 bytes per member instead of a deque;
* ``bkeys[n, b]`` uint32: the article's band hashes (for growth, discard and compaction);
* ``ids[n]`` int64 external ids (ascending in the daemon: SQLite rowids), ``alive[n]``.

≈ 32 x (8 / load + 4 + 4) + 9 bytes per article: 0.5-1 KB at 32 bands. A 32-bit band hash
gives a spurious candidate to ~b·n/2^32 of queries (0.75 % at 1M); the exact signature check
after the index drops it. Discard marks the slot dead; dead slots are skipped and reclaimed by
``compact`` (a rebuild from the live slots' stored band hashes).
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_SALT = (np.arange(1, 257, dtype=np.uint64) * _M3) ^ _M2
W = 8  # slots per bucket: one probe reads a band's whole bucket (32 bytes of keys)


def band_keys(sigs: np.ndarray, bands: int) -> np.ndarray:
    """uint32 band hashes, shape (n, bands), never 0, for uint32 signatures of shape (n, num_perm)
    with 4 rows per band (two uint64 words per band, mixed with the band number)."""
    n, num_perm = sigs.shape
    if num_perm // bands != 4:
        raise ValueError("the prototype hashes bands of 4 rows")
    v = np.ascontiguousarray(sigs).view(np.uint64).reshape(n, bands, 2)
    h = v[:, :, 0] * _M1
    h ^= v[:, :, 1] + _SALT[:bands]
    h ^= h >> _S30
    h *= _M2
    h ^= h >> _S27
    h *= _M3
    h ^= h >> _S31
    k = (h >> _S32).astype(np.uint32)
    k[k == 0] = 1
    return k


class CompactBandIndex:
    def __init__(self, num_perm: int, bands: int, cap: int = 256, capacity: int = 1024) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
        self.num_perm, self.bands, self.cap = num_perm, bands, cap
        self._rows = np.arange(bands)
        self.n = 0
        self.dead = 0
        self._alloc(max(16, capacity))
        self._table(_pow2(max(16, capacity) * 4 // 3 + 1))

    # ----- storage ----------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        b = self.bands
        old = getattr(self, "ids", None)
        ids, alive = np.empty(cap, np.int64), np.zeros(cap, bool)
        nxt, bkeys = np.empty((cap, b), np.int32), np.empty((cap, b), np.uint32)
        if old is not None:
            ids[: self.n], alive[: self.n] = self.ids[: self.n], self.alive[: self.n]
            nxt[: self.n], bkeys[: self.n] = self.nxt[: self.n], self.bkeys[: self.n]
        self.ids, self.alive, self.nxt, self.bkeys = ids, alive, nxt, bkeys
        # flat memoryviews: per-article work indexes them from Python (≈30 ns an access;
        # numpy calls on 32-element arrays cost ≈1 µs each and a probe needs dozens)
        self._vids, self._valive = memoryview(ids), memoryview(alive.view(np.uint8))
        self._vnxt, self._vbkeys = memoryview(nxt.reshape(-1)), memoryview(bkeys.reshape(-1))

    def _table(self, size: int) -> None:
        """``size`` slots per band, in buckets of W."""
        self.size = size
        self.nb = size // W
        self.mask = self.nb - 1
        self.keys = np.zeros((self.bands, self.nb, W), np.uint32)
        self.heads = np.full((self.bands, self.nb, W), -1, np.int32)
        self._vkeys, self._vheads = memoryview(self.keys.reshape(-1)), memoryview(self.heads.reshape(-1))

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.ids, self.alive, self.nxt, self.bkeys, self.keys, self.heads))

    # ----- API (per article: plain Python over memoryviews) ---------------------------------
    def _cells(self, keys: list[int]) -> list[tuple[int, bool]]:
        """Per band: (flat cell, found) -- where the key is, else the empty slot it goes to.
        Table entries are never removed (discard marks the article dead), so a key that
        overflowed a full bucket is found by walking on while buckets are full."""
        kv, nb, mask = self._vkeys, self.nb, self.mask
        out = []
        for b, key in enumerate(keys):
            bucket = key & mask
            while True:
                base = (b * nb + bucket) * W
                for cell in range(base, base + W):
                    x = kv[cell]
                    if x == key or x == 0:
                        out.append((cell, x == key))
                        break
                else:
                    bucket = (bucket + 1) & mask
                    continue
                break
        return out

    def _members(self, cells: list[tuple[int, bool]]) -> set[int]:
        hv, nv, av, iv, bands, cap = self._vheads, self._vnxt, self._valive, self._vids, self.bands, self.cap
        out: set[int] = set()
        for b, (cell, found) in enumerate(cells):
            if not found:
                continue
            s, steps = hv[cell], 0
            while s >= 0 and steps < cap:
                if av[s]:
                    out.add(iv[s])
                s, steps = nv[s * bands + b], steps + 1
        return out

    def _keys(self, sig: np.ndarray) -> list[int]:
        return band_keys(sig.reshape(1, -1), self.bands)[0].tolist()

    def query(self, sig: np.ndarray) -> set[int]:
        return self._members(self._cells(self._keys(sig)))

    def add(self, article_id: int, sig: np.ndarray) -> None:
        keys = self._keys(sig)
        self._place(article_id, keys, self._cells(keys))

    def query_add(self, article_id: int, sig: np.ndarray) -> set[int]:
        """query then add with one hashing and one probe (what the clusterer does per article)."""
        keys = self._keys(sig)
        cells = self._cells(keys)
        out = self._members(cells)
        self._place(article_id, keys, cells)
        return out

    def _place(self, article_id: int, keys: list[int], cells: list[tuple[int, bool]]) -> None:
        if self.n == len(self.ids):
            self._alloc(len(self.ids) * 2)
        s, bands = self.n, self.bands
        self._vids[s], self._valive[s] = article_id, 1
        kv, hv, nv, bv = self._vkeys, self._vheads, self._vnxt, self._vbkeys
        row = s * bands
        for b, ((cell, _), key) in enumerate(zip(cells, keys, strict=True)):
            nv[row + b] = hv[cell]
            bv[row + b] = key
            kv[cell] = key
            hv[cell] = s
        self.n += 1
        if self.n * 4 > self.size * 3:  # load > 0.75: double the tables
            self._rebuild_tables(self.size * 2)

    def discard(self, article_id: int, sig: np.ndarray | None = None) -> None:
        s = int(np.searchsorted(self.ids[: self.n], article_id))
        if s < self.n and self.ids[s] == article_id and self.alive[s]:
            self.alive[s] = False
            self.dead += 1
            if self.dead * 2 > self.n:
                self.compact()

    def compact(self) -> None:
        live = np.flatnonzero(self.alive[: self.n])
        ids, bkeys = self.ids[live].copy(), self.bkeys[live].copy()
        self.n = self.dead = 0
        self._alloc(max(16, len(live) * 2))
        self.bulk_load(ids, bkeys=bkeys)

    # ----- bulk (rebuild from the store) ------------------------------------------------
    def bulk_load(self, ids: np.ndarray, sigs: np.ndarray | None = None, bkeys: np.ndarray | None = None) -> None:
        """Append many articles at once (ids ascending); same state as adding them one by one."""
        if bkeys is None:
            bkeys = band_keys(np.ascontiguousarray(sigs, dtype=np.uint32), self.bands)
        m = len(ids)
        if self.n + m > len(self.ids):
            self._alloc(_pow2(self.n + m))
        s0 = self.n
        self.ids[s0 : s0 + m], self.alive[s0 : s0 + m] = ids, True
        self.bkeys[s0 : s0 + m] = bkeys
        self.n += m
        size = self.size
        while self.n * 4 > size * 3:
            size *= 2
        self._rebuild_tables(size)

    def _rebuild_tables(self, size: int) -> None:
        """Rebuild keys/heads/nxt from bkeys of slots 0..n-1 (chains newest first, as add does)."""
        self._table(size)
        n = self.n
        for b in range(self.bands):
            k = self.bkeys[:n, b]
            order = np.argsort(k, kind="stable")  # by key, then slot
            ks = k[order]
            same = np.zeros(n, bool)
            same[1:] = ks[1:] == ks[:-1]
            nxt = np.full(n, -1, np.int32)
            nxt[order[same]] = order[np.flatnonzero(same) - 1]
            self.nxt[:n, b] = nxt
            last = np.ones(n, bool)
            last[:-1] = ~same[1:]
            self._insert_unique(b, ks[last], order[last].astype(np.int32))

    def _insert_unique(self, b: int, ukeys: np.ndarray, uheads: np.ndarray) -> None:
        """Place distinct keys (sorted) in band b's table: each bucket takes W in key order, the
        rest walk on to the next bucket -- the same places sequential inserts would give."""
        keys, heads, mask = self.keys[b], self.heads[b], self.mask
        fill = np.zeros(self.nb, np.int64)
        bucket = (ukeys & np.uint32(mask)).astype(np.int64)
        todo = np.argsort(bucket, kind="stable")
        while todo.size:
            bk = bucket[todo]
            start = np.searchsorted(bk, bk, side="left")  # first index of each bucket's run
            pos = fill[bk] + (np.arange(len(todo)) - start)
            ok = pos < W
            win = todo[ok]
            keys[bucket[win], pos[ok]] = ukeys[win]
            heads[bucket[win], pos[ok]] = uheads[win]
            np.add.at(fill, bucket[win], 1)
            todo = todo[~ok]
            bucket[todo] = (bucket[todo] + 1) & mask
            todo = todo[np.argsort(bucket[todo], kind="stable")]


def _pow2(x: int) -> int:
    return 1 << max(0, int(x - 1).bit_length())
