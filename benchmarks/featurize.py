"""featurize cost per article, stage by stage, against the tokenise + shingle + hash floor.

    python -m benchmarks.featurize [--repeat 3] [--limit N]

``aggregator.cluster.featurize`` runs in the extraction workers after trafilatura, on the
extracted text; issue 7 wants the whole ingest within 1.10x of extraction alone, so featurize
must cost little next to it. The texts: the article pages in ``../shared/data/pages/`` (zyte
ground-truth text with the page ``<title>``; readability ``expected.html`` as text with the
``expected-metadata.json`` title) and every labeled article in ``../shared/data/clustering/``.

Prints package versions, one JSON line per corpus (featurize µs per article), one per stage
(tokenise, shingles: the distinct shingle hashes, signature: the MinHash of them, lead/terms,
names, language, weekdays, json: µs per article, the stages called as featurize calls them),
and the summary ``{"summary": true, "featurize_ms_per_article", "floor_ms_per_article",
"ratio"}``. The "floor" is a fixed yardstick measured in the same run: tokenise (``words``),
build the distinct shingle bytes and xxh32 each one, in plain Python with no MinHash at all —
the least a MinHash of byte shingles must do (the scheme up to FEATURE_VERSION 3). Shingle
hashes built from word hashes (FEATURE_VERSION 4) cost less than that, so featurize's stages
together can now come close to it.
CPU time of this process (``time.process_time``), best of ``--repeat`` passes: the machine is
shared, so only ratios from the same run mean much. Skips (exit 0) when ../shared/data is absent
(``--data`` names another folder).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import html as htmllib
import json
import re
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import xxhash

from aggregator.cluster import features as F
from aggregator.cluster.facts import weekdays
from aggregator.cluster.fingerprint import minhash, shingle_hashes
from aggregator.cluster.params import ClusterParams
from aggregator.cluster.text import guess_language, words
from benchmarks.scoring import SHARED_DATA

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


def load_texts(root: Path = SHARED_DATA, limit: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """{corpus: [(title, text)]}, at most ``limit`` per corpus — only what is present under ``root``."""
    out: dict[str, list[tuple[str, str]]] = {}
    zyte = root / "pages" / "zyte"
    if (zyte / "ground-truth.json").exists():
        truth = json.loads((zyte / "ground-truth.json").read_text(encoding="utf-8"))
        rows = []
        for pid, entry in sorted(truth.items())[:limit]:
            title = ""
            path = zyte / "html" / f"{pid}.html.gz"
            if path.exists():
                m = _TITLE.search(gzip.decompress(path.read_bytes()))
                title = htmllib.unescape(m.group(1).decode("utf-8", "replace")) if m else ""
            rows.append((" ".join(title.split()), entry.get("articleBody") or ""))
        out["pages/zyte"] = rows
    readability = root / "pages" / "readability"
    if readability.is_dir():
        import lxml.html

        rows = []
        for d in sorted(readability.iterdir()):
            if not (d / "expected.html").exists() or len(rows) == limit:
                continue
            meta = {}
            if (d / "expected-metadata.json").exists():
                meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
            doc = lxml.html.fromstring((d / "expected.html").read_bytes())
            # one line per block, as an extractor returns it
            blocks = [" ".join(e.text_content().split()) for e in doc.iter("p", "h1", "h2", "h3", "li", "pre")]
            rows.append((meta.get("title") or "", "\n".join(b for b in blocks if b)))
        out["pages/readability"] = rows
    for path in sorted((root / "clustering").glob("*.jsonl")):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                rows.append((r.get("title") or "", r.get("text") or ""))
        out[f"clustering/{path.stem}"] = rows[:limit]
    return {k: v for k, v in out.items() if v}


def each(items: list, fn: Callable) -> None:
    """``fn`` on every item, results dropped at once as in the worker (a list of 2,000 kept
    results would have the garbage collector walk them all, again and again, inside the timing)."""
    for x in items:
        fn(x)


def best_cpu(fn: Callable[[], object], repeat: int) -> float:
    """Least CPU seconds of ``repeat`` calls of ``fn``."""
    gc.collect()
    gc.freeze()  # the inputs are long-lived: keep the collector off them, as in a worker
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def floor_pass(rows: list[tuple[str, str]], p: ClusterParams) -> None:
    """Tokenise + distinct shingle bytes + xxh32 of each: what a byte-shingle MinHash must do."""
    cap, k, h = p.max_text_words * F._CHARS_PER_WORD, p.shingle, xxhash.xxh32_intdigest
    for _title, text in rows:
        sh: set[bytes]
        toks = words(text[:cap])[: p.max_text_words]
        if len(toks) >= k:
            sh = {" ".join(toks[i : i + k]).encode("utf-8") for i in range(len(toks) - k + 1)}
        else:
            sh = {" ".join(toks).encode("utf-8")} if toks else set()
        for s in sh:
            h(s)


def stage_passes(rows: list[tuple[str, str]], p: ClusterParams) -> dict[str, Callable[[], object]]:
    """One pass per stage of ``featurize``, each calling the helper featurize calls on the
    input it gets there (the inputs are computed up front, outside the timing)."""
    xs = []
    for title, text in rows:
        body, body_words, _fallback = F._body(text, "", p)
        sh = shingle_hashes(body_words, p.shingle)
        lead = F._lead(title, body, p)[0]
        title_words = words(title)
        xs.append((title, text, body, body_words, sh, lead, title_words, F.featurize(title, text, "", p).data()))
    k, n, seed = p.shingle, p.num_perm, p.seed
    return {
        "tokenise": lambda: each(xs, lambda x: F._body(x[1], "", p)),
        "shingles": lambda: each(xs, lambda x: shingle_hashes(x[3], k)),
        "signature": lambda: each(xs, lambda x: minhash(x[4], n, seed)),
        "lead/terms": lambda: each(xs, lambda x: F._story_terms(words(x[0]), F._lead(x[0], x[2], p)[0])),
        "names": lambda: each(xs, lambda x: F._name_fields(x[0], x[5], x[2])),
        "language": lambda: each(xs, lambda x: guess_language(x[3] or list(map(str.encode, x[6])))),
        "weekdays": lambda: each(xs, lambda x: weekdays(x[6] + words(x[2][: F._DAY_SCAN_CHARS]))),
        "json": lambda: each(xs, lambda x: F._JSON.encode(x[7])),
    }


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("datasketch", "numpy", "xxhash"):
        out[pkg] = metadata.version(pkg)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.featurize", description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="passes per measurement; the best counts")
    ap.add_argument("--limit", type=int, default=None, help="texts per corpus (smoke runs)")
    ap.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    args = ap.parse_args(argv)
    corpora = load_texts(args.data, args.limit)
    if not corpora:
        print(json.dumps({"summary": True, "skipped": True, "reason": f"no texts under {args.data}"}))
        return 0
    p = F.DEFAULT_PARAMS
    print(json.dumps({"versions": versions()}), flush=True)
    rows = [r for rs in corpora.values() for r in rs]
    F.featurize("warm up", "the permutations and regexes are built once per process")
    for name, rs in corpora.items():
        cpu = best_cpu(lambda rs=rs: each(rs, lambda r: F.featurize(r[0], r[1], "", p)), args.repeat)
        words_mean = sum(len(x.split()) for _, x in rs) / len(rs)
        print(
            json.dumps(
                {
                    "corpus": name,
                    "articles": len(rs),
                    "words_mean": round(words_mean),
                    "featurize_us_per_article": round(cpu / len(rs) * 1e6, 1),
                }
            ),
            flush=True,
        )
    total = best_cpu(lambda: each(rows, lambda r: F.featurize(r[0], r[1], "", p)), args.repeat)
    floor = best_cpu(lambda: floor_pass(rows, p), args.repeat)
    for name, fn in stage_passes(rows, p).items():
        print(
            json.dumps({"stage": name, "us_per_article": round(best_cpu(fn, args.repeat) / len(rows) * 1e6, 1)}),
            flush=True,
        )
    print(json.dumps({"floor": "tokenise+shingle+hash", "us_per_article": round(floor / len(rows) * 1e6, 1)}))
    print(
        json.dumps(
            {
                "summary": True,
                "articles": len(rows),
                "featurize_ms_per_article": round(total / len(rows) * 1e3, 4),
                "floor_ms_per_article": round(floor / len(rows) * 1e3, 4),
                "ratio": round(total / floor, 3) if floor else None,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
