"""Sending platform money to an organization, once per `Idempotency-Key`, however late the
retry.

Stripe replays a request with the same key for 24 hours; after that it would make a second
transfer. So the transfer made with the caller's key is looked for first (its metadata holds
the key), within `IDEMPOTENCY_LOOKBACK_DAYS`, and a retry returns it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connect_backend import log
from connect_backend.errors import BadRequest, Conflict
from connect_backend.money import FeeSplit
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.types import Transfer


async def send(
    *,
    organization_id: str,
    account_id: str,
    split: FeeSplit,
    currency: str,
    caller_key: str,
    gateway: StripeGateway,
    lookback: timedelta,
    source_transaction: str | None = None,
    transfer_group: str | None = None,
    description: str | None = None,
) -> Transfer:
    """Transfer `split.net` to the account, or return the transfer made with this key."""
    if split.net <= 0:
        raise BadRequest(
            "Nothing is left to transfer after the platform fee.", code="amount_too_small"
        )
    earlier = await gateway.find_transfer(
        organization_id=organization_id,
        account_id=account_id,
        caller_key=caller_key,
        since=datetime.now(UTC) - lookback,
    )
    if earlier is not None:
        if (earlier.amount, earlier.currency, earlier.gross_amount) != (
            split.net,
            currency,
            split.gross,
        ):
            raise Conflict(
                "This Idempotency-Key was already used for another transfer.",
                code="idempotency_conflict",
            )
        log.info("connect.transfer.replayed", transfer_id=earlier.id)
        return earlier
    return await gateway.create_transfer(
        organization_id=organization_id,
        account_id=account_id,
        split=split,
        currency=currency,
        caller_key=caller_key,
        source_transaction=source_transaction,
        transfer_group=transfer_group,
        description=description,
    )
