"""Process-wide counters for Prometheus, written by hand in the text exposition format.

The pipeline counts what it does (fetches by outcome, fetch durations, extraction failures);
``aggregator.web.ops`` adds gauges read from the store at scrape time and renders everything.
Counters live in this process: ``aggregator run`` serves them beside the daemon that counts.
"""

from __future__ import annotations

import threading
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
    for name, (help_, value) in gauges.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"]
    return "\n".join(lines) + "\n"
