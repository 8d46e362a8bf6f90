"""Concurrent callers that want the same thing share one call, within the process.

Two ways to share, by what a caller may accept:

- `fresh(key, read)` — a *read that began after the caller arrived*. A read already under way
  may have started before the caller's own request, so it is waited out, never joined; every
  caller that arrives meanwhile shares the next one. A burst of any size costs at most two
  reads of a key, and each caller still gets a view taken after it asked.
- `shared(key, call)` — any identical call under way (an idempotent write of the same values,
  say): it is joined.

`RecentOutcome` keeps one call's outcome, success or failure, for a while (`/ready`).

A shared call runs as a task of its own, so a caller that goes away (cancelled) does not
cancel it for the others; its result, or its exception, reaches every caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FreshReads(Protocol[V]):
    """Reads by key that begin after their caller arrived (`Coalescer.fresh`), shared by the
    callers of one process, or of every process (`connect_backend.redis_store.SharedReads`)."""

    async def fresh(self, key: str, read: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """`read()`'s result, from a read that began after this call."""
        ...


class _Next(Generic[V]):
    """The read that starts when the one under way ends, and who waits for it."""

    __slots__ = ("future", "read")

    def __init__(self, read: Callable[[], Coroutine[Any, Any, V]]) -> None:
        self.read = read
        self.future: asyncio.Future[V] = asyncio.get_running_loop().create_future()


class Coalescer(Generic[K, V]):
    """Shares calls per key among the process's concurrent callers (see the module doc)."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}
        self._next: dict[K, _Next[V]] = {}
        self._shared: dict[K, asyncio.Task[V]] = {}

    async def fresh(self, key: K, read: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """`read()`'s result, from a read that began after this call."""
        if key not in self._running:
            return await asyncio.shield(self._start(key, read))
        waiting = self._next.get(key)
        if waiting is None:
            waiting = self._next[key] = _Next(read)
        return await asyncio.shield(waiting.future)

    async def shared(self, key: K, call: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """`call()`'s result, joining an identical call under way."""
        task = self._shared.get(key)
        if task is None:
            task = self._shared[key] = asyncio.create_task(call())
            task.add_done_callback(lambda done: self._forget_shared(key, done))
        return await asyncio.shield(task)

    def _forget_shared(self, key: K, done: asyncio.Task[V]) -> None:
        if not done.cancelled():
            done.exception()
        del self._shared[key]

    def _start(self, key: K, read: Callable[[], Coroutine[Any, Any, V]]) -> asyncio.Task[V]:
        task = self._running[key] = asyncio.create_task(read())
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: K, done: asyncio.Task[V]) -> None:
        del self._running[key]
        waiting = self._next.pop(key, None)
        if waiting is None:
            return
        task = self._start(key, waiting.read)
        task.add_done_callback(lambda result: _settle(waiting.future, result))

    def __len__(self) -> int:
        """Keys with a call under way or waiting (bounded by the callers in flight)."""
        return len(self._running.keys() | self._next.keys() | self._shared.keys())


class RecentOutcome(Generic[V]):
    """One call's outcome answered again to every caller for `ttl` seconds after it ended;
    callers that arrive while it runs share it. For a check anyone may ask for (`/ready`):
    however many ask, it runs at most once per `ttl` plus its own duration.

    The call should return its failures as values: an exception it raises is shared too, but
    raised again as the same object."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._task: asyncio.Task[V] | None = None
        self._ended = 0.0

    async def get(self, call: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """The outcome of the call under way, or of one that ended less than `ttl` seconds
        ago; else of `call()`, started now."""
        task = self._task
        if task is None or (task.done() and self._clock() - self._ended >= self._ttl):
            task = self._task = asyncio.create_task(call())
            task.add_done_callback(self._end)
        return await asyncio.shield(task)

    def _end(self, done: asyncio.Task[V]) -> None:
        self._ended = self._clock()
        if not done.cancelled():
            done.exception()  # retrieved: asyncio does not log it as never awaited


def _settle(future: asyncio.Future[V], task: asyncio.Task[V]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())
