"""The store contract: every public store method, run against SQLite and PostgreSQL alike.

The ``store`` fixture is parametrised over both backends (PostgreSQL is a throwaway cluster
started by tests/pg.py; those cases skip with a message where no server is installed), so the
two cannot drift. ``test_both_backends_give_the_same_answers`` runs one scripted history on both
and compares every read.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import FeedConfig
from store import CorrectionError, FeedOutcome, Membership, NewArticle, open_store

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BACKENDS = ["sqlite", "postgresql"]


def _open(kind: str, request, tmp_path):
    if kind == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'contract.db'}")
    return open_store(request.getfixturevalue("pg_url"))


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = _open(request.param, request, tmp_path)
    s.sync_feeds([
        FeedConfig("a", "http://a.example/feed", "Gazette", tags=("news", "world")),
        FeedConfig("b", "http://b.example/feed", "Bugle", tags=("news",)),
        FeedConfig("c", "http://a.example/other", "Gazette", interval=600),
    ])
    yield s
    s.close()


def art(url: str, feed_id: int, *, title: str = "A title", outlet: str = "Gazette",
        text: str = "Some text about the senate vote on the bridge bill.", when: datetime = T0,
        summary: str = "s") -> NewArticle:
    return NewArticle(
        url=url, title=title, author="", published=when, first_seen=when, outlet=outlet,
        feed_id=feed_id, summary=summary, text=text, language="en", site_name="",
        extraction="page", extraction_note="", fp_scheme="test", fp_signature=b"\x00\x01\xff" * 4,
        fp_payload="{}",
    )


def own(i: int) -> Membership:
    return Membership(i, None, "report", 0.0, 1.0, {"why": "new"})


def join(story: int, copy_of: int | None = None, role: str = "report"):
    return lambda i: Membership(story, copy_of, role, 0.9 if copy_of else 0.1, 0.5)


def add(store, url, feed="a", assign=own, **kw):
    f = store.get_feed(feed)
    return store.add_article(art(url, f.id, outlet=f.outlet, **kw), "g:" + url, url, assign)


# -- feeds ------------------------------------------------------------------------------------


def test_sync_list_get_and_removal(store):
    names = [f.name for f in store.list_feeds()]
    assert names == ["a", "b", "c"]
    a = store.get_feed("a")
    assert (a.url, a.outlet, a.tags, a.interval, a.enabled, a.in_config) == (
        "http://a.example/feed", "Gazette", ("news", "world"), None, True, True)
    assert store.get_feed("c").interval == 600
    assert store.get_feed("nope") is None
    store.sync_feeds([FeedConfig("a", "http://a.example/feed", "Gazette", enabled=False)])
    assert store.get_feed("a").enabled is False and store.get_feed("a").tags == ()
    assert store.get_feed("b").in_config is False and not store.get_feed("b").active
    store.sync_feeds([])
    assert not any(f.in_config for f in store.list_feeds())


def test_a_new_url_forgets_the_old_validators(store):
    a = store.get_feed("a")
    store.record_poll(a.id, FeedOutcome(T0, 200, None, etag='"e1"', last_modified="lm", body_hash="h"))
    assert store.get_feed("a").etag == '"e1"'
    store.sync_feeds([FeedConfig("a", "http://a.example/feed", "Gazette")])
    assert store.get_feed("a").etag == '"e1"'
    store.sync_feeds([FeedConfig("a", "http://a.example/new", "Gazette")])
    assert (store.get_feed("a").etag, store.get_feed("a").body_hash) == (None, None)


def test_record_poll_success_failure_and_auto_disable(store):
    a = store.get_feed("a")
    nxt = T0 + timedelta(minutes=15)
    store.record_poll(a.id, FeedOutcome(T0, 200, None, etag='"e"', last_modified="lm", body_hash="h",
                                        title="Feed A", next_check_at=nxt, unconditional=True,
                                        discovered_url="http://a.example/rss", pub_rate=3.5))
    f = store.get_feed("a")
    assert (f.last_status, f.etag, f.title, f.next_check_at, f.unconditional_at, f.fetch_url, f.pub_rate) == (
        200, '"e"', "Feed A", nxt, T0, "http://a.example/rss", 3.5)
    store.record_poll(a.id, FeedOutcome(T0, 304, None, keep_validators=True, next_check_at=nxt))
    assert store.get_feed("a").etag == '"e"'
    for n in range(3):
        store.record_poll(a.id, FeedOutcome(T0, 500, f"http 500 #{n}", next_check_at=nxt), error_limit=3)
    f = store.get_feed("a")
    assert f.error_count == 3 and f.last_error == "http 500 #2" and f.etag == '"e"'
    assert f.disabled_reason.startswith("3 consecutive failures") and not f.active
    assert store.enable_feed("a") is True and store.enable_feed("nope") is False
    f = store.get_feed("a")
    assert (f.disabled_reason, f.error_count, f.next_check_at) == (None, 0, None)


def test_due_feeds_due_count_and_order(store):
    a, b, c = (store.get_feed(n) for n in "abc")
    store.record_poll(a.id, FeedOutcome(T0, 200, None, next_check_at=T0 + timedelta(hours=1)))
    store.record_poll(b.id, FeedOutcome(T0, 200, None, next_check_at=T0 - timedelta(minutes=1)))
    assert [f.name for f in store.due_feeds(T0)] == ["c", "b"]  # never polled first
    assert [f.name for f in store.due_feeds(T0, limit=1)] == ["c"]
    assert store.due_count(T0) == 2
    assert [f.name for f in store.due_feeds(T0 + timedelta(hours=2))] == ["c", "b", "a"]


def test_claims_lease_host_cap_release_and_expiry(store):
    got = store.claim_due_feeds(T0, owner="d1", lease=60, per_host=1)
    # a and c share a host: the cap lets one of them through
    assert sorted(f.name for f in got) == ["a", "b"]
    assert all(f.claimed_until == T0 + timedelta(seconds=60) for f in got)
    assert store.claim_due_feeds(T0, owner="d2", lease=60, per_host=1) == []
    assert store.due_count(T0) == 1
    store.release_claims([got[0].id])
    assert [f.name for f in store.claim_due_feeds(T0, owner="d2", lease=60, per_host=1)] == [got[0].name]
    # a dead daemon's claims come back after the lease
    later = T0 + timedelta(seconds=61)
    assert sorted(f.name for f in store.claim_due_feeds(later, owner="d3", lease=60)) == ["a", "b", "c"]
    # record_poll clears the claim
    store.record_poll(store.get_feed("b").id, FeedOutcome(later, 200, None, next_check_at=later))
    assert store.get_feed("b").claimed_until is None
    assert [f.name for f in store.claim_due_feeds(later, owner="d4", lease=60)] == ["b"]


def test_claims_skip_feeds_at_the_error_limit(store):
    a = store.get_feed("a")
    for _ in range(2):
        store.record_poll(a.id, FeedOutcome(T0, 500, "boom", next_check_at=T0))
    assert "a" not in {f.name for f in store.claim_due_feeds(T0, owner="d", lease=60, error_limit=2)}


def test_concurrent_claimers_never_share_a_feed(store):
    store.sync_feeds([FeedConfig(f"f{i}", f"http://h{i % 7}.example/{i}", "O") for i in range(60)])
    got: list[list[str]] = []
    lock = threading.Lock()

    def claimer(n):
        for _ in range(5):
            names = [f.name for f in store.claim_due_feeds(T0, owner=f"d{n}", lease=60, limit=7, per_host=2)]
            with lock:
                got.append(names)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [n for names in got for n in names]
    assert len(flat) == len(set(flat)) == 14  # 7 hosts x 2


# -- articles ---------------------------------------------------------------------------------


def test_articles_entries_and_known_guids(store):
    a, b = store.get_feed("a"), store.get_feed("b")
    aid, m, created = add(store, "http://a.example/1")
    assert created and m == own(aid)
    assert store.find_article(["", "http://x/", "http://a.example/1"]) == aid
    assert store.find_article(["http://nope/"]) is None
    store.add_entry(b.id, "bg1", aid, "http://b.example/l", T0)
    store.add_entry(b.id, "bg1", aid, "http://b.example/l", T0)  # twice: ignored
    assert store.known_guids(b.id, ["bg1", "bg2"]) == {"bg1"}
    assert store.known_guids(a.id, ["g:http://a.example/1"]) == {"g:http://a.example/1"}
    many = [f"guid-{i}" for i in range(1200)]
    assert store.known_guids(a.id, many) == set()
    # the same URL again: the entry joins the existing article, nothing is assigned
    again, m2, created2 = store.add_article(art("http://a.example/1", b.id), "bg2", "l",
                                            lambda i: pytest.fail("no assignment for a known URL"))
    assert (again, created2, m2.story_id) == (aid, False, aid)
    assert store.known_guids(b.id, ["bg2"]) == {"bg2"}


def test_a_failed_assignment_rolls_back_everything(store):
    def boom(i):
        raise RuntimeError("clusterer failed")

    with pytest.raises(RuntimeError):
        add(store, "http://a.example/x", assign=boom)
    assert store.find_article(["http://a.example/x"]) is None
    assert store.known_guids(store.get_feed("a").id, ["g:http://a.example/x"]) == set()
    aid, _, _ = add(store, "http://a.example/y")
    assert store.get_story(aid) is not None


def test_long_urls_and_guids_and_nul_characters(store):
    long_url = "http://a.example/" + "x" * 9000
    aid, _, _ = add(store, long_url, title="Nul\x00title", text="body\x00text " * 3)
    assert store.find_article([long_url]) == aid
    feed = store.get_feed("a")
    long_guid = "urn:" + "g" * 10000
    store.add_entry(feed.id, long_guid, aid, "l", T0)
    assert store.known_guids(feed.id, [long_guid]) == {long_guid}
    src = store.get_story(aid).sources[0]
    # SQLite keeps NUL, PostgreSQL cannot: the title is readable either way
    assert src.title.replace("\x00", "") == "Nultitle"


def test_a_story_row_holds_its_members_figures(store):
    """Founders and joiners write their story's figures (size, outlets, reports, newest
    publication) as a count of its members would give them, and the last arrival's time."""
    a1, _, _ = add(store, "http://a.example/1", assign=lambda i: Membership(i, None, "wire", 0.0, 1.0))
    add(store, "http://b.example/2", feed="b", assign=join(a1), when=T0 + timedelta(hours=2))
    add(store, "http://a.example/3", assign=join(a1, a1, "copy"), when=T0 + timedelta(hours=1))
    a4, _, _ = add(store, "http://b.example/4", feed="b")
    rows = store._r().execute(
        "SELECT id, size, outlets, reports, latest FROM stories ORDER BY id").fetchall()
    counted = store._r().execute(
        """SELECT story_id, COUNT(*), COUNT(DISTINCT outlet),
                  SUM(CASE WHEN role = 'report' THEN 1 ELSE 0 END), MAX(published)
           FROM articles GROUP BY story_id ORDER BY story_id""").fetchall()
    assert [tuple(r) for r in rows] == [tuple(r) for r in counted]
    assert [tuple(r)[:4] for r in rows] == [(a1, 3, 2, 1), (a4, 1, 1, 1)]
    updated = dict(store._r().execute("SELECT id, updated FROM stories").fetchall())
    assert updated == {a1: "2026-11-28T13:00:00Z", a4: "2026-11-28T12:00:00Z"}  # the last to arrive


def test_fingerprints_and_fingerprints_after(store):
    a1, _, _ = add(store, "http://a.example/1", when=T0 - timedelta(days=40))
    a2, _, _ = add(store, "http://a.example/2")
    a3, _, _ = add(store, "http://b.example/3", feed="b", assign=join(a2, a2, "wire"))
    rows = list(store.fingerprints())
    assert [r.article_id for r in rows] == [a1, a2, a3]
    r3 = rows[2]
    assert (r3.story_id, r3.copy_of, r3.fp_scheme, r3.fp_signature, r3.when) == (
        a2, a2, "test", b"\x00\x01\xff" * 4, T0)
    assert [r.article_id for r in store.fingerprints(since=T0 - timedelta(days=30))] == [a2, a3]
    assert [r.article_id for r in store.fingerprints_after(a1)] == [a2, a3]
    assert store.fingerprints_after(a3) == []
    assert store.last_article_id() == a3
    title, text, summary, extraction = store.article_texts(a2)
    assert extraction in ("page", "summary") and isinstance(text, str) and isinstance(title, str)
    assert store.article_texts(a3 + 1000) is None
    store.update_fingerprint(a2, "mh9:new", b"\x07" * 8, '{"v": 9}')
    r2 = next(r for r in store.fingerprints() if r.article_id == a2)
    assert (r2.fp_scheme, r2.fp_signature, r2.fp_payload) == ("mh9:new", b"\x07" * 8, '{"v": 9}')



def test_fingerprints_are_read_in_pages(store, monkeypatch):
    """A restart reads the window in keyset pages (never all rows at once); the pages must join
    up exactly — no row lost or repeated at a page edge, the ``since`` filter kept on every page —
    and a write between pages (re-fingerprinting) must not disturb the reading."""
    import store.articles as articles

    monkeypatch.setattr(articles, "FINGERPRINT_PAGE", 2)
    old, _, _ = add(store, "http://a.example/old", when=T0 - timedelta(days=40))
    ids = [add(store, f"http://a.example/{i}")[0] for i in range(5)]
    seen = []
    for r in store.fingerprints(since=T0 - timedelta(days=30)):
        seen.append(r.article_id)
        store.update_fingerprint(r.article_id, "mh9:new", b"\x07" * 8, "{}")
    assert seen == ids
    assert [r.fp_scheme for r in store.fingerprints()] == ["test"] + ["mh9:new"] * 5
    assert [r.article_id for r in store.fingerprints()] == [old, *ids]

# -- stories ----------------------------------------------------------------------------------


def test_stories_list_get_count_resolve(store):
    a1, _, _ = add(store, "http://a.example/1", title="Bridge bill passes",
                   text="The senate passed the bridge bill on Tuesday after a long debate.")
    a2, m, _ = add(store, "http://b.example/2", feed="b", assign=join(a1, a1, "wire"),
                   when=T0 + timedelta(hours=1))
    a3, _, _ = add(store, "http://a.example/3", title="Storm", when=T0 + timedelta(days=1))
    assert store.count_stories() == 2
    assert sorted(store.story_ids()) == sorted([a1, a3])
    s = store.get_story(a1)
    assert s.title == "Bridge bill passes" and s.outlets == ["Gazette", "Bugle"]
    assert [x.role for x in s.sources] == ["report", "wire"] and s.independent_reports == 1
    assert s.lead.startswith("The senate passed")
    assert s.sources[0].evidence == {"why": "new"} and s.sources[1].feed == "b"
    assert [x.id for x in store.list_stories()] == [a3, a1]
    assert [x.id for x in store.list_stories(limit=1, offset=1)] == [a1]
    assert store.get_story(99999) is None and store.resolve_story(99999) is None
    assert store.resolve_story(a1) == a1
    assert [x.id for x in store.get_stories([a3, 99999, a1])] == [a3, a1]


def test_browse_outlets_tags_and_stamps(store):
    a1, _, _ = add(store, "http://a.example/1")
    a2, _, _ = add(store, "http://b.example/2", feed="b", title="Other")
    add(store, "http://b.example/3", feed="b", assign=join(a1))
    now = T0 + timedelta(hours=2)
    assert [s.id for s in store.browse_stories(now=now)] == [a1, a2]  # more outlets first
    assert [s.id for s in store.browse_stories(outlet="Bugle", now=now)] == [a1, a2]
    assert [s.id for s in store.browse_stories(outlet="Gazette", now=now)] == [a1]
    assert [s.id for s in store.browse_stories(tag="world", now=now)] == [a1]
    assert store.count_browse() == 2 and store.count_browse(tag="news") == 2
    assert store.count_browse(outlet="Nobody") == 0
    assert store.list_outlets() == [("Bugle", 2), ("Gazette", 1)]
    assert store.list_tags() == [("news", 2), ("world", 1)]
    assert store.story_tags(a1) == ["news", "world"]
    v, stamp = store.data_version(), store.story_stamp(a1)
    add(store, "http://a.example/4", assign=join(a1), when=T0 + timedelta(hours=3))
    assert store.story_stamp(a1) != stamp and store.story_stamp(99999) is None
    assert isinstance(v, int)


def test_data_version_moves_when_another_connection_writes(store, request, tmp_path):
    v = store.data_version()
    url = getattr(store, "url", None) or f"sqlite:///{store.path}"
    other = open_store(url)
    try:
        aid, _, _ = add(other, "http://a.example/v")
    finally:
        other.close()
    assert store.data_version() != v


def test_feed_stats(store):
    a1, _, _ = add(store, "http://a.example/1")
    add(store, "http://b.example/2", feed="b", assign=join(a1, a1, "wire"))
    add(store, "http://a.example/3", when=T0 - timedelta(days=30))
    stats = store.feed_stats(T0 + timedelta(hours=1))
    a, b = store.get_feed("a").id, store.get_feed("b").id
    assert stats[a] == {"articles": 2, "recent": 1, "copies": 0}
    assert stats[b] == {"articles": 1, "recent": 1, "copies": 1}
    assert {f.name: f.articles for f in store.list_feeds()} == {"a": 2, "b": 1, "c": 0}


# -- corrections ------------------------------------------------------------------------------


def test_merge_move_split_and_their_record(store):
    a1, _, _ = add(store, "http://a.example/1")
    a2, _, _ = add(store, "http://b.example/2", feed="b", assign=join(a1, a1, "wire"))
    a3, _, _ = add(store, "http://a.example/3", title="Other")
    a4, _, _ = add(store, "http://b.example/4", feed="b", assign=join(a3))
    assert store.last_correction_id() == 0
    assert store.merge_stories(a3, a1, note="same event") == a1
    assert store.resolve_story(a3) == a1 and store.count_stories() == 1
    assert store.get_story(a1).independent_reports == 3
    with pytest.raises(CorrectionError):
        store.merge_stories(a3, a1)
    assert store.split_story(a1, [a3, a4]) == a3  # the merged-away id is revived
    assert store.stories_of([a1, a2, a3, a4]) == {a1: a1, a2: a1, a3: a3, a4: a3}
    assert store.move_article(a2, a3) == a3
    s3 = store.get_story(a3)
    assert {x.article_id for x in s3.sources} == {a2, a3, a4}
    assert next(x for x in s3.sources if x.article_id == a2).copy_of is None  # link crossed stories
    with pytest.raises(CorrectionError):
        store.split_story(a1, [a1])
    with pytest.raises(CorrectionError):
        store.move_article(99999, a1)
    kinds = [(c.kind, c.story_id, c.target, c.article_ids) for c in store.corrections_since(0)]
    assert kinds == [("merge", a3, a1, (a3, a4)), ("split", a1, a3, (a3, a4)), ("move", a1, a3, (a2,))]
    assert store.corrections_since(0)[0].note == "same event"
    assert store.last_correction_id() == store.corrections_since(0)[-1].id
    assert [c.kind for c in store.corrections_since(store.corrections_since(0)[1].id)] == ["move"]


def test_an_assignment_to_a_merged_story_joins_where_it_lives(store):
    a1, _, _ = add(store, "http://a.example/1")
    a2, _, _ = add(store, "http://a.example/2", title="Other")
    store.merge_stories(a2, a1)
    a3, m, _ = add(store, "http://b.example/3", feed="b", assign=join(a2))
    assert m.story_id == a1 and store.stories_of([a3]) == {a3: a1}


# -- search -----------------------------------------------------------------------------------


def test_search(store):
    a1, _, _ = add(store, "http://a.example/1", title="Senate passes bridge bill",
                   text="Lawmakers voted on Tuesday to fund the rail lines and the bridge.")
    add(store, "http://b.example/2", feed="b", assign=join(a1), title="Bridge vote",
        text="The bridge funding vote drew crowds.")
    a3, _, _ = add(store, "http://a.example/3", title="Storm hits coast",
                   text="A storm flooded the coast road, and the bridge closed.", summary="storm")
    a4, _, _ = add(store, "http://b.example/4", feed="b", title="Weather", text="",
                   summary="Forecasters expect a quiet week")
    hits = store.search("bridge")
    assert [s.id for s, _ in hits] == [a1, a3]  # grouped by story; the title match first
    assert all("\x02" in snip and "\x03" in snip for _, snip in hits)
    assert store.count_search("bridge") == 2
    assert [s.id for s, _ in store.search('"rail lines"')] == [a1]
    assert [s.id for s, _ in store.search('"lines rail"')] == []
    assert [s.id for s, _ in store.search("forecast*")] == [a4]  # summary when there is no text
    assert [s.id for s, _ in store.search("bridge", outlet="Bugle")] == [a1]
    assert store.count_search("bridge", outlet="Bugle") == 1
    assert [s.id for s, _ in store.search("bridge", limit=1, offset=1)] == [a3]
    for hostile in ["", "   ", "AND OR NOT", '"', "a:b (c) ^d", "\x00", "*", "'; DROP TABLE x; --", "&|!<->"]:
        store.search(hostile)
        store.count_search(hostile)
    store.merge_stories(a3, a1)
    assert [s.id for s, _ in store.search("storm")] == [a1]


def test_huge_article_text_is_stored_and_searchable(store):
    words = " ".join(f"w{i}" for i in range(300_000))  # a tsvector of this would pass 1 MB
    aid, _, _ = add(store, "http://a.example/huge", text="zebra " + words)
    assert [s.id for s, _ in store.search("zebra")] == [aid]


# -- both backends, one history ---------------------------------------------------------------


def _history(s) -> list:
    out = []
    s.sync_feeds([FeedConfig("a", "http://a.example/feed", "Gazette", tags=("news",)),
                  FeedConfig("b", "http://b.example/feed", "Bugle")])
    ids = []
    for n in range(12):
        assign = own if n % 3 == 0 else join(ids[n - n % 3], ids[n - n % 3], "copy")
        aid, m, _ = add(s, f"http://{'ab'[n % 2]}.example/{n}", feed="ab"[n % 2], assign=assign,
                        title=f"Story {n // 3} part {n}", when=T0 + timedelta(hours=n),
                        text=f"Report {n} on topic{n // 3} with words shared by the group {n // 3}.")
        ids.append(aid)
    s.merge_stories(ids[3], ids[0])
    s.split_story(ids[0], [ids[4], ids[5]])
    s.move_article(ids[7], ids[9])
    now = T0 + timedelta(days=1)
    out.append([replace(f, id=0, articles=f.articles) for f in s.list_feeds()])
    out.append([(x.id, x.title, [(y.article_id, y.role, y.copy_of) for y in x.sources])
                for x in s.list_stories(limit=100)])
    out.append([x.id for x in s.browse_stories(now=now)])
    # snippets are cut by each engine its own way; the marked words are the same
    out.append([(x.id, re.findall("\x02(.*?)\x03", snip)) for x, snip in s.search("topic2")])
    out.append([(r.article_id, r.story_id, r.copy_of) for r in s.fingerprints()])
    out.append([(c.kind, c.story_id, c.target, c.article_ids) for c in s.corrections_since(0)])
    out.append((s.list_outlets(), s.list_tags(), s.count_stories(), s.due_count(now)))
    return out


def test_both_backends_give_the_same_answers(tmp_path, pg_url):
    lite = open_store(f"sqlite:///{tmp_path / 'same.db'}")
    pg = open_store(pg_url)
    try:
        a, b = _history(lite), _history(pg)
    finally:
        lite.close()
        pg.close()
    for part_a, part_b in zip(a, b, strict=True):
        assert part_a == part_b
