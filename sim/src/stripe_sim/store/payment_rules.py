"""Money coming back: the platform's fees and the limits on refunds, disputes and reversals.

Pure rules, each with the page it comes from; sim/README.md lists them with their answers.

- https://stripe.com/pricing: card payments cost 2.9 % + 30 (minor units of the charge's
  currency here); a dispute costs 15.00. Refunds do not return the processing fee
  (https://docs.stripe.com/refunds: a refund "might incur a fee"; the fee of the payment
  stays with Stripe).
- https://docs.stripe.com/refunds: several refunds per charge, never more in total than the
  charge; https://docs.stripe.com/error-codes: ``charge_already_refunded``,
  ``charge_disputed``.
- https://docs.stripe.com/api/transfer_reversals/create: a reversal takes at most what is
  left of the transfer (the whole rest by default); a fully reversed transfer cannot be
  reversed again.
- https://docs.stripe.com/api/transfer_reversals: a transfer_group transfer is reversed only
  if the destination account's balance covers the reversal.
"""

from __future__ import annotations

from stripe_sim.errors import StripeError, invalid_request
from stripe_sim.store.records import Json

PROCESSING_FEE_PERMILLE = 29  # 2.9 %
PROCESSING_FEE_FIXED = 30
DISPUTE_FEE = 1500


def processing_fee(amount: int) -> int:
    """Stripe's card processing fee on a charge: 2.9 % (rounded half up) + 30."""
    return (amount * PROCESSING_FEE_PERMILLE + 500) // 1000 + PROCESSING_FEE_FIXED


def refund_amount(charge: Json, wanted: int | None, *, disputed: bool) -> int:
    """What a refund of ``charge`` takes: ``wanted``, or all that is left; else Stripe's 400."""
    if disputed:
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    left = charge["amount"] - charge["amount_refunded"]
    if left <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = left if wanted is None else wanted
    if amount > left:
        raise invalid_request(
            f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded "
            f"amount on charge ({_money(left, charge['currency'])})",
            param="amount",
        )
    return amount


def source_charge_room(charge: Json, already_transferred: int, amount: int) -> None:
    """A transfer from a charge (``source_transaction``) takes at most what the charge leaves:
    its amount, less what was refunded and what earlier transfers from it took."""
    left = charge["amount"] - charge["amount_refunded"] - already_transferred
    if amount > left:
        raise invalid_request(
            f"The transfer amount ({_money(amount, charge['currency'])}) exceeds what is left "
            f"of the source transaction {charge['id']} ({_money(max(left, 0), charge['currency'])}"
            ").",
            param="amount",
        )


def reversal_amount(transfer: Json, wanted: int | None) -> int:
    """What a reversal of ``transfer`` takes: ``wanted``, or all that is left."""
    left = transfer["amount"] - transfer["amount_reversed"]
    if left <= 0:
        raise invalid_request(
            f"Transfer {transfer['id']} has already been fully reversed.", param="amount"
        )
    amount = left if wanted is None else wanted
    if amount > left:
        raise invalid_request(
            f"Reversal amount ({_money(amount, transfer['currency'])}) is greater than the "
            f"unreversed amount on transfer {transfer['id']} "
            f"({_money(left, transfer['currency'])}).",
            param="amount",
        )
    return amount


def destination_cannot_cover(account_id: str, transfer_id: str) -> StripeError:
    """The destination's available balance does not cover the reversal."""
    return invalid_request(
        f"Insufficient funds in the connected account {account_id} to reverse transfer "
        f"{transfer_id}: its available balance is lower than the reversal amount.",
        code="balance_insufficient",
        param="amount",
    )


def _money(amount: int, currency: str) -> str:
    """``$1.00`` for usd, ``12.50 eur`` otherwise (Stripe's refund message shows dollars)."""
    whole, cents = divmod(amount, 100)
    if currency == "usd":
        return f"${whole}.{cents:02d}"
    return f"{whole}.{cents:02d} {currency}"
