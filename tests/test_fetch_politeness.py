"""HostLimiter policy on a fake clock (no sleeps), plus one real-thread check."""

from __future__ import annotations

import math
import threading
import time

import pytest

from aggregator.politeness import HostLimiter, SlotTimeout


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_spacing_and_concurrency_as_a_table():
    clock = Clock()
    lim = HostLimiter(concurrency=2, spacing=1.0, clock=clock)
    steps = [
        # (time, host, expected wait) — 0.0 means the slot was taken
        (100.0, "a", 0.0),
        (100.0, "a", 1.0),  # spacing: next start at 101
        (100.5, "a", 0.5),
        (100.5, "b", 0.0),  # other hosts are independent
        (101.0, "a", 0.0),  # second slot of "a"
        (102.0, "a", math.inf),  # both in flight: wait for a release
    ]
    for t, host, want in steps:
        clock.t = t
        with lim._cond:
            assert lim._try_acquire(host, t) == want, (t, host)
    lim.release("a")
    with lim._cond:
        assert lim._try_acquire("a", 102.0) == 0.0


def test_hosts_are_case_insensitive_and_forgotten_when_idle():
    clock = Clock()
    lim = HostLimiter(1, 0.5, clock=clock)
    lim.acquire("News.Example", deadline=101)
    assert lim.in_flight("news.example") == 1
    lim.release("NEWS.example")
    assert "news.example" in lim._hosts  # released before its spacing passed: still remembered
    clock.t = 101.0
    lim.acquire("news.example", deadline=102)
    clock.t = 102.0  # a long request: spacing has passed when it ends
    lim.release("news.example")
    assert "news.example" not in lim._hosts  # idle and past spacing: nothing to remember


def test_a_wait_that_would_pass_the_deadline_fails_at_once():
    clock = Clock()
    lim = HostLimiter(4, spacing=30.0, clock=clock)
    lim.acquire("a", deadline=110)
    t0 = time.monotonic()
    with pytest.raises(SlotTimeout, match="no request slot for a"):
        lim.acquire("a", deadline=110)  # next start at 130 > 110
    assert time.monotonic() - t0 < 0.1


def test_waiters_wake_on_release_with_real_threads():
    lim = HostLimiter(1, 0.0)
    lim.acquire("h", deadline=time.monotonic() + 5)
    got = threading.Event()

    def waiter():
        lim.acquire("h", deadline=time.monotonic() + 5)
        got.set()
        lim.release("h")

    t = threading.Thread(target=waiter)
    t.start()
    assert not got.wait(0.1)  # blocked while we hold the only slot
    lim.release("h")
    assert got.wait(1.0)
    t.join()


def test_all_slots_busy_until_the_deadline_raises():
    lim = HostLimiter(1, 0.0)
    lim.acquire("h", deadline=time.monotonic() + 5)
    t0 = time.monotonic()
    with pytest.raises(SlotTimeout):
        lim.acquire("h", deadline=time.monotonic() + 0.2)
    assert 0.15 <= time.monotonic() - t0 < 0.6
    lim.release("h")
