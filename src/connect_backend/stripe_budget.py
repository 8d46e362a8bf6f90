"""The platform's Stripe budget: Stripe allows a platform about 100 requests a second in live
mode and 25 in test mode, shared by every call it makes. Every Stripe call of the service takes
room first (the `limits` library's counters, in memory or in the Redis every process shares).

Reads may use only their share of it and are refused first (429); money, onboarding and
webhooks may use all of it and wait a moment for room before giving up (503, so a webhook is
delivered again). When the store cannot be reached, reads and webhooks go on (a webhook refused
would only come back), while money and onboarding fail closed (503 `limits_unavailable`).
"""

from __future__ import annotations

import asyncio
import math
import time
from contextvars import ContextVar
from enum import StrEnum

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from connect_backend import log, metrics
from connect_backend.errors import RateLimited, UpstreamUnavailable
from connect_backend.rate_limits import limits_unavailable, seconds_until


class StripeClass(StrEnum):
    """How a Stripe call is treated when the platform's budget runs short, or cannot be read."""

    READ = "read"  # status, balance: may use its share only; refused first; go on without it
    WRITE = "write"  # money, onboarding: may use all, waits a moment; fail closed without it
    EVENT = "event"  # webhooks: may use all, waits a moment; go on without it

    @property
    def needs_budget(self) -> bool:
        """Whether its calls wait when the budget cannot be read (else they go on)."""
        return self is StripeClass.WRITE


stripe_class: ContextVar[StripeClass] = ContextVar("stripe_class", default=StripeClass.WRITE)
"""The class of the Stripe calls the current request makes: its route's `Requirement` sets it,
the webhook route sets `EVENT`; anything else counts as a write (fails closed)."""


class StripeBudget:
    """The platform's Stripe requests per second, shared by every caller of the service."""

    def __init__(
        self,
        *,
        per_second: int,
        read_share: float,
        storage: Storage,
        wait_seconds: float = 2.0,
    ) -> None:
        self._all = RateLimitItemPerSecond(per_second) if per_second > 0 else None
        reads = max(1, math.floor(per_second * read_share))
        self._reads = RateLimitItemPerSecond(reads) if per_second > 0 else None
        # A moving window: never more than `per_second` calls begun in any one-second span. (A
        # sliding window counter, which weighs the previous fixed window, let more through in
        # the second across two windows' boundary: docs/chaos.md, "A burst of account.updated".)
        self._windows = MovingWindowRateLimiter(storage)
        self._wait = wait_seconds

    async def spend(self, kind: StripeClass) -> None:
        """Take room for one Stripe request, or refuse: 429 for a read, 503 past the wait.

        Store unreachable: reads and webhooks go on, writes get 503 `limits_unavailable`."""
        try:
            await self._spend(kind)
        except StorageError as exc:
            log.warning(
                "stripe.budget.unavailable", kind=kind.value, error=type(exc.storage_error).__name__
            )
            if kind.needs_budget:
                raise limits_unavailable("Stripe budget") from None

    async def _spend(self, kind: StripeClass) -> None:
        if self._all is None or self._reads is None:
            return
        if kind is StripeClass.READ:
            if await self._windows.hit(self._reads, "stripe", "reads") and await self._windows.hit(
                self._all, "stripe", "all"
            ):
                return
            stats = await self._windows.get_window_stats(self._reads, "stripe", "reads")
            retry_after = seconds_until(stats.reset_time)
            log.warning("stripe.budget.refused", kind=kind.value)
            metrics.BUDGET_REFUSALS.labels(kind.value).inc()
            raise RateLimited(
                "The platform's Stripe budget for reads is spent; try again shortly.",
                headers={"Retry-After": str(retry_after)},
            )
        deadline = time.monotonic() + self._wait
        waited = False
        while not await self._windows.hit(self._all, "stripe", "all"):
            stats = await self._windows.get_window_stats(self._all, "stripe", "all")
            pause = max(0.01, stats.reset_time - time.time())
            if time.monotonic() + pause > deadline:
                log.warning("stripe.budget.refused", kind=kind.value)
                metrics.BUDGET_REFUSALS.labels(kind.value).inc()
                raise UpstreamUnavailable(
                    "The platform's Stripe budget is spent; try again shortly.",
                    headers={"Retry-After": str(seconds_until(stats.reset_time))},
                )
            waited = True
            await asyncio.sleep(pause)
        if waited:
            log.info("stripe.budget.waited", kind=kind.value)
            metrics.BUDGET_WAITS.labels(kind.value).inc()
