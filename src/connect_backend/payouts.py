"""Paying an organization's money out to its bank, once per `Idempotency-Key`."""

from __future__ import annotations

from connect_backend import log
from connect_backend.errors import Conflict
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.types import Payout

# What a retry of a payout that went through meets: the balance it emptied, or its own key.
_REPLAYABLE_REFUSALS = ("insufficient_balance", "idempotency_conflict")


async def pay_out(
    *,
    organization_id: str,
    account_id: str,
    currency: str,
    amount: int | None,
    caller_key: str,
    gateway: StripeGateway,
) -> Payout:
    """Pay out `amount`, or all that is available in `currency`.

    A retry with the same key returns the first payout, even when the balance it emptied now
    reads zero: the payout made with that key is looked up before refusing.
    """
    available = (await gateway.retrieve_balance(account_id)).available_in(currency)
    wanted = amount if amount is not None else available
    try:
        if wanted <= 0 or wanted > available:
            raise Conflict(
                f"Not enough available balance in {currency} for this payout.",
                code="insufficient_balance",
            )
        return await gateway.create_payout(
            organization_id=organization_id,
            account_id=account_id,
            amount=wanted,
            currency=currency,
            caller_key=caller_key,
        )
    except Conflict as refused:
        if refused.code not in _REPLAYABLE_REFUSALS:
            raise
        earlier = await gateway.find_payout(account_id=account_id, caller_key=caller_key)
        if earlier is None:
            raise
        if earlier.currency != currency or amount not in (None, earlier.amount):
            raise Conflict(
                "This Idempotency-Key was already used for another payout.",
                code="idempotency_conflict",
            ) from None
        log.info("connect.payout.replayed", payout_id=earlier.id)
        return earlier
