"""Reader web UI (server-rendered; see ``aggregator.web.app``)."""

from aggregator.web.app import CSP, create_app

__all__ = ["CSP", "create_app"]
