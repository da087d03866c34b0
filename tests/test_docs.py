"""The README is a contract: its two set-up commands, every setting, every command."""

from __future__ import annotations

import re
from pathlib import Path

from aggregator.cli import build_parser
from aggregator.settings import ENV

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def sh_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_test_command():
    install, test = sh_blocks(README.split("## Set up", 1)[1])[:2]
    assert ".venv" in install and "pip install" in install
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines(), f"{test!r} is not a line of .ci/run"


def test_every_setting_is_documented():
    missing = [name for name in ENV if name not in README]
    # Settings without a README row must at least be reachable through the documented rule.
    assert "aggregator.settings.ENV" in README
    core = ["AGGREGATOR_DB", "AGGREGATOR_FEEDS", "AGGREGATOR_ALLOW_NETWORKS"]
    assert not [m for m in missing if m in core]


def test_every_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd")
    for name in sub.choices:
        assert f"aggregator {name}" in README, name


def test_web_cache_budget_follows_the_process_it_lives_in():
    """The page cache budget: set explicitly, or 256 MB in a web process of its own and 64 MB
    inside the daemon (``run``), whose clustering window needs the memory."""
    from aggregator.settings import Settings

    auto = Settings.from_env({})
    assert auto.web_cache_bytes(in_daemon=False) == 256 * 2**20
    assert auto.web_cache_bytes(in_daemon=True) == 64 * 2**20
    set_ = Settings.from_env({"AGGREGATOR_WEB_CACHE_MB": "16"})
    assert set_.web_cache_bytes(in_daemon=True) == set_.web_cache_bytes(in_daemon=False) == 16 * 2**20
