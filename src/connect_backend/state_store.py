"""Where the state behind the limits and the fresh reads is kept: in this process's memory
(`StateStore` here), or, with `REDIS_URL`, in the Redis every process of every replica shares
(`redis_store.RedisStore`).

What is kept there:

- the per-user rate limits and the platform's Stripe budget (the `limits` library's storage,
  `StateStore.limits`);
- fresh reads of Stripe accounts (`StateStore.reads`): a burst of refreshes of one
  organization, whichever processes receive it, costs at most two reads.

Each process keeps its own session cache (a verified session is re-verified once per process
and TTL, and never for money) and its own outbound connections.

Redis unreachable: every Redis call fails within about a second (short timeouts, one quick
retry). Reads of accounts fall back to the process's own coalescing; what the rate limits and
the budget do then is decided per route in `connect_backend.rate_limits` and
`connect_backend.stripe_budget` (reads and webhooks go on, money and onboarding answer 503).

This module does not import redis-py: a process without Redis never loads it
(`runtime.open_state_store` imports `redis_store` only for a `REDIS_URL`).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from limits.aio.storage import MemoryStorage, Storage

from connect_backend.coalesce import Coalescer, FreshReads

V = TypeVar("V")


class StateStore:
    """The storage behind the rate limits and budget, and the fresh reads: here, this
    process's own (`redis_store.RedisStore` keeps them in the Redis every process shares)."""

    def __init__(self, *, limits: Storage | None = None) -> None:
        self.limits: Storage = limits if limits is not None else MemoryStorage()

    @property
    def across_processes(self) -> bool:
        """Whether the limits, budget and reads are shared with other processes."""
        return False

    def reads(self, namespace: str, codec: Codec[V]) -> FreshReads[V]:
        """Fresh reads of `namespace`, shared by this process's callers."""
        return Coalescer[str, V]()

    async def ping(self) -> bool | None:
        """Whether Redis answers (None without Redis)."""
        return None

    async def close(self) -> None:
        """Stop whatever the state runs in the background (nothing here)."""


class Codec(Protocol[V]):
    """How a read's result, or the expected error it ended in, travels between processes."""

    def dumps(self, value: V) -> bytes:
        """The value as bytes."""
        ...

    def loads(self, data: bytes) -> V:
        """The value back."""
        ...

    def dumps_error(self, error: Exception) -> bytes | None:
        """An expected error as bytes, or None for one that is not shared (a bug's)."""
        ...

    def loads_error(self, data: bytes) -> Exception:
        """The error back."""
        ...
