"""``aggregator store migrate``: a SQLite store copied into PostgreSQL, resumably, verified."""

from __future__ import annotations

import pytest

from aggregator.cli import main
from store import open_store
from store.copy import copy_store
from tests.test_store_contract import _history, add


class Interrupted(Exception):
    pass


def _reads(s) -> list:
    return [
        [(f.id, f.name, f.etag, f.articles) for f in s.list_feeds()],
        [(x.id, [(y.article_id, y.role, y.copy_of, y.title) for y in x.sources]) for x in s.list_stories(limit=100)],
        [(r.article_id, r.story_id, r.copy_of, r.fp_signature) for r in s.fingerprints()],
        [(c.id, c.kind, c.article_ids) for c in s.corrections_since(0)],
        [x.id for x, _ in s.search("topic1")],
        s.known_guids(1, [f"g:http://a.example/{n}" for n in range(12)]),
    ]


def test_cli_copies_sqlite_into_postgresql(tmp_path, pg_url, capsys):
    lite_url = f"sqlite:///{tmp_path / 'src.db'}"
    lite = open_store(lite_url)
    _history(lite)
    expected = _reads(lite)
    lite.close()
    assert main(["store", "migrate", "--from", lite_url, "--to", pg_url]) == 0
    assert "copied and verified: feeds 2, stories" in capsys.readouterr().out
    pg = open_store(pg_url)
    try:
        assert _reads(pg) == expected
        # the id sequences moved past the copied ids: new rows do not collide
        aid, _, created = add(pg, "http://a.example/after-copy")
        assert created and aid > max(r.article_id for r in pg.fingerprints() if r.article_id != aid)
    finally:
        pg.close()
    # the check compares counts: a target that moved on since is reported, not overwritten
    assert main(["store", "migrate", "--from", lite_url, "--to", pg_url]) == 3  # the target has one more
    assert "copy incomplete: stories" in capsys.readouterr().err


def test_an_interrupted_copy_resumes(tmp_path, pg_url):
    lite = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    _history(lite)
    pg = open_store(pg_url)
    seen = []

    def stop_midway(table, done, total):
        seen.append((table, done))
        if table == "articles" and 0 < done < total:
            raise Interrupted

    try:
        with pytest.raises(Interrupted):
            copy_store(lite, pg, progress=stop_midway, batch=3)
        assert 0 < pg._r().execute("SELECT COUNT(*) FROM articles").fetchone()[0] < 12
        counts = copy_store(lite, pg, batch=3)
        assert (counts["feeds"], counts["articles"], counts["entries"], counts["corrections"]) == (2, 12, 12, 3)
        assert _reads(pg) == _reads(lite)
    finally:
        lite.close()
        pg.close()
