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
