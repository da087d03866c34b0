"""The story-stage diagnostics: benchmarks.story_misses and benchmarks.dated_twins, on small
made-up streams."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
from test_cluster_texts import BRIDGE_A, BRIDGE_B, CHESS, FILLER

from aggregator.cluster import ClusterParams
from benchmarks.dated_twins import dated
from benchmarks.story_misses import explain


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(n: int, cluster: str, item: tuple[str, str], date: str) -> dict:
    title, text = item
    return {"id": f"r{n}", "cluster": cluster, "title": title, "text": text, "date": date}


BUDGET = (
    "Marnholt council approves its budget",
    "The town council of Marnholt approved next year's budget this week, with money for a new "
    "library, for the swimming pool and for repairs to the old market hall. The vote was twelve "
    "to five; the opposition wanted lower parking fees. The mayor said the town would borrow less "
    "than last year and that the library should open in the autumn of next year.",
)


def test_story_misses_names_what_kept_a_gold_story_apart(tmp_path):
    """Labeled one story with the bridge collapse, the same day: a chess report sharing no word
    (never a candidate) and a council report sharing the town (the similarity is short); the
    second bridge report comes 45 days later (out of the window). Reports that found their own
    gold story are no miss."""
    rows = [_row(n, f"filler{n}", item, "2024-03-01T08:00:00") for n, item in enumerate(FILLER)]
    rows += [
        _row(90, "bridge", BRIDGE_A, "2024-03-01T09:00:00"),
        _row(91, "bridge", CHESS, "2024-03-01T10:00:00"),
        _row(92, "bridge", BUDGET, "2024-03-01T11:00:00"),
        _row(93, "bridge", BRIDGE_B, "2024-04-15T09:00:00"),
    ]
    misses = explain(_write(tmp_path / "set.jsonl", rows), ClusterParams())
    assert [m["block"] for m in misses] == ["candidates", "score", "window"]
    chess, budget, _ = misses
    assert chess["title_text"] == CHESS[0] and chess["rank"] == "-" and chess["gold"] == "bridge"
    assert budget["title_text"] == BUDGET[0] and budget["rank"] == 0 and budget["cos"] > 0
    p = ClusterParams()
    assert budget["need"] > 0 and budget["thr"] == pytest.approx(p.story_threshold, abs=0.002)


def test_dated_twins_puts_each_twin_gap_days_after_its_topic():
    rows = [
        {"id": "a", "cluster": "ecbplus:3ecbplus"},
        {"id": "b", "cluster": "ecbplus:3ecb"},
        {"id": "c", "cluster": "ecbplus:1ecb"},
    ]
    out = dated(rows, 7.0)
    assert [r["id"] for r in out] == ["c", "b", "a"]
    assert [r["date"][:10] for r in out] == ["2020-01-03", "2020-01-07", "2020-01-14"]
    assert "date" not in rows[0]  # the input rows are left as they were
    with pytest.raises(ValueError):
        dated([{"id": "x", "cluster": "giveme5w1h:panama_papers"}], 7.0)
