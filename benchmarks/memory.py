"""Resident memory of the daemon with a full clustering window.

    python -m benchmarks.memory [--articles 200000] [--feeds 1000] [--unique 20000]

Builds what the daemon's main process holds after a restart: the modules it imports (pipeline,
scheduler, web app), 1,000 feed rows, and the clusterer restored with a 30-day window of
synthetic articles (``Clusterer.restore`` with ``Features`` made by ``aggregator.cluster.featurize``
-- the real code, the real payloads). ``--unique`` texts are featurized for real (generated
words with a Zipf-like vocabulary, names and numbers); the rest reuse one of those payloads with
a third of their terms replaced by fresh words from a 300k vocabulary and a fresh signature, so
the term index grows as in a real stream (featurizing 200k texts would take minutes). RSS is read
from /proc/self/status (VmRSS, VmHWM) at each step; the daemon's extraction workers are separate
processes (``benchmarks.pipeline`` prints their peak: ≈130 MB each with the default settings).

``restore_s`` is the restart cost of the window: the ``restore`` calls plus the first ``assign``
after them (restored articles enter the two indexes in bulk, on the first decision); wall time,
and ``restore_cpu_s`` the CPU time of this process (the figure to compare on a shared machine).
The split drops the band index, then the term index, and reads back what the process returns.

Last line: ``{"summary": true, "articles", "rss_mb", "peak_rss_mb", "clusterer_mb",
"bytes_per_article", "bytes_per_article_without_bands", "restore_s", "restore_cpu_s", "with_workers_mb"}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np

WORKER_MB = 130.0  # peak RSS of one extraction worker, measured by benchmarks.pipeline


def status_mb() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return {"rss_mb": round(out.get("VmRSS", 0.0), 1), "peak_rss_mb": round(out.get("VmHWM", 0.0), 1)}


def _trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(4, 11, n)
    chars = letters[rng.integers(0, 26, int(lengths.sum()))]
    out, pos = [], 0
    for k in lengths.tolist():
        out.append("".join(chars[pos : pos + k]))
        pos += k
    return out


def zipf_words(rng: np.random.Generator, vocab: list[str], k: int) -> list[str]:
    idx = np.minimum(rng.zipf(1.3, k) - 1, len(vocab) - 1)
    return [vocab[i] for i in idx.tolist()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=200_000)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--unique", type=int, default=20_000, help="texts featurized for real")
    ap.add_argument("--words", type=int, default=300, help="words per generated article")
    args = ap.parse_args(argv)

    base = status_mb()
    import aggregator.pipeline  # noqa: F401 - what the daemon process imports
    import aggregator.web.app  # noqa: F401
    import scheduler  # noqa: F401
    from aggregator.cluster import Clusterer, Features, featurize
    from aggregator.cluster.params import ClusterParams
    from store import FeedRow

    imported = status_mb()
    print(json.dumps({"step": "imports", **imported, "before_imports": base}), flush=True)

    now = datetime.now(UTC)
    fields = FeedRow.__dataclass_fields__
    feeds = []
    for i in range(args.feeds):
        values = {f: None for f in fields}
        values.update(id=i + 1, name=f"feed-{i}", url=f"https://outlet{i % 300}.example/feed/{i}.xml",
                      outlet=f"Outlet {i % 300}")
        try:
            feeds.append(FeedRow(**values))
        except TypeError:
            break
    print(json.dumps({"step": "feeds", "feeds": len(feeds), **status_mb()}), flush=True)

    rng = np.random.default_rng(11)
    vocab = vocabulary(300_000, rng)
    common = vocab[:50_000]
    names = [w.capitalize() for w in vocab[50_000:80_000]]
    t = time.perf_counter()
    unique: list[Features] = []
    for _ in range(min(args.unique, args.articles)):
        title = " ".join([*zipf_words(rng, common, 6), names[int(rng.integers(0, len(names)))],
                          names[int(rng.integers(0, len(names)))]])
        sents = []
        for _ in range(args.words // 15):
            ws = zipf_words(rng, common, 13)
            ws[0] = ws[0].capitalize()
            name = names[int(rng.integers(0, len(names)))]
            sents.append(" ".join([*ws, str(int(rng.integers(1, 5000))), name]) + ".")
        unique.append(featurize(title, " ".join(sents)))
    feat_s = time.perf_counter() - t
    ms_each = round(1000 * feat_s / max(1, len(unique)), 2)
    print(json.dumps({"step": "featurized", "unique": len(unique), "ms_each": ms_each, **status_mb()}), flush=True)

    scheme = ClusterParams().scheme
    before = status_mb()
    clusterer = Clusterer()
    span = timedelta(days=29)
    restore_s = restore_cpu_s = 0.0
    for i in range(args.articles):
        when = now - span + span * (i / args.articles)
        if i < len(unique):
            feats = unique[i]
        else:
            data = unique[i % len(unique)].data()
            for key in ("t", "sal"):
                data[key] = sorted({w if rng.random() > 0.33 else vocab[int(rng.integers(0, len(vocab)))]
                                    for w in data.get(key, [])})
            for key in ("l", "b"):  # "b": body terms after the lead (FEATURE_VERSION 5)
                if key in data:
                    data[key] = {(w if rng.random() > 0.33 else vocab[int(rng.integers(0, len(vocab)))]): c
                                 for w, c in data[key].items()}
            sig = rng.integers(0, 2**32, 128, dtype=np.uint64).astype(np.uint32).tobytes()
            feats = Features(scheme=scheme, signature=sig, language=data.get("lang", ""),
                             payload=json.dumps(data, separators=(",", ":"), sort_keys=True))
        t, cpu = time.perf_counter(), time.process_time()  # only the clusterer's work, not the payloads'
        clusterer.restore(i + 1, when, feats, story_id=i + 1)
        restore_s += time.perf_counter() - t
        restore_cpu_s += time.process_time() - cpu
        if (i + 1) % 50_000 == 0:
            print(json.dumps({"step": "restored", "articles": i + 1, "restore_s": round(restore_s, 1),
                              "restore_cpu_s": round(restore_cpu_s, 1), **status_mb()}), flush=True)
    restored = len(clusterer)
    t, cpu = time.perf_counter(), time.process_time()
    first = clusterer.assign(args.articles + 1, now, unique[0])
    first_assign_s, first_assign_cpu_s = time.perf_counter() - t, time.process_time() - cpu
    restore_s += first_assign_s
    restore_cpu_s += first_assign_cpu_s
    print(json.dumps({"step": "first_assign", "s": round(first_assign_s, 2), "cpu_s": round(first_assign_cpu_s, 2),
                      "story": first.story_id, **status_mb()}), flush=True)
    gc.collect()
    clusterer_mb = status_mb()["rss_mb"] - before["rss_mb"]  # measured while the inputs still count in both
    del unique
    gc.collect()
    _trim()
    after = status_mb()
    # Where it goes: drop the band index, then the term index, and read what the process gives
    # back (malloc_trim returns freed heap to the OS, so RSS falls by what they held).
    split = {}
    for part in ("_bands", "_terms"):
        held = status_mb()["rss_mb"]
        setattr(clusterer, part, None)
        gc.collect()
        _trim()
        split[part.strip("_") + "_index_mb"] = round(held - status_mb()["rss_mb"], 1)
    print(json.dumps({"step": "split", **split, "rest_mb": round(clusterer_mb - sum(split.values()), 1)}),
          flush=True)
    live = max(1, len(clusterer))
    print(json.dumps({
        "summary": True, "articles": restored, "feeds": len(feeds), **after,
        "clusterer_mb": round(clusterer_mb, 1),
        "bytes_per_article": round(clusterer_mb * 2**20 / live),
        "bytes_per_article_without_bands": round((clusterer_mb - split["bands_index_mb"]) * 2**20 / live),
        "restore_s": round(restore_s, 2), "restore_cpu_s": round(restore_cpu_s, 2),
        "restore_cpu_us_per_article": round(1e6 * restore_cpu_s / live, 1),
        "with_workers_mb": round(after["peak_rss_mb"] + 2 * WORKER_MB, 1),
        "target_mb": 1024, "loadavg": [round(x, 2) for x in os.getloadavg()],
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
