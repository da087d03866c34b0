"""The clustering quality gate: every labeled set scored with the daemon's code and defaults (date
order, deterministic) against the floors pinned in ``benchmarks/baseline.json``.

A floor can be raised freely (``python -m benchmarks.clustering --update-baseline``); lowering
one needs ``--allow-lower`` and a reason in the commit. The tolerance (0.01) only absorbs float
and platform noise: date order is deterministic, so a drop below floor - tolerance is a change
in the clustering, not luck."""

from __future__ import annotations

import sys
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
from conftest import shared_data

from aggregator.cluster import ClusterParams
from benchmarks.clustering import BASELINE, DEFAULT_FILES, GATED, load_baseline, run_file, update_baseline

pytestmark = pytest.mark.shared_data


def test_baseline_pins_every_default_set():
    floors = load_baseline()["floors"]
    assert set(DEFAULT_FILES) <= set(floors), f"{BASELINE.name} lacks floors for some sets"
    for name in DEFAULT_FILES:
        assert set(GATED) <= set(floors[name])


def test_quality_floors():
    base = shared_data("clustering")
    baseline = load_baseline()
    tol = baseline.get("tolerance", 0.01)
    below = []
    for name in DEFAULT_FILES:
        res = run_file(base / f"{name}.jsonl", ClusterParams())
        for key in GATED:
            floor = baseline["floors"][name][key]
            if res[key] < floor - tol:
                below.append(f"{name}.{key} = {res[key]} < floor {floor} - {tol}")
    assert not below, "clustering quality dropped: " + "; ".join(below)


def test_floors_are_raised_freely_but_lowered_only_on_request(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text('{"tolerance": 0.01, "floors": {"x": {"b3_f1": 0.9, "copy_precision": 1.0}}}')
    up = [{"dataset": "x", "b3_f1": 0.95, "copy_precision": 1.0}]
    base, lowered = update_baseline(up, allow_lower=False, path=path)
    assert base["floors"]["x"]["b3_f1"] == 0.95 and not lowered
    down = [{"dataset": "x", "b3_f1": 0.8, "copy_precision": 1.0}]
    base, lowered = update_baseline(down, allow_lower=False, path=path)
    assert base["floors"]["x"]["b3_f1"] == 0.9 and lowered == ["x.b3_f1: 0.9 -> 0.8"]
    base, lowered = update_baseline(down, allow_lower=True, path=path)
    assert base["floors"]["x"]["b3_f1"] == 0.8
