"""Paying an organization's money out to its bank, once per `Idempotency-Key`, however late
the retry (`connect_backend.idempotency`).

What the caller sent is the request; the amount (all that is available, without one) is the
decision, recorded with the key before anything moves. A retry of the same request answers the
payout made, even once the balance it emptied reads zero; the same key with anything else sent
differently is 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from connect_backend import idempotency
from connect_backend.domain import Payout, SourceType
from connect_backend.errors import Conflict
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    """What the caller asked for: every field counts when a key is used again."""

    organization_id: str
    currency: str
    amount: int | None
    source_type: SourceType


async def pay_out(
    request: PayoutRequest,
    *,
    account_id: str,
    caller_key: str,
    gateway: StripeGateway,
    worker: WorkerClient,
) -> Payout:
    """Pay out `amount`, or all that is available in `currency` from `source_type`."""
    currency, source_type = request.currency, request.source_type
    available = (await gateway.retrieve_balance(account_id)).available_in(currency, source_type)
    decision = {
        "account_id": account_id,
        "amount": request.amount if request.amount is not None else available,
        "available": available,
    }

    created: list[Payout] = []

    async def make(decided: Mapping[str, Any]) -> str:
        amount, available = decided["amount"], decided["available"]
        if amount <= 0 or amount > available:
            # Checked here, after the key is claimed: a retry of a payout that emptied the
            # balance is answered from the record, never refused for the balance it emptied.
            raise Conflict(
                f"Not enough available balance in {currency} ({source_type}) for this payout.",
                code="insufficient_balance",
            )
        made = await gateway.create_payout(
            organization_id=request.organization_id,
            account_id=decided["account_id"],
            amount=amount,
            currency=currency,
            source_type=source_type,
            caller_key=caller_key,
        )
        created.append(made)
        return made.id

    made = await idempotency.once(
        worker=worker,
        organization_id=request.organization_id,
        operation="payout",
        key=caller_key,
        request=asdict(request),
        decision=decision,
        make=make,
    )
    if created:
        return created[0]
    # Answered from the record: its status and arrival date as Stripe holds them now.
    return await gateway.retrieve_payout(made.decision["account_id"], made.object_id)
