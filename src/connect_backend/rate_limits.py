"""Per-user rate limits, on the `limits` library's sliding-window counters (in memory, or in
the Redis every process shares: `connect_backend.state_store`).

Each route group allows `per_minute` calls a minute to each verified user id (never a client's
claim such as `X-User-ID`); past it, 429 `rate_limited` with `Retry-After`. When the store
cannot be reached, reads go on unlimited (nothing they do moves money), while money and
onboarding fail closed: 503 `limits_unavailable`, nothing done, try again shortly. The
platform's Stripe budget, on the same counters, is `connect_backend.stripe_budget`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from enum import StrEnum

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from connect_backend import log, metrics
from connect_backend.errors import RateLimited, UpstreamUnavailable


class RouteGroup(StrEnum):
    """Routes that share one budget per user."""

    READS = "reads"  # status, balance
    ONBOARDING = "onboarding"  # onboard, dashboard link
    MONEY = "money"  # transfer, payout, payout schedule, platform fee


def seconds_until(reset_time: float) -> int:
    """Whole seconds until a window resets, at least one (a `Retry-After`)."""
    return max(1, math.ceil(reset_time - time.time()))


RETRY_WITHOUT_LIMITS = 5
"""`Retry-After` (seconds) of a 503 while the shared limits cannot be reached."""


def limits_unavailable(what: str) -> UpstreamUnavailable:
    """The 503 of a limit that cannot be read: nothing was done."""
    return UpstreamUnavailable(
        f"The service cannot check its {what} right now; nothing was done. Try again shortly.",
        code="limits_unavailable",
        headers={"Retry-After": str(RETRY_WITHOUT_LIMITS)},
    )


class RateLimiter:
    """Per-user limits by route group; a group at 0 (or absent) is not limited."""

    def __init__(self, per_minute: Mapping[RouteGroup, int], *, storage: Storage) -> None:
        self._items: dict[RouteGroup, RateLimitItem] = {
            group: RateLimitItemPerMinute(n) for group, n in per_minute.items() if n > 0
        }
        self._windows = SlidingWindowCounterRateLimiter(storage)

    async def take(self, group: RouteGroup, user_id: str) -> None:
        """Count one call of the user's; `RateLimited` (with `Retry-After`) past the limit.

        Store unreachable: reads go on, money and onboarding get 503 `limits_unavailable`."""
        item = self._items.get(group)
        if item is None:
            return
        try:
            if await self._windows.hit(item, "user", group.value, user_id):
                return
            stats = await self._windows.get_window_stats(item, "user", group.value, user_id)
        except StorageError as exc:
            log.warning(
                "limits.unavailable", group=group.value, error=type(exc.storage_error).__name__
            )
            if group is RouteGroup.READS:
                return
            raise limits_unavailable("rate limits") from None
        retry_after = seconds_until(stats.reset_time)
        metrics.RATE_LIMITED.labels(group.value).inc()
        raise RateLimited(
            f"Too many requests; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
