"""End-to-end benchmark: labeled articles -> loopback newsroom -> ``aggregator poll --once`` -> stories.

    python -m benchmarks.e2e FILE.jsonl [FILE.jsonl ...] [--limit N] [--keep DIR]

For each labeled file (``{"id","cluster","title","text","source","url","date"}``) this serves one
feed per source outlet (RSS 2.0 and Atom, alternating) and every article as an HTML page in
realistic chrome from ``aggregator.newsroom`` on 127.0.0.1, runs the real command-line path
(``python -m aggregator.cli poll --once``) into a fresh SQLite store, reads the stories back with
``aggregator stories --json`` and scores them against the gold clusters with
``benchmarks.scoring``. Rows without a source are spread over six synthetic outlets
(deterministically, by id); rows without a date are dated one second after the row before them.

``text_f1`` is the mean over articles of the bag-of-words F1 between the text the store kept
(``articles.text``) and the original text (lower-cased ``\\w+`` tokens); an article that never
reached the store scores 0. ``articles_per_s`` is the number of labeled articles divided by the
wall time of the ``poll --once`` run (feeds, pages, extraction, fingerprints, clustering, store).

``--rounds N`` replays the file as a stream: the feeds reveal the articles in stream order (date,
then file order) over N polls, so arrival order follows publication order the way
``benchmarks.clustering`` feeds it; the default (1) serves the whole file as one backlog, newest
first in each feed, polled concurrently -- the harder, realistic first-poll order.

Prints one JSON object per file, then ``{"summary": true, "b3_f1_macro", "text_f1",
"articles_per_s"}``. An article missing from every story counts as a singleton prediction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.newsroom import NewsArticle, Newsroom, parse_datetime
from benchmarks.scoring import bcubed, load_labeled, pairwise

REPO = Path(__file__).resolve().parent.parent
SYNTHETIC_OUTLETS = [
    "Northfield Gazette",
    "Harbor City Herald",
    "Valley Courier",
    "The Morning Ledger",
    "Capital Dispatch",
    "Lakeside Tribune",
]
_TOKEN = re.compile(r"\w+")


def _stable(value: str) -> int:
    return int.from_bytes(hashlib.sha1(value.encode("utf-8")).digest()[:8], "big")


def outlet_for(row: dict) -> str:
    source = (row.get("source") or "").strip()
    return source or SYNTHETIC_OUTLETS[_stable(str(row["id"])) % len(SYNTHETIC_OUTLETS)]


def unique_ids(rows: list[dict]) -> None:
    """Some sets repeat an id for different articles (basil has four "basil:empty"): suffix them."""
    seen: Counter = Counter()
    for row in rows:
        rid = str(row["id"])
        seen[rid] += 1
        row["id"] = rid if seen[rid] == 1 else f"{rid}#{seen[rid]}"


# Undated rows (ECB+, NewsWCL50) are served with times one second apart in file order, from a
# fixed day: a real feed dates its items, and this keeps the pipeline's arrival order equal to the
# file order that ``benchmarks.clustering`` feeds its stream in (these small sets move by up to
# 0.07 B-cubed F1 with arrival order alone), so the two benchmarks differ only by what fetching
# and extraction lose.
UNDATED_ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)


def articles_from_rows(rows: list[dict]) -> list[NewsArticle]:
    out = []
    last = None
    for row in rows:
        published = None
        if row.get("date"):
            try:
                published = parse_datetime(str(row["date"]))
            except ValueError:
                published = None
        if published is None:
            published = (last or UNDATED_ANCHOR) + timedelta(seconds=1)
        last = published
        out.append(NewsArticle(
            id=str(row["id"]),
            title=row.get("title") or "",
            text=row.get("text") or "",
            outlet=outlet_for(row),
            author="",
            published=published,
        ))
    return out


def word_f1(predicted: str, gold: str) -> float:
    p = Counter(_TOKEN.findall(predicted.lower()))
    g = Counter(_TOKEN.findall(gold.lower()))
    if not p or not g:
        return 1.0 if not p and not g else 0.0
    common = sum((p & g).values())
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def _cli(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aggregator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=timeout)


def run_file(path: Path, limit: int | None = None, keep: Path | None = None,
             timeout: float = 7200.0, rounds: int = 1) -> dict:
    rows = load_labeled(path)
    if limit:
        rows = rows[:limit]
    unique_ids(rows)
    dataset = path.stem
    gold = {str(r["id"]): r["cluster"] for r in rows}
    texts = {str(r["id"]): r.get("text") or "" for r in rows}
    articles = articles_from_rows(rows)

    tmp_ctx = None
    if keep:
        workdir = keep / dataset
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in workdir.glob("store.db*"):
            stale.unlink()
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix=f"e2e-{dataset}-")
        workdir = Path(tmp_ctx.name)
    try:
        db_path = workdir / "store.db"
        db_url = f"sqlite:///{db_path}"
        env = dict(os.environ)
        env["AGGREGATOR_ALLOW_NETWORKS"] = "127.0.0.0/8"
        env["AGGREGATOR_HOST_SPACING"] = "0"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.pop("AGGREGATOR_DB", None)
        env.pop("AGGREGATOR_FEEDS", None)

        with Newsroom(articles) as nr:
            feeds = nr.write_feeds_yaml(workdir / "feeds.yaml")
            elapsed = 0.0
            rounds = max(1, min(rounds, len(rows)))
            for r in range(1, rounds + 1):
                if rounds > 1:  # reveal the stream in order, one slice per round
                    nr.publish(str(row["id"]) for row in rows[: len(rows) * r // rounds])
                start = time.perf_counter()
                poll = _cli(["poll", "--once", "--feeds", str(feeds), "--db", db_url], env, timeout)
                elapsed += time.perf_counter() - start
                print(f"[e2e] {dataset}: round {r}/{rounds}: poll exit {poll.returncode}, "
                      f"{elapsed:.1f}s so far: {poll.stdout.strip()}", file=sys.stderr)
                if poll.returncode != 0:
                    print(poll.stderr[-4000:], file=sys.stderr)
                    return {"dataset": dataset, "docs": len(rows), "error": f"poll exit {poll.returncode}"}
            listing = _cli(["stories", "--json", "--db", db_url], env, timeout)
            if listing.returncode != 0:
                print(listing.stderr[-4000:], file=sys.stderr)
                return {"dataset": dataset, "docs": len(rows), "error": f"stories exit {listing.returncode}"}

            pred: dict[str, object] = {}
            for line in listing.stdout.splitlines():
                if not line.strip():
                    continue
                story = json.loads(line)
                for src in story.get("sources", []):
                    aid = nr.article_id_for(src.get("url") or "")
                    if aid is not None and aid in gold:
                        pred.setdefault(aid, story["id"])
            stored: dict[str, str] = {}
            conn = sqlite3.connect(db_path)
            try:
                for url, text in conn.execute("SELECT url, text FROM articles"):
                    aid = nr.article_id_for(url)
                    if aid is not None:
                        stored[aid] = text or ""
            finally:
                conn.close()
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()

    missing = [i for i in gold if i not in pred]
    labels = {i: pred.get(i, f"missing:{i}") for i in gold}
    text_f1 = sum(word_f1(stored.get(i, ""), texts[i]) for i in gold) / len(gold) if gold else 0.0
    result = {"dataset": dataset, "docs": len(rows)}
    result.update(bcubed(gold, labels))
    result.update(pairwise(gold, labels))
    result["text_f1"] = text_f1
    result["articles_per_s"] = len(rows) / elapsed if elapsed else 0.0
    result["stored"] = len(stored)
    result["unclustered"] = len(missing)
    result["poll_s"] = elapsed
    result["rounds"] = rounds
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="take the first N rows (stream order)")
    ap.add_argument("--keep", type=Path, default=None, help="keep feeds.yaml and store.db here")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds per CLI call")
    ap.add_argument("--rounds", type=int, default=1,
                    help="reveal the articles in stream order over N polls (default 1: the whole "
                         "file is one backlog, as a first poll of real feeds would see it)")
    args = ap.parse_args(argv)

    results = []
    failed = False
    for path in args.files:
        res = run_file(path, limit=args.limit, keep=args.keep, timeout=args.timeout,
                       rounds=args.rounds)
        print(json.dumps(res), flush=True)
        if "error" in res:
            failed = True
        else:
            results.append(res)
    n = len(results)
    total_docs = sum(r["docs"] for r in results)
    total_time = sum(r["poll_s"] for r in results)
    summary = {
        "summary": True,
        "b3_f1_macro": round(sum(r["b3_f1"] for r in results) / n, 4) if n else 0.0,
        "pairwise_f1_macro": round(sum(r["pairwise_f1"] for r in results) / n, 4) if n else 0.0,
        "text_f1": round(sum(r["text_f1"] * r["docs"] for r in results) / total_docs, 4) if total_docs else 0.0,
        "articles_per_s": round(total_docs / total_time, 3) if total_time else 0.0,
        "files": n,
    }
    print(json.dumps(summary), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
