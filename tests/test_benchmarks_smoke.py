"""Smoke runs of the performance benchmarks at tiny sizes: they run and keep their JSON shape.

No timing is asserted (the machine is shared; the figures are read from the full runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest

from benchmarks import index_scale, memory, pipeline


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_pipeline_smoke(capsys):
    if not pipeline.PAGES.exists():
        pytest.skip(f"../shared/data absent: {pipeline.PAGES} not found")
    assert pipeline.main(["--limit", "6", "--feeds", "2", "--no-reference"]) == 0
    lines = _lines(capsys)
    assert "versions" in lines[0]
    runs = [r for r in lines if r.get("run") == "ingest"]
    assert {r["workers"] for r in runs} == {1, 2}
    assert all(r["stored"] == 6 for r in runs), runs
    summary = lines[-1]
    assert summary["summary"] is True
    for key in ("cpu_ratio_vs_extraction", "scaling_2_workers", "peak_rss_mb"):
        assert isinstance(summary[key], float), summary


def test_pipeline_skips_without_data(capsys, tmp_path):
    assert pipeline.main(["--data", str(tmp_path / "absent")]) == 0
    assert _lines(capsys)[-1]["skipped"] is True


def test_index_scale_smoke(capsys):
    assert index_scale.main(["--sizes", "300,600"]) == 0
    lines = _lines(capsys)
    impls = {(r["impl"], r["articles"]) for r in lines if "impl" in r}
    assert impls == {(i, n) for i in index_scale.IMPLS for n in (300, 600)}
    summary = lines[-1]
    for key in ("bytes_per_article_1m", "query_insert_us_1m", "cost_ratio_1m_vs_10k", "rebuild_s_1m",
                "datasketch_bytes_per_article_1m", "dict_index_bytes_per_article_1m"):
        assert isinstance(summary[key], float), summary
    assert summary["band_index_extrapolated"] is False
    # every index saw the same near-copies among the probes
    found = {(r["impl"], r["articles"]): r["probes_with_candidates"] for r in lines if "impl" in r}
    assert len({found[(i, 600)] for i in index_scale.IMPLS}) == 1, found


def test_memory_smoke(capsys):
    assert memory.main(["--articles", "300", "--unique", "100", "--feeds", "20", "--words", "60"]) == 0
    summary = _lines(capsys)[-1]
    assert summary["summary"] is True and summary["articles"] == 300
    assert summary["rss_mb"] > 0


def test_twins_lists_over_merges_and_splits(capsys, tmp_path):
    from test_cluster_texts import CHESS, FILLER, words_text

    from benchmarks import twins

    body = " ".join(words_text(11, 25))
    rows = [
        {"id": "a1", "cluster": "A", "title": "Quarry council vote", "text": body},
        {"id": "b1", "cluster": "B", "title": "Quarry council vote (AP)", "text": body},  # a twin, copied
        {"id": "c1", "cluster": "C", "title": CHESS[0], "text": CHESS[1]},
        {"id": "c2", "cluster": "C", "title": FILLER[0][0], "text": FILLER[0][1]},  # split off
    ]
    path = tmp_path / "twins.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    twins.main([str(path)])
    out = capsys.readouterr().out
    assert "STORY 0 founded by A: {'A': 1, 'B': 1}" in out
    assert "#1 b1 -> story 0 (a1) COPY of #0" in out
    assert "EVENT C: 2 articles in stories {2: 1, 3: 1}" in out
    assert "founded #3 c2" in out
