"""Per-user rate limits: a token bucket per (route group, verified user id), in memory.

Buckets live in one process (each replica counts on its own) and are bounded: past
`max_keys` the least recently used one is forgotten, which only ever gives its user a full
bucket again. Keys are verified user ids, never a client's claim such as `X-User-ID`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from connect_backend.errors import RateLimited


class RouteGroup(StrEnum):
    """Routes that share one budget per user."""

    ONBOARDING = "onboarding"  # onboard, dashboard link
    MONEY = "money"  # transfer, payout, payout schedule, platform fee


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets: `per_minute` calls a minute, in bursts of up to as many; 0 turns it off."""

    def __init__(
        self,
        per_minute: Mapping[RouteGroup, int],
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_minute = dict(per_minute)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[tuple[RouteGroup, str], _Bucket] = OrderedDict()

    def take(self, group: RouteGroup, user_id: str) -> None:
        """Spend one token of the user's bucket; `RateLimited` (with `Retry-After`) when empty."""
        capacity = self._per_minute.get(group, 0)
        if capacity <= 0:
            return
        rate = capacity / 60.0  # tokens a second
        now = self._clock()
        key = (group, user_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        retry_after = max(1, math.ceil((1 - bucket.tokens) / rate))
        raise RateLimited(
            f"Too many requests; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )

    def __len__(self) -> int:
        return len(self._buckets)
