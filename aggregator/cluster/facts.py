"""Fact agreement: do two reports name the same specifics?

ECB+'s twin events (two Waitrose fires, two Qeshm earthquakes) share their topic words, so
TF-IDF over title + lead calls them one story. What separates them is the specifics: the fire
in Banstead vs the fire in Wellington, Mark Vinar vs Robert Buckley on Mount Cook. A fact is a
*salient* name of the article: a capitalised word, not at a sentence start, that occurs at least
twice in the text or also in the title (``features.featurize`` stores them as ``sal``), weighted
by its stream IDF (a shared rare name says more than a shared "Monday"). Names from the lead
alone, numbers, or a bonus for agreeing names all measured worse (they cost giveme5w1h and pac
more recall than they bought on ecbplus).

``agreement`` is the IDF-weighted overlap coefficient of the two fact sets: 1.0 when the smaller
side's facts are all in the other, 0.0 when none are; ``None`` when either side has no facts (a
headline-only item) — no evidence either way. The clusterer turns low agreement into a penalty.
"""

from __future__ import annotations


def agreement(shared: float, total_a: float, total_b: float) -> float | None:
    """Overlap coefficient from the weight of the shared facts and the two sides' totals."""
    smaller = min(total_a, total_b)
    if smaller <= 0.0:
        return None
    return min(1.0, shared / smaller)


# Weekday names (Monday = 0) in the languages whose stopwords text.py knows. Reports of one event
# name the day it happened ("on Thursday"); twin events of one topic (two jewel heists in Paris,
# two player injuries at one club) mostly happened on different days. Pairs of reports that
# name weekdays and share none: ECB+ 61 %, newswcl50 88 % of the different-event pairs with
# cosine >= 0.16, 11-22 % of the same-event pairs (giveme5w1h, ecbplus, pac, basil, newswcl50).
_WEEKDAYS: dict[str, int] = {}
for _line in (
    "monday tuesday wednesday thursday friday saturday sunday",
    "montag dienstag mittwoch donnerstag freitag samstag sonntag",
    "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "lunes martes miércoles jueves viernes sábado domingo",
    "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
):
    for _n, _w in enumerate(_line.split()):
        _WEEKDAYS.setdefault(_w, _n)
_WEEKDAYS["sonnabend"] = 5


def weekdays(tokens: list[str]) -> list[int]:
    """Distinct weekdays (0 = Monday) named among ``tokens`` (casefolded words), sorted."""
    return sorted({_WEEKDAYS[t] for t in tokens if t in _WEEKDAYS})


def weekday_mask(days) -> int:
    """The weekdays of a feature payload as 7 bits (what the clusterer keeps per article)."""
    mask = 0
    for d in days:
        if isinstance(d, int) and 0 <= d < 7:
            mask |= 1 << d
    return mask


def days_disagree(a: int, b: int) -> bool:
    """Both reports name weekdays and none in common: most likely two different events."""
    return bool(a) and bool(b) and not a & b
