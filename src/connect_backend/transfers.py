"""Sending platform money to an organization, once per `Idempotency-Key`, however late the
retry (`connect_backend.idempotency`).

What the caller sent is the request; the fee split decided from today's fee is the decision,
recorded with the key. A retry of the same request answers the transfer made from the first
decision, even after the fee changed; the same key with anything else sent differently is 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from connect_backend import idempotency
from connect_backend.errors import BadRequest
from connect_backend.money import FeeSplit
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """What the caller asked for: every field counts when a key is used again."""

    organization_id: str
    amount: int
    currency: str
    source_transaction: str | None = None
    transfer_group: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TransferMade:
    """The transfer and the split it was made with (the first attempt's, on a retry)."""

    transfer_id: str
    account_id: str
    currency: str
    gross: int
    fee: int
    net: int
    percent: str


async def send(
    request: TransferRequest,
    *,
    account_id: str,
    split: FeeSplit,
    caller_key: str,
    gateway: StripeGateway,
    worker: WorkerClient,
) -> TransferMade:
    """Transfer `split.net` to the account, or answer the transfer made with this key."""
    if split.net <= 0:
        raise BadRequest(
            "Nothing is left to transfer after the platform fee.", code="amount_too_small"
        )
    decision = {
        "account_id": account_id,
        "currency": request.currency,
        "gross": split.gross,
        "fee": split.fee,
        "net": split.net,
        "percent": str(split.percent),
        "source_transaction": request.source_transaction,
        # A transfer made from a charge is grouped under it (Stripe's `transfer_group`), so the
        # charge's refunds and disputes find it with Stripe's own filter, never by scanning.
        "transfer_group": request.transfer_group or request.source_transaction,
        "description": request.description,
    }

    async def make(decided: Mapping[str, Any]) -> str:
        made = await gateway.create_transfer(
            organization_id=request.organization_id,
            account_id=decided["account_id"],
            amount=decided["net"],
            currency=decided["currency"],
            gross=decided["gross"],
            fee=decided["fee"],
            percent=decided["percent"],
            caller_key=caller_key,
            source_transaction=decided["source_transaction"],
            transfer_group=decided["transfer_group"],
            description=decided["description"],
        )
        return made.id

    made = await idempotency.once(
        worker=worker,
        organization_id=request.organization_id,
        operation="transfer",
        key=caller_key,
        request=asdict(request),
        decision=decision,
        make=make,
    )
    decided = made.decision
    return TransferMade(
        transfer_id=made.object_id,
        account_id=decided["account_id"],
        currency=decided["currency"],
        gross=decided["gross"],
        fee=decided["fee"],
        net=decided["net"],
        percent=decided["percent"],
    )
