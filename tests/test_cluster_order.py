"""Arrival order must not change the stories: expiry runs on a robust stream clock, and
publication times are compared only pairwise when deciding whether two articles may match."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_cluster_texts import BRIDGE_A, BRIDGE_B, CHESS, FILLER, words_text

from aggregator.cluster import Clusterer, ClusterParams, featurize

T0 = datetime(2024, 1, 1, 6, tzinfo=UTC)
_SYLLABLES = "ka lo mi ran te vos du pel sar ingo bri tam fel nor quo zen hal mu ver ost".split()


def _pseudo_text(seed: int, sentences: int) -> list[str]:
    """Sentences from a vocabulary of made-up words of its own: texts of different seeds share
    (almost) no words, so each seed is its own event."""
    rnd = random.Random(seed)
    vocab = ["".join(rnd.choice(_SYLLABLES) for _ in range(3)) for _ in range(40)]
    return [
        " ".join(rnd.choice(vocab) for _ in range(rnd.randint(10, 16))).capitalize() + "." for _ in range(sentences)
    ]


def _events():
    """Articles over 90 days (three 30-day windows): per event an original and a trimmed wire
    copy a few hours apart, plus two independent reports of one event and some singletons."""
    items = []  # (key, when, title, text)
    for k in range(18):
        sents = _pseudo_text(500 + k, 24)
        day = T0 + timedelta(days=5 * k)
        items.append((f"e{k}a", day, f"Event {k}", " ".join(sents)))
        items.append((f"e{k}b", day + timedelta(hours=5), f"Event {k} (wire)", " ".join(sents[:18])))
    mid = T0 + timedelta(days=44)
    items.append(("bridge_a", mid, *BRIDGE_A))
    items.append(("bridge_b", mid + timedelta(hours=20), *BRIDGE_B))
    items.append(("chess", mid + timedelta(days=1), *CHESS))
    for n, (title, text) in enumerate(FILLER):
        items.append((f"filler{n}", T0 + timedelta(days=20 + 30 * n), title, text))
    return items


def _partition(items, params=None):
    c = Clusterer(params)
    story = {}
    for n, (key, when, title, text) in enumerate(items, start=1):
        story[key] = c.assign(n, when, featurize(title, text)).story_id
    groups: dict[int, set[str]] = {}
    for key, sid in story.items():
        groups.setdefault(sid, set()).add(key)
    return sorted(sorted(g) for g in groups.values())


def test_newest_first_and_shuffled_backlogs_give_the_same_stories():
    items = sorted(_events(), key=lambda x: x[1])
    expected = _partition(items)
    # the pairs really were joined in date order (the test would be vacuous otherwise)
    assert ["e0a", "e0b"] in expected and ["bridge_a", "bridge_b"] in expected
    assert _partition(items[::-1]) == expected  # one backlog, newest first
    for seed in range(3):
        # the daemon's view: each 15-day backlog (half a window) arrives in random order
        rnd = random.Random(seed)
        shuffled = sorted(items, key=lambda x: ((x[1] - T0).days // 15, rnd.random()))
        assert _partition(shuffled) == expected


def test_any_order_within_one_window_gives_the_same_stories():
    items = [x for x in sorted(_events(), key=lambda x: x[1]) if x[1] < T0 + timedelta(days=28)]
    expected = _partition(items)
    for seed in range(3):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        assert _partition(shuffled) == expected


def test_one_far_future_date_does_not_evict_the_window():
    items = sorted(_events(), key=lambda x: x[1])
    expected = _partition(items)
    odd = ("odd", datetime(2099, 1, 1, tzinfo=UTC), "Misdated item", " ".join(words_text(999, 20)))
    with_odd = items[:10] + [odd] + items[10:]
    assert _partition(with_odd) == sorted(expected + [["odd"]])


def test_memory_is_one_window_of_arrivals():
    c = Clusterer(ClusterParams(window_days=30))
    for n in range(200):
        c.assign(n, T0 + timedelta(days=n), featurize(f"Item {n}", " ".join(words_text(n, 6))))
    assert 25 <= len(c) <= 40  # about 30 days of one article a day, whatever the stream's length
