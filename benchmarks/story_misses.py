"""Why did a gold story end up split? One line per missed join, for tuning the story stage.

    python -m benchmarks.story_misses [FILE.jsonl ...]

Runs the clusterer as ``benchmarks.clustering`` does (date order, defaults). Each time an
article founds a new story although its gold cluster already has a live story, it prints, for
the best such story: the story score reached and the threshold needed at that time gap, the gap
(days) to the member the threshold was taken at, and what blocked the join:

- ``window``: no member of the story within ``window_days``;
- ``candidates``: the story was not among the ``rescore`` candidates (``rank``: its best
  member's place in the accumulation, ``-`` when no member shared an indexed term);
- ``compared``: a member outside those the story is scored on (``_compared``) reaches the
  threshold on its own;
- ``facts`` / ``days``: the fact or weekday penalty alone took the score below the threshold;
- ``score``: the similarity itself is short (``need`` is the shortfall).

``cos`` / ``title`` / ``fact`` / ``day`` are the components of the best compared member;
``all_best`` is the best similarity over *every* live member (what comparing more members
would give); ``first_gap`` the gap to the story's first member. The summary counts the misses
per blocking component.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from aggregator.cluster import Clusterer, ClusterParams
from aggregator.cluster.facts import agreement
from aggregator.cluster.stories import accumulate
from benchmarks.clustering import default_files, featurize_rows, stream
from benchmarks.scoring import load_labeled


class _Probe(Clusterer):
    """The daemon's clusterer, reporting on each "new" decision whose gold story is live."""

    def __init__(self, params, gold, names):
        super().__init__(params)
        self.gold, self.names = gold, names
        self.rows: list[dict] = []

    def _decide(self, art, band_ids):
        decision = super()._decide(art, band_ids)  # leaves the query's IDF and vector in place
        if decision.evidence.get("method") == "new":
            row = self._explain(art)
            if row is not None:
                self.rows.append(row)
        return decision

    def _components(self, art, facts, fact_total, s):
        p = self.params
        cos, title = self._cosine(s), self._title_bonus(art, s)
        day = fact = 0.0
        theirs = self._days[s]
        if p.day_weight and art.days and theirs and not art.days & theirs:
            if abs(art.when - self._when[s]) < self._day_span_us:
                day = p.day_weight
        if p.fact_weight and facts and len(facts) <= p.fact_list_max:
            tf = self._vecs.facts(s)
            if tf and len(tf) <= p.fact_list_max:
                shared = sum(self._idfs.values_of(filter(facts.__contains__, tf)))
                agree = agreement(shared, fact_total, self._fact_total[s])
                if agree is not None:
                    fact = p.fact_weight * max(0.0, p.fact_center - agree)
        return cos, title, fact, day

    def _explain(self, art):
        p = self.params
        g = self.gold[art.id]
        stories = defaultdict(list)  # live stories of the same gold cluster
        for aid, s in self._slots.items():
            if self.gold[aid] == g:
                stories[self._story[s]].append(aid)
        if not stories:
            return None
        facts, fact_total = frozenset(art.facts), sum(self._idfs.values_of(art.facts))
        acc = accumulate(self._query[0], self._terms, p)
        ranked = sorted(acc, key=lambda s: (-acc[s], self._ids[s]))
        rank = {self._ids[s]: n for n, s in enumerate(ranked)}
        best = None
        for sid in sorted(stories):
            members = self._members(sid)
            live = [m for m in members if self._live(m, art.when) is not None]
            if not live:
                row = {"block": "window", "score": 0.0, "thr": 0.0, "gap": None}
            else:
                score, member = self._story_score(art, facts, fact_total, sid)
                s = self._slots[member]
                thr = self._threshold(art, s)
                cos, title, fact, day = self._components(art, facts, fact_total, s)
                chosen = set(self._compared(members, art))
                all_sims = {m: self._similarity(art, facts, fact_total, self._slots[m]) for m in live}
                top_m = max(all_sims, key=all_sims.get)
                r = min((rank.get(m, 10**6) for m in live), default=10**6)
                if r >= p.rescore:
                    block = "candidates"
                elif score + fact + day >= thr and score < thr:
                    block = "facts" if fact >= day else "days"
                elif top_m not in chosen and all_sims[top_m] >= thr:
                    block = "compared"
                else:
                    block = "score"
                row = {
                    "block": block,
                    "score": round(score, 3),
                    "thr": round(thr, 3),
                    "need": round(thr - score, 3),
                    "gap": round(abs(art.when - self._when[s]) / 86400e6, 1),
                    "cos": round(cos, 3),
                    "title": round(title, 3),
                    "fact": round(fact, 3),
                    "day": round(day, 3),
                    "all_best": round(all_sims[top_m], 3),
                    "rank": r if r < 10**6 else "-",
                    "members": len(members),
                    "first_gap": round(abs(art.when - self._when[self._slots[members[0]]]) / 86400e6, 1)
                    if members[0] in self._slots
                    else None,
                }
            row.update(story=sid, id=art.id)
            if best is None or _margin(row) > _margin(best):
                best = row
        best["title_text"] = self.names[art.id][:60]
        best["gold"] = g.split(":")[-1][:40]
        return best


def _margin(row: dict) -> float:
    """How close a missed story came: out of the window is the farthest."""
    return float("-inf") if row["block"] == "window" else row["score"] - row["thr"]


def explain(path: Path, params: ClusterParams) -> list[dict]:
    rows = load_labeled(path)
    feats = featurize_rows(rows, params)
    gold = {n: r["cluster"] for n, r in enumerate(rows)}
    c = _Probe(params, gold, {n: r.get("title") or "" for n, r in enumerate(rows)})
    for n, when in stream(rows):
        c.assign(n, when, feats[n])
    return c.rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.story_misses")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    files = [Path(f) for f in args.files] or default_files() or []
    for f in files:
        rows = explain(f, ClusterParams())
        for r in rows:
            print(json.dumps({"dataset": f.stem, **r}, ensure_ascii=False))
        print(
            json.dumps(
                {
                    "dataset": f.stem,
                    "summary": True,
                    "misses": len(rows),
                    "by_block": dict(Counter(r["block"] for r in rows)),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
