"""The story page shows describe()'s view: roles, wire credit, reuse, adds, timeline, why grouped.
A real SQLite store, the app in process; texts written for this test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import lxml.html

from aggregator.models import FeedConfig
from aggregator.web import create_app
from store import Membership, NewArticle, open_store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

AP = [
    "PORTLAND, Maine (AP) — A winter storm dropped more than two feet of snow on coastal Maine on "
    "Sunday, closing schools and leaving about 90,000 homes without power, utility officials said.",
    "“We have crews from four states on the roads tonight,” said Carla Mendes, a spokeswoman for "
    "Central Maine Power. “Some customers will be without power until Wednesday.”",
    "The National Weather Service said winds gusted to 60 mph on the islands of Casco Bay and warned "
    "of flooding at high tide on Monday morning.",
]
LOCAL = (
    "In Brunswick, the town opened the high school gym as a warming shelter and said buses "
    "would run from the Maine Street station every hour <script>alert(1)</script>."
)
REPORT = [
    "Snowplow drivers in Bangor worked through the night as the storm moved inland, and the city "
    "asked residents to keep their cars off the streets until noon on Monday.",
    "“It's the heaviest snow we've seen in a decade,” said Mayor Ben Okafor, standing beside a "
    "drift taller than the city hall door. “Stay home if you can.”",
    "Carla Mendes of Central Maine Power said the outage map would be updated every hour.",
]


def add(st, n, outlet, paras, minutes, story=None, copy_of=None, role="report", title="Storm buries Maine"):
    feed = st.get_feed("f")
    when = T0 + timedelta(minutes=minutes)
    art = NewArticle(
        url=f"https://{outlet.lower().replace(' ', '')}.example/{n}",
        title=title,
        author="",
        published=when,
        first_seen=when + timedelta(minutes=3),
        outlet=outlet,
        feed_id=feed.id,
        summary="",
        text="\n".join(paras),
        language="en",
        site_name="",
        extraction="page",
        extraction_note="",
        fp_scheme="t",
        fp_signature=b"",
        fp_payload="{}",
    )
    ev = {"method": "new"} if story is None else {"method": "copy" if copy_of else "story", "nearest": story}
    aid, _, _ = st.add_article(
        art,
        f"g{n}",
        art.url,
        lambda i: Membership(story if story is not None else i, copy_of, role, 0.0, 0.42 if story else 1.0, ev),
    )
    return aid


def get(app, path):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            return await c.get(path)

    return asyncio.run(go())


def test_story_page_shows_how_sources_relate(db_url):
    st = open_store(db_url)
    st.sync_feeds([FeedConfig("f", "http://f.example/", "F")])
    a = add(st, 1, "Portland Press Herald", AP, 0)
    b = add(
        st,
        2,
        "Brunswick Times",
        AP[:2] + [LOCAL],
        50,
        story=a,
        copy_of=a,
        role="wire",
        title="Storm leaves 90,000 without power",
    )
    c = add(st, 3, "Bangor Daily", REPORT, 95, story=a)
    resp = get(create_app(st, clock=lambda: T0 + timedelta(hours=5)), f"/story/{a}")
    st.close()
    assert resp.status_code == 200
    assert "<script>alert(1)" not in resp.text  # the added paragraph is escaped
    doc = lxml.html.document_fromstring(resp.text)
    (section,) = doc.xpath("//section[@class='relations']")
    text = " ".join(section.text_content().split())
    assert "3 outlets, 2 independent reports" in text and "wire copy from The Associated Press" in text
    rel = {
        int(li.get("id").split("-")[1]): " ".join(li.text_content().split())
        for li in section.xpath(".//li[starts-with(@id, 'relation-')]")
    }
    assert "wire copy" in rel[a] and "The Associated Press" in rel[a] and "published first" in rel[a]
    assert "copied by 1 other source" in rel[a]
    assert "wire copy" in rel[b] or "rewritten copy" in rel[b]
    assert "copied from Portland Press Herald" in rel[b] and "+50 min" in rel[b]
    assert "Adds 1 paragraph found only here" in rel[b] and "warming shelter" in rel[b]
    assert "independent report" in rel[c] and "+1 h 35 min" in rel[c]
    assert "Stay home if you can." in rel[c]  # a quote only the Bangor paper has
    assert "Shared names:" in rel[c] and "Mendes" in rel[c]
    assert "reports the same event as Portland Press Herald (score 0.42)" in rel[c]
    assert "Storm leaves 90,000 without power" in text  # headline variants
