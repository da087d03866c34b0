"""The copy-candidate (LSH band) index at 10k, 100k and 1M articles.

    python -m benchmarks.index_scale [--max 1000000] [--mem-budget-gb 6]

Three indexes at the daemon's settings (128 permutations, 32 bands x 4 rows, newest 256 ids per
bucket), each measured in a fresh child process so resident memory is its own:

* ``band_index``: ``aggregator.cluster.bands.BandIndex``, the daemon's index (flat numpy arrays);
* ``dict_index``: ``DictBandIndex`` below, the dict of deques the daemon used before (kept here
  as the reference it replaced);
* ``datasketch``: ``datasketch.MinHashLSH(num_perm=128, params=(32, 4))``.

Synthetic signatures (uint32, 5 % near-copies of an earlier article with 25 of 128 values
changed) are written to a SQLite file with their scheme, ``num_perm`` and seed. Per size: the
rebuild (read the signatures of the current scheme from SQLite, as a restart does, then build the
index: ``BandIndex.build`` in bulk, one insert per article for the others; wall and CPU seconds,
and the read alone), the memory it took (RSS delta after the signatures read are freed;
``band_index`` also reports its array bytes and counts the larger), then query + insert of 2,000
further articles (µs each, CPU time since the machine is shared: ``query()`` then ``add()`` as
the clusterer calls them; ``band_index`` also reports its one-probe ``query_add``, and the cost
ratio against the smallest size measured in the same process, in alternating batches). An index
whose projected memory exceeds ``--mem-budget-gb`` is not built at that size: its figures are
extrapolated linearly from the largest size measured and marked so.

Last line: ``{"summary": true, "bytes_per_article_1m", "query_insert_us_1m",
"cost_ratio_1m_vs_10k", "rebuild_s_1m", "datasketch_bytes_per_article_1m", ...}`` for
``band_index``, the same figures for ``dict_index`` and ``datasketch``, and the targets of issue 7
(≤ 1 KB, ≤ 100 µs, ≤ 1.5x, ≤ 20 s) with whether each is met.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from importlib import metadata
from pathlib import Path

import numpy as np
import xxhash

NUM_PERM, BANDS, CAP, SEED = 128, 32, 256, 1
SCHEME = "synthetic:affine32:p128:s1"
PROBES = 2000
IMPLS = ("band_index", "dict_index", "datasketch")
# rough bytes per article, to stay within the memory budget (refined by the measured sizes)
GUESS = {"band_index": 1100, "dict_index": 30000, "datasketch": 12000}
TARGETS = {"bytes_per_article_1m": 1024, "query_insert_us_1m": 100, "cost_ratio_1m_vs_10k": 1.5, "rebuild_s_1m": 20}


class DictBandIndex:
    """The daemon's band index until issue 7 (``aggregator/cluster/index.py``), verbatim: band
    hash → deque of the newest ``cap`` ids. ≈ 29 KB per article."""

    def __init__(self, num_perm: int, bands: int, cap: int = 256) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
        self.bands = bands
        self.rows = num_perm // bands
        self.cap = cap
        self._buckets: dict[int, deque[int]] = {}

    def _keys(self, sig: np.ndarray) -> list[int]:
        r = self.rows
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


def signatures(n: int, seed: int = 7) -> np.ndarray:
    """n deterministic uint32 signatures; 5 % are near-copies of an earlier one."""
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 2**32, size=(n, NUM_PERM), dtype=np.uint64).astype(np.uint32)
    dup = np.flatnonzero(rng.random(n) < 0.05)
    dup = dup[dup > 0]
    src = (rng.random(len(dup)) * dup).astype(np.int64)
    sigs[dup] = sigs[src]
    for _ in range(25):
        pos = rng.integers(0, NUM_PERM, len(dup))
        sigs[dup, pos] = rng.integers(0, 2**32, len(dup), dtype=np.uint64).astype(np.uint32)
    return sigs


def write_store(path: Path, n: int) -> float:
    t = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE sigs (id INTEGER PRIMARY KEY, scheme TEXT NOT NULL, num_perm INTEGER "
        "NOT NULL, seed INTEGER NOT NULL, signature BLOB NOT NULL)"
    )
    step = 100_000
    sigs = signatures(n)
    for start in range(0, n, step):
        block = sigs[start : start + step]
        conn.executemany(
            "INSERT INTO sigs VALUES (?, ?, ?, ?, ?)",
            ((start + i + 1, SCHEME, NUM_PERM, SEED, block[i].tobytes()) for i in range(len(block))),
        )
        conn.commit()
    conn.close()
    return time.perf_counter() - t


def rss() -> int:
    """Resident bytes, after handing freed heap pages back (glibc keeps freed blocks below its
    mmap threshold, e.g. a restart's rows read from SQLite, resident until trimmed)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measure as is
        pass
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def read_store(path: Path, n: int):
    """ids and signatures of the current scheme among the first n rows, in id order, read in
    chunks into one array (no list of 1M tuples); rows of another scheme are counted, not read."""
    conn = sqlite3.connect(path)
    ids = np.empty(n, np.int64)
    sigs = np.empty((n, NUM_PERM), np.uint32)
    scheme = (SCHEME, NUM_PERM, SEED)
    try:
        (stale,) = conn.execute(
            "SELECT count(*) FROM sigs WHERE id <= ? AND (scheme, num_perm, seed) != (?, ?, ?)", (n, *scheme)
        ).fetchone()
        cur = conn.execute(
            "SELECT id, signature FROM sigs WHERE id <= ? AND scheme = ? AND num_perm = ? AND seed = ? ORDER BY id",
            (n, *scheme),
        )
        i = 0
        while rows := cur.fetchmany(50_000):
            m = len(rows)
            ids[i : i + m] = [r[0] for r in rows]
            sigs[i : i + m] = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint32).reshape(m, NUM_PERM)
            i += m
    finally:
        conn.close()
    if stale:
        raise ValueError(f"{stale} signatures of another scheme")
    return ids[:i], sigs[:i]


class _Sig:
    """What MinHashLSH reads of a MinHash: ``hashvalues`` and ``len``."""

    __slots__ = ("hashvalues",)

    def __init__(self, hv: np.ndarray) -> None:
        self.hashvalues = hv

    def __len__(self) -> int:
        return len(self.hashvalues)


def child(impl: str, n: int, db: Path, small: int) -> dict:
    # imported before the clock and the memory baseline: a restart has its modules loaded
    from datasketch import MinHashLSH

    from aggregator.cluster.bands import BandIndex

    gc.collect()
    base = rss()
    t0, c0 = time.perf_counter(), time.process_time()
    ids, sigs = read_store(db, n)
    read_s = time.perf_counter() - t0
    query_add = None
    if impl == "band_index":
        idx = BandIndex.build(NUM_PERM, BANDS, ids, sigs, cap=CAP)
        query, add, query_add = idx.query, idx.add, idx.query_add
    elif impl == "dict_index":
        idx = DictBandIndex(NUM_PERM, BANDS, CAP)
        for i, s in zip(ids.tolist(), sigs, strict=True):
            idx.add(i, s)
        query, add = idx.query, idx.add
    else:
        idx = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, NUM_PERM // BANDS))
        for i, s in zip(ids.tolist(), sigs, strict=True):
            idx.insert(i, _Sig(s), check_duplication=False)

        def query(s):
            return idx.query(_Sig(s))

        def add(i, s):
            idx.insert(i, _Sig(s), check_duplication=False)

    rebuild_s = time.perf_counter() - t0
    rebuild_cpu = time.process_time() - c0
    array_bytes = idx.nbytes() if impl == "band_index" else None
    first = (ids[:small].copy(), sigs[:small].copy()) if impl == "band_index" and small < n else None
    del sigs, ids
    gc.collect()
    mem = rss() - base
    extra = signatures(n + 4 * PROBES)[n:]  # probes: never indexed before
    probes, more, mixed = extra[:PROBES], extra[PROBES : 2 * PROBES], extra[2 * PROBES :]
    found = 0
    t, c = time.perf_counter(), time.process_time()
    for k, s in enumerate(probes):
        found += bool(query(s))
        add(n + k + 1, s)
    us = (time.perf_counter() - t) / PROBES * 1e6
    us_cpu = (time.process_time() - c) / PROBES * 1e6
    out = {
        "impl": impl,
        "articles": n,
        "rebuild_s": round(rebuild_s, 3),
        "rebuild_cpu_s": round(rebuild_cpu, 3),
        "read_s": round(read_s, 3),
        "build_s": round(rebuild_s - read_s, 3),
        "rss_bytes_per_article": round(mem / n, 1),
        "query_insert_us_wall": round(us, 2),
        "query_insert_us_cpu": round(us_cpu, 2),
        "probes_with_candidates": found,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    out["query_insert_us"] = out["query_insert_us_cpu"]
    if query_add is not None:  # one hashing and one probe for both
        c = time.process_time()
        for k, s in enumerate(more):
            query_add(n + PROBES + k + 1, s)
        out["query_add_us_cpu"] = round((time.process_time() - c) / PROBES * 1e6, 2)
    if first is not None:
        out.update(interleaved(BandIndex.build(NUM_PERM, BANDS, *first, cap=CAP), idx, mixed, n + 2 * PROBES))
    if impl == "band_index":
        out["array_bytes_per_article"] = round(array_bytes / n, 1)
        out["bytes_per_article"] = max(out["array_bytes_per_article"], out["rss_bytes_per_article"])
    else:
        out["bytes_per_article"] = out["rss_bytes_per_article"]
    return out


def interleaved(small, big, probes: np.ndarray, next_id: int, rounds: int = 8) -> dict:
    """query() + add() on the small and the big index in alternating batches, in one process:
    the cost ratio without the minutes between two children in which the shared machine's
    load changes (measured 2x apart for the same index at the same size)."""
    cpu = {"small": 0.0, "big": 0.0}
    small_articles = len(small)
    batches = np.array_split(probes, 2 * rounds)
    for r in range(rounds):
        for name, idx, batch in (("small", small, batches[2 * r]), ("big", big, batches[2 * r + 1])):
            c = time.process_time()
            for s in batch:
                idx.query(s)
                idx.add(next_id, s)
                next_id += 1
            cpu[name] += time.process_time() - c
    per = {k: v / (len(probes) / 2) * 1e6 for k, v in cpu.items()}
    return {
        "interleaved_small_articles": small_articles,
        "interleaved_us_small": round(per["small"], 2),
        "interleaved_us": round(per["big"], 2),
        "cost_ratio_interleaved": round(per["big"] / per["small"], 3),
    }


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("datasketch", "numpy", "xxhash"):
        out[pkg] = metadata.version(pkg)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.index_scale", description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=1_000_000, help="largest index size (default 1M)")
    ap.add_argument("--sizes", type=str, default="10000,100000,1000000")
    ap.add_argument("--mem-budget-gb", type=float, default=6.0, help="largest index built per child")
    ap.add_argument("--impls", type=str, default=",".join(IMPLS))
    ap.add_argument("--child", nargs=4, metavar=("IMPL", "N", "DB", "SMALL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        impl, n, db, small = args.child
        print(json.dumps(child(impl, int(n), Path(db), int(small))), flush=True)
        return 0

    sizes = sorted({min(int(s), args.max) for s in args.sizes.split(",")})
    impls = [i for i in args.impls.split(",") if i]
    print(
        json.dumps(
            {
                "versions": versions(),
                "num_perm": NUM_PERM,
                "bands": BANDS,
                "cap": CAP,
                "sizes": sizes,
                "loadavg": [round(x, 2) for x in os.getloadavg()],
            }
        ),
        flush=True,
    )
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        db = Path(tmp) / "signatures.db"
        write_s = write_store(db, sizes[-1])
        print(
            json.dumps(
                {
                    "store": "sqlite",
                    "signatures": sizes[-1],
                    "write_s": round(write_s, 2),
                    "db_mb": round(db.stat().st_size / 2**20, 1),
                }
            ),
            flush=True,
        )
        for impl in impls:
            per_article = GUESS[impl]
            last = None
            for n in sizes:
                if last is not None and n * per_article > args.mem_budget_gb * 2**30:
                    scale = n / last["articles"]
                    res = dict(
                        last,
                        articles=n,
                        rebuild_s=round(last["rebuild_s"] * scale, 3),
                        rebuild_cpu_s=round(last["rebuild_cpu_s"] * scale, 3),
                        extrapolated_from=last["articles"],
                    )
                else:
                    env = dict(
                        os.environ,
                        PYTHONPATH=os.pathsep.join(
                            filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")])
                        ),
                    )
                    cmd = [sys.executable, "-m", "benchmarks.index_scale", "--child", impl, str(n), str(db)]
                    proc = subprocess.run(
                        [*cmd, str(sizes[0])],
                        capture_output=True,
                        text=True,
                        env=env,
                        check=False,
                    )
                    if proc.returncode != 0:
                        print(proc.stderr[-3000:], file=sys.stderr)
                        res = {"impl": impl, "articles": n, "error": f"child exit {proc.returncode}"}
                    else:
                        res = json.loads(proc.stdout.strip().splitlines()[-1])
                        per_article = max(per_article if last is None else 0, res["bytes_per_article"] * 1.2)
                        last = res
                results[(impl, n)] = res
                print(json.dumps(res), flush=True)

    def fig(impl: str, key: str, n: int):
        r = results.get((impl, n), {})
        return r.get(key)

    big, small = sizes[-1], sizes[0]

    def ratio(impl: str):
        a, b = fig(impl, "query_insert_us", big), fig(impl, "query_insert_us", small)
        return round(a / b, 3) if a and b else None

    summary = {"summary": True, "articles": big}
    for impl, prefix in (("band_index", ""), ("dict_index", "dict_index_"), ("datasketch", "datasketch_")):
        summary[f"{prefix}bytes_per_article_1m"] = fig(impl, "bytes_per_article", big)
        summary[f"{prefix}query_insert_us_1m"] = fig(impl, "query_insert_us", big)
        summary[f"{prefix}cost_ratio_1m_vs_10k"] = ratio(impl)
        summary[f"{prefix}rebuild_s_1m"] = fig(impl, "rebuild_s", big)
        summary[f"{prefix or 'band_index_'}extrapolated"] = "extrapolated_from" in results.get((impl, big), {})
    # the band index's ratio is measured in one process (``interleaved``); the others' and this
    # one's across two children, minutes apart, are printed too
    summary["cost_ratio_1m_vs_10k_separate_runs"] = summary["cost_ratio_1m_vs_10k"]
    if fig("band_index", "cost_ratio_interleaved", big) is not None:
        summary["cost_ratio_1m_vs_10k"] = fig("band_index", "cost_ratio_interleaved", big)
    summary["query_add_us_1m"] = fig("band_index", "query_add_us_cpu", big)
    summary["rebuild_read_s_1m"] = fig("band_index", "read_s", big)
    summary["targets"] = TARGETS
    summary["targets_met"] = {k: summary[k] is not None and summary[k] <= v for k, v in TARGETS.items()}
    summary["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
