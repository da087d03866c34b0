"""The seed scenario (issue 2), end to end through the real command line.

An AP wire story (text we wrote, ``aggregator/newsroom_fixtures/seed_storm.yaml``) is published by
The Associated Press and republished inside their own page chrome by the Chicago Tribune and the
New York Daily News with small edits (new headline, trimmed last paragraph, one added local
sentence); The Washington Times runs its own report of the same event with the same quotes. The
same four feeds carry unrelated articles and a second multi-outlet story. After
``aggregator poll --once`` against the loopback newsroom (real HTTP on 127.0.0.1, real SQLite
file), ``aggregator stories --json`` must show exactly one story for the event, holding all four
outlets with their links and nothing unrelated, and its merged page must name every outlet.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from aggregator.newsroom import Newsroom, load_fixture_articles

REPO = Path(__file__).resolve().parent.parent
SEED_OUTLETS = {"The Associated Press", "Chicago Tribune", "New York Daily News", "The Washington Times"}


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aggregator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def polled(tmp_path_factory):
    """Poll the fixture newsroom once; yield (newsroom, stories, db_url, poll output)."""
    tmp = tmp_path_factory.mktemp("seed")
    articles = load_fixture_articles()
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("AGGREGATOR_")]:
        del env[key]
    env["AGGREGATOR_ALLOW_NETWORKS"] = "127.0.0.0/8"
    env["AGGREGATOR_HOST_SPACING"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    db_url = f"sqlite:///{tmp / 'store.db'}"
    with Newsroom(articles) as nr:
        feeds = nr.write_feeds_yaml(tmp / "feeds.yaml")
        poll = _cli(["poll", "--once", "--feeds", str(feeds), "--db", db_url], env)
        assert poll.returncode == 0, poll.stdout + poll.stderr
        listing = _cli(["stories", "--json", "--db", db_url], env)
        assert listing.returncode == 0, listing.stderr
        stories = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
        yield nr, stories, db_url, poll.stdout
    assert (tmp / "store.db").exists()


def _members(nr, story) -> list[tuple[str | None, dict]]:
    return [(nr.article_id_for(s["url"]), s) for s in story["sources"]]


def _story_of(nr, stories) -> dict[str, dict]:
    out = {}
    for story in stories:
        for aid, _ in _members(nr, story):
            assert aid is not None, f"a story source is not a newsroom article: {story}"
            assert aid not in out, f"{aid} is in two stories"
            out[aid] = story
    return out


def test_poll_reports_every_feed(polled):
    nr, stories, _, output = polled
    assert "feeds ok: 4, failed: 0" in output
    assert f"new articles: {len(nr.articles)}" in output
    # The contract of `stories --json`.
    for story in stories:
        assert {"id", "title", "first_seen", "sources"} <= story.keys()
        for src in story["sources"]:
            assert {"outlet", "title", "url", "published", "role"} <= src.keys()
    # Every article was fetched once: feeds and pages each hit exactly once.
    for feed in nr.feeds:
        assert nr.hits[feed["url"][len(nr.base_url):]] == 1
    for aid, url in nr.url_of.items():
        assert nr.hits[url[len(nr.base_url):]] == 1, aid


def test_exactly_one_story_holds_the_wire_event(polled):
    nr, stories, _, _ = polled
    seed_ids = {a.id for a in nr.articles if a.extra.get("story") == "seed-storm"}
    holding = [s for s in stories if any(aid in seed_ids for aid, _ in _members(nr, s))]
    assert len(holding) == 1, [[aid for aid, _ in _members(nr, s)] for s in holding]
    story = holding[0]
    members = _members(nr, story)
    assert {aid for aid, _ in members} == seed_ids  # all four, and nothing unrelated
    assert {src["outlet"] for _, src in members} == SEED_OUTLETS
    for aid, src in members:
        assert src["url"] == nr.url_of[aid]  # the canonical link, tracking parameters removed
        assert src["title"]


def test_roles_tell_copies_from_the_independent_report(polled):
    nr, stories, _, _ = polled
    by_article = _story_of(nr, stories)
    roles = {aid: src["role"] for aid, src in _members(nr, by_article["ap-storm"])}
    assert roles["washtimes-storm"] == "report", roles
    assert roles["tribune-storm"] in {"wire", "copy"}, roles
    assert roles["dailynews-storm"] in {"wire", "copy"}, roles


def test_unrelated_articles_stay_out(polled):
    nr, stories, _, _ = polled
    by_article = _story_of(nr, stories)
    assert set(by_article) == {a.id for a in nr.articles}  # every article is in some story
    seed_story = by_article["ap-storm"]["id"]
    label = {a.id: a.extra.get("story") for a in nr.articles}
    for aid, story in by_article.items():
        if label[aid] != "seed-storm":
            assert story["id"] != seed_story, aid
    # Unrelated events are not merged with one another either.
    events: dict[str, set] = {}
    for aid, story in by_article.items():
        events.setdefault(story["id"], set()).add(label[aid])
    assert all(len(labels) == 1 for labels in events.values()), events


def test_second_story_is_grouped(polled):
    nr, stories, _, _ = polled
    by_article = _story_of(nr, stories)
    ids = {by_article[aid]["id"] for aid in ("ap-map", "washtimes-map", "tribune-map")}
    assert len(ids) == 1
    roles = {aid: src["role"] for aid, src in _members(nr, by_article["ap-map"])}
    assert roles["tribune-map"] == "report", roles


def test_story_page_names_every_outlet_with_links(polled):
    nr, stories, db_url, _ = polled
    from aggregator.web import create_app
    from store import open_store

    by_article = _story_of(nr, stories)
    story_id = by_article["ap-storm"]["id"]
    store = open_store(db_url)

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(f"/story/{story_id}", follow_redirects=True)

    try:
        resp = asyncio.run(fetch())
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    assert resp.status_code == 200
    page = resp.text
    sources_line = page[page.index("Sources:"):].split("</p>", 1)[0]
    for outlet in SEED_OUTLETS:
        assert outlet in sources_line
    for aid in ("ap-storm", "tribune-storm", "dailynews-storm", "washtimes-storm"):
        assert f'href="{nr.url_of[aid]}"' in page, aid
