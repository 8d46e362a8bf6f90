"""`StateStore` through Redis (`REDIS_URL`): every process of every replica shares the rate
limits, the Stripe budget and the fresh reads of accounts (see `connect_backend.state_store`).

Redis unreachable: every Redis call fails within about a second (short timeouts, one quick
retry); fresh reads fall back to the process's own coalescing.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar, cast

from limits.aio.storage import RedisStorage, Storage
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from connect_backend import log
from connect_backend.coalesce import Coalescer, FreshReads
from connect_backend.state_store import Codec, StateStore

V = TypeVar("V")

TIMEOUT_SECONDS = 0.5
"""How long one Redis command (or connecting) may take before it counts as a failure."""
POLL_SECONDS = 0.5
"""A waiting reader asks Redis itself this often, should a notice not reach it."""
LEASE_SECONDS = 3.0
"""How long a reader holds a key's lock without renewing it (it renews every third of that
while it reads): a process that dies mid-read holds the others back no longer."""
LISTEN_SECONDS = 5.0
"""The longest one wait for a notice lasts before the listener waits again."""
KEEP_SECONDS = 60.0
"""How long a key's last read and counter outlive their last use."""


def _client_options() -> dict[str, Any]:
    return {
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
        "health_check_interval": 15,
        # One quick retry: enough for a connection Redis closed (a restart), not for an outage
        # (redis-py's own default retries ten times, for seconds).
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
    }


class RedisStore(StateStore):
    """The storage behind the rate limits and budget, and the fresh reads, in Redis."""

    def __init__(self, *, limits: Storage, redis: Redis) -> None:
        super().__init__(limits=limits)
        self.redis = redis
        self._reads: list[SharedReads[Any]] = []

    @property
    def across_processes(self) -> bool:
        return True

    def reads(self, namespace: str, codec: Codec[V]) -> FreshReads[V]:
        """Fresh reads of `namespace` across processes (this process's own should Redis fail)."""
        local: Coalescer[str, V] = Coalescer()
        shared = SharedReads(self.redis, namespace=namespace, codec=codec, local=local)
        self._reads.append(shared)
        return shared

    async def ping(self) -> bool | None:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        """Stop listening."""
        for shared in self._reads:
            await shared.close()


@asynccontextmanager
async def connect(redis_url: str) -> AsyncIterator[RedisStore]:
    """The process's state shared through Redis: its clients connect on first use (so the
    service starts while Redis is down) and are closed at the end."""
    # One pool for the service's commands and the `limits` storage (its documented
    # `connection_pool` option), closed with the state.
    pool = ConnectionPool.from_url(redis_url, **_client_options())
    storage = RedisStorage(
        "async+" + redis_url,
        implementation="redispy",
        wrap_exceptions=True,
        key_prefix="connect:limits",
        **cast(dict[str, Any], {"connection_pool": pool}),
    )
    state = RedisStore(limits=storage, redis=Redis(connection_pool=pool))
    try:
        yield state
    finally:
        await state.close()
        await pool.aclose()


# One Redis hash per key: `seq` numbers the newest read begun, `last` is the newest finished
# one's number, with its `value`. A read's number is Redis's clock (ms) when it began, or one
# more than the number before when several begin within a millisecond; a caller's arrival is
# the larger of `seq` and the clock when it first asks. So a read numbered above a caller's
# arrival began after it arrived, also when the hash expired (or Redis restarted) while a slow
# read was still running: numbers taken from the clock do not start again at zero.
# The lock names the one reader at a time.
_JOIN = """
local state, lock = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = tonumber(redis.call('HGET', state, 'seq') or '0')
local arrived = tonumber(ARGV[1])
if arrived < 0 then arrived = math.max(seq, now) end
local last = redis.call('HMGET', state, 'last', 'value')
if last[1] and tonumber(last[1]) > arrived then
  return {'done', last[2]}
end
if redis.call('SET', lock, ARGV[2], 'NX', 'PX', ARGV[3]) then
  seq = math.max(now, seq + 1)
  redis.call('HSET', state, 'seq', seq)
  redis.call('PEXPIRE', state, ARGV[4])
  return {'read', seq}
end
return {'wait', arrived}
"""
# A finished read: kept as `last` (unless a newer one is), the lock released if still ours,
# and every process told (`key\\nseq\\nkind\\npayload`; kind v = value, e = error, f = failed).
_FINISH = """
local state, lock = KEYS[1], KEYS[2]
if ARGV[2] ~= '' and tonumber(ARGV[1]) > tonumber(redis.call('HGET', state, 'last') or '0') then
  redis.call('HSET', state, 'last', ARGV[1], 'value', ARGV[2])
  redis.call('PEXPIRE', state, ARGV[4])
end
if redis.call('GET', lock) == ARGV[3] then redis.call('DEL', lock) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


@dataclass(frozen=True)
class _Notice(Generic[V]):
    """A read some process finished: its number and outcome, decoded once per process."""

    seq: int
    kind: bytes  # b"v" value, b"e" expected error, b"f" failed (the waiters try again)
    payload: bytes
    codec: Codec[V]

    @cached_property
    def value(self) -> V:
        return self.codec.loads(self.payload)

    @cached_property
    def error(self) -> Exception:
        return self.codec.loads_error(self.payload)


def _cancel_requested() -> bool:
    """Whether this task was asked to stop, even if what it awaited did not say so."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a shared read's outcome seen, should its first caller have gone away."""
    if not task.cancelled():
        task.exception()


class SharedReads(Generic[V]):
    """`Coalescer.fresh` across processes: at most one read of a key at a time anywhere, and a
    caller takes only a read that began after it arrived. So a burst of any size, on any number
    of processes, costs at most two reads.

    The reader publishes what it read; the processes' waiters hear it on one channel. Should
    Redis fail, the caller falls back to its own process's coalescing (the reads go on).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        codec: Codec[V],
        local: Coalescer[str, V],
    ) -> None:
        self._redis = redis
        self._prefix = f"connect:{namespace}"
        self._channel = f"connect:{namespace}:done"
        self._codec = codec
        self._lease_ms = round(LEASE_SECONDS * 1000)
        self._local = local
        self._join = redis.register_script(_JOIN)
        self._finish = redis.register_script(_FINISH)
        self._renew = redis.register_script(_RENEW)
        self._waiting: dict[str, set[asyncio.Future[_Notice[V] | None]]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def fresh(self, key: str, read: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """`read()`'s result, from a read that began after this call, shared with every
        process."""
        try:
            return await self._fresh(key, read)
        except RedisError as exc:
            log.warning("shared.reads.unavailable", error=type(exc).__name__)
            return await self._local.fresh(key, read)

    async def _fresh(self, key: str, read: Callable[[], Coroutine[Any, Any, V]]) -> V:
        self._listen()
        keys = [f"{self._prefix}:{{{key}}}", f"{self._prefix}:{{{key}}}:lock"]
        token = secrets.token_hex(8)
        arrived = -1
        while True:
            # Listening before asking: a notice sent in between is not missed.
            notice = self._wait_for(key)
            try:
                kind, *rest = await self._join(
                    keys=keys,
                    args=[arrived, token, self._lease_ms, self._keep_ms],
                )
                if kind == b"done":
                    return self._codec.loads(rest[0])
                if kind == b"read":
                    seq = int(rest[0])
                    reading = asyncio.ensure_future(self._read(key, keys, token, seq, read))
                    reading.add_done_callback(_retrieved)
                    return await asyncio.shield(reading)
                arrived = int(rest[0])
                try:
                    heard = await asyncio.wait_for(asyncio.shield(notice), POLL_SECONDS)
                except TimeoutError:
                    continue  # ask Redis again (a notice lost with a dropped connection)
            finally:
                self._stop_waiting(key, notice)
            if heard is not None and heard.seq > arrived:
                if heard.kind == b"v":
                    return heard.value
                if heard.kind == b"e":
                    raise heard.error
            # An older read ended, or the read failed: the lock is free; ask again.

    async def _read(
        self,
        key: str,
        keys: list[str],
        token: str,
        seq: int,
        read: Callable[[], Coroutine[Any, Any, V]],
    ) -> V:
        """This process's read for everyone: run it (holding the lock), keep and publish its
        outcome."""
        renewing = asyncio.create_task(self._renewing(keys[1], token))
        try:
            value = await read()
        except Exception as exc:
            shared = self._codec.dumps_error(exc)
            kind, payload = (b"e", shared) if shared is not None else (b"f", b"")
            await self._publish(keys, token, seq, key, kind, payload)
            raise
        finally:
            renewing.cancel()
        await self._publish(keys, token, seq, key, b"v", self._codec.dumps(value))
        return value

    async def _renewing(self, lock: str, token: str) -> None:
        with contextlib.suppress(RedisError):
            while True:
                await asyncio.sleep(LEASE_SECONDS / 3)
                await self._renew(keys=[lock], args=[token, self._lease_ms])

    async def _publish(
        self,
        keys: list[str],
        token: str,
        seq: int,
        key: str,
        kind: bytes,
        payload: bytes,
    ) -> None:
        message = b"\n".join((key.encode(), str(seq).encode(), kind, payload))
        kept = payload if kind == b"v" else b""
        try:
            await self._finish(
                keys=keys,
                args=[seq, kept, token, self._keep_ms, self._channel, message],
            )
        except RedisError as exc:  # the read itself stands; waiters find out by asking again
            log.warning("shared.reads.unpublished", error=type(exc).__name__)

    @property
    def _keep_ms(self) -> int:
        return round(KEEP_SECONDS * 1000) + self._lease_ms

    def _wait_for(self, key: str) -> asyncio.Future[_Notice[V] | None]:
        future: asyncio.Future[_Notice[V] | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, set()).add(future)
        return future

    def _stop_waiting(self, key: str, future: asyncio.Future[_Notice[V] | None]) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiting[key]

    def _listen(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listening(), name="shared-reads-listener")

    async def _listening(self) -> None:
        """Hear every process's finished reads; after a lost connection, subscribe again and
        send every waiter back to ask Redis (it may have missed its notice meanwhile)."""
        pause = 0.05
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    pause = 0.05
                    self._wake_all()
                    while True:
                        # Bounded waits (not `listen()`, which a quiet channel would time out
                        # at the socket's own timeout); None when nothing came.
                        message = await pubsub.get_message(timeout=LISTEN_SECONDS)
                        if message is not None and message["type"] == "message":
                            self._deliver(message["data"])
            except RedisError:
                self._wake_all()
                if _cancel_requested():
                    # The client turned our cancellation into a connection error: stop, as
                    # asked, rather than subscribe again forever.
                    raise asyncio.CancelledError from None
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _deliver(self, message: bytes) -> None:
        key, seq, kind, payload = message.split(b"\n", 3)
        waiting = self._waiting.get(key.decode())
        if not waiting:
            return
        notice = _Notice(int(seq), kind, payload, self._codec)
        for future in waiting:
            if not future.done():
                future.set_result(notice)

    def _wake_all(self) -> None:
        for waiting in self._waiting.values():
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener], timeout=TIMEOUT_SECONDS * 2)
