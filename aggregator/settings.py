"""Settings: one frozen object built at the edge (CLI, daemon, tests) and passed down.

Nothing below the CLI reads the environment; pass a ``Settings`` instead (Miniflux's regret was a
global config read deep inside models). Every setting has an ``AGGREGATOR_*`` variable, listed in
``ENV`` so the README table and a test can enumerate them.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DATA_DIR = "data"


def _networks(value: str) -> tuple[Network, ...]:
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            out.append(ipaddress.ip_network(part, strict=False))
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    # Where things are.
    db_url: str = f"sqlite:///{DEFAULT_DATA_DIR}/aggregator.db"
    feeds_path: str = "feeds.yaml"
    # Egress: CIDRs the guard lets through even though they are loopback/private/link-local.
    allow_networks: tuple[Network, ...] = ()
    # Politeness.
    contact_url: str = "https://github.com/aggregator/aggregator"
    user_agent: str = ""  # derived from contact_url when empty
    host_concurrency: int = 2  # simultaneous requests per host
    host_spacing: float = 1.0  # seconds between request starts on one host
    # Limits on what we download and how long we wait.
    fetch_deadline: float = 30.0  # total seconds per request, headers and body included
    connect_timeout: float = 10.0
    max_feed_bytes: int = 10 * 1024 * 1024  # decoded
    max_page_bytes: int = 5 * 1024 * 1024  # decoded
    max_redirects: int = 5
    # Extraction runs in worker processes so a pathological page can be killed.
    extract_workers: int = 2
    extract_deadline: float = 20.0
    # Scheduling.
    default_interval: int = 900  # seconds
    min_interval: int = 300
    max_interval: int = 86400
    error_limit: int = 10  # consecutive failures before a feed is disabled
    poll_workers: int = 4
    unconditional_interval: int = 86400  # a fetch without validators this often (0: never)
    host_claim_cap: int = 2  # most feeds of one host claimed at once by the daemon
    claim_lease: int = 900  # seconds a claim holds before another worker may take the feed
    shutdown_grace: float = 20.0  # seconds SIGTERM waits for in-flight polls before abandoning
    robots_ttl: int = 86400  # seconds a host's robots.txt is cached
    obey_robots: bool = True  # consult robots.txt before fetching article pages
    # Clustering window: articles older than this (by publication time) no longer attract copies
    # or reports.
    window_days: int = 30
    # Web.
    host: str = "127.0.0.1"
    port: int = 8080
    log_format: str = "text"
    # Rendered pages kept per web process (LRU by bytes; ~12 KB a story page). 0: 256 MB for
    # ``serve`` (a process of its own) and 64 MB for ``run``, whose web server lives in the
    # daemon's process beside a clustering window (~650 MB at 200k articles).
    web_cache_mb: int = 0

    def web_cache_bytes(self, *, in_daemon: bool) -> int:
        mb = self.web_cache_mb or (64 if in_daemon else 256)
        return mb * 2**20
    # Operator pages (feed health, story corrections): the sign-in token; empty disables them.
    operator_token: str = ""

    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def agent(self) -> str:
        return self.user_agent or f"aggregator/0.1 (+{self.contact_url}; news feed aggregator)"

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = dict(os.environ if env is None else env)
        values: dict = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            key = ENV_PREFIX + f.name.upper()
            if key not in env:
                continue
            raw = env[key]
            if f.name == "allow_networks":
                values[f.name] = _networks(raw)
            elif f.type in ("int",):
                values[f.name] = int(raw)
            elif f.type in ("float",):
                values[f.name] = float(raw)
            elif f.type in ("bool",):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[f.name] = raw
        # Short aliases named in the command-line contract.
        if "AGGREGATOR_DB" in env:
            values["db_url"] = env["AGGREGATOR_DB"]
        if "AGGREGATOR_FEEDS" in env:
            values["feeds_path"] = env["AGGREGATOR_FEEDS"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("allow_networks"), str):
            values["allow_networks"] = _networks(values["allow_networks"])
        return cls(**values)

    def sqlite_path(self) -> Path | None:
        if self.db_url.startswith("sqlite:///"):
            return Path(self.db_url[len("sqlite:///") :])
        return None


ENV_PREFIX = "AGGREGATOR_"
# Every environment variable the program reads (documented in README; a test checks the list).
ENV = ["AGGREGATOR_DB", "AGGREGATOR_FEEDS"] + [
    ENV_PREFIX + f.name.upper() for f in fields(Settings) if f.name not in ("extra", "db_url", "feeds_path")
]
