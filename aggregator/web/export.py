"""``aggregator export --out DIR``: the whole reader site as static files.

Every page is rendered by the same application the server runs (requests through
``httpx.ASGITransport``, no sockets), created with ``static_site=True`` so paging links are paths
(``/page/2``) and there is no search box. A page ``/story/7`` is written as
``story/7/index.html`` — any web server maps the URL to it — and ``/feed.atom`` as ``feed.atom``.

    report = export_site(store, Path("site"), base_url="https://news.example.org")
    report.files, report.skipped
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from .app import PAGE_SIZE, STATIC, create_app, part


@dataclass
class ExportReport:
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # paths that did not render (status)


def site_paths(store: Any, page_size: int = PAGE_SIZE) -> list[str]:
    """Every URL path of the static site."""
    paths = ["/", "/about", "/outlets", "/feed.atom", "/feed.json"]
    pages = max(1, math.ceil(store.count_browse() / page_size))
    paths += [f"/page/{n}" for n in range(2, pages + 1)]
    for listing, names in (("outlet", [o for o, _ in store.list_outlets()]),
                           ("tag", [t for t, _ in store.list_tags()])):
        for name in names:
            count = store.count_browse(**{listing: name})
            if not count or not _safe_segment(name):
                continue
            base = f"/{listing}/{part(name)}"
            paths += [base, f"{base}/feed.atom", f"{base}/feed.json"]
            paths += [f"{base}/page/{n}" for n in range(2, math.ceil(count / page_size) + 1)]
    paths += [f"/story/{i}" for i in sorted(store.story_ids())]
    paths += [f"/static/{f.name}" for f in sorted(STATIC.iterdir()) if f.is_file()]
    return paths


def unexportable(store: Any) -> list[tuple[str, str]]:
    """Outlets and tags whose names cannot be a directory (their pages are left out)."""
    names = [("outlet", o) for o, _ in store.list_outlets()] + [("tag", t) for t, _ in store.list_tags()]
    return [(kind, name) for kind, name in names if not _safe_segment(name)]


def _safe_segment(name: str) -> bool:
    """A name that can be one directory: no separators, no dot-dot, no control characters."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..") and all(
        ord(c) >= 0x20 for c in name
    )


def file_for(out: Path, path: str) -> Path:
    """Where a URL path is written: ``/x/feed.atom`` as is, ``/story/7`` as ``story/7/index.html``."""
    rel = unquote(path).lstrip("/")
    last = rel.rsplit("/", 1)[-1]
    if not rel:
        rel = "index.html"
    elif "." not in last or path.startswith(("/outlet/", "/tag/")) and path.count("/") == 2:
        rel = rel.rstrip("/") + "/index.html"
    target = (out / rel).resolve()
    if not target.is_relative_to(out.resolve()):
        raise ValueError(f"export: {path!r} would leave the output directory")
    return target


async def export_site_async(
    store: Any, out: Path, *, base_url: str = "http://localhost:8080", site_name: str = "aggregator",
    page_size: int = PAGE_SIZE,
) -> ExportReport:
    app = create_app(store, site_name=site_name, page_size=page_size, static_site=True, cache_bytes=0, warm=False)
    report = ExportReport()
    out.mkdir(parents=True, exist_ok=True)
    transport = httpx.ASGITransport(app=app)
    report.skipped += [f"{kind} {name!r}: cannot be a directory name" for kind, name in unexportable(store)]
    async with httpx.AsyncClient(transport=transport, base_url=base_url.rstrip("/")) as client:
        for path in site_paths(store, page_size):
            resp = await client.get(path)
            if resp.status_code != 200:
                report.skipped.append(f"{path} ({resp.status_code})")
                continue
            target = file_for(out, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(resp.content)
            report.files += 1
            report.bytes += len(resp.content)
    return report


def export_site(store: Any, out: Path, **kw: Any) -> ExportReport:
    return asyncio.run(export_site_async(store, Path(out), **kw))
