"""Money comes back: a transfer reversed by hand, or by the refunds and disputes of the charge it
was made from.

Every reversal is keyed on what caused it and the transfer (`refund:{refund}:{transfer}`,
`dispute:{dispute}:{transfer}`, or the caller's `Idempotency-Key` for a manual one), so a
retry, a redelivered or reordered event, or a second replica replays it instead of taking
money twice. Each refund's share is computed from Stripe's own objects, re-read, never from an
event's payload and never from today's fee:

    share(refund r) = clawback(refunded before r and r) - clawback(refunded before r)

over the charge's refunds in Stripe's order (created, id), so the shares of several partial
refunds telescope to exactly `clawback(all refunded)` — the whole net at a full refund —
whatever order their events arrive in (`money.clawback`, contract/clawback.json).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connect_backend import idempotency, log
from connect_backend.domain import Charge, Dispute, Refund, Reversal, Transfer
from connect_backend.errors import Conflict, NotFound
from connect_backend.money import RefundFeePolicy, clawback
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient

_UNDONE = ("failed", "canceled")
"""Refunds that gave nothing back (they take nothing from the organization)."""
DISPUTE_WON = "won"


@dataclass(frozen=True, slots=True)
class ManualReversal:
    """A reversal made by hand, and the transfer's totals after it."""

    reversal_id: str
    transfer: Transfer
    amount: int
    amount_reversed: int


async def reverse_by_hand(
    transfer: Transfer,
    *,
    organization_id: str,
    amount: int | None,
    reason: str | None,
    caller_key: str,
    gateway: StripeGateway,
    worker: WorkerClient,
) -> ManualReversal:
    """Take back `amount` of the transfer (all that remains without one), once per key."""
    remaining = transfer.amount - transfer.amount_reversed
    wanted = remaining if amount is None else amount
    request = {"transfer_id": transfer.id, "amount": amount, "reason": reason}
    decision = {"transfer_id": transfer.id, "amount": wanted}

    async def make(decided: Mapping[str, Any]) -> str:
        taken = int(decided["amount"])
        if taken <= 0 or taken > remaining:
            raise Conflict(
                f"The transfer has {remaining} left to reverse; {taken} cannot be taken back.",
                code="reversal_exceeds_transfer",
            )
        made = await gateway.reverse_transfer(
            transfer_id=transfer.id,
            amount=taken,
            cause="manual",
            cause_id=caller_key,
            key=f"manual:{organization_id}:{caller_key}",
            description=reason,
        )
        return made.id

    made = await idempotency.once(
        worker=worker,
        organization_id=organization_id,
        operation="reversal",
        key=caller_key,
        request=request,
        decision=decision,
        make=make,
    )
    after = require_platform_transfer(await gateway.retrieve_transfer(transfer.id))
    return ManualReversal(
        reversal_id=made.object_id,
        transfer=after,
        amount=int(made.decision["amount"]),
        amount_reversed=after.amount_reversed,
    )


async def charge_transfers(charge: Charge, *, gateway: StripeGateway) -> list[Transfer]:
    """The platform's transfers made from `charge`: its own group's, and those grouped under
    the charge's id (the group the service gives a transfer named by `source_transaction`)."""
    groups = dict.fromkeys(g for g in (charge.transfer_group, charge.id) if g)
    found: dict[str, Transfer] = {}
    for group in groups:
        for transfer in await gateway.transfers_in_group(group):
            found.setdefault(transfer.id, transfer)
    return list(found.values())


def refund_shares(
    transfer: Transfer, charge: Charge, refunds: Iterable[Refund], *, policy: RefundFeePolicy
) -> dict[str, int]:
    """What each succeeded refund takes back from the transfer (see the module's doc); a
    refund still pending counts as refunded before the ones after it, so the shares add up
    whatever order the refunds succeed in."""
    shares: dict[str, int] = {}
    before = 0
    for refund in sorted(refunds, key=lambda r: (r.created, r.id)):
        if refund.status in _UNDONE:
            continue
        if refund.status == "succeeded":
            shares[refund.id] = _owed(transfer, charge, before + refund.amount, policy) - _owed(
                transfer, charge, before, policy
            )
        before += refund.amount
    return shares


def _owed(transfer: Transfer, charge: Charge, taken_back: int, policy: RefundFeePolicy) -> int:
    return clawback(
        net=transfer.amount,
        charged=charge.amount,
        taken_back=min(taken_back, charge.amount),
        policy=policy,
    )


async def on_refunds(
    charge_id: str, *, gateway: StripeGateway, policy: RefundFeePolicy
) -> list[Reversal]:
    """Reverse each transfer made from the charge by each succeeded refund's share."""
    charge = await gateway.retrieve_charge(charge_id)
    refunds = await gateway.refunds_of(charge_id)
    made: list[Reversal] = []
    for transfer in await charge_transfers(charge, gateway=gateway):
        for refund_id, share in refund_shares(transfer, charge, refunds, policy=policy).items():
            if share > 0:
                made.append(
                    await gateway.reverse_transfer(
                        transfer_id=transfer.id,
                        amount=share,
                        cause="refund",
                        cause_id=refund_id,
                        key=f"refund:{refund_id}:{transfer.id}",
                    )
                )
    if not made:
        log.info("connect.refund.nothing_to_reverse", charge_id=charge_id)
    return made


async def on_dispute(
    dispute_id: str, *, gateway: StripeGateway, policy: RefundFeePolicy
) -> list[str]:
    """Bring the charge's transfers to what the dispute, as Stripe holds it now, asks: its
    share reversed while it is open or lost; when it is won, what its reversal took sent back
    as a new transfer keyed on the dispute (so a redelivery never pays twice)."""
    dispute = await gateway.retrieve_dispute(dispute_id)
    charge = await gateway.retrieve_charge(dispute.charge_id)
    done: list[str] = []
    for transfer in await charge_transfers(charge, gateway=gateway):
        if dispute.status == DISPUTE_WON:
            done.extend(await _give_back(transfer, dispute, gateway=gateway))
            continue
        share = _owed(transfer, charge, dispute.amount, policy)
        if share > 0:
            reversal = await gateway.reverse_transfer(
                transfer_id=transfer.id,
                amount=share,
                cause="dispute",
                cause_id=dispute.id,
                key=f"dispute:{dispute.id}:{transfer.id}",
            )
            done.append(reversal.id)
    return done


async def _give_back(transfer: Transfer, dispute: Dispute, *, gateway: StripeGateway) -> list[str]:
    taken = sum(
        r.amount
        for r in await gateway.reversals_of(transfer.id)
        if r.cause == "dispute" and r.cause_id == dispute.id
    )
    if taken <= 0:
        return []
    back = await gateway.return_to_destination(
        transfer=transfer, amount=taken, key=f"dispute-won:{dispute.id}:{transfer.id}"
    )
    return [back.id]


def require_platform_transfer(transfer: Transfer | None) -> Transfer:
    """404 for a transfer that is not the platform's."""
    if transfer is None:
        raise NotFound("No such transfer of the platform's.", code="transfer_not_found")
    return transfer
