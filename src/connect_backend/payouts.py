"""Paying an organization's money out to its bank, once per `Idempotency-Key`, however late
the retry.

The payout made with the caller's key is looked for first (its metadata holds the key),
within `IDEMPOTENCY_LOOKBACK_DAYS`: Stripe replays a key for 24 hours only, and a retry of a
payout that went through finds the balance it emptied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connect_backend import log
from connect_backend.errors import Conflict
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.types import Payout, SourceType

# What a retry racing its own first attempt meets: the balance it emptied, or its own key.
_REPLAYABLE_REFUSALS = ("insufficient_balance", "idempotency_conflict")


async def pay_out(
    *,
    organization_id: str,
    account_id: str,
    currency: str,
    amount: int | None,
    source_type: SourceType,
    caller_key: str,
    gateway: StripeGateway,
    lookback: timedelta,
) -> Payout:
    """Pay out `amount`, or all that is available in `currency` from `source_type`."""
    since = datetime.now(UTC) - lookback
    earlier = await gateway.find_payout(account_id=account_id, caller_key=caller_key, since=since)
    if earlier is not None:
        return _replay(earlier, currency=currency, amount=amount)
    available = (await gateway.retrieve_balance(account_id)).available_in(currency, source_type)
    wanted = amount if amount is not None else available
    try:
        if wanted <= 0 or wanted > available:
            raise Conflict(
                f"Not enough available balance in {currency} ({source_type}) for this payout.",
                code="insufficient_balance",
            )
        return await gateway.create_payout(
            organization_id=organization_id,
            account_id=account_id,
            amount=wanted,
            currency=currency,
            source_type=source_type,
            caller_key=caller_key,
        )
    except Conflict as refused:
        if refused.code not in _REPLAYABLE_REFUSALS:
            raise
        # A concurrent attempt with the same key may have paid out since the look above.
        earlier = await gateway.find_payout(
            account_id=account_id, caller_key=caller_key, since=since
        )
        if earlier is None:
            raise
        return _replay(earlier, currency=currency, amount=amount)


def _replay(earlier: Payout, *, currency: str, amount: int | None) -> Payout:
    if earlier.currency != currency or amount not in (None, earlier.amount):
        raise Conflict(
            "This Idempotency-Key was already used for another payout.",
            code="idempotency_conflict",
        )
    log.info("connect.payout.replayed", payout_id=earlier.id)
    return earlier
