"""The copy-candidate (LSH band) index at 10k, 100k and 1M articles.

    python -m benchmarks.index_scale [--max 1000000] [--mem-budget-gb 6]

Three indexes at the daemon's settings (128 permutations, 32 bands x 4 rows, newest 256 ids per
bucket), each measured in a fresh child process so resident memory is its own:

* ``band_index``: ``aggregator.cluster.index.BandIndex`` as it is (dict of deques);
* ``compact``: ``benchmarks.compact_index.CompactBandIndex``, the proposed flat-array design;
* ``datasketch``: ``datasketch.MinHashLSH(num_perm=128, params=(32, 4))``.

Synthetic signatures (uint32, 5 % near-copies of an earlier article with 25 of 128 values
changed) are written to a SQLite table with their scheme, ``num_perm`` and seed. Per size: the
rebuild (read every signature from SQLite, build the index: bulk for ``compact``, one insert per
article for the others; wall and CPU seconds), the memory it took (RSS delta after the
signatures read are freed; ``compact`` also reports its array bytes), then query + insert of
2,000 further articles (µs each; ``query_insert_us`` is CPU time, since the machine is shared,
and for ``compact`` its one-probe ``query_add``). An index whose projected memory exceeds
``--mem-budget-gb`` is not built at that size: its figures are extrapolated linearly from the
largest size measured and marked so.

Last line: ``{"summary": true, "bytes_per_article_1m", "query_insert_us_1m",
"cost_ratio_1m_vs_10k", "rebuild_s_1m", "datasketch_bytes_per_article_1m", ...}`` for the
daemon's current index (``band_index``) plus the same figures for ``compact``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

NUM_PERM, BANDS, CAP, SEED = 128, 32, 256, 1
SCHEME = "synthetic:affine32:p128:s1"
PROBES = 2000
IMPLS = ("compact", "band_index", "datasketch")
# rough bytes per article, to stay within the memory budget (refined by the measured sizes)
GUESS = {"compact": 1100, "band_index": 30000, "datasketch": 12000}


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
    conn.execute("CREATE TABLE sigs (id INTEGER PRIMARY KEY, scheme TEXT NOT NULL, num_perm INTEGER "
                 "NOT NULL, seed INTEGER NOT NULL, signature BLOB NOT NULL)")
    step = 100_000
    sigs = signatures(n)
    for start in range(0, n, step):
        block = sigs[start : start + step]
        conn.executemany("INSERT INTO sigs VALUES (?, ?, ?, ?, ?)",
                         ((start + i + 1, SCHEME, NUM_PERM, SEED, block[i].tobytes()) for i in range(len(block))))
        conn.commit()
    conn.close()
    return time.perf_counter() - t


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def read_store(path: Path, n: int):
    """ids and signatures of the first n rows, read in chunks into one array (no list of 1M
    tuples); every row's scheme, num_perm and seed are checked."""
    conn = sqlite3.connect(path)
    ids = np.empty(n, np.int64)
    sigs = np.empty((n, NUM_PERM), np.uint32)
    try:
        cur = conn.execute("SELECT id, scheme, num_perm, seed, signature FROM sigs WHERE id <= ? ORDER BY id", (n,))
        i = 0
        while rows := cur.fetchmany(50_000):
            if any((r[1], r[2], r[3]) != (SCHEME, NUM_PERM, SEED) for r in rows):
                raise ValueError("signatures of another scheme")
            m = len(rows)
            ids[i : i + m] = [r[0] for r in rows]
            sigs[i : i + m] = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.uint32).reshape(m, NUM_PERM)
            i += m
    finally:
        conn.close()
    return ids[:i], sigs[:i]


class _Sig:
    """What MinHashLSH reads of a MinHash: ``hashvalues`` and ``len``."""

    __slots__ = ("hashvalues",)

    def __init__(self, hv: np.ndarray) -> None:
        self.hashvalues = hv

    def __len__(self) -> int:
        return len(self.hashvalues)


def child(impl: str, n: int, db: Path) -> dict:
    gc.collect()
    base = rss()
    t0, c0 = time.perf_counter(), time.process_time()
    ids, sigs = read_store(db, n)
    read_s = time.perf_counter() - t0
    if impl == "compact":
        from benchmarks.compact_index import CompactBandIndex

        idx = CompactBandIndex(NUM_PERM, BANDS, CAP)
        idx.bulk_load(ids, sigs)
        query, add = idx.query, idx.add
        query_add = idx.query_add
    elif impl == "band_index":
        from aggregator.cluster.index import BandIndex

        idx = BandIndex(NUM_PERM, BANDS, CAP)
        query_add = None
        for i, s in zip(ids.tolist(), sigs, strict=True):
            idx.add(i, s)
        query, add = idx.query, idx.add
    else:
        from datasketch import MinHashLSH

        idx = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, NUM_PERM // BANDS))
        query_add = None
        for i, s in zip(ids.tolist(), sigs, strict=True):
            idx.insert(i, _Sig(s), check_duplication=False)

        def query(s):
            return idx.query(_Sig(s))

        def add(i, s):
            idx.insert(i, _Sig(s), check_duplication=False)

    rebuild_s = time.perf_counter() - t0
    rebuild_cpu = time.process_time() - c0
    del sigs, ids
    gc.collect()
    mem = rss() - base
    probes = signatures(n + PROBES)[n:]
    found = 0
    t, c = time.perf_counter(), time.process_time()
    for k, s in enumerate(probes):
        found += bool(query(s))
        add(n + k + 1, s)
    us = (time.perf_counter() - t) / PROBES * 1e6
    us_cpu = (time.process_time() - c) / PROBES * 1e6
    out = {"impl": impl, "articles": n, "rebuild_s": round(rebuild_s, 3), "rebuild_cpu_s": round(rebuild_cpu, 3),
           "read_s": round(read_s, 3), "rss_bytes_per_article": round(mem / n, 1),
           "query_insert_us_wall": round(us, 2), "query_insert_us_cpu": round(us_cpu, 2),
           "probes_with_candidates": found, "loadavg": [round(x, 2) for x in os.getloadavg()]}
    out["query_insert_us"] = out["query_insert_us_cpu"]
    if query_add is not None:  # one hashing and one probe for both (what the clusterer needs)
        more = signatures(n + 2 * PROBES)[n + PROBES :]
        c = time.process_time()
        for k, s in enumerate(more):
            query_add(n + PROBES + k + 1, s)
        out["query_add_us_cpu"] = round((time.process_time() - c) / PROBES * 1e6, 2)
        out["query_insert_us"] = out["query_add_us_cpu"]
    if impl == "compact":
        out["array_bytes_per_article"] = round(idx.nbytes() / n, 1)
        out["bytes_per_article"] = max(out["array_bytes_per_article"], out["rss_bytes_per_article"])
    else:
        out["bytes_per_article"] = out["rss_bytes_per_article"]
    return out


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
    ap.add_argument("--child", nargs=3, metavar=("IMPL", "N", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), Path(args.child[2]))), flush=True)
        return 0

    sizes = sorted({min(int(s), args.max) for s in args.sizes.split(",")})
    impls = [i for i in args.impls.split(",") if i]
    print(json.dumps({"versions": versions(), "num_perm": NUM_PERM, "bands": BANDS, "cap": CAP,
                      "sizes": sizes, "loadavg": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        db = Path(tmp) / "signatures.db"
        write_s = write_store(db, sizes[-1])
        print(json.dumps({"store": "sqlite", "signatures": sizes[-1], "write_s": round(write_s, 2),
                          "db_mb": round(db.stat().st_size / 2**20, 1)}), flush=True)
        for impl in impls:
            per_article = GUESS[impl]
            last = None
            for n in sizes:
                if last is not None and n * per_article > args.mem_budget_gb * 2**30:
                    scale = n / last["articles"]
                    res = dict(last, articles=n, rebuild_s=round(last["rebuild_s"] * scale, 3),
                               rebuild_cpu_s=round(last["rebuild_cpu_s"] * scale, 3),
                               extrapolated_from=last["articles"])
                else:
                    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                        filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")])))
                    proc = subprocess.run([sys.executable, "-m", "benchmarks.index_scale", "--child", impl, str(n),
                                           str(db)], capture_output=True, text=True, env=env, check=False)
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

    summary = {
        "summary": True,
        "articles": big,
        "bytes_per_article_1m": fig("band_index", "bytes_per_article", big),
        "query_insert_us_1m": fig("band_index", "query_insert_us", big),
        "cost_ratio_1m_vs_10k": ratio("band_index"),
        "rebuild_s_1m": fig("band_index", "rebuild_s", big),
        "band_index_extrapolated": "extrapolated_from" in results.get(("band_index", big), {}),
        "datasketch_bytes_per_article_1m": fig("datasketch", "bytes_per_article", big),
        "datasketch_query_insert_us_1m": fig("datasketch", "query_insert_us", big),
        "datasketch_rebuild_s_1m": fig("datasketch", "rebuild_s", big),
        "datasketch_extrapolated": "extrapolated_from" in results.get(("datasketch", big), {}),
        "compact_bytes_per_article_1m": fig("compact", "bytes_per_article", big),
        "compact_query_insert_us_1m": fig("compact", "query_insert_us", big),
        "compact_cost_ratio_1m_vs_10k": ratio("compact"),
        "compact_rebuild_s_1m": fig("compact", "rebuild_s", big),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
