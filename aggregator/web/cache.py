"""Rendered pages kept in memory, each valid while the store's stamp of what it shows holds.

A story page is keyed by story id and stamped with that story's ``version`` (the store stamps it
whenever a source joins or leaves, a member changes, a correction or merge touches the story), so
the daemon's other writes — feed polls, other stories — leave it cached. Listings, feeds and
search pages are stamped with the newest story version and the minute (their "4 h ago" ages and
the recency ranking move with the clock).

Checking a stamp is one indexed query; it is skipped while the store's ``data_version`` (a
counter SQLite keeps in memory: no I/O) has not moved since the entry was last confirmed, so a
hit between two writes costs a dictionary look-up.

Memory is bounded by the bytes of the kept bodies (least recently used dropped first). Operators'
pages are never stored nor served from here (app.py bypasses the cache when a session cookie is
present), so readers never see operator forms and operators never see a reader's page.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from starlette.responses import Response

log = logging.getLogger("aggregator.web.cache")

ENTRY_OVERHEAD = 600  # bytes a kept page costs beyond its body (entry, Response object, headers)


class PageCache:
    def __init__(self, store: Any, max_bytes: int) -> None:
        self.data_version: Callable[[], Any] | None = getattr(store, "data_version", None)
        self.max_bytes = max_bytes
        self.items: OrderedDict[Hashable, list] = OrderedDict()  # key → [stamp, checked, response, size]
        self.bytes = 0
        self.hits = 0
        self.renders = 0  # handler runs through the cache (misses): what tests count
        self._turn: tuple | None = None  # (event loop, data_version read in its current turn)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def gate(self, bucket: Any = None) -> Any:
        """What must hold for a confirmed entry to be served without asking the store again."""
        return (self.store_version(), bucket)

    def store_version(self) -> Any:
        """The store's ``data_version``, read once per event-loop turn: the requests handled in
        one turn are answered as of its start (a write landing during the turn is seen by the
        next one, as if those requests had arrived a moment earlier). Saves a query per hit."""
        if self.data_version is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self.data_version()
        if self._turn is not None and self._turn[0] is loop:
            return self._turn[1]
        version = self.data_version()
        self._turn = (loop, version)
        loop.call_soon(self._forget_version)
        return version

    def _forget_version(self) -> None:
        self._turn = None

    def peek(self, key: Hashable, gate: Any) -> Response | None:
        """The kept response when it was confirmed under this very gate (no store query)."""
        hit = self.items.get(key)
        if hit is not None and gate[0] is not None and hit[1] == gate:
            self.items.move_to_end(key)
            self.hits += 1
            return hit[2]
        return None

    async def get(self, key: Hashable, make: Callable[[], Awaitable[Response]],
                  stamp: Callable[[], Any] | None, bucket: Any = None) -> Response:
        """The response for ``key``: kept if its stamp still holds, else ``make()`` (kept when 200).
        ``stamp`` None (a store that cannot say what changed) or a disabled cache: always made."""
        if not self.enabled or stamp is None:
            return await make()
        gate = self.gate(bucket)  # read before the stamp: a write in between moves it again
        resp = self.peek(key, gate)
        if resp is not None:
            return resp
        now = (stamp(), bucket)  # read before rendering: a write during the render makes it stale
        hit = self.items.get(key)
        if hit is not None and hit[0] == now:
            hit[1] = gate
            self.items.move_to_end(key)
            self.hits += 1
            return hit[2]
        self.renders += 1
        resp = await make()
        if resp.status_code == 200:
            self.put(key, now, gate, resp)
        return resp

    def put(self, key: Hashable, stamp: Any, gate: Any, resp: Response) -> None:
        size = len(resp.body) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.bytes -= old[3]
        self.items[key] = [stamp, gate, resp, size]
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self.items.popitem(last=False)
            self.bytes -= dropped[3]

    def holds(self, key: Hashable, stamp: Any, bucket: Any = None) -> bool:
        """Whether ``key`` is kept with this stamp (the warmer skips those)."""
        hit = self.items.get(key)
        return hit is not None and hit[0] == (stamp, bucket)

    def stats(self) -> dict[str, float]:
        return {"pages": len(self.items), "bytes": self.bytes, "hits": self.hits, "renders": self.renders}


WARM_FILL = 0.9  # the first pass stops when the cache is this full: room stays for readers' pages
WARM_INTERVAL = 1.0  # seconds between looks for changed stories
WARM_BATCH = 200  # changed stories rendered per look (the rest at the next one)


class Warmer:
    """Keeps story pages rendered ahead of readers, as a news site would: a reader's first open
    of a story is then as fast as the next.

    At start it renders the newest stories (newest coverage first) until the cache is
    ``WARM_FILL`` full or every story is in; then, whenever the store changed, it re-renders the
    stories stamped since (a source joined: the page readers will open next). It runs on the
    server's event loop, yielding between pages, so a reader's request waits at most one render.
    """

    def __init__(self, store: Any, cache: PageCache, warm: Callable[[int], Awaitable[bool]],
                 interval: float = WARM_INTERVAL) -> None:
        self.store, self.cache, self.warm, self.interval = store, cache, warm, interval
        self.seen = 0  # the newest story version handled
        self.warming = True  # the first pass is running
        self.warmed = 0

    def start(self) -> asyncio.Task:
        return asyncio.get_running_loop().create_task(self.run(), name="page-cache-warmer")

    async def run(self) -> None:
        try:
            await self.first_pass()
            version = None
            while True:
                await asyncio.sleep(self.interval)
                now = self.store.data_version()
                if now != version:
                    version = now
                    await self.follow()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing (or closing) store must not take the server down
            log.warning("page cache warmer stopped", extra={"error": f"{type(exc).__name__}: {exc}"})
        finally:
            self.warming = False

    async def first_pass(self) -> None:
        # Read before rendering: a story changed during the pass is caught by follow().
        self.seen = self.store.stories_version()
        budget = self.cache.max_bytes * WARM_FILL
        for story_id in self.store.recent_story_ids(100_000):
            if self.cache.bytes >= budget:
                break
            await self.one(story_id)
        self.warming = False

    async def follow(self) -> None:
        while True:
            changed = self.store.changed_stories(self.seen, WARM_BATCH)
            for story_id, version in changed:
                await self.one(story_id)
                self.seen = max(self.seen, version)
            if len(changed) < WARM_BATCH:
                return

    async def one(self, story_id: int) -> None:
        if await self.warm(story_id):
            self.warmed += 1
        await asyncio.sleep(0)  # let waiting requests run between two renders
