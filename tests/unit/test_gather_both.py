"""`accounts.gather_both`: two awaitables at once (a webhook's D1 link and Stripe read, the
console's page and counts), one of them in the caller's task."""

from __future__ import annotations

import asyncio

import pytest

from connect_backend.accounts import gather_both


class Boom(Exception):
    pass


async def _after(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


async def test_both_run_at_once_and_both_results_come_back_in_order() -> None:
    # Each waits until the other has begun: run one after the other, they never finish.
    began = {"first": asyncio.Event(), "second": asyncio.Event()}

    async def meets(me: str, other: str) -> str:
        began[me].set()
        await began[other].wait()
        return me

    both = await asyncio.wait_for(
        gather_both(meets("first", "second"), meets("second", "first")), timeout=5
    )
    assert both == ("first", "second")


async def test_when_the_first_fails_the_second_is_cancelled_and_the_failure_is_itself() -> None:
    second_cancelled = asyncio.Event()

    async def fails() -> str:
        await asyncio.sleep(0)
        raise Boom

    async def waits() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            second_cancelled.set()
            raise
        return "never"

    with pytest.raises(Boom):
        await gather_both(fails(), waits())
    assert second_cancelled.is_set()


async def test_when_the_second_fails_its_failure_is_raised_as_itself() -> None:
    async def fails() -> str:
        raise Boom

    with pytest.raises(Boom):
        await gather_both(_after(0.01, "first"), fails())


async def test_cancelling_the_caller_cancels_both() -> None:
    cancelled: list[str] = []

    async def waits(name: str) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return name

    caller = asyncio.create_task(gather_both(waits("first"), waits("second")))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert sorted(cancelled) == ["first", "second"]
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
