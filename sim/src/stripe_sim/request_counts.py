"""How many Stripe API (``/v1``) calls the simulator received, per method, path and
``Stripe-Account``: how a test sees how often the service, or all its replicas together,
called Stripe (``GET /_sim/requests``)."""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

# (method, path, Stripe-Account or None)
CallKey = tuple[str, str, str | None]

MAX_TIMES = 200_000
"""Arrival times kept (the oldest forgotten past it)."""


class RequestCounts:
    """Counts of ``/v1`` calls since start or the last :meth:`clear`, whatever their answer."""

    def __init__(self) -> None:
        self._counts: Counter[CallKey] = Counter()
        self._times: deque[tuple[float, str, str]] = deque(maxlen=MAX_TIMES)

    def record(self, method: str, path: str, stripe_account: str | None) -> None:
        """Count one call (an empty ``Stripe-Account`` counts as none), and when it arrived."""
        self._counts[method.upper(), path, stripe_account or None] += 1
        self._times.append((time.time(), method.upper(), path))

    def times(self, *, method: str | None = None, path_prefix: str = "") -> list[float]:
        """When each call arrived (Unix seconds, in order), of `method` (any case) and under
        `path_prefix`; the last `MAX_TIMES` calls at most."""
        wanted = method.upper() if method else None
        return [
            at
            for at, m, p in self._times
            if (wanted is None or m == wanted) and p.startswith(path_prefix)
        ]

    def rows(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        stripe_account: str | None = None,
    ) -> list[dict[str, Any]]:
        """``{method, path, stripe_account, count}`` per kind of call, sorted by path then
        method; each filter given keeps only the calls that equal it."""
        wanted_method = method.upper() if method else None
        return [
            {"method": m, "path": p, "stripe_account": account, "count": count}
            for (m, p, account), count in sorted(
                self._counts.items(), key=lambda item: (item[0][1], item[0][0], item[0][2] or "")
            )
            if (wanted_method is None or m == wanted_method)
            and (path is None or p == path)
            and (stripe_account is None or account == stripe_account)
        ]

    def clear(self) -> None:
        """Start counting from zero (the arrival times too)."""
        self._counts.clear()
        self._times.clear()
