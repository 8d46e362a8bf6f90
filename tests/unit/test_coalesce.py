"""Coalescer: concurrent callers share calls, and `fresh` never hands out a read begun earlier."""

from __future__ import annotations

import asyncio

import pytest

from connect_backend.coalesce import Coalescer, RecentOutcome


class Source:
    """A value that changes, read slowly; counts the reads and when each began."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.release = asyncio.Event()
        self.failures: list[Exception] = []  # the next reads end in these, in order

    async def read(self) -> int:
        self.reads += 1
        seen = self.value
        failure = self.failures.pop(0) if self.failures else None
        await self.release.wait()
        if failure is not None:
            raise failure
        return seen


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_burst_of_callers_costs_at_most_two_reads() -> None:
    source, reads = Source(), Coalescer[str, int]()
    first = asyncio.create_task(reads.fresh("k", source.read))
    await _settle()
    burst = [asyncio.create_task(reads.fresh("k", source.read)) for _ in range(200)]
    await _settle()
    source.release.set()

    answers = await asyncio.gather(first, *burst)

    assert source.reads == 2
    assert len(answers) == 201
    assert len(reads) == 0  # nothing left behind


async def test_a_caller_never_gets_a_read_that_began_before_it_asked() -> None:
    source, reads = Source(), Coalescer[str, int]()
    early = asyncio.create_task(reads.fresh("k", source.read))
    await _settle()  # the first read is under way and has seen value 0
    source.value = 1  # the truth changes after it began
    late = asyncio.create_task(reads.fresh("k", source.read))
    await _settle()
    source.release.set()

    assert await early == 0
    assert await late == 1  # waited the first read out and shared the next one


async def test_keys_do_not_share() -> None:
    source, reads = Source(), Coalescer[str, int]()
    source.release.set()

    await asyncio.gather(reads.fresh("a", source.read), reads.fresh("b", source.read))

    assert source.reads == 2


async def test_a_failed_read_reaches_every_caller_that_shared_it() -> None:
    source, reads = Source(), Coalescer[str, int]()
    source.failures = [RuntimeError("upstream down"), RuntimeError("still down")]
    first = asyncio.create_task(reads.fresh("k", source.read))
    await _settle()
    sharing = [asyncio.create_task(reads.fresh("k", source.read)) for _ in range(2)]
    await _settle()
    source.release.set()

    outcomes = await asyncio.gather(first, *sharing, return_exceptions=True)

    assert [str(o) for o in outcomes] == ["upstream down", "still down", "still down"]
    assert source.reads == 2
    assert await reads.fresh("k", source.read) == 0  # the next call reads again
    assert source.reads == 3


async def test_a_caller_that_goes_away_does_not_cancel_the_read_for_the_others() -> None:
    source, reads = Source(), Coalescer[str, int]()
    starter = asyncio.create_task(reads.fresh("k", source.read))
    await _settle()
    waiting = [asyncio.create_task(reads.fresh("k", source.read)) for _ in range(2)]
    await _settle()
    starter.cancel()
    waiting[0].cancel()
    source.release.set()

    assert await waiting[1] == 0
    with pytest.raises(asyncio.CancelledError):
        await starter
    assert source.reads == 2


async def test_shared_joins_an_identical_call_under_way() -> None:
    source, calls = Source(), Coalescer[str, int]()
    first = asyncio.create_task(calls.shared("write", source.read))
    await _settle()
    second = asyncio.create_task(calls.shared("write", source.read))
    await _settle()
    source.release.set()

    assert await asyncio.gather(first, second) == [0, 0]
    assert source.reads == 1
    assert len(calls) == 0


# --- RecentOutcome: one outcome, reused for a while ------------------------------------------


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_recent_outcome_is_shared_while_running_and_reused_within_its_ttl() -> None:
    source, clock = Source(), Clock()
    recent: RecentOutcome[int] = RecentOutcome(1.0, clock=clock)

    burst = [asyncio.create_task(recent.get(source.read)) for _ in range(20)]
    await asyncio.sleep(0.01)  # every caller is waiting on the one read
    source.release.set()
    during = await asyncio.gather(*burst)
    source.value = 1
    clock.now += 0.99
    within = [await recent.get(source.read) for _ in range(5)]
    clock.now += 0.01
    after = await recent.get(source.read)

    assert during == [0] * 20
    assert within == [0] * 5
    assert after == 1
    assert source.reads == 2


async def test_a_failed_outcome_is_reused_too() -> None:
    source, clock = Source(), Clock()
    source.failures = [RuntimeError("down")]
    source.release.set()
    recent: RecentOutcome[int] = RecentOutcome(1.0, clock=clock)

    for _ in range(3):
        with pytest.raises(RuntimeError):
            await recent.get(source.read)
    clock.now += 1.0
    healed = await recent.get(source.read)

    assert healed == 0
    assert source.reads == 2
