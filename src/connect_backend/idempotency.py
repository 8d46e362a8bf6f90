"""Money moved once per caller's `Idempotency-Key`, however late the retry.

Stripe replays a request made with the same idempotency key for 24 hours only. So every
transfer and payout is recorded by its key in D1, through the Worker: a fingerprint of what the
caller sent, exactly what the service decided to send Stripe (the decision), and, once Stripe
answered, the id of what it made. A retry is found by that exact key, never by scanning
Stripe's lists (a scan can give up, and then a retry moves money twice):

- a completed record answers what was made, whatever changed since (the fee, the balance);
- the same key with any other parameter is 409 `idempotency_conflict`;
- a record still pending (the first attempt failed half-way, or is running now) sends Stripe
  the same decision with the same Stripe key, which Stripe replays (or refuses while the first
  attempt runs) within its 24 hours;
- a pending record older than that cannot be resolved exactly: 409 `idempotency_unresolved`,
  and nothing moves;
- Stripe's definitive refusal (a 4xx: nothing was made) releases the key, so the caller may try
  the same request again once the cause is fixed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connect_backend import log
from connect_backend.domain import IdempotencyOperation
from connect_backend.errors import Conflict, ConnectError
from connect_backend.worker import WorkerClient

Operation = IdempotencyOperation

REPLAYABLE_FOR = timedelta(hours=23)
"""How long after its claim a pending key is sent to Stripe again: inside Stripe's 24 hours of
replaying a key, with room for clocks that disagree."""


def fingerprint(request: Mapping[str, Any]) -> str:
    """What the caller sent, hashed: every field, absent ones as null, in a fixed order."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Made:
    """What a keyed operation made: Stripe's object, and the decision it was made from."""

    object_id: str
    decision: Mapping[str, Any]
    first: bool  # made (or first answered) by this call, not answered from the record


async def once(
    *,
    worker: WorkerClient,
    organization_id: str,
    operation: Operation,
    key: str,
    request: Mapping[str, Any],
    decision: Mapping[str, Any],
    make: Callable[[Mapping[str, Any]], Awaitable[str]],
) -> Made:
    """Run `make(decision)` (send the decision to Stripe; the id of what it made) at most
    once for `key`: see the module's doc. A retry runs the first attempt's decision, never
    `decision`, which is what this call would have sent."""
    asked = fingerprint(request)
    scope = {"organization_id": organization_id, "operation": operation, "key": key}
    claimed = await worker.claim_idempotency_key(**scope, fingerprint=asked, decision=decision)
    record = claimed.record
    if not claimed.created:
        if record.fingerprint != asked:
            raise Conflict(
                f"This Idempotency-Key was already used for another {operation}.",
                code="idempotency_conflict",
            )
        if record.stripe_object_id is not None:
            log.info(f"connect.{operation}.replayed", object_id=record.stripe_object_id)
            return Made(record.stripe_object_id, record.decision, first=False)
        if datetime.now(UTC) - record.created_at > REPLAYABLE_FOR:
            log.error(f"connect.{operation}.unresolved", claimed_at=record.created_at.isoformat())
            raise Conflict(
                f"The first {operation} with this Idempotency-Key did not finish, and Stripe no "
                "longer remembers the key: nothing was done. Check the history before using a "
                "new key.",
                code="idempotency_unresolved",
            )
        log.info(f"connect.{operation}.resumed")
    try:
        object_id = await make(record.decision)
    except ConnectError as failed:
        if refused(failed):
            await worker.release_idempotency_key(**scope)
        raise
    await worker.complete_idempotency_key(**scope, stripe_object_id=object_id)
    return Made(object_id, record.decision, first=True)


def refused(failed: ConnectError) -> bool:
    """Whether the failure is a definitive refusal (a 4xx: nothing was made under the key),
    not a failure whose outcome is unknown, nor Stripe refusing a key still in use."""
    return failed.status < 500 and failed.code != "idempotency_conflict"
