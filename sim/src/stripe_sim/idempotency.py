"""Stripe's idempotency layer for POST requests.

The first request with a key claims it; while it runs, the same key answers 409
``idempotency_key_in_use``. Its result is then saved (unless the endpoint never began
executing, e.g. a parameter error) and later requests with the same key and the same
parameters get that result again, byte for byte, with ``Idempotent-Replayed: true``.
Different parameters or another endpoint → 400 ``idempotency_error``. Keys are scoped per
API key and ``Stripe-Account``, and forgotten 24 hours after their first use (by the clock
given, the simulator's own, which ``/_sim/clock`` moves) or when the store is full.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stripe_sim.errors import (
    idempotency_endpoint_mismatch,
    idempotency_key_in_use,
    idempotency_params_mismatch,
    invalid_request,
)

Scope = tuple[str, str, str]  # (api key, Stripe-Account or "", idempotency key)


@dataclass
class SavedResponse:
    """What the first request answered."""

    status: int
    body: bytes
    request_id: str


@dataclass
class Entry:
    endpoint: str
    fingerprint: tuple[tuple[str, str], ...]
    created: float
    response: SavedResponse | None = None


class IdempotencyStore:
    """Keys → first responses, bounded in size and age."""

    def __init__(
        self,
        *,
        max_entries: int = 200_000,
        ttl_seconds: float = 86_400,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.now = now
        self._entries: OrderedDict[Scope, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def begin(
        self, scope: Scope, endpoint: str, pairs: list[tuple[str, str]]
    ) -> SavedResponse | None:
        """Claim the key, or return the saved response to replay; raise on misuse."""
        key = scope[2]
        if len(key) > 255:
            raise invalid_request(
                "Idempotency keys can be at most 255 characters long.",
                param="Idempotency-Key",
                replayable=False,
            )
        fingerprint = tuple(sorted(pairs))
        now = self.now()
        entry = self._entries.get(scope)
        if entry is not None and now - entry.created >= self.ttl_seconds:
            del self._entries[scope]
            entry = None
        if entry is None:
            self._entries[scope] = Entry(endpoint=endpoint, fingerprint=fingerprint, created=now)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return None
        if entry.endpoint != endpoint:
            raise idempotency_endpoint_mismatch(key, entry.endpoint, endpoint)
        if entry.fingerprint != fingerprint:
            raise idempotency_params_mismatch(key)
        if entry.response is None:
            raise idempotency_key_in_use(key)
        return entry.response

    def finish(self, scope: Scope, response: SavedResponse | None) -> None:
        """Save the result for replay, or (``None``) release the key as if never used."""
        if response is None:
            self._entries.pop(scope, None)
            return
        entry = self._entries.get(scope)
        if entry is not None:
            entry.response = response
