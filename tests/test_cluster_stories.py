"""Story decisions, restore/determinism, robustness, and a property test."""

from __future__ import annotations

import sys
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from test_cluster_texts import BRIDGE_A, BRIDGE_B, CHESS, FILLER, words_text

from aggregator.cluster import REPORT, Clusterer, ClusterParams, Features, featurize

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _stream():
    """(title, text) items: background news, two reports of one event, copies, an outlier."""
    body = " ".join(words_text(11, 25))
    return [*FILLER, BRIDGE_A, CHESS, BRIDGE_B, ("Tunnel works", body), ("Tunnel works", body)]


def _run(c: Clusterer, items, start: int = 1):
    return [c.assign(n, T0 + timedelta(hours=n), featurize(t, x)) for n, (t, x) in enumerate(items, start=start)]


def test_independent_report_with_shared_quote_joins_as_report():
    d = _run(Clusterer(), _stream())
    a, chess, b = d[3], d[4], d[5]
    assert a.story_id == 4 and a.evidence["method"] == "new"
    assert b.story_id == 4, b.evidence
    assert b.role == REPORT and b.copy_of is None
    assert b.evidence["method"] == "story" and b.evidence["shared_terms"]
    assert chess.story_id == 5  # unrelated: founds its own story
    assert [x.story_id for x in d[:3]] == [1, 2, 3]


def test_window_separates_far_apart_articles():
    c = Clusterer(ClusterParams(window_days=30))
    c.assign(1, T0, featurize(*BRIDGE_A))
    d = c.assign(2, T0 + timedelta(days=45), featurize(*BRIDGE_B))
    assert d.story_id == 2


def test_restore_then_assign_equals_uninterrupted():
    items = _stream()
    whole = Clusterer()
    full = _run(whole, items)
    cut = 4
    restored = Clusterer()
    for n, ((title, text), dec) in enumerate(zip(items[:cut], full[:cut], strict=True), start=1):
        restored.restore(n, T0 + timedelta(hours=n), featurize(title, text), dec.story_id, dec.copy_of)
    rest = _run(restored, items[cut:], start=cut + 1)
    assert rest == full[cut:]
    assert len(restored) == len(whole)


def test_deterministic():
    assert _run(Clusterer(), _stream()) == _run(Clusterer(), _stream())
    assert featurize(*BRIDGE_A) == featurize(*BRIDGE_A)


def test_features_roundtrip_and_scheme_check():
    f = featurize(*BRIDGE_A)
    assert Features.load(*f.dumps()) == f
    assert f.language == "en"
    other = ClusterParams(num_perm=64, lsh_bands=16)
    try:
        Clusterer(other).assign(1, T0, f)
    except ValueError as e:
        assert "scheme" in str(e)
    else:
        raise AssertionError("features of another scheme were accepted")


def test_multilingual_and_empty_inputs_do_not_crash():
    c = Clusterer()
    samples = [
        ("", ""),
        ("   ", "\x00\ud800 broken"),
        (
            "Erdbeben erschüttert die Stadt",
            "Ein Erdbeben der Stärke 5,1 hat am Morgen die Stadt erschüttert, sagte die Polizei.",
        ),
        ("東京で地震", "東京で強い地震があり、多くの建物が揺れました。"),
        ("Землетрясение в городе", "Сильное землетрясение произошло утром, сообщила полиция."),
        ("زلزال يضرب المدينة", "ضرب زلزال قوي المدينة صباح اليوم"),
        ("Headline only", ""),
    ]
    for n, (t, x) in enumerate(samples, start=1):
        f = featurize(t, x, summary="feed summary text" if not x else "")
        d = c.assign(n, T0, f)
        assert d.story_id in range(1, n + 1)
    assert (
        featurize(
            "Erdbeben",
            "Ein Erdbeben der Stärke 5,1 hat am Morgen die Stadt erschüttert, und die Polizei sagte, "
            "dass es keine Verletzten gab und die Schulen offen sind.",
        ).language
        == "de"
    )


def test_headline_only_fallback_uses_summary():
    f = featurize("Bridge collapse in Marnholt", "", summary="Four injured as footbridge falls into Velder river")
    assert f.data()["fb"] is True and "velder" in f.data()["l"]


def test_move_reassigns():
    c = Clusterer()
    _run(c, _stream())
    c.move(5, 4)
    assert c.story_of(5) == 4


_TEXTS = [BRIDGE_A, BRIDGE_B, CHESS, *FILLER, ("Tunnel", " ".join(words_text(11, 20)))]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_TEXTS) - 1), st.integers(0, 60 * 24 * 40)), max_size=20))
def test_property_partition(events):
    feats = [featurize(*t) for t in _TEXTS]
    c = Clusterer()
    story: dict[int, int] = {}
    for n, (k, minutes) in enumerate(events, start=1):
        d = c.assign(n, T0 + timedelta(minutes=minutes), feats[k])
        assert d.story_id in story or d.story_id == n  # an existing article's id, or its own
        assert d.story_id <= n
        if d.copy_of is not None:
            assert d.copy_of in story
        assert 0.0 <= d.reuse <= 1.0
        story[n] = d.story_id
    # no article in two stories: members of each story are disjoint and cover what is live
    live = [n for n in story if c.story_of(n) is not None]
    members = [set(c._members(sid)) for sid in {c.story_of(n) for n in live}]
    assert sum(len(m) for m in members) == len(set().union(*members)) == len(c) == len(live)
    assert all(n in c._members(c.story_of(n)) for n in live)


def test_language_is_recorded_for_any_script():
    cases = {
        "de": (
            "Erdbeben",
            "Ein Erdbeben hat am Morgen die Stadt erschüttert, und die Polizei sagte, dass es keine Verletzten gab.",
        ),
        "ru": (
            "Землетрясение",
            "Сильное землетрясение произошло утром, и это было страшно, сообщила полиция, что в городе нет жертв.",
        ),
        "ja": ("東京で地震", "東京で強い地震があり、多くの建物が揺れました。"),
        "zh": ("北京下雨", "北京今天下大雨，交通受到影响。"),
        "ar": ("زلزال يضرب المدينة", "ضرب زلزال قوي المدينة صباح اليوم"),
        "": ("", ""),
    }
    for lang, (title, text) in cases.items():
        f = featurize(title, text)
        assert f.language == lang, (lang, f.language)
        assert Features.load(*f.dumps()).language == lang
    # the same event in two scripts never crashes the story stage, and each text still shingles
    ja = featurize(*cases["ja"])
    assert ja.data()["n"] > 0


def test_restore_skips_features_of_another_scheme():
    old = featurize(*BRIDGE_A, params=ClusterParams(num_perm=64, lsh_bands=16))
    c = Clusterer()
    c.restore(1, T0, old, story_id=1)
    assert len(c) == 0 and c.stale_restores == 1
    d = c.assign(2, T0 + timedelta(hours=1), featurize(*BRIDGE_B))
    assert d.story_id == 2


# ----- the C-level sums are the per-term Python loops they replace, to the last bit ----------
def _reference_idf(index, tid):
    import math

    return math.log((index.n_docs + 1) / (index.df[tid] + 1)) + 1.0


def _random_index(rnd, vocab: int = 300, docs: int = 120):
    from aggregator.cluster.index import TermIndex

    index = TermIndex(cap=8)
    index.ids([f"t{k:03d}" for k in range(vocab)])
    for slot in range(docs):
        index.add(slot, sorted(rnd.sample(range(vocab), rnd.randint(1, 40))))
    return index


def test_idf_norm_dot_and_accumulate_equal_the_per_term_loops():
    import math
    import random

    from aggregator.cluster.stories import IdfTable, accumulate, dot, norm, weighted

    rnd = random.Random(7)
    index = _random_index(rnd)
    weight = [1.0 + math.log(tf) for tf in (1, 2, 3, 4, 5.0, 6, 7.5)]
    idfs = IdfTable(index)
    for _ in range(200):
        q_tids = sorted(rnd.sample(range(300), rnd.randint(0, 50)))
        q_codes = [rnd.randrange(len(weight)) for _ in q_tids]
        m_tids = sorted(rnd.sample(range(300), rnd.randint(0, 50)))
        m_codes = [rnd.randrange(len(weight)) for _ in m_tids]
        qw, qn = weighted(q_tids, q_codes, weight, idfs)
        ref_w = {t: weight[c] * _reference_idf(index, t) for t, c in zip(q_tids, q_codes, strict=True)}
        assert qw == ref_w and list(qw) == q_tids
        assert qn == math.sqrt(sum([v * v for v in ref_w.values()]))
        xs = [weight[c] * _reference_idf(index, t) for t, c in zip(m_tids, m_codes, strict=True)]
        ref_norm = math.sqrt(sum([x * x for x in xs]))
        assert norm(m_tids, m_codes, weight, idfs) == ref_norm
        ref_dot = 0.0
        for t, c in zip(m_tids, m_codes, strict=True):  # term order: the shared terms in query order
            if t in qw:
                ref_dot += qw[t] * weight[c] * _reference_idf(index, t)
        assert dot(qw, m_tids, m_codes, weight, idfs) == ref_dot
        ref_acc: dict[int, float] = {}
        for t, w in qw.items():
            for s in index.postings(t):
                ref_acc[s] = ref_acc.get(s, 0.0) + w
        got = accumulate(qw, index, ClusterParams(max_df_ratio=1.0))
        assert got == ref_acc and list(got) == list(ref_acc)


def test_bulk_interning_gives_the_ids_of_one_by_one():
    from aggregator.cluster.index import TermIndex

    one, bulk = TermIndex(cap=4), TermIndex(cap=4)
    batches = [["b", "a", "c"], ["c", "d", "a", "e"], ["f"], [], ["g", "b", "h", "h2"]]
    for batch in batches:
        expected = [one.id(t) for t in batch]
        assert bulk.ids(batch) == expected
    assert bulk.terms == one.terms and list(bulk.df) == list(one.df) == [0] * 9
    bulk.add(0, bulk.ids(["h2", "a"]))
    assert list(bulk.postings(bulk.id("h2"))) == [0] and bulk.df[bulk.id("a")] == 1


def test_young_story_is_compared_with_its_founders():
    """Clusterer._compared: a story younger than ramp_days is scored on its first story_members
    members (a twin event's first report cannot pull the next ones in); an older story, a
    headline-only article or founders_only=False: the first and the newest members."""
    members = list(range(1, 13))
    full = featurize("Quake", " ".join(words_text(3, 60)))
    headline = featurize("Quake", "", "a short feed summary")

    def compared(params, when, feats):
        c = Clusterer(params)
        for m in members:
            c.restore(m, T0, full, story_id=1)
        return c._compared(c._members(1), c._parse(99, when, feats))

    first_and_newest = [1, 2, 3, 4, 9, 10, 11, 12]
    assert compared(ClusterParams(), T0, full) == members[:8]
    assert compared(ClusterParams(), T0 + timedelta(days=8), full) == first_and_newest
    assert compared(ClusterParams(), T0, headline) == first_and_newest
    assert compared(ClusterParams(founders_only=False), T0, full) == first_and_newest


def test_a_headline_rerun_days_later_gets_the_title_bonus():
    """Clusterer._title_bonus: titles sharing >= title_min_shared terms with a term Jaccard above
    title_center add title_bonus * (Jaccard - centre); not for two headline-only items, not
    for titles sharing fewer terms, and not when switched off."""
    title = "Astronauts identify unknown microbes aboard the space station"
    first = featurize(title, " ".join(words_text(3, 60)))
    rerun = featurize(title, " ".join(words_text(5, 60)))
    other = featurize("Astronauts return home after a long mission", " ".join(words_text(5, 60)))
    later = T0 + timedelta(days=11)

    def bonus(params, feats, restored=first):
        c = Clusterer(params)
        c.restore(1, T0, restored, story_id=1)
        return c._title_bonus(c._parse(2, later, feats), c._slots[1])

    p = ClusterParams()
    assert bonus(p, rerun) == p.title_bonus * (1.0 - p.title_center)
    assert bonus(p, other) == 0.0  # one shared title term
    assert bonus(ClusterParams(title_bonus=0.0), rerun) == 0.0
    stub = featurize(title, "", "a short feed summary")
    assert bonus(p, stub, restored=stub) == 0.0  # both headline-only: the cosine is the title
    assert bonus(p, stub) > 0.0  # one of them has page text


def test_body_terms_are_the_words_after_the_lead():
    """Payload "b": counts of the content terms of the body_words words after the lead (whole
    sentences of about lead_words words), title and lead terms left out; body_words 0: no "b"
    and the scheme says so."""
    lead = " ".join(["Engineers inspected the harbour crane before the storm arrived."] * 3)
    after = "Dockworkers praised the harbour pilots. " + " ".join(["Ferries waited offshore."] * 40)
    p = ClusterParams(lead_words=20, body_words=30)
    data = featurize("Crane inspection", lead + " " + after, params=p).data()
    assert "harbour" in data["l"] and "harbour" not in data["b"]  # a lead term stays out of "b"
    assert data["b"]["dockworker"] == 1 and data["b"]["pilot"] == 1
    assert data["b"]["ferrie"] + data["b"]["offshore"] + data["b"]["waited"] == 30 - 5  # 30 words
    off = ClusterParams(lead_words=20, body_words=0)
    assert "b" not in featurize("Crane inspection", lead + " " + after, params=off).data()
    assert ":b" not in off.scheme and p.scheme.endswith(":b30")


def test_shared_body_terms_raise_the_cosine():
    """Two reports with different leads whose bodies share rare terms score higher with body
    terms than without (body_weight 0)."""
    shared = " ".join(["Quarrymen blamed the Brackwater sluice and the Tollbridge culvert."] * 10)
    a = "Rain fell across the valley overnight. " * 20 + shared
    b = "Officials counted damaged homes in the district. " * 20 + shared

    def cosine(params):
        c = Clusterer(params)
        c.restore(1, T0, featurize("Valley flood", a, params=params), story_id=1)
        ev = c.assign(2, T0, featurize("District damage", b, params=params)).evidence
        return ev.get("cosine", ev.get("nearest_cosine"))

    assert cosine(ClusterParams(body_weight=0.3)) > cosine(ClusterParams(body_weight=0.0))
