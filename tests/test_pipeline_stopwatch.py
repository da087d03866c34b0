"""The CPU breakdown by stage behind issue 7's "profile that shows where the time goes"."""

from __future__ import annotations

import time

from aggregator import metrics
from aggregator.extract import ExtractorPool, Job
from benchmarks.pipeline import breakdown


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_stages_nest_and_are_exclusive():
    sw = metrics.Stopwatch()
    with sw.stage("outer"):
        _spin(0.02)
        with sw.stage("inner"):
            _spin(0.03)
        _spin(0.01)
    got = sw.snapshot()
    assert set(got) == {"outer", "inner"}
    assert 0.03 <= got["inner"] < 0.06
    assert 0.03 <= got["outer"] < 0.06  # the inner stage's time is not counted twice


def test_stage_is_charged_when_it_raises():
    sw = metrics.Stopwatch()
    try:
        with sw.stage("boom"):
            _spin(0.01)
            raise ValueError
    except ValueError:
        pass
    assert sw.snapshot()["boom"] >= 0.01
    with sw.stage("after"):  # the stack is balanced again
        pass
    assert set(sw.snapshot()) == {"boom", "after"}


def test_pool_reports_worker_steps_in_process():
    html = "<html><head><title>T</title></head><body><article>" + "<p>Words of an article here.</p>" * 40 + \
        "</article></body></html>"
    with ExtractorPool(workers=0) as pool:
        pool.run(Job(html=html.encode(), url="https://x.example/a", title="T", summary="s"))
    assert {"decode", "trafilatura", "head_metadata", "featurize"} <= set(pool.stage_cpu)
    assert pool.extraction_cpu == pool.stage_cpu["trafilatura"] > 0


def test_metrics_page_lists_stage_cpu():
    with metrics.stage("unit-test-stage"):
        pass
    assert 'aggregator_pipeline_cpu_seconds_total{stage="unit-test-stage"}' in metrics.render({})


def test_breakdown_adds_other_and_total():
    out = breakdown({"a": 1.0}, {"a": 2.0, "b": 0.5}, total=2.0, n=10)
    assert out == {"a": 100.0, "b": 50.0, "other": 50.0, "total": 200.0}
