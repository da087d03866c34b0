"""feeds.yaml: the shipped file is valid; every problem names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.feeds_config import ConfigError, load_feeds, parse_feeds

REPO = Path(__file__).resolve().parent.parent


def test_shipped_feeds_file_lists_the_seed_outlets():
    feeds = load_feeds(REPO / "feeds.yaml")
    outlets = {f.outlet for f in feeds}
    assert {"The Washington Times", "Chicago Tribune", "New York Daily News",
            "The Associated Press", "Yahoo News", "CNN"} <= outlets
    urls = {f.url for f in feeds}
    assert "https://www.washingtontimes.com/rss/headlines/news/" in urls
    assert "https://www.nydailynews.com/feed/" in urls
    ap = next(f for f in feeds if f.outlet == "The Associated Press")
    assert ap.url == "https://apnews.com/index.rss"


def test_entry_fields_and_defaults():
    feeds = parse_feeds(
        "feeds:\n"
        "  - name: a\n    url: https://a.example/feed\n    outlet: A\n"
        "  - name: b\n    url: http://b.example/rss\n    outlet: B\n"
        "    interval: 15m\n    enabled: false\n    tags: [news, world]\n"
    )
    a, b = feeds
    assert (a.interval, a.enabled, a.tags, a.line) == (None, True, (), 2)
    assert (b.interval, b.enabled, b.tags, b.line) == (900, False, ("news", "world"), 5)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("feeds:\n  - name: a\n    url: ftp://a/x\n    outlet: A\n", ["f.yaml:3: url:"]),
        ("feeds:\n  - name: a\n    outlet: A\n", ["f.yaml:2: url: missing"]),
        ("feeds:\n  - name: a\n    url: http://a/\n    outlet: A\n    colour: red\n",
         ["f.yaml:5: colour: unknown key"]),
        ("feeds:\n  - name: a\n    url: http://a/\n    outlet: A\n    interval: soon\n",
         ["f.yaml:5: interval:"]),
        ("feeds:\n  - name: a\n    url: http://a/\n    outlet: A\n    enabled: maybe\n",
         ["f.yaml:5: enabled:"]),
        ("feeds:\n  - name: a\n    url: http://a/\n    outlet: A\n    tags: news\n",
         ["f.yaml:5: tags:"]),
        ("feeds:\n  - name: Bad Name\n    url: http://a/\n    outlet: A\n", ["f.yaml:2: name:"]),
        ("feeds:\n  - name: a\n    url: http://a/\n    outlet: A\n"
         "  - name: a\n    url: http://b/\n    outlet: B\n", ["f.yaml:5: name: duplicate"]),
        ("feeds: [\n", ["f.yaml:2: invalid YAML"]),
        ("", ["f.yaml:1: feeds:"]),
    ],
)
def test_problems_name_file_line_and_key(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_feeds(text, "f.yaml")
    messages = [str(p) for p in info.value.problems]
    for want in expected:
        assert any(m.startswith(want) for m in messages), messages


def test_all_problems_reported_at_once():
    text = ("feeds:\n  - name: a\n    url: ftp://a\n    outlet: A\n"
            "  - name: b\n    url: http://b/\n    outlet: B\n    interval: -3\n")
    with pytest.raises(ConfigError) as info:
        parse_feeds(text, "f.yaml")
    assert [p.line for p in info.value.problems] == [3, 8]


def test_feeds_check_command(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("feeds:\n  - name: a\n    url: http://a.example/\n    outlet: A\n")
    assert main(["feeds", "check", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: a\n    url: nope\n    outlet: A\n")
    assert main(["feeds", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: url:" in err
    assert main(["feeds", "check", str(tmp_path / "missing.yaml")]) == 2
