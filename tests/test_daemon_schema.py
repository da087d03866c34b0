"""feeds.yaml has a published JSON Schema that agrees with the checker."""

from __future__ import annotations

# -- the published JSON Schema (issue 4) ----------------------------------------------------------

def test_the_shipped_feeds_file_validates_against_the_published_schema():
    import json
    from pathlib import Path

    import jsonschema
    import yaml

    from aggregator.feeds_config import KEYS, NAME_RE

    repo = Path(__file__).resolve().parent.parent
    schema = json.loads((repo / "aggregator" / "feeds.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    text = (repo / "feeds.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=aggregator/feeds.schema.json")
    jsonschema.validate(yaml.safe_load(text), schema)
    item = schema["properties"]["feeds"]["items"]
    assert set(item["properties"]) == KEYS  # the schema and the checker agree on the keys
    assert set(item["required"]) == {"name", "url", "outlet"}
    assert item["properties"]["name"]["pattern"] == NAME_RE.pattern
    bad = {"feeds": [{"name": "x", "url": "ftp://x", "outlet": "X", "colour": "red"}]}
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
