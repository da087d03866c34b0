"""Operators' corrections (merge, move, split) on a real SQLite file: what they change, that they
are recorded, that they survive reopening and a clusterer rebuild, and that a running daemon's
clusterer follows them."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as hs

from aggregator import cluster
from aggregator.cli import main
from aggregator.extract import ExtractorPool
from aggregator.models import FeedConfig
from aggregator.pipeline import Services
from store import CorrectionError, Membership, NewArticle, open_store

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)

LOCK = (
    "State lawmakers approved a plan on Tuesday to rebuild the aging Cedar River lock and dam, "
    "ending a three-year dispute over who should pay for the repairs. The measure passed the "
    "Senate 41-15 after a late amendment that caps the state's share at $212 million and "
    "requires barge operators to pay a new fee of 40 cents per ton."
)
LIBRARY = (
    "The county library will stay open until midnight during exam weeks, the board decided on "
    "Monday, after students collected more than 2,000 signatures asking for longer hours. "
    "Librarians said the extra hours would cost about $85,000 a year, paid from a state grant."
)
FERRY = (
    "The island ferry will run a second boat on weekends from June, the harbour authority said, "
    "after summer queues stretched past two hours and shops on the pier complained of lost trade. "
    "Tickets will cost the same, and residents keep their priority lane at the morning sailing."
)


def add(
    st,
    n: int,
    outlet: str,
    text: str,
    *,
    story: int | None = None,
    copy_of: int | None = None,
    role: str = "report",
    title: str = "",
) -> int:
    """Store one article with real fingerprints; ``story`` None founds a story."""
    feed = st.get_feed("f")
    when = NOW + timedelta(minutes=n)
    f = cluster.featurize(title or text[:40], text)
    art = NewArticle(
        url=f"https://{outlet.lower().replace(' ', '-')}.example/{n}",
        title=title or text[:40],
        author="",
        published=when,
        first_seen=when,
        outlet=outlet,
        feed_id=feed.id,
        summary="",
        text=text,
        language="en",
        site_name="",
        extraction="page",
        extraction_note="",
        fp_scheme=f.scheme,
        fp_signature=f.signature,
        fp_payload=f.payload,
    )
    aid, _, _ = st.add_article(
        art,
        f"g{n}",
        art.url,
        lambda i: Membership(
            story if story is not None else i, copy_of, role, 1.0 if copy_of else 0.0, 1.0, {"method": "test"}
        ),
    )
    return aid


@pytest.fixture
def st(db_url):
    s = open_store(db_url)
    s.sync_feeds([FeedConfig("f", "http://f.example/", "F")])
    yield s
    s.close()


def members(st, story_id: int) -> list[int]:
    story = st.get_story(story_id)
    return sorted(s.article_id for s in story.sources) if story else []


def row(db_url: str, sql: str, *args):
    conn = sqlite3.connect(db_url[len("sqlite:///") :])
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_merge_moves_every_article_and_keeps_a_redirect(st, db_url):
    a = add(st, 1, "Gazette", LOCK)
    b = add(st, 2, "Herald", LOCK, story=a, copy_of=a, role="wire")
    c = add(st, 3, "Tribune", LIBRARY)
    assert st.count_stories() == 2
    assert st.merge_stories(c, a, note="same vote") == a
    assert members(st, a) == [a, b, c] and st.get_story(c) is None
    assert st.resolve_story(c) == a and st.count_stories() == 1
    assert row(db_url, "SELECT size, outlets FROM stories WHERE id = ?", a) == [(3, 3)]
    (corr,) = st.corrections_since(0)
    assert (corr.kind, corr.story_id, corr.target, corr.article_ids, corr.note) == ("merge", c, a, (c,), "same vote")
    # merging into a merged-away story lands in the story it lives under
    d = add(st, 4, "Planet", FERRY)
    assert st.merge_stories(d, c) == a and st.resolve_story(d) == a
    with pytest.raises(CorrectionError):
        st.merge_stories(c, a)  # already merged
    with pytest.raises(CorrectionError):
        st.merge_stories(a, a)
    with pytest.raises(CorrectionError):
        st.merge_stories(a, 999)


def test_move_clears_copy_links_across_stories_and_redirects_an_emptied_story(st, db_url):
    a = add(st, 1, "Gazette", LOCK)
    b = add(st, 2, "Herald", LOCK, story=a, copy_of=a, role="wire")
    c = add(st, 3, "Tribune", LIBRARY)
    assert st.move_article(b, c) == c
    assert members(st, a) == [a] and members(st, c) == [b, c]
    moved = next(s for s in st.get_story(c).sources if s.article_id == b)
    assert (moved.copy_of, moved.role) == (None, "report")  # its original stayed behind
    assert st.move_article(a, c) == c  # the last article leaves: story a redirects to c
    assert st.resolve_story(a) == c and st.count_stories() == 1
    assert [k.kind for k in st.corrections_since(0)] == ["move", "move"]
    assert st.move_article(a, c) == c and len(st.corrections_since(0)) == 2  # no-op: not recorded
    with pytest.raises(CorrectionError):
        st.move_article(999, c)


def test_split_gives_the_new_story_its_smallest_article_id(st):
    a = add(st, 1, "Gazette", LOCK)
    b = add(st, 2, "Herald", LOCK, story=a, copy_of=a, role="wire")
    c = add(st, 3, "Tribune", LIBRARY, story=a)
    d = add(st, 4, "Planet", LIBRARY, story=a, copy_of=c, role="wire")
    assert st.split_story(a, [d, c]) == c
    assert members(st, a) == [a, b] and members(st, c) == [c, d]
    assert next(s for s in st.get_story(c).sources if s.article_id == d).copy_of == c  # link kept
    (corr,) = st.corrections_since(0)
    assert (corr.kind, corr.story_id, corr.target, corr.article_ids) == ("split", a, c, (c, d))
    with pytest.raises(CorrectionError):
        st.split_story(a, [a, b])  # nothing would stay
    with pytest.raises(CorrectionError):
        st.split_story(a, [c])  # not in the story


def test_splitting_off_the_founder_keeps_the_story_id_with_it(st):
    a = add(st, 1, "Gazette", LOCK)
    b = add(st, 2, "Herald", LIBRARY, story=a)
    c = add(st, 3, "Tribune", LIBRARY, story=a)
    assert st.split_story(a, [a]) == a
    assert members(st, a) == [a] and members(st, b) == [b, c]


def test_merge_then_split_restores_the_original_story_ids(st):
    a = add(st, 1, "Gazette", LOCK)
    b = add(st, 2, "Herald", LOCK, story=a, copy_of=a, role="wire")
    c = add(st, 3, "Tribune", LIBRARY)
    d = add(st, 4, "Planet", LIBRARY, story=c)
    st.merge_stories(c, a)
    assert st.split_story(a, [c, d]) == c  # the merged-away story comes back under its own id
    assert members(st, a) == [a, b] and members(st, c) == [c, d]
    assert st.resolve_story(c) == c and st.count_stories() == 2


def test_corrections_survive_reopening_and_the_clusterer_rebuild(db_url, loopback_settings):
    with Services(loopback_settings, extractor=ExtractorPool(0)) as svc:
        svc.store.sync_feeds([FeedConfig("f", "http://f.example/", "F")])
        a = add(svc.store, 1, "Gazette", LOCK)
        b = add(svc.store, 2, "Herald", LOCK, story=a, copy_of=a, role="wire")
        c = add(svc.store, 3, "Tribune", LIBRARY)
        d = add(svc.store, 4, "Planet", FERRY)
        svc.store.merge_stories(c, a)
        svc.store.split_story(a, [b])
        svc.store.move_article(d, b)
    with Services(loopback_settings, extractor=ExtractorPool(0)) as svc:  # a restarted daemon
        assert members(svc.store, a) == [a, c] and members(svc.store, b) == [b, d]
        assert svc.store.resolve_story(c) == a and svc.store.resolve_story(d) == b
        assert {x: svc.clusterer.story_of(x) for x in (a, b, c, d)} == {a: a, b: b, c: a, d: b}
        assert svc.sync_corrections() == 0  # the rebuild already includes them


def test_a_running_daemon_follows_corrections_made_elsewhere(db_url, loopback_settings):
    with Services(loopback_settings, extractor=ExtractorPool(0)) as svc:
        svc.store.sync_feeds([FeedConfig("f", "http://f.example/", "F")])
        a = add(svc.store, 1, "Gazette", LOCK)
        c = add(svc.store, 2, "Tribune", LIBRARY)
        svc.reload_clusterer()
        assert svc.clusterer.story_of(c) == c
        # the operator merges from the command line: another process, another connection
        assert main(["stories", "merge", str(c), str(a), "--db", db_url]) == 0
        assert svc.clusterer.story_of(c) == c  # not yet: the daemon has not looked
        assert svc.sync_corrections() == 1
        assert svc.clusterer.story_of(c) == a
        assert svc.sync_corrections() == 0


def test_an_article_assigned_to_a_story_merged_meanwhile_joins_where_it_lives(st):
    a = add(st, 1, "Gazette", LOCK)
    c = add(st, 2, "Tribune", LIBRARY)
    st.merge_stories(c, a)
    late = add(st, 3, "Herald", LIBRARY, story=c)  # a stale clusterer still names story c
    assert members(st, a) == [a, c, late] and st.resolve_story(c) == a


def test_cli_commands(db_url, capsys, st):
    a = add(st, 1, "Gazette", LOCK)
    b = add(st, 2, "Herald", LOCK, story=a, copy_of=a, role="wire")
    c = add(st, 3, "Tribune", LIBRARY)
    assert main(["stories", "--db", db_url, "split", str(a), str(b), "--note", "different texts"]) == 0
    assert f"now story {b}" in capsys.readouterr().out
    assert main(["stories", "move", str(b), str(c), "--db", db_url]) == 0
    assert main(["stories", "merge", str(c), str(a), "--db", db_url]) == 0
    capsys.readouterr()
    assert members(st, a) == [a, b, c]
    assert main(["stories", "merge", str(c), str(a), "--db", db_url]) == 2
    assert "merged already" in capsys.readouterr().err
    assert [k.note for k in st.corrections_since(0)] == ["different texts", "", ""]
    assert main(["stories", "--json", "--db", db_url]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    story = json.loads(line)
    assert story["id"] == a and story["independent_reports"] == 2 and story["outlet_count"] == 3
    by_outlet = {s["outlet"]: s for s in story["sources"]}
    assert by_outlet["Herald"]["role"] == "wire" and by_outlet["Herald"]["reuse"] == 1.0
    assert by_outlet["Tribune"]["role"] == "report" and by_outlet["Tribune"]["adds"] == [LIBRARY]
    assert {"role", "reuse", "adds", "wire", "copy_of", "lag_seconds"} <= set(by_outlet["Gazette"])


# ----- properties -------------------------------------------------------------------------------

TEXTS = [LOCK, LIBRARY, FERRY]
op = hs.one_of(
    hs.tuples(hs.just("merge"), hs.integers(0, 7), hs.integers(0, 7)),
    hs.tuples(hs.just("move"), hs.integers(0, 7), hs.integers(0, 7)),
    hs.tuples(hs.just("split"), hs.integers(0, 7), hs.lists(hs.integers(0, 7), min_size=1, max_size=4)),
)


def partition(store) -> dict[int, frozenset[int]]:
    return {sid: frozenset(members(store, sid)) for sid in store.story_ids()}


def check_invariants(store, n: int, path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT a.id, a.story_id, s.merged_into FROM articles a LEFT JOIN stories s ON s.id = a.story_id"
        ).fetchall()
        sizes = conn.execute("SELECT id, size FROM stories WHERE merged_into IS NULL").fetchall()
        crossing = conn.execute(
            "SELECT COUNT(*) FROM articles a JOIN articles o ON o.id = a.copy_of WHERE o.story_id <> a.story_id"
        ).fetchone()[0]
    finally:
        conn.close()
    assert len(rows) == n  # every article in exactly one story, and that story is live
    assert all(sid is not None and merged is None for _, sid, merged in rows)
    part = partition(store)
    assert sorted(x for m in part.values() for x in m) == sorted(r[0] for r in rows)
    assert all(part.get(sid, frozenset()) and len(part[sid]) == size for sid, size in sizes)
    assert crossing == 0
    assert store.count_stories() == len(part)
    for sid in part:  # every former id still resolves to a live story
        assert store.resolve_story(sid) == sid


@settings(
    max_examples=int(os.environ.get("CORR_EXAMPLES", "25")), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(n=hs.integers(2, 8), founders=hs.lists(hs.booleans(), min_size=8, max_size=8), ops=hs.lists(op, max_size=6))
def test_corrections_keep_every_article_in_exactly_one_story(n, founders, ops):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        store = open_store(f"sqlite:///{path}")
        try:
            store.sync_feeds([FeedConfig("f", "http://f.example/", "F")])
            ids: list[int] = []
            for i in range(n):
                story = ids[-1] if ids and not founders[i] else None
                if story is not None:
                    story = store.resolve_story(store.stories_of([ids[-1]])[ids[-1]])
                ids.append(
                    add(
                        store,
                        i,
                        f"Outlet {i}",
                        TEXTS[i % 3],
                        story=story,
                        copy_of=ids[-1] if story is not None else None,
                        role="wire" if story is not None else "report",
                    )
                )
            for kind, x, y in ops:
                where = store.stories_of(ids)
                try:
                    if kind == "merge":
                        store.merge_stories(where[ids[x % n]], where[ids[y % n]])
                    elif kind == "move":
                        store.move_article(ids[x % n], where[ids[y % n]])
                    else:
                        sid = where[ids[x % n]]
                        before = partition(store)
                        chosen = sorted({ids[i % n] for i in y if where[ids[i % n]] == sid})
                        new = store.split_story(sid, chosen)
                        assert set(members(store, new)) == set(chosen)
                        # round trip: merging the split-off part back restores the partition
                        other = (
                            sid
                            if new != sid
                            else next(
                                s
                                for s, m in partition(store).items()
                                if m and m.isdisjoint(chosen) and m | set(chosen) == before[sid]
                            )
                        )
                        store.merge_stories(new if new != sid else other, sid if new != sid else new)
                        assert {frozenset(m) for m in partition(store).values()} == set(before.values())
                    event(f"{kind} made")
                except CorrectionError:
                    event(f"{kind} refused")
                check_invariants(store, n, path)
        finally:
            store.close()
