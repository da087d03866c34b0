"""Fact agreement: twin events (same kind of event, other place and people) stay apart."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
from test_cluster_texts import FILLER

from aggregator.cluster import Clusterer, ClusterParams, featurize
from aggregator.cluster.facts import agreement, days_disagree, weekday_mask, weekdays
from aggregator.cluster.text import words

T0 = datetime(2024, 5, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("shared", "a", "b", "expected"),
    [
        (0.0, 0.0, 5.0, None),  # one side without facts: no evidence either way
        (0.0, 3.0, 5.0, 0.0),  # nothing shared
        (3.0, 3.0, 5.0, 1.0),  # the smaller side entirely found in the other
        (1.5, 3.0, 5.0, 0.5),
    ],
)
def test_agreement_table(shared, a, b, expected):
    assert agreement(shared, a, b) == expected


FIRE_A = (
    "Fire destroys supermarket in Brackwater",
    "A fire destroyed a supermarket in Brackwater on Friday night, and forty firefighters fought "
    "the blaze until dawn. Fire chief Edna Marsh said the roof collapsed shortly after midnight. "
    "Residents of Brackwater were moved from nearby homes as a precaution, and the chief, Edna "
    "Marsh, said the cause of the fire was not yet known.",
)
FIRE_A2 = (
    "Brackwater supermarket fire: police suspect arson",
    "Police now suspect arson in the fire that destroyed a supermarket in Brackwater, fire chief "
    "Edna Marsh said on Saturday. Investigators found two points of origin, said Edna Marsh. "
    "Brackwater residents returned to their homes in the morning.",
)
FIRE_B = (
    "Supermarket in Quenby destroyed by fire",
    "Thirty firefighters spent Sunday afternoon tackling a fire at a supermarket in Quenby. "
    "Station officer Tobias Wren said nobody was hurt. Shoppers in Quenby were evacuated in time, "
    "according to Tobias Wren, and the shop will stay shut for weeks.",
)


def _stories(params: ClusterParams) -> list[int]:
    c = Clusterer(params)
    items = [*FILLER, FIRE_A, FIRE_A2, FIRE_B]
    return [c.assign(n, T0 + timedelta(hours=n), featurize(*x)).story_id for n, x in enumerate(items, start=1)]


def test_twin_event_in_another_town_founds_its_own_story():
    a, a2, b = _stories(ClusterParams())[-3:]
    assert a2 == a  # the same fire, reported again
    assert b != a  # the same kind of fire elsewhere: another story


def test_without_the_fact_penalty_the_twins_merge():
    # what the penalties are for: the topic words alone make the twins look like one story
    # (the weekday check alone also separates these: Friday/Saturday vs Sunday). Unweighted
    # names (name_weight=1): weighted, the different names and the threshold that goes with
    # them already keep these two apart.
    a, _, b = _stories(ClusterParams(fact_weight=0.0, day_weight=0.0, name_weight=1.0))[-3:]
    assert b == a
    a, _, b = _stories(ClusterParams(fact_weight=0.0, name_weight=1.0))[-3:]
    assert b != a
    a, _, b = _stories(ClusterParams(fact_weight=0.0, day_weight=0.0))[-3:]
    assert b != a


def test_weekdays_any_language_and_disagreement():
    assert weekdays(words("Le jeudi, puis on Friday; am Sonnabend")) == [3, 4, 5]
    assert weekdays(words("no day named here")) == []
    assert weekday_mask([3, 4, 5]) == 0b111000 and weekday_mask([9, "x", -1]) == 0
    assert days_disagree(weekday_mask([0]), weekday_mask([3]))
    assert not days_disagree(weekday_mask([0, 3]), weekday_mask([3]))
    assert not days_disagree(0, weekday_mask([3]))  # no evidence either way


def test_weekdays_only_count_for_reports_of_the_same_day():
    # a follow-up days later names the day of its own news: no penalty across days
    f = [featurize(*x) for x in (FIRE_B, FIRE_A)]
    p = ClusterParams(fact_weight=0.0)
    same_day, week_later = Clusterer(p), Clusterer(p)
    same_day.assign(1, T0, f[0])
    week_later.assign(1, T0, f[0])
    d1 = same_day.assign(2, T0 + timedelta(hours=2), f[1])
    d2 = week_later.assign(2, T0 + timedelta(days=2), f[1])
    s1 = d1.evidence.get("nearest_cosine", d1.evidence.get("cosine"))
    s2 = d2.evidence.get("nearest_cosine", d2.evidence.get("cosine"))
    assert s2 - s1 == pytest.approx(p.day_weight, abs=1e-3)
