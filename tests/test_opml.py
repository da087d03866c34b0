"""OPML import appends text (comments and order kept) and export round-trips the list."""

from __future__ import annotations

import pytest

from aggregator.cli import main as cli_main
from aggregator.feeds_config import ConfigError, load_feeds, parse_feeds
from aggregator.opml import OpmlError, append_to_yaml, parse_opml, to_opml

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="World"><outline text="BBC World" xmlUrl="https://bbc.example/world.xml"
     htmlUrl="https://bbc.example/"/></outline>
  <outline text="Already" xmlUrl="https://a.example/feed"/>
  <outline text="A folder without feeds"/>
  <outline title="Le Monde &amp; co" xmlUrl="https://lemonde.example/rss"/>
</body></opml>"""

YAML = """# my feeds, hand-written
feeds:
  # the first one
  - name: already
    url: https://a.example/feed
    outlet: A   # trailing comment
"""


def test_parse_opml_finds_feeds_and_categories():
    got = parse_opml(OPML)
    assert [(o.title, o.xml_url, o.category) for o in got] == [
        ("BBC World", "https://bbc.example/world.xml", "World"),
        ("Already", "https://a.example/feed", ""),
        ("Le Monde & co", "https://lemonde.example/rss", ""),
    ]


@pytest.mark.parametrize("data", [b"<opml", b"<html/>",
                                  b'<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                  b'<opml><body><outline text="&x;" xmlUrl="https://x/"/></body></opml>'])
def test_hostile_or_broken_opml(data):
    try:
        got = parse_opml(data)
    except OpmlError:
        return
    assert all("root:" not in o.title for o in got)  # the external entity was not resolved


def test_import_appends_keeping_comments_and_order(tmp_path):
    text, added = append_to_yaml(YAML, parse_opml(OPML))
    assert added == ["bbc-world", "le-monde-co"]
    assert text.startswith(YAML)  # the operator's file is untouched above the new entries
    feeds = parse_feeds(text)
    assert [f.name for f in feeds] == ["already", "bbc-world", "le-monde-co"]
    assert feeds[1].tags == ("world",) and feeds[2].outlet == "Le Monde & co"
    again, added_again = append_to_yaml(text, parse_opml(OPML))
    assert added_again == [] and again == text  # importing twice adds nothing


def test_import_refuses_to_write_an_invalid_file():
    with pytest.raises(ConfigError):
        append_to_yaml("feeds:\n  - name: x\n", parse_opml(OPML))


def test_cli_import_then_export(tmp_path, capsys):
    feeds, opml = tmp_path / "feeds.yaml", tmp_path / "in.opml"
    feeds.write_text(YAML)
    opml.write_bytes(OPML)
    assert cli_main(["feeds", "import", str(opml), "--feeds", str(feeds)]) == 0
    assert "2 feeds added" in capsys.readouterr().out
    assert [f.name for f in load_feeds(feeds)] == ["already", "bbc-world", "le-monde-co"]
    assert cli_main(["feeds", "export", "--feeds", str(feeds)]) == 0
    exported = capsys.readouterr().out
    assert [o.xml_url for o in parse_opml(exported.encode())] == [
        "https://a.example/feed", "https://bbc.example/world.xml", "https://lemonde.example/rss"]
    assert to_opml(load_feeds(feeds)) == exported
