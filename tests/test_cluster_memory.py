"""The clusterer's compact state (issue 7): columns and flat arrays instead of per-article
objects, bulk indexing of a restored window — and the same decisions as one article at a time."""

from __future__ import annotations

import json
import random
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pytest
from test_cluster_texts import BRIDGE_A, BRIDGE_B, CHESS, FILLER, words_text

from aggregator.cluster import Clusterer, ClusterParams, Features, featurize
from aggregator.cluster.index import TermIndex
from aggregator.cluster.stories import TfWeights, VectorPool, story_terms

T0 = datetime(2024, 5, 1, 8, tzinfo=UTC)


def _items(n: int, seed: int = 3) -> list[tuple[datetime, Features]]:
    """A stream over ~n/4 days: near-copies, reports of a few events, singletons."""
    rnd = random.Random(seed)
    texts = [*FILLER, BRIDGE_A, BRIDGE_B, CHESS]
    texts += [(f"Works at site {k}", " ".join(words_text(100 + k, 18))) for k in range(12)]
    feats = [featurize(t, x) for t, x in texts]
    out = []
    for i in range(n):
        when = T0 + timedelta(hours=6 * i + rnd.randint(-30, 30))
        out.append((when, feats[rnd.randrange(len(feats))]))
    return out


def _decisions(c: Clusterer, items, start: int = 0) -> list[tuple]:
    out = []
    for n, (when, f) in enumerate(items, start=start + 1):
        d = c.assign(n, when, f)
        out.append((d.story_id, d.copy_of, d.reuse, d.role, d.score, json.dumps(d.evidence, sort_keys=True)))
    return out


def _check_members(c: Clusterer, ids) -> None:
    live = [n for n in ids if c.story_of(n) is not None]
    assert len(live) == len(c)
    stories = {c.story_of(n) for n in live}
    assert sorted(m for sid in stories for m in c._members(sid)) == sorted(live)
    for sid in stories:
        assert c._members(sid) == sorted(c._members(sid))
        assert all(c.story_of(m) == sid for m in c._members(sid))


@pytest.mark.parametrize("window_days", [3.0, 30.0])
def test_bulk_indexed_restore_decides_as_one_by_one(window_days):
    """A restored clusterer indexes its articles in bulk (at the first decision, or when one
    expires); it must decide exactly as one that indexes each restored article at once. With a
    3-day window articles expire while the stream runs, while it is restored and after."""
    p = ClusterParams(window_days=window_days, posting_cap=4, story_members=4)
    items = _items(90)
    whole = Clusterer(p)
    full = _decisions(whole, items)
    assert any(d[1] is not None for d in full) and any(json.loads(d[5])["method"] == "story" for d in full)
    for cut in (1, 30, 61):
        bulk, single = Clusterer(p), Clusterer(p)
        for n, ((when, f), d) in enumerate(zip(items[:cut], full[:cut], strict=True), start=1):
            bulk.restore(n, when, f, d[0], d[1])
            single.restore(n, when, f, d[0], d[1])
            single._index_restored()
        if window_days == 30.0:
            assert len(bulk._unindexed) == cut  # nothing expired: all in one bulk build
        got = _decisions(bulk, items[cut:], start=cut)
        assert got == _decisions(single, items[cut:], start=cut)
        # the same stories as the uninterrupted stream (scores may differ in the last digits:
        # restored members' norms are computed under the IDF of the restart, as before)
        assert [d[:2] for d in got] == [d[:2] for d in full[cut:]]
        assert len(bulk) == len(whole)
        if window_days == 3.0:
            assert len(bulk) < 40  # the window expired most of the 90
        _check_members(bulk, range(1, len(items) + 1))


def test_moves_expiry_and_replaced_ids_keep_story_members_consistent():
    rnd = random.Random(5)
    c = Clusterer(ClusterParams(window_days=2.0))
    items = _items(120, seed=9)
    for n, (when, f) in enumerate(items, start=1):
        if n % 7 == 0:  # the same id stored again: the newer features replace the older
            c.restore(n - 1, when, f, story_id=rnd.randrange(1, n))
        c.assign(n, when, f)
        if n % 5 == 0:
            c.move(rnd.randrange(1, n + 1), rnd.randrange(1, n + 1))
        if n % 11 == 0:
            c.move(n, n)  # back into a story of its own id
        _check_members(c, range(1, n + 1))


def test_bulk_term_index_equals_one_by_one():
    rnd = random.Random(2)
    docs = [sorted(rnd.sample(range(40), rnd.randint(0, 12))) for _ in range(60)]
    one, bulk = TermIndex(cap=5), TermIndex(cap=5)
    for t in (one, bulk):
        for k in range(40):
            t.id(f"w{k}")
        for slot, tids in enumerate(docs[:10]):  # some postings before the bulk add
            t.add(slot, tids)
        t.discard(3, docs[3])
    for slot, tids in enumerate(docs[10:], start=10):
        one.add(slot, tids)
    slots = np.repeat(np.arange(10, 60), [len(d) for d in docs[10:]])
    bulk.extend(slots, np.array([t for d in docs[10:] for t in d], dtype=np.int32), docs=50)
    assert bulk.n_docs == one.n_docs == 60
    assert list(bulk.df) == list(one.df)
    for k in range(40):
        assert list(bulk.postings(k)) == list(one.postings(k))
        assert len(one.postings(k)) <= 5


def test_vector_pool_compaction_keeps_the_live_vectors():
    pool = VectorPool()
    rnd = random.Random(4)
    want = {}
    for slot in range(3000):
        n = rnd.randint(0, 9)
        tids = [rnd.randrange(10**6) for _ in range(n)]
        codes = [rnd.randrange(50) for _ in range(n)]
        facts = [rnd.randrange(10**6) for _ in range(rnd.randint(0, 3))]
        pool.put(slot, tids, codes, facts)
        want[slot] = (tids, codes, facts)
    for slot in range(0, 3000, 3):  # slots are freed and reused, as expiry does
        pool.drop(slot)
        del want[slot]
    for slot in range(0, 600, 3):
        pool.put(slot, [slot], [1], [])
        want[slot] = ([slot], [1], [])
    total = sum(len(t) + len(f) for t, _, f in want.values())
    assert pool._live == total
    assert len(pool._terms) - total <= max(4096, total // 4)  # compacted: garbage stays bounded
    for slot, (tids, codes, facts) in want.items():
        got_tids, got_codes = pool.vector(slot)
        assert (list(got_tids), list(got_codes), list(pool.facts(slot))) == (tids, codes, facts)


def test_story_terms_weights_are_the_float_sums():
    """tf as the dict-of-str vectors summed it: lead count, plus title_weight for a title term."""
    p = ClusterParams(title_weight=2.5)
    index, tfw = TermIndex(cap=8), TfWeights()
    data = {"l": {"bridge": 2, "river": 1}, "t": ["bridge", "collapse"]}
    tids, codes = story_terms(data, p, index, tfw)
    assert [index.terms[t] for t in tids] == ["bridge", "collapse", "river"]
    import math

    assert [tfw.weight[c] for c in codes] == [1.0 + math.log(4.5), 1.0 + math.log(2.5), 1.0]


def test_restored_window_costs_a_few_kilobytes_per_article():
    """Memory, not time: what restoring articles allocates per article (band index, term
    index and columns included). The per-article objects it replaced cost ≈ 42 KB."""
    # 30 sentences: a full lead and body_words of body terms (payload "b") after it
    base = [featurize(f"Works at site {k}", " ".join(words_text(300 + k, 30))) for k in range(20)]
    assert all(len(f.data().get("b", ())) >= 5 for f in base)
    rng = np.random.default_rng(1)
    feats = []
    for k in range(4000):
        f = base[k % len(base)]
        sig = rng.integers(0, 2**32, 128, dtype=np.uint64).astype(np.uint32).tobytes()
        feats.append(Features(f.scheme, sig, f.payload, f.language))
    c = Clusterer()
    for n in range(1000):  # warm up: vocabulary, growth of the arrays
        c.restore(n + 1, T0 + timedelta(minutes=n), feats[n], story_id=n + 1)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1000, 4000):
            c.restore(n + 1, T0 + timedelta(minutes=n), feats[n], story_id=n + 1)
        c.assign(5000, T0 + timedelta(minutes=4000), base[0])  # indexes the restored articles
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(c) == 4001
    assert grown / 3000 < 4096, grown / 3000


def test_story_terms_weight_names_by_name_weight():
    """A term that is one of the payload's names (folded as terms are) weighs name_weight times
    its tf weight; the other terms keep 1 + log(tf), so name_weight=1 changes nothing."""
    import math

    data = {"l": {"bridge": 2, "session": 1}, "t": ["bridge"], "names": ["sessions"]}
    index, tfw = TermIndex(cap=8), TfWeights(name_weight=1.3)
    tids, codes = story_terms(data, ClusterParams(title_weight=2.5), index, tfw)
    assert [index.terms[t] for t in tids] == ["bridge", "session"]
    assert [tfw.weight[c] for c in codes] == [1.0 + math.log(4.5), 1.3 * 1.0]
    plain = TfWeights()
    _, codes = story_terms(data, ClusterParams(title_weight=2.5), TermIndex(cap=8), plain)
    assert [plain.weight[c] for c in codes] == [1.0 + math.log(4.5), 1.0]


def test_story_terms_add_body_terms_at_body_weight():
    """A body term (payload "b") weighs body_weight * (1 + log(count)); one that is also a
    title or lead term keeps its title/lead weight alone; body_weight 0 ignores "b"."""
    import math

    data = {"l": {"bridge": 2, "river": 1}, "t": ["collapse"], "b": {"bridge": 5, "ferry": 3, "quay": 1}}
    p = ClusterParams(title_weight=2.5, body_weight=0.3)
    index, tfw = TermIndex(cap=8), TfWeights(body_weight=0.3)
    tids, codes = story_terms(data, p, index, tfw)
    assert [index.terms[t] for t in tids] == ["bridge", "collapse", "ferry", "quay", "river"]
    assert [tfw.weight[c] for c in codes] == [
        1.0 + math.log(2),
        1.0 + math.log(2.5),
        0.3 * (1.0 + math.log(3)),
        0.3 * 1.0,
        1.0,
    ]
    assert min(tfw.weight) > 0
    off = ClusterParams(title_weight=2.5, body_weight=0.0)
    plain = TfWeights()
    tids0, codes0 = story_terms(data, off, TermIndex(cap=8), plain)
    no_body = {k: v for k, v in data.items() if k != "b"}
    tids1, codes1 = story_terms(no_body, off, TermIndex(cap=8), plain)
    assert (tids0, [plain.weight[c] for c in codes0]) == (tids1, [plain.weight[c] for c in codes1])


def test_a_shared_name_counts_more_than_a_shared_common_word():
    """With name_weight > 1 two reports sharing a capitalised name (not at a sentence start)
    score higher than with name_weight=1, the rest of their words being different."""
    a = featurize("Storm hits coast", "Residents said Hurricane Ravensworth flooded streets near the harbour.")
    b = featurize("Flooding in town", "Officials said Hurricane Ravensworth left damage across the region.")

    def cosine(params):
        c = Clusterer(params)
        c.restore(1, T0, a, story_id=1)
        ev = c.assign(2, T0, b).evidence  # joined ("cosine") or not ("nearest_cosine")
        return ev.get("cosine", ev.get("nearest_cosine"))

    assert cosine(ClusterParams(name_weight=1.3)) > cosine(ClusterParams(name_weight=1.0)) > 0.0
