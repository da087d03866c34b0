"""Diagnose over-merges and splits of one labeled set (ECB+'s twin events by default).

    python -m benchmarks.twins [FILE.jsonl]

Over-merge: a predicted story holding several gold events. For each intruding gold event the
article that brought it in (the first of it to join a story founded by another event) is shown
with its decision (copy or story join, score vs threshold, the member it matched) and what the
two reports share and differ in: weekdays, numbers, salient names, title terms.
Split: a gold event spread over several predicted stories; for each article that founded a
further story, the best score it saw (the nearest member and its story) and why it fell short.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from aggregator.cluster import Clusterer, ClusterParams
from benchmarks.clustering import featurize_rows, score, stream
from benchmarks.scoring import SHARED_DATA, load_labeled


def run(rows, feats, params):
    """The decisions, feeding the rows in stream order (ids are row positions)."""
    c = Clusterer(params)
    return [c.assign(n, when, feats[n], rows[n].get("source") or "") for n, when in stream(rows)]


def pair_terms(feats, a, b):
    da, db = feats[a].data(), feats[b].data()

    def split(key):
        x, y = set(da.get(key, ())), set(db.get(key, ()))
        return sorted(x & y)[:12], sorted(x - y)[:10], sorted(y - x)[:10]

    return {k: split(k) for k in ("wd", "nums", "sal", "t")}


def describe(rows, feats, decisions, n, other):
    d = decisions[n]
    ev = d.evidence
    head = f"  #{n} {rows[n]['id']} -> story {d.story_id} ({rows[d.story_id]['id']})"
    if ev.get("method") == "copy":
        head += f" COPY of #{d.copy_of} c={ev['containment']} j={ev['jaccard']}"
    else:
        head += f" {ev.get('method')} score={d.score} nearest=#{ev.get('nearest')}"
    print(head)
    print(f"     title: {rows[n]['title'][:110]!r}")
    if other is not None:
        print(f"     vs #{other} {rows[other]['id']}: {rows[other]['title'][:100]!r}")
        for key, (both, only_a, only_b) in pair_terms(feats, n, other).items():
            print(f"     {key:4} both={both} only_new={only_a} only_old={only_b}")


def over_merges(rows, feats, decisions):
    gold = [r["cluster"] for r in rows]
    stories = defaultdict(list)
    for n, d in enumerate(decisions):
        stories[d.story_id].append(n)
    count = 0
    for sid, members in sorted(stories.items()):
        events = Counter(gold[n] for n in members)
        if len(events) < 2:
            continue
        print(f"STORY {sid} founded by {gold[sid]}: {dict(events)}")
        seen = {gold[sid]}
        for n in members:
            if gold[n] in seen:
                continue
            seen.add(gold[n])
            count += 1
            d = decisions[n]
            other = d.copy_of if d.copy_of is not None else d.evidence.get("nearest")
            describe(rows, feats, decisions, n, other)
    return count


def splits(rows, feats, decisions):
    gold = [r["cluster"] for r in rows]
    by_event = defaultdict(list)
    for n, g in enumerate(gold):
        by_event[g].append(n)
    for event, members in sorted(by_event.items()):
        stories = Counter(decisions[n].story_id for n in members)
        if len(stories) < 2:
            continue
        print(f"EVENT {event}: {len(members)} articles in stories {dict(stories)}")
        for n in members:
            d = decisions[n]
            if d.story_id == n and n != members[0]:
                near = d.evidence.get("nearest")
                where = "" if near is None else f" (its story {decisions[near].story_id}, gold {gold[near]})"
                print(f"  founded #{n} {rows[n]['id']}: nearest score {d.evidence.get('nearest_cosine')}{where}")
                describe(rows, feats, decisions, n, near)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(SHARED_DATA / "clustering" / "ecbplus.jsonl"))
    args = ap.parse_args(argv)
    rows = load_labeled(Path(args.file))
    params = ClusterParams()
    feats = featurize_rows(rows, params)
    decisions = run(rows, feats, params)
    pred = {r["id"]: d.story_id for r, d in zip(rows, decisions, strict=True)}
    copies = [(rows[n]["id"], rows[d.copy_of]["id"]) for n, d in enumerate(decisions) if d.copy_of is not None]
    res = score(rows, pred, copies)
    print({k: round(v, 4) for k, v in res.items() if isinstance(v, float)})
    print("=== OVER-MERGES ===")
    k = over_merges(rows, feats, decisions)
    print(f"=== {k} intrusions; SPLITS ===")
    splits(rows, feats, decisions)


if __name__ == "__main__":
    main()
