"""The extraction pool's hand-off: deadlines, dead workers, start-up, and the read timeout the
deadline rests on. Real worker processes throughout (trafilatura included)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time

import pytest

from aggregator.extract import ExtractError, ExtractorPool, Job, _read_timeout
from tests.hostile_payloads import FILLER, article_page
from tests.test_hostile_pages import slow_page

GOOD = Job(html=article_page("Good page", [FILLER] * 4), url="http://x.invalid/good",
           title="Good page", summary="Feed summary.")
SLOW = Job(html=slow_page(), url="http://x.invalid/slow", title="Slow", summary="s")


def pids(pool: ExtractorPool) -> list[int]:
    return [w.proc.pid for w in pool._all]


def test_read_timeout_fails_a_read_that_waits_too_long():
    a, b = mp.Pipe()
    _read_timeout(a, 0.2)
    t = time.monotonic()
    with pytest.raises(BlockingIOError):
        a.recv()
    assert 0.15 <= time.monotonic() - t < 5
    b.send("here")  # data that is there is read at once
    assert a.recv() == "here"


def test_read_timeout_of_zero_is_not_forever():
    a, _b = mp.Pipe()
    _read_timeout(a, 0.0)  # SO_RCVTIMEO 0 would block forever
    with pytest.raises(BlockingIOError):
        a.recv()


def test_start_up_is_not_counted_in_the_deadline():
    # A fresh worker imports trafilatura for seconds; the 0.5 s deadline starts after that.
    with ExtractorPool(1, deadline=0.5) as pool:
        ex, _ = pool.run(GOOD)
        assert ex.method == "page"
        assert pool.stage_cpu["ipc"] > 0 and pool.extraction_cpu > 0


def test_overrun_kills_the_worker_and_the_next_job_runs_on_a_fresh_one():
    with ExtractorPool(1, deadline=1.0) as pool:
        pool.run(GOOD)  # started and warm: what follows is the deadline only
        before = pids(pool)
        t = time.monotonic()
        with pytest.raises(ExtractError, match=r"^extract: timeout after 1 s$"):
            pool.run(SLOW)
        assert 0.9 <= time.monotonic() - t < 5  # at the deadline, not when trafilatura ends
        assert pids(pool) != before and len(pids(pool)) == 1
        ex, _ = pool.run(GOOD)
        assert ex.method == "page"


def test_a_job_waiting_for_a_worker_gets_its_own_full_deadline():
    # Two jobs, one worker: the second waits while the first overruns; its deadline starts
    # when it is sent, so it is extracted by the replacement (whose start-up is not counted).
    with ExtractorPool(1, deadline=1.0) as pool:
        pool.run(GOOD)
        out = {}
        slow = threading.Thread(target=lambda: out.update(slow=_outcome(pool, SLOW)))
        slow.start()
        time.sleep(0.2)
        good = _outcome(pool, GOOD)
        slow.join(30)
    assert out["slow"] == "extract: timeout after 1 s"
    assert good == "page"


def _outcome(pool: ExtractorPool, job: Job) -> str:
    try:
        return pool.run(job)[0].method
    except ExtractError as exc:
        return str(exc)


def test_a_worker_killed_while_idle_fails_one_job_then_is_replaced():
    with ExtractorPool(1, deadline=5.0) as pool:
        pool.run(GOOD)
        (victim,) = pids(pool)
        os.kill(victim, signal.SIGKILL)
        pool._all[0].proc.join(5)
        with pytest.raises(ExtractError, match=r"^extract: worker died"):
            pool.run(GOOD)
        assert pids(pool) != [victim]
        assert pool.run(GOOD)[0].method == "page"


def test_a_worker_killed_mid_job_fails_that_job_at_once():
    with ExtractorPool(1, deadline=20.0) as pool:
        pool.run(GOOD)
        (victim,) = pids(pool)
        threading.Timer(0.5, os.kill, (victim, signal.SIGKILL)).start()
        t = time.monotonic()
        with pytest.raises(ExtractError, match=r"^extract: worker died \(EOFError\)"):
            pool.run(SLOW)
        assert time.monotonic() - t < 10  # the death, not the 20 s deadline
        assert pool.run(GOOD)[0].method == "page"


def test_close_stops_the_workers():
    pool = ExtractorPool(2, deadline=5.0)
    pool.run(GOOD)
    procs = [w.proc for w in pool._all]
    pool.close()
    assert all(not p.is_alive() for p in procs)
