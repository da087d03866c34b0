"""Process-wide counters for Prometheus, written by hand in the text exposition format.

The pipeline counts what it does (fetches by outcome, fetch durations, extraction failures);
``aggregator.web.ops`` adds gauges read from the store at scrape time and renders everything.
Counters live in this process: ``aggregator run`` serves them beside the daemon that counts.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

# Histogram buckets for fetch durations, in seconds.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()
fetches: Counter[str] = Counter()  # outcome -> count
extraction_failures: Counter[str] = Counter()  # reason kind -> count
_duration_buckets: Counter[float] = Counter()
_duration_sum = 0.0
_duration_count = 0


def count_fetch(outcome: str, seconds: float | None = None) -> None:
    global _duration_sum, _duration_count
    with _lock:
        fetches[outcome] += 1
        if seconds is not None:
            _duration_sum += seconds
            _duration_count += 1
            for b in BUCKETS:
                if seconds <= b:
                    _duration_buckets[b] += 1


def count_extraction_failure(kind: str) -> None:
    with _lock:
        extraction_failures[kind] += 1


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(gauges: dict[str, tuple[str, float]]) -> str:
    """The exposition text: our counters plus ``gauges`` (name -> (help, value))."""
    lines = ["# HELP aggregator_feed_fetches_total Feed fetches by outcome.",
             "# TYPE aggregator_feed_fetches_total counter"]
    with _lock:
        for outcome, n in sorted(fetches.items()):
            lines.append(f'aggregator_feed_fetches_total{{outcome="{_label(outcome)}"}} {n}')
        lines += ["# HELP aggregator_feed_fetch_seconds Time to fetch a feed.",
                  "# TYPE aggregator_feed_fetch_seconds histogram"]
        for b in BUCKETS:
            lines.append(f'aggregator_feed_fetch_seconds_bucket{{le="{b}"}} {_duration_buckets[b]}')
        lines.append(f'aggregator_feed_fetch_seconds_bucket{{le="+Inf"}} {_duration_count}')
        lines.append(f"aggregator_feed_fetch_seconds_sum {_duration_sum:.6f}")
        lines.append(f"aggregator_feed_fetch_seconds_count {_duration_count}")
        lines += ["# HELP aggregator_extraction_failures_total Articles that fell back to their "
                  "feed summary, by reason.",
                  "# TYPE aggregator_extraction_failures_total counter"]
        for kind, n in sorted(extraction_failures.items()):
            lines.append(f'aggregator_extraction_failures_total{{reason="{_label(kind)}"}} {n}')
    lines += ["# HELP aggregator_pipeline_cpu_seconds_total CPU of the daemon's own threads by "
              "pipeline stage (extraction runs in worker processes and is not included).",
              "# TYPE aggregator_pipeline_cpu_seconds_total counter"]
    for name, seconds in sorted(stopwatch.snapshot().items()):
        lines.append(f'aggregator_pipeline_cpu_seconds_total{{stage="{_label(name)}"}} {seconds:.6f}')
    for name, (help_, value) in gauges.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"]
    return "\n".join(lines) + "\n"


class Stopwatch:
    """CPU seconds of this process by pipeline stage, from ``time.thread_time()`` (issue 7's
    breakdown of where the ingest CPU beyond extraction goes; no profiler, ≈ 1 µs per stage).

    ``with sw.stage("fetch"):`` charges the calling thread's CPU to "fetch". Stages nest and
    are exclusive: while an inner stage runs, the outer one is paused, so the totals add up to
    the instrumented CPU and the process total minus their sum is everything else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.seconds: Counter[str] = Counter()

    def _charge(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds

    def stage(self, name: str) -> "_Stage":
        return _Stage(self, name)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.seconds)

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()


class _Stage:
    __slots__ = ("sw", "name")

    def __init__(self, sw: Stopwatch, name: str) -> None:
        self.sw, self.name = sw, name

    def __enter__(self) -> None:
        local = self.sw._local
        now = time.thread_time()
        stack = getattr(local, "stack", None)
        if stack is None:
            stack = local.stack = []
        elif stack:
            self.sw._charge(stack[-1], now - local.mark)  # the outer stage pauses
        stack.append(self.name)
        local.mark = now

    def __exit__(self, *exc) -> None:
        local = self.sw._local
        now = time.thread_time()
        name = local.stack.pop()
        self.sw._charge(name, now - local.mark)
        local.mark = now  # the outer stage (if any) resumes here


# The pipeline's stage clock (process-wide, like the counters above).
stopwatch = Stopwatch()


def stage(name: str) -> _Stage:
    return _Stage(stopwatch, name)
