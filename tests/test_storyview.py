"""describe(): roles, reuse, wire credit, adds, timeline, why grouped — on texts written here."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.models import Story, StorySource
from aggregator.storyview import describe, detect_wire, is_wire_outlet

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

WIRE = [
    "SPRINGFIELD, Ill. (AP) — State lawmakers approved a plan on Tuesday to rebuild the aging "
    "Cedar River lock and dam, ending a three-year dispute over who should pay for the repairs.",
    "The measure passed the Senate 41-15 after a late amendment that caps the state's share at "
    "$212 million and requires barge operators to pay a new fee of 40 cents per ton.",
    "“This lock has been held together with duct tape and prayers,” said Sen. Maria Lindqvist, "
    "who sponsored the bill. “Today we stop praying.”",
    "Engineers warned last spring that the lock's upper gate could fail within five years, "
    "stranding grain shipments bound for the Gulf of Mexico.",
    "Construction is expected to begin in 2028 and take four years, during which river traffic "
    "will be diverted through a temporary channel near the town of Millbrook.",
]
LOCAL = (
    "Millbrook Mayor Dana Ortiz said the temporary channel would bring about 60 construction "
    "jobs to the town and asked the state to repave River Road before the trucks arrive."
)
REPORT = [
    "Barge companies and farm groups cheered on Tuesday as the Illinois Senate voted to pay for a "
    "new lock on the Cedar River, a project the Army Corps of Engineers had called urgent.",
    "“This lock has been held together with duct tape and prayers,” Sen. Maria Lindqvist told "
    "colleagues before the vote, which split largely along regional rather than party lines.",
    "Grain traders in Peoria said freight rates on the river had already risen by a fifth since "
    "engineers first reported cracks in the upper gate, and that shippers had begun booking rail.",
    "“We can't move this harvest by truck,” said Owen Pike, who runs a grain elevator in Havana. "
    "“There aren't enough drivers in three states.”",
]


def src(
    aid: int,
    outlet: str,
    paras: list[str],
    *,
    minutes: int = 0,
    title: str = "Lock plan approved",
    author: str = "",
    copy_of: int | None = None,
    role: str = "report",
    evidence=None,
    published: bool = True,
    reuse: float = 0.0,
    score: float = 1.0,
) -> StorySource:
    when = T0 + timedelta(minutes=minutes)
    return StorySource(
        article_id=aid,
        outlet=outlet,
        feed=outlet.lower(),
        title=title,
        url=f"https://{aid}.example/a",
        author=author,
        published=when if published else None,
        first_seen=when + timedelta(minutes=5),
        role=role,
        reuse=reuse,
        copy_of=copy_of,
        score=score,
        text="\n".join(paras),
        evidence=evidence or {},
        summary="",
        extraction="page",
    )


def story(*sources: StorySource) -> Story:
    return Story(
        id=min(s.article_id for s in sources), title="t", lead="l", first_seen=T0, updated=T0, sources=tuple(sources)
    )


def test_verbatim_copy_is_wire_with_full_reuse():
    v = describe(story(src(1, "The Associated Press", WIRE), src(2, "Daily Planet", WIRE, minutes=30)))
    orig, copy = v.members
    assert (orig.role, orig.original, orig.reuse) == ("report", True, 0.0)
    assert (copy.role, copy.original, copy.copy_of, copy.group) == ("wire", False, 1, 1)
    assert copy.reuse > 0.99
    assert copy.adds == () and copy.wire == "AP"
    assert (v.outlets, v.independent_reports) == (2, 1)
    assert v.counts_line == "2 outlets, 1 independent report"
    assert copy.why.passages and "Cedar River lock and dam" in copy.why.passages[0]


def test_trimmed_copy_with_a_local_sentence_adds_it():
    trimmed = WIRE[:3] + [LOCAL]
    v = describe(story(src(1, "Gazette", WIRE), src(2, "Millbrook Herald", trimmed, minutes=90)))
    herald = v.member(2)
    assert herald.role in ("wire", "copy") and herald.copy_of == 1
    assert herald.adds == (LOCAL,) and herald.adds_total == 1
    assert 0.6 < herald.reuse < 1.0
    assert v.member(1).adds == ()  # the base text adds nothing to itself


def test_independent_report_with_the_same_quote_is_a_report():
    v = describe(story(src(1, "Gazette", WIRE), src(2, "Tribune", REPORT, minutes=45, title="Senate funds lock")))
    tribune = v.member(2)
    assert tribune.role == "report" and tribune.original and tribune.copy_of is None
    assert tribune.reuse < 0.2
    assert v.independent_reports == 2
    # the shared quote is evidence for grouping, not something the Tribune adds
    assert any("duct tape and prayers" in q for q in tribune.why.quotes)
    assert not any("duct tape" in q for q in tribune.added_quotes)
    assert any("drivers in three states" in q for q in tribune.added_quotes)
    assert "Lindqvist" in tribune.why.names
    assert len(tribune.adds) == tribune.adds_total == len(REPORT)
    assert [h.title for h in v.headlines] == ["Lock plan approved", "Senate funds lock"]


def test_a_paper_running_ap_copy_credits_ap_when_ap_is_not_polled():
    v = describe(
        story(
            src(1, "Chicago Tribune", WIRE),
            src(2, "Yahoo News", WIRE[:4], minutes=20),
            src(3, "Daily Planet", REPORT, minutes=60),
        )
    )
    assert [m.role for m in v.members] == ["wire", "wire", "report"]
    assert [m.wire for m in v.members] == ["AP", "AP", ""]
    assert v.wire_credits == ("AP",) and v.credits == ("The Associated Press",)
    assert v.independent_reports == 2  # AP's reporting and the Planet's


def test_wire_detection():
    assert detect_wire("", WIRE[0]) == "AP"
    assert detect_wire("", "LONDON (Reuters) - Shares fell on Monday.") == "Reuters"
    assert detect_wire("", "PARIS (AFP) – Le gouvernement a annoncé lundi.") == "AFP"
    assert detect_wire("The Associated Press", "Text.") == "AP"
    assert detect_wire("Agence France-Presse", "Text.") == "AFP"
    assert detect_wire("", "By The Associated Press\nWASHINGTON — Congress voted.") == "AP"
    assert detect_wire("", "ATLANTA — The storm passed, CNN reported. — CNN") == ""
    assert detect_wire("", "Local text.\nThe Associated Press contributed to this report.") == ""
    assert detect_wire("Jane Roe; The Associated Press contributed", "Text.") == ""
    assert is_wire_outlet("The Associated Press", "AP") and is_wire_outlet("AP News", "AP")
    assert is_wire_outlet("Reuters", "Reuters") and not is_wire_outlet("Chicago Tribune", "AP")


def test_roles_do_not_depend_on_the_order_sources_are_listed():
    sources = [
        src(1, "Gazette", WIRE, minutes=10),
        src(2, "Herald", WIRE[:3] + [LOCAL], minutes=0),
        src(3, "Tribune", REPORT, minutes=5),
        src(4, "Planet", WIRE, minutes=20),
    ]
    want = describe(story(*sources))
    # the Herald published first: it is the original of the copy group, whatever the arrival order
    assert want.member(2).original and want.member(1).group == 2
    rnd = random.Random(7)
    for _ in range(5):
        rnd.shuffle(sources)
        assert describe(story(*sources)) == want


def test_timeline_lags_and_updates():
    v = describe(
        story(
            src(1, "Gazette", WIRE),
            src(2, "Tribune", REPORT, minutes=45),
            src(3, "Gazette", WIRE + [LOCAL], minutes=180, title="Lock plan approved (updated)"),
        )
    )
    assert [e.lag for e in v.timeline] == [timedelta(0), timedelta(minutes=45), timedelta(minutes=180)]
    assert [e.update for e in v.timeline] == [False, False, True]
    assert v.timeline[0].seen_lag == timedelta(0)


def test_why_grouped_keeps_the_clusterers_evidence():
    ev = {"method": "story", "cosine": 0.31, "nearest": 1, "shared_terms": ["lock", "cedar"]}
    v = describe(
        story(
            src(1, "Gazette", WIRE, evidence={"method": "new"}),
            src(2, "Tribune", REPORT, minutes=45, evidence=ev, score=0.31),
        )
    )
    why = v.member(2).why
    assert (why.method, why.score, why.nearest, why.nearest_outlet) == ("story", 0.31, 1, "Gazette")
    assert why.evidence["shared_terms"] == ["lock", "cedar"]
    assert v.member(1).why.method == "new" and v.member(1).why.nearest is None


def test_short_texts_fall_back_to_the_stored_copy_link():
    short = ["Lock plan approved."]
    v = describe(story(src(1, "Gazette", short), src(2, "Herald", short, minutes=5, copy_of=1, role="wire", reuse=1.0)))
    assert v.member(2).role == "wire" and v.member(2).group == 1
    assert v.independent_reports == 1


def test_empty_story():
    v = describe(Story(id=1, title="", lead="", first_seen=T0, updated=T0, sources=()))
    assert v.members == () and v.independent_reports == 0


WORDS = (
    "river lock dam senate vote grain barge mayor channel town fee gate engineer harvest rail "
    "truck price farm bill court storm flood bridge road plan state city report"
).split()
paragraph = st.lists(st.sampled_from(WORDS), min_size=12, max_size=40).map(" ".join)
article = st.lists(paragraph, min_size=1, max_size=4)


@settings(max_examples=int(os.environ.get("SV_EXAMPLES", "40")), deadline=None)
@given(
    texts=st.lists(article, min_size=1, max_size=5),
    copies=st.lists(st.integers(0, 4), max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_invariants(texts, copies, order):
    sources = [src(i + 1, f"Outlet {i % 3}", paras, minutes=7 * i) for i, paras in enumerate(texts)]
    n = len(sources)
    for k, c in enumerate(copies):  # verbatim republications of an existing member
        base = sources[c % n]
        sources.append(
            replace(
                base,
                article_id=n + k + 1,
                outlet=f"Copier {k}",
                url=f"https://c{k}.example/",
                published=base.published + timedelta(minutes=1 + k),
                first_seen=base.first_seen + timedelta(minutes=1 + k),
            )
        )
    v = describe(story(*sources))
    shuffled = list(sources)
    order.shuffle(shuffled)
    assert describe(story(*shuffled)) == v
    assert 1 <= v.independent_reports <= len(sources)
    assert sum(1 for m in v.members if m.original) >= v.independent_reports or v.wire_credits
    assert v.members[0].reuse == 0.0 and v.members[0].original
    for m in v.members:
        assert 0.0 <= m.reuse <= 1.0
        assert m.original == (m.group == m.article_id) == (m.copy_of is None)
        assert (m.role == "report") == (m.original and not m.wire)
        if not m.original:
            assert v.member(m.group).original and v.member(m.group).when <= m.when
    for k in range(len(copies)):  # a verbatim copy is a wire copy that reuses all of its text
        m = v.member(n + k + 1)
        w = " ".join(texts[copies[k] % n]).split()
        if len({tuple(w[i : i + 5]) for i in range(len(w) - 4)}) >= 20:  # enough text to measure
            assert m.role == "wire" and m.reuse == 1.0
