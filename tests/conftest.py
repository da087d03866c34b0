"""Shared fixtures: settings for loopback tests, a temporary SQLite store, the shared data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.settings import Settings

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/data absent ({path} not found): third-party test data is read "
                    "from there and never copied into the repo")
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def loopback_settings(db_url: str) -> Settings:
    """Settings for tests against servers on 127.0.0.1: loopback allowed, no politeness delay,
    short deadlines, extraction in one worker process."""
    return Settings.from_env(
        env={},
        db_url=db_url,
        allow_networks="127.0.0.0/8",
        host_spacing=0.0,
        fetch_deadline=10.0,
        extract_workers=1,
    )


# The throwaway PostgreSQL cluster (session-scoped) and a fresh database per test: tests/pg.py.
from tests.pg import pg_server, pg_url  # noqa: E402, F401
