"""Headline-only fallback quality: cluster on title + feed summary, as the daemon does when a page
cannot be fetched or extracted (``featurize(title, "", summary)`` then ``Clusterer.assign``).

    python -m benchmarks.headlines [FILE ...]

Reads ``../shared/data/headlines/``: ``google_news_2022-07-28.jsonl`` (the labeled JSON Lines
format: ``cluster`` is the Google News story) and ``uci_news_aggregator_head.csv`` (columns ID,
TITLE, URL, PUBLISHER, CATEGORY, STORY, HOSTNAME, TIMESTAMP; ``STORY`` is the gold cluster,
``TIMESTAMP`` milliseconds since the epoch). Items are fed in time order. One JSON object per
file (B-cubed and pairwise precision/recall/F1), the summary last.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from aggregator.cluster import Clusterer, ClusterParams, featurize
from benchmarks.scoring import SHARED_DATA, bcubed, pairwise

DEFAULT_FILES = ("google_news_2022-07-28.jsonl", "uci_news_aggregator_head.csv")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _when(value) -> datetime:
    """RFC 822 / ISO 8601 / epoch milliseconds; the epoch when unusable."""
    if value in (None, ""):
        return EPOCH
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000.0, tz=UTC)
    for parse in (parsedate_to_datetime, lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))):
        try:
            d = parse(text)
        except (TypeError, ValueError, IndexError):
            continue
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return EPOCH


def load(path: Path) -> list[dict]:
    """Rows {id, cluster, title, summary, when}, in time order (file order breaks ties)."""
    rows = []
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            for rec in csv.DictReader(f):
                rows.append(
                    {
                        "id": rec["ID"],
                        "cluster": rec["STORY"],
                        "title": rec["TITLE"] or "",
                        "summary": "",
                        "when": _when(rec.get("TIMESTAMP")),
                    }
                )
    else:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                rows.append(
                    {
                        "id": rec["id"],
                        "cluster": rec["cluster"],
                        "title": rec.get("title") or "",
                        "summary": rec.get("summary") or rec.get("text") or "",
                        "when": _when(rec.get("date")),
                    }
                )
    order = {id(r): n for n, r in enumerate(rows)}
    rows.sort(key=lambda r: (r["when"], order[id(r)]))
    return rows


def run_file(path: Path, params: ClusterParams) -> dict:
    rows = load(path)
    t0 = time.process_time()
    c = Clusterer(params)
    pred = {}
    for n, r in enumerate(rows):
        d = c.assign(n, r["when"], featurize(r["title"], "", r["summary"], params))
        pred[r["id"]] = d.story_id
    elapsed = time.process_time() - t0
    gold = {r["id"]: r["cluster"] for r in rows}
    res = {"dataset": path.stem, "docs": len(rows), "clusters": len(set(gold.values()))}
    res.update(bcubed(gold, pred))
    res.update(pairwise(gold, pred))
    res["predicted_clusters"] = len(set(pred.values()))
    res["docs_per_s"] = len(rows) / elapsed if elapsed else 0.0
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in res.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.headlines")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    files = [Path(f) for f in args.files]
    if not files:
        base = SHARED_DATA / "headlines"
        if not base.is_dir():
            print(json.dumps({"summary": True, "skipped": f"{base} absent"}))
            return 0
        files = [base / name for name in DEFAULT_FILES]
    params = ClusterParams()
    results = []
    for f in files:
        res = run_file(f, params)
        results.append(res)
        print(json.dumps(res), flush=True)
    print(
        json.dumps(
            {
                "summary": True,
                "b3_precision_macro": round(statistics.fmean(r["b3_precision"] for r in results), 4),
                "b3_recall_macro": round(statistics.fmean(r["b3_recall"] for r in results), 4),
                "b3_f1_macro": round(statistics.fmean(r["b3_f1"] for r in results), 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
