"""Cluster scoring shared by the benchmarks and the quality gate.

B-cubed (Bagga & Baldwin 1998): for each item, precision is the share of its predicted cluster
that shares its gold cluster, recall the share of its gold cluster found in its predicted cluster;
both averaged over items. Pairwise: precision/recall over the set of same-cluster pairs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def bcubed(gold: Mapping[Hashable, Hashable], pred: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """B-cubed precision/recall/F1 over the items present in ``gold``."""
    items = list(gold)
    if not items:
        return {"b3_precision": 0.0, "b3_recall": 0.0, "b3_f1": 0.0}
    joint = Counter((gold[i], pred[i]) for i in items)
    gsize = Counter(gold[i] for i in items)
    psize = Counter(pred[i] for i in items)
    p = sum(joint[(gold[i], pred[i])] / psize[pred[i]] for i in items) / len(items)
    r = sum(joint[(gold[i], pred[i])] / gsize[gold[i]] for i in items) / len(items)
    return {"b3_precision": p, "b3_recall": r, "b3_f1": _f1(p, r)}


def pairwise(gold: Mapping[Hashable, Hashable], pred: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """Precision/recall/F1 over unordered same-cluster pairs (counted, not enumerated)."""
    items = list(gold)

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    both = pairs(Counter((gold[i], pred[i]) for i in items).values())
    gp = pairs(Counter(gold[i] for i in items).values())
    pp = pairs(Counter(pred[i] for i in items).values())
    p = both / pp if pp else 1.0
    r = both / gp if gp else 1.0
    return {"pairwise_precision": p, "pairwise_recall": r, "pairwise_f1": _f1(p, r)}


def copy_precision(gold: Mapping[Hashable, Hashable], copy_pairs: Iterable[tuple]) -> float:
    """Share of the pairs the system called copies that belong to the same gold story.

    1.0 when no pair was called a copy (nothing claimed, nothing wrong)."""
    pairs = [(a, b) for a, b in copy_pairs if a in gold and b in gold]
    if not pairs:
        return 1.0
    return sum(gold[a] == gold[b] for a, b in pairs) / len(pairs)


def clusters_to_labels(groups: Iterable[Iterable[Hashable]]) -> dict[Hashable, int]:
    out: dict[Hashable, int] = {}
    for n, group in enumerate(groups):
        for item in group:
            out[item] = n
    return out


def load_labeled(path: str | Path) -> list[dict]:
    """Read a labeled JSON Lines file, sorted into stream order (date, then file order)."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for n, row in enumerate(rows):
        row["_order"] = n
    # Undated rows go last, in file order: that is how a stream would see them.
    rows.sort(key=lambda r: (r.get("date") is None, r.get("date") or "", r["_order"]))
    return rows


def group_sizes(labels: Mapping[Hashable, Hashable]) -> dict[Hashable, int]:
    sizes: dict[Hashable, int] = defaultdict(int)
    for v in labels.values():
        sizes[v] += 1
    return dict(sizes)
