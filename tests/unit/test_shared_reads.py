"""Fresh reads shared across processes through a real Redis (`SharedReads`): each "process"
here is its own Redis client and `SharedReads`, as each worker process of each replica has."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from connect_backend import errors
from connect_backend.coalesce import Coalescer
from connect_backend.errors import AccountInaccessible, ConnectError
from connect_backend.redis_store import SharedReads
from connect_backend.runtime import open_state_store
from tests.support.redis_server import RedisServer


class TextCodec:
    """Values are strings; the service's own errors travel as `errors.to_bytes` writes them."""

    def dumps(self, value: str) -> bytes:
        return value.encode()

    def loads(self, data: bytes) -> str:
        return data.decode()

    def dumps_error(self, error: Exception) -> bytes | None:
        return errors.to_bytes(error)

    def loads_error(self, data: bytes) -> Exception:
        return errors.from_bytes(data)


class Source:
    """What the reads read: a value that changes, a count of reads, and a gate to hold them."""

    def __init__(self) -> None:
        self.value = "v0"
        self.reads = 0
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.fail_with: Exception | None = None

    def read(self) -> Callable[[], Coroutine[Any, Any, str]]:
        async def reading() -> str:
            self.reads += 1
            seen = self.value  # the read sees the value as it is when it begins
            self.started.set()
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0.05)
            if self.fail_with is not None:
                raise self.fail_with
            return seen

        return reading


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[Callable[[], SharedReads[str]]]:
    """Makes "processes": each a `SharedReads` on its own Redis connection."""
    async with AsyncExitStack() as stack:

        def process() -> SharedReads[str]:
            redis = Redis.from_url(redis_url)
            stack.push_async_callback(redis.aclose)
            reads = SharedReads(redis, namespace="test", codec=TextCodec(), local=Coalescer())
            stack.push_async_callback(reads.close)
            return reads

        yield process


async def test_a_burst_across_processes_costs_at_most_two_reads(
    processes: Callable[[], SharedReads[str]],
) -> None:
    source = Source()
    several = [processes() for _ in range(3)]

    answers = await asyncio.gather(
        *(p.fresh("acct_1", source.read()) for p in itertools.islice(itertools.cycle(several), 150))
    )

    assert set(answers) == {"v0"}
    assert 1 <= source.reads <= 2


async def test_a_read_under_way_elsewhere_is_waited_out_not_joined(
    processes: Callable[[], SharedReads[str]],
) -> None:
    source = Source()
    source.gate = asyncio.Event()
    first, second = processes(), processes()
    early = asyncio.create_task(first.fresh("acct_1", source.read()))
    await source.started.wait()  # the first process's read is under way …
    source.value = "v1"  # … when the account changes
    late = asyncio.create_task(second.fresh("acct_1", source.read()))
    await asyncio.sleep(0.1)
    assert source.reads == 1  # the late caller did not start a read of its own meanwhile
    source.gate.set()

    assert await early == "v0"
    assert await late == "v1"  # a read that began after it arrived
    assert source.reads == 2


async def test_a_finished_read_never_answers_a_later_caller(
    processes: Callable[[], SharedReads[str]],
) -> None:
    source = Source()
    first, second = processes(), processes()
    assert await first.fresh("acct_1", source.read()) == "v0"
    source.value = "v1"

    assert await second.fresh("acct_1", source.read()) == "v1"
    assert source.reads == 2


async def test_a_read_that_outlives_its_key_s_expiry_never_answers_a_later_caller(
    processes: Callable[[], SharedReads[str]], redis_url: str
) -> None:
    """A slow read (three Stripe attempts of 20 s, budget waits) can outlast the key's state in
    Redis. A caller that arrives after the state expired must still not take that read."""
    source = Source()
    source.gate = asyncio.Event()
    first, second = processes(), processes()
    slow = asyncio.create_task(first.fresh("acct_1", source.read()))
    await source.started.wait()
    redis = Redis.from_url(redis_url)
    await redis.delete("connect:test:{acct_1}")  # the state expires; the lock is still held
    await redis.aclose()
    source.value = "v1"
    late = asyncio.create_task(second.fresh("acct_1", source.read()))
    await asyncio.sleep(0.1)
    source.gate.set()

    assert await slow == "v0"
    assert await late == "v1"  # its own read, begun after it arrived
    assert source.reads == 2


async def test_keys_are_read_apart(processes: Callable[[], SharedReads[str]]) -> None:
    source = Source()
    reads = processes()

    await asyncio.gather(reads.fresh("acct_1", source.read()), reads.fresh("acct_2", source.read()))

    assert source.reads == 2


async def test_the_services_errors_reach_the_waiters_of_other_processes(
    processes: Callable[[], SharedReads[str]],
) -> None:
    source = Source()
    source.gate = asyncio.Event()
    source.fail_with = AccountInaccessible("The platform lost access.", code="account_inaccessible")
    first, second = processes(), processes()
    early = asyncio.create_task(first.fresh("acct_1", source.read()))
    await source.started.wait()
    waiting = [asyncio.create_task(second.fresh("acct_1", source.read())) for _ in range(5)]
    await asyncio.sleep(0.05)
    source.started.clear()
    source.gate.set()

    with pytest.raises(AccountInaccessible):
        await early
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    # The waiters arrived during the first read: they share the second, and its error.
    assert all(isinstance(o, AccountInaccessible) for o in outcomes)
    assert {o.code for o in outcomes if isinstance(o, ConnectError)} == {"account_inaccessible"}
    assert source.reads == 2


async def test_a_failed_read_is_not_kept_for_later_callers(
    processes: Callable[[], SharedReads[str]],
) -> None:
    source = Source()
    reads = processes()
    source.fail_with = AccountInaccessible("gone")
    with pytest.raises(AccountInaccessible):
        await reads.fresh("acct_1", source.read())
    source.fail_with = None

    assert await reads.fresh("acct_1", source.read()) == "v0"
    assert source.reads == 2


async def test_waiters_take_over_when_the_reader_holds_the_lock_and_vanishes(
    processes: Callable[[], SharedReads[str]], redis_url: str
) -> None:
    # A reader that died mid-read: its lock stays until its lease runs out (not renewed).
    redis = Redis.from_url(redis_url)
    await redis.set("connect:test:{acct_1}:lock", "a-dead-process", px=300)
    await redis.aclose()
    source = Source()

    answer = await processes().fresh("acct_1", source.read())

    assert answer == "v0"
    assert source.reads == 1


async def test_without_redis_each_process_coalesces_on_its_own(
    redis_server: RedisServer,
) -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)  # nothing there
    reads = SharedReads(redis, namespace="test", codec=TextCodec(), local=Coalescer())
    source = Source()
    try:
        answers = await asyncio.gather(*(reads.fresh("acct_1", source.read()) for _ in range(20)))
    finally:
        await reads.close()
        await redis.aclose()

    assert set(answers) == {"v0"}
    assert 1 <= source.reads <= 2  # the process's own coalescing still holds


async def test_shared_state_without_a_url_keeps_everything_in_the_process() -> None:
    async with open_state_store(None) as state:
        assert not state.across_processes
        assert await state.ping() is None
        assert isinstance(state.reads("accounts", TextCodec()), Coalescer)


async def test_shared_state_says_whether_redis_answers(
    redis_url: str, redis_server: RedisServer
) -> None:
    async with open_state_store(redis_url) as state:
        assert state.across_processes
        assert await state.ping() is True
        redis_server.stop()
        try:
            assert await state.ping() is False
        finally:
            redis_server.start()


class SwallowingPubSub:
    """A subscription whose wait turns a cancellation into a connection error, as a Redis
    client may when it is cancelled mid-read."""

    def __init__(self) -> None:
        self.waits = 0

    async def __aenter__(self) -> SwallowingPubSub:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def subscribe(self, *_: str) -> None:
        return None

    async def get_message(self, *, timeout: float) -> None:
        self.waits += 1
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None


async def test_closing_stops_the_listener_even_when_redis_swallows_the_cancellation(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pubsub = SwallowingPubSub()
    async with Redis.from_url(redis_url) as redis:
        monkeypatch.setattr(redis, "pubsub", lambda **_: pubsub)
        reads = SharedReads(redis, namespace="swallow", codec=TextCodec(), local=Coalescer())
        assert await reads.fresh("k", _value) == "v"  # the listener starts
        await asyncio.sleep(0.05)
        assert pubsub.waits >= 1

        await asyncio.wait_for(reads.close(), 5)
        await asyncio.sleep(0)

        listening = [t for t in asyncio.all_tasks() if t.get_name() == "shared-reads-listener"]
        assert listening == []  # stopped: not subscribing again for ever


async def _value() -> str:
    return "v"
