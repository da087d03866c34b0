"""Issue 7: the articles of a commit round are stored in one write transaction, a failing
article loses none of the others, and pages cross to the extraction workers as bytes.

Real loopback servers, a real SQLite file, extraction in the calling process (workers=0)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest

from aggregator.extract import Job, process_job
from aggregator.models import FeedConfig
from aggregator.pipeline import Services, poll_once
from store import Membership, NewArticle, open_store
from tests.servers import Reply, Server

RSS_TYPE = {"Content-Type": "application/rss+xml"}
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TOPICS = ["harbour crane strike", "river lock repair", "library night hours", "tram line extension",
          "school meal prices", "bridge toll vote"]


def page(n: int) -> bytes:
    topic = TOPICS[n % len(TOPICS)]
    paras = [f"Report {n} on the {topic}: paragraph {k} says what officials decided and why the "
             f"council of district {n} voted as it did on the {topic} this week." for k in range(6)]
    body = "".join(f"<p>{escape(p)}</p>" for p in paras)
    return (f"<html><head><title>Report {n}</title></head><body><article><h1>Report {n}</h1>"
            f"{body}</article></body></html>").encode()


def rss(srv: Server, name: str, numbers: list[int]) -> bytes:
    items = []
    for n in numbers:  # newest first, as feeds list them
        when = format_datetime(T0 + timedelta(minutes=n), usegmt=True)
        items.append(f"<item><guid>{name}-{n}</guid><link>{srv.url(f'/a/{n}')}</link>"
                     f"<title>Report {n}</title><description>Summary {n}.</description>"
                     f"<pubDate>{when}</pubDate></item>")
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
            + "".join(items) + "</channel></rss>").encode()


@pytest.fixture
def newsroom():
    """Two feeds of three articles each: A carries 1, 3, 5 and B carries 2, 4, 6."""
    with Server() as srv:
        for n in range(1, 7):
            srv.route(f"/a/{n}", Reply(body=page(n), headers=HTML_TYPE))
        srv.route("/a.xml", Reply(body=rss(srv, "a", [5, 3, 1]), headers=RSS_TYPE))
        srv.route("/b.xml", Reply(body=rss(srv, "b", [6, 4, 2]), headers=RSS_TYPE))
        yield srv


def services(srv: Server, settings) -> Services:
    svc = Services(replace(settings, extract_workers=0))
    svc.store.sync_feeds([FeedConfig(name="a", url=srv.url("/a.xml"), outlet="Outlet A"),
                          FeedConfig(name="b", url=srv.url("/b.xml"), outlet="Outlet B")])
    return svc


def stored(svc: Services) -> dict[str, tuple[int, int]]:
    """{path of the article: (article id, story id)} as committed."""
    rows = svc.store._r().execute("SELECT id, url, story_id FROM articles").fetchall()
    return {r["url"].split("/", 3)[3]: (r["id"], r["story_id"]) for r in rows}


def assert_clusterer_matches_store(svc: Services) -> None:
    ids = {aid: story for aid, story in stored(svc).values()}
    assert len(svc.clusterer) == len(ids)
    for aid in range(1, max(ids, default=0) + 5):
        assert svc.clusterer.story_of(aid) == ids.get(aid), aid


def test_a_round_is_one_write_transaction(newsroom, loopback_settings):
    statements: list[str] = []
    with services(newsroom, loopback_settings) as svc:
        svc.store._w.set_trace_callback(statements.append)
        reports = poll_once(svc, svc.store.list_feeds(), workers=2)
        svc.store._w.set_trace_callback(None)
        assert [r.ok for r in reports] == [True, True]
        assert sum(r.new_articles for r in reports) == 6
        assert sorted(stored(svc)) == [f"a/{n}" for n in range(1, 7)]
        assert_clusterer_matches_store(svc)
    inserts = [i for i, s in enumerate(statements) if s.lstrip().startswith("INSERT INTO articles (")]
    assert inserts  # (the trace shows a statement again for each trigger it fires)
    between = statements[inserts[0] : inserts[-1]]
    assert not [s for s in between if s.strip().upper() in ("COMMIT", "BEGIN IMMEDIATE")], between


def test_a_failing_article_loses_none_of_the_others(newsroom, loopback_settings):
    """Article 4 (feed B) fails after the clusterer placed it: the batch rolls back and is stored
    again one article per transaction. Feed A keeps all three, feed B keeps what came before
    article 4 in publication order (2), fails with "store:" and keeps its old validators; the
    clusterer holds exactly what the store holds. The next poll stores the rest."""
    with services(newsroom, loopback_settings) as svc:
        real = svc.store.add_article
        failures: list[int] = []
        broken = [True]  # article 4 cannot be stored until this is cleared

        def add_article(article: NewArticle, guid: str, link: str, assign):
            def failing_assign(aid: int) -> Membership:
                m = assign(aid)  # the clusterer has decided: the store must take it back
                if article.url.endswith("/a/4") and broken[0]:
                    failures.append(aid)
                    raise OSError("disk I/O error (injected)")
                return m

            return real(article, guid, link, failing_assign)

        svc.store.add_article = add_article
        reports = {r.feed: r for r in poll_once(svc, svc.store.list_feeds(), workers=2)}
        assert len(failures) == 2  # in the batch, then alone
        assert reports["a"].ok and reports["a"].new_articles == 3
        assert not reports["b"].ok and reports["b"].error.startswith("store: OSError"), reports["b"]
        assert sorted(stored(svc)) == ["a/1", "a/2", "a/3", "a/5"]
        b = svc.store.get_feed("b")
        assert b.body_hash is None and b.error_count == 1
        assert svc.store.get_feed("a").body_hash is not None
        assert_clusterer_matches_store(svc)

        broken[0] = False
        reports = {r.feed: r for r in poll_once(svc, svc.store.list_feeds(), workers=2)}
        assert reports["b"].ok and reports["b"].new_articles == 2, reports["b"]
        assert sorted(stored(svc)) == [f"a/{n}" for n in range(1, 7)]
        assert svc.store.get_feed("b").error_count == 0
        assert_clusterer_matches_store(svc)


def _article(feed_id: int, n: int) -> NewArticle:
    return NewArticle(url=f"https://x.example/{n}", title=f"T{n}", author="", published=T0, first_seen=T0,
                      outlet="X", feed_id=feed_id, summary="", text="", language="", site_name="",
                      extraction="summary", extraction_note="", fp_scheme="none", fp_signature=b"",
                      fp_payload="")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request, db_url) -> str:
    if request.param == "sqlite":
        return db_url
    return request.getfixturevalue("pg_url")  # skips when no PostgreSQL can be started


def test_write_batch_is_one_transaction_of_savepoints(backend_url):
    with open_store(backend_url) as st:
        st.sync_feeds([FeedConfig(name="f", url="https://x.example/feed", outlet="X")])
        fid = st.get_feed("f").id
        alone = lambda aid: Membership(aid, None, "report", 0.0, 1.0)  # noqa: E731
        with st.write_batch():
            st.add_article(_article(fid, 1), "g1", "https://x.example/1", alone)
            with pytest.raises(RuntimeError):
                st.add_article(_article(fid, 2), "g2", "https://x.example/2",
                               lambda aid: (_ for _ in ()).throw(RuntimeError("no")))
            st.add_article(_article(fid, 3), "g3", "https://x.example/3", alone)
        urls = [r[0] for r in st._r().execute("SELECT url FROM articles ORDER BY id")]
        assert urls == ["https://x.example/1", "https://x.example/3"]  # 2 rolled back to its savepoint
        assert st.known_guids(fid, ["g1", "g2", "g3"]) == {"g1", "g3"}

        with pytest.raises(RuntimeError), st.write_batch():
            st.add_article(_article(fid, 4), "g4", "https://x.example/4", alone)
            raise RuntimeError("the batch fails after its first article")
        assert st.find_article(["https://x.example/4"]) is None  # the whole batch rolled back
        st.add_article(_article(fid, 5), "g5", "https://x.example/5", alone)  # the store still writes
        assert st.find_article(["https://x.example/5"]) is not None


def test_page_bytes_are_decoded_in_the_worker_with_their_charset():
    text = "Der Bürgermeister äußerte sich am Dienstag zur Brücke über die Saale. " * 8
    html = f"<html><head><title>Brücke</title></head><body><article><p>{text}</p><p>{text}</p>" \
           "</article></body></html>"
    for charset in ("iso-8859-1", "utf-8"):
        ex, _ = process_job(Job(html=html.encode(charset), url="https://x.example/b", title="Brücke",
                                summary="s", charset=charset))
        assert ex.method == "page" and "Bürgermeister äußerte" in ex.text, (charset, ex)
    ex, _ = process_job(Job(html=html, url="https://x.example/b", title="Brücke", summary="s"))
    assert "Bürgermeister äußerte" in ex.text
