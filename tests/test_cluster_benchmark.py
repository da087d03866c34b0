"""The clustering benchmark on the smallest shared labeled set (skips without ../shared/data)."""

from __future__ import annotations

import sys
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest

from aggregator.cluster import ClusterParams
from benchmarks.clustering import run_file
from benchmarks.scoring import SHARED_DATA

pytestmark = pytest.mark.shared_data


def test_newswcl50_quality():
    path = SHARED_DATA / "clustering" / "newswcl50.jsonl"
    if not path.exists():
        pytest.skip(f"../shared/data absent: {path} not found")
    res = run_file(path, ClusterParams())
    assert res["b3_f1"] >= 0.85, res
    assert res["copy_precision"] >= 0.99, res
