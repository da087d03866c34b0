"""Clustering quality and speed on the labeled sets, with the daemon's code and defaults.

    python -m benchmarks.clustering [FILE.jsonl ...] [--orders N]

One JSON object per file, then a summary line. With no files, runs the five event sets in
``../shared/data/clustering`` (wikiref220 is coarse topics, not events: run it explicitly;
it is reported but never part of the macro). ``--orders N`` adds, per file, the mean B-cubed F1
over N seeded shuffles of the stream (arrival order alone moves these small sets by ±0.015).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aggregator.cluster import Clusterer, ClusterParams, Features, featurize
from benchmarks.scoring import SHARED_DATA, bcubed, copy_precision, load_labeled, pairwise

DEFAULT_FILES = ("giveme5w1h", "ecbplus", "pac", "basil", "newswcl50")
MACRO_EXCLUDE = {"wikiref220"}
UNDATED = datetime(2020, 1, 1, tzinfo=UTC)  # one fixed time: the window never separates undated rows


def parse_date(value: str | None, fallback: datetime | None) -> datetime | None:
    if not value:
        return fallback
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def stream(rows: list[dict]) -> list[tuple[int, datetime]]:
    """(int id, time) per row in stream order: ids are stream positions.

    A row without a usable date gets the time of the previous dated row (what a stream's
    first-seen time approximates), or the file's first date when it comes before any: pac has
    "" dates, which load_labeled sorts *first*; a fixed far-off time there would make the
    window evict everything before it."""
    dated = [d for d in (parse_date(r.get("date"), None) for r in rows) if d is not None]
    last = dated[0] if dated else UNDATED
    out = []
    for n, row in enumerate(rows):
        when = parse_date(row.get("date"), None)
        if when is None:
            when = last
        last = when
        out.append((n, when))
    return out


def featurize_rows(rows: list[dict], params: ClusterParams) -> list[Features]:
    return [featurize(r.get("title") or "", r.get("text") or "", "", params) for r in rows]


def cluster_rows(rows, feats, params, order=None):
    """Run the clusterer; returns (pred labels, copy pairs) keyed by row id."""
    ids = stream(rows)
    seq = range(len(rows)) if order is None else order
    c = Clusterer(params)
    pred, copies = {}, []
    for pos, n in enumerate(seq):
        _, when = ids[n]
        d = c.assign(pos, when, feats[n], rows[n].get("source") or "")
        pred[pos] = d.story_id
        if d.copy_of is not None:
            copies.append((pos, d.copy_of))
    # map stream positions back to row ids
    seq = list(seq)
    rid = {pos: rows[n]["id"] for pos, n in enumerate(seq)}
    return {rid[k]: v for k, v in pred.items()}, [(rid[a], rid[b]) for a, b in copies]


def score(rows, pred, copies) -> dict:
    gold = {r["id"]: r["cluster"] for r in rows}
    out = {}
    out.update(bcubed(gold, pred))
    out.update(pairwise(gold, pred))
    out["copy_precision"] = copy_precision(gold, copies)
    out["copies"] = len(copies)
    return out


def run_file(path: Path, params: ClusterParams, orders: int = 0) -> dict:
    rows = load_labeled(path)
    t0 = time.perf_counter()
    feats = featurize_rows(rows, params)
    pred, copies = cluster_rows(rows, feats, params)
    elapsed = time.perf_counter() - t0
    res = {"dataset": path.stem, "docs": len(rows)}
    res.update(score(rows, pred, copies))
    res["docs_per_s"] = len(rows) / elapsed if elapsed else 0.0
    if orders:
        f1s = []
        for seed in range(orders):
            # shuffle within the date order: keep dated rows sorted, shuffle ties and undated
            order = list(range(len(rows)))
            rnd = random.Random(seed)
            keys = {n: (stream(rows)[n][1], rnd.random()) for n in order}
            order.sort(key=lambda n: keys[n])
            p, cp = cluster_rows(rows, feats, params, order)
            f1s.append(score(rows, p, cp)["b3_f1"])
        res["b3_f1_orders_mean"] = sum(f1s) / len(f1s)
        res["b3_f1_orders_min"] = min(f1s)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in res.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.clustering")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--orders", type=int, default=0, help="also report mean B3 F1 over N shuffled orders")
    args = ap.parse_args(argv)
    files = [Path(f) for f in args.files]
    if not files:
        base = SHARED_DATA / "clustering"
        if not base.is_dir():
            print(json.dumps({"summary": True, "skipped": f"{base} absent"}))
            return 0
        files = [base / f"{name}.jsonl" for name in DEFAULT_FILES]
    params = ClusterParams()
    results = []
    for f in files:
        res = run_file(f, params, args.orders)
        results.append(res)
        print(json.dumps(res), flush=True)
    macro = [r for r in results if r["dataset"] not in MACRO_EXCLUDE] or results
    total_docs = sum(r["docs"] for r in results)
    total_time = sum(r["docs"] / r["docs_per_s"] for r in results if r["docs_per_s"])

    def mean(key):
        return round(sum(r[key] for r in macro) / len(macro), 4)

    summary = {
        "summary": True,
        "b3_f1_macro": mean("b3_f1"),
        "pairwise_precision_macro": mean("pairwise_precision"),
        "copy_precision_macro": mean("copy_precision"),
        "docs_per_s": round(total_docs / total_time, 1) if total_time else 0.0,
    }
    if args.orders:
        summary["b3_f1_orders_macro"] = mean("b3_f1_orders_mean")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
