"""Per-host politeness: at most N requests in flight per host, starts spaced by S seconds.

The daemon fetches on a thread pool, so several feeds (and their article pages) of one outlet can
be due at once; without this they would all hit the outlet in the same instant, which is how
aggregators get blocked. The limiter is shared by every thread of one ``Fetcher``.

``_try_acquire`` is the whole policy as a pure step on an injected clock, so it is table-testable
without sleeping; ``slot`` wraps it in a condition variable for real threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class SlotTimeout(Exception):
    """Waiting for a host slot would overrun the caller's deadline."""


@dataclass
class _Host:
    in_flight: int = 0
    next_start: float = -math.inf  # earliest clock value the next request may start at


class HostLimiter:
    def __init__(
        self, concurrency: int, spacing: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.concurrency = max(1, int(concurrency))
        self.spacing = max(0.0, float(spacing))
        self._clock = clock
        self._cond = threading.Condition()
        self._hosts: dict[str, _Host] = {}
        self._spacing: dict[str, float] = {}  # per-host spacing above the default (crawl-delay)

    def set_spacing(self, host: str, seconds: float) -> None:
        """Space requests to ``host`` by at least ``seconds`` (robots.txt crawl-delay); never
        less than the default spacing."""
        with self._cond:
            if seconds > self.spacing:
                self._spacing[host.lower()] = float(seconds)
            else:
                self._spacing.pop(host.lower(), None)

    def _try_acquire(self, host: str, now: float) -> float:
        """Take a slot if allowed now (returns 0.0), else return how long to wait before retrying.

        ``math.inf`` means "wait for a release": every slot is busy. Caller holds the lock.
        """
        st = self._hosts.setdefault(host, _Host())
        if st.in_flight >= self.concurrency:
            return math.inf
        if now < st.next_start:
            return st.next_start - now
        st.in_flight += 1
        st.next_start = now + self._spacing.get(host, self.spacing)
        return 0.0

    def _release(self, host: str) -> None:
        st = self._hosts[host]
        st.in_flight -= 1
        # Forget idle hosts whose spacing has passed, so a long-running daemon that touches
        # thousands of hosts does not keep them all.
        if st.in_flight == 0 and st.next_start <= self._clock():
            del self._hosts[host]

    def acquire(self, host: str, deadline: float) -> None:
        """Block until a slot on ``host`` is ours; SlotTimeout if that would pass ``deadline``."""
        host = host.lower()
        with self._cond:
            while True:
                now = self._clock()
                wait = self._try_acquire(host, now)
                if wait == 0.0:
                    return
                remaining = deadline - now
                if remaining <= 0 or (wait != math.inf and now + wait > deadline):
                    raise SlotTimeout(
                        f"no request slot for {host} within the deadline "
                        f"({self.concurrency} in flight max, {self.spacing:g}s between starts)"
                    )
                self._cond.wait(min(wait, remaining))

    def release(self, host: str) -> None:
        with self._cond:
            self._release(host.lower())
            self._cond.notify_all()

    @contextmanager
    def slot(self, host: str, deadline: float) -> Iterator[None]:
        self.acquire(host, deadline)
        try:
            yield
        finally:
            self.release(host)

    def in_flight(self, host: str) -> int:
        with self._cond:
            st = self._hosts.get(host.lower())
            return st.in_flight if st else 0
