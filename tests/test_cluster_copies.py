"""Copy detection: verbatim wire copies, trimmed copies, rewritten copies, stubs."""

from __future__ import annotations

import sys
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datetime import UTC, datetime, timedelta

import numpy as np
from test_cluster_texts import CHESS, words_text

from aggregator.cluster import COPY, REPORT, WIRE, Clusterer, ClusterParams, featurize
from aggregator.cluster.copies import best_copy

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _feed(c: Clusterer, items):
    out = []
    for n, (title, text) in enumerate(items, start=1):
        out.append(c.assign(n, T0 + timedelta(hours=n), featurize(title, text)))
    return out


def test_verbatim_copy_is_wire():
    body = " ".join(words_text(1, 25))
    d = _feed(Clusterer(), [("Quarry council vote", body), ("Quarry council vote (AP)", body)])
    assert d[0].role == REPORT and d[0].copy_of is None and d[0].story_id == 1
    assert d[1].copy_of == 1 and d[1].story_id == 1
    assert d[1].role == WIRE
    assert d[1].reuse > 0.9 and d[1].evidence["method"] == "copy"


def test_trimmed_copy_with_local_sentence():
    sents = words_text(2, 30)
    original = " ".join(sents)
    trimmed = " ".join(sents[:20]) + " The Velmar county clerk said local roads stay open."
    d = _feed(Clusterer(), [("Viaduct repairs", original), ("Viaduct repairs, local view", trimmed)])
    assert d[1].copy_of == 1 and d[1].story_id == 1
    assert d[1].role in (WIRE, COPY)
    assert d[1].reuse >= 0.5


def test_rewritten_copy_is_copy_not_wire():
    sents = words_text(3, 30)
    other = words_text(303, 30)
    # keep two thirds of the sentences, rewrite every third one
    edited = [o if i % 3 == 2 else s for i, (s, o) in enumerate(zip(sents, other, strict=True))]
    d = _feed(Clusterer(), [("Harbour budget", " ".join(sents)), ("Harbour budget", " ".join(edited))])
    assert d[1].copy_of == 1
    assert d[1].role == COPY
    assert 0.5 <= d[1].reuse < 0.9


def test_short_stubs_are_never_copies():
    stub = "Watch the video. Article URL. Comments URL."
    d = _feed(Clusterer(), [("Video", stub), ("Video", stub), CHESS])
    assert all(x.copy_of is None for x in d)


def test_unrelated_text_is_not_a_copy():
    d = _feed(Clusterer(), [("A", " ".join(words_text(4, 25))), ("B", " ".join(words_text(5, 25)))])
    assert d[1].copy_of is None


def test_same_words_in_another_order_are_not_a_copy():
    # Shingle hashes are built from word hashes (FEATURE_VERSION 4): a hash blind to word order
    # would see the reversed text as the same shingles, a verbatim copy.
    words = " ".join(words_text(6, 25)).split()
    d = _feed(Clusterer(), [("Tram budget", " ".join(words)), ("Tram budget", " ".join(reversed(words)))])
    assert d[1].copy_of is None


def test_reordered_sentences_are_still_a_copy():
    # only the shingles across the sentence seams change
    sents = words_text(7, 30)
    d = _feed(Clusterer(), [("Ferry strike", " ".join(sents)), ("Ferry strike", " ".join(sents[15:] + sents[:15]))])
    assert d[1].copy_of == 1 and d[1].role == WIRE


# A newsletter box that page extraction keeps under every article of one outlet: on a short
# article it is half the shingles (ECB+ through the loopback newsroom, benchmarks.e2e).
FOOTER = (
    "Sign up for The Daily Briefing. The day's top stories from the {outlet}, delivered "
    "every morning. By signing up you agree to our Terms of Service and Privacy Policy."
)
FIRE = (
    "Fire at Waitrose supermarket may have been arson",
    "Police are continuing to investigate a fire at a Waitrose supermarket in Wellington. Staff are "
    "today turning away customers. Shoppers have been arriving at the supermarket unaware of the fire "
    "at the weekend. Police say it may have been arson.",
)
HEIST = (
    "Robbers in drag steal jewels from Paris diamond store",
    "Robbers dressed as women stole jewels worth 80 million euros from a diamond store in Paris.",
)


def _with_footer(item, outlet="Valley Courier"):
    title, text = item
    return title, text + "\n" + FOOTER.format(outlet=outlet)


def test_shared_page_chrome_is_not_a_copy():
    # the shingles alone call the heist a copy of the fire (containment ~0.8: the footer);
    # their titles and leads have nothing but the footer in common
    d = _feed(Clusterer(), [_with_footer(FIRE), _with_footer(HEIST)])
    assert d[1].copy_of is None
    assert d[1].story_id == 2


def test_short_wire_copy_under_other_chrome_is_still_a_copy():
    retitled = ("Police suspect arson in Waitrose fire", FIRE[1])
    d = _feed(Clusterer(), [_with_footer(FIRE), _with_footer(retitled, "Harbor City Herald")])
    assert d[1].copy_of == 1 and d[1].story_id == 1


def test_an_unconfirmed_copy_gives_way_to_the_next_candidate():
    body = " ".join(words_text(8, 25))
    trimmed = " ".join(words_text(8, 25)[:20])
    sigs = [featurize("t", x) for x in (body, trimmed, body)]
    query = sigs[2]
    ids = [1, 2]
    matrix = np.stack([sigs[0].hashvalues(), sigs[1].hashvalues()])
    sizes = [sigs[0].data()["n"], sigs[1].data()["n"]]
    p = ClusterParams()
    best, _ = best_copy(query.hashvalues(), query.data()["n"], ids, matrix, sizes, p)
    assert best.article_id == 1  # the verbatim one
    best, seen = best_copy(query.hashvalues(), query.data()["n"], ids, matrix, sizes, p, lambda aid: aid != 1)
    assert best.article_id == 2 and seen.article_id == 1
    best, _ = best_copy(query.hashvalues(), query.data()["n"], ids, matrix, sizes, p, lambda aid: False)
    assert best is None
