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
from connect_backend.domain import (
    Charge,
    Claim,
    ClaimCause,
    Dispute,
    Refund,
    Reversal,
    ReversalCause,
    Transfer,
)
from connect_backend.errors import Conflict, NotFound
from connect_backend.money import RefundFeePolicy, clawback
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient

CLAIM_PREFIX = "clm_"
"""What a claim's id starts with (the Worker's), where a reversal's would be Stripe's `trr_`."""
_UNDONE = ("failed", "canceled")
"""Refunds that gave nothing back (they take nothing from the organization)."""
DISPUTE_WON = "won"


@dataclass(frozen=True, slots=True)
class ManualReversal:
    """A reversal made by hand (or, when the organization's balance could not cover it, the
    claim recorded instead), and the transfer's totals after it."""

    reversal_id: str | None
    claim_id: str | None
    transfer: Transfer
    amount: int
    amount_reversed: int
    claimed: int


async def take_back(
    transfer: Transfer,
    *,
    organization_id: str,
    amount: int,
    cause: ClaimCause,
    cause_id: str,
    key: str,
    gateway: StripeGateway,
    worker: WorkerClient,
    description: str | None = None,
) -> str:
    """Take `amount` back for (cause, cause_id) from the transfer, once, however late the
    retry: a reversal as far as Stripe can make one, and what it cannot (the organization's
    balance cannot cover it because the money was paid out, or claims it settled were never
    sent) recorded as a claim in D1, never lost and never twice. The id of the reversal, or of
    the claim where one was recorded.

    Stripe replays a key for 24 hours only, and refunds and disputes are delivered for three
    days: so a reversal already made for this cause is found on the transfer itself (its
    metadata names the cause) before another is asked for, and a claim held for it stands."""
    held = await _claim_for(transfer, organization_id, cause, cause_id, worker=worker)
    if held is not None:
        return held.id
    made = await _reversal_for(transfer, cause, cause_id, gateway=gateway)
    if made is None:
        part = min(amount, transfer.reversible)
        if part > 0:
            try:
                made = await gateway.reverse_transfer(
                    transfer_id=transfer.id,
                    amount=part,
                    cause=cause,
                    cause_id=cause_id,
                    key=key,
                    description=description,
                )
            except Conflict as refused:
                if refused.code != "balance_insufficient":
                    raise
    short = amount - (made.amount if made is not None else 0)
    if short <= 0:
        assert made is not None  # amount > 0, so something was taken
        return made.id
    recorded = await worker.record_claim(
        organization_id=organization_id,
        amount=short,
        currency=transfer.currency,
        cause=cause,
        cause_id=cause_id,
        transfer_id=transfer.id,
    )
    log.warning(
        "connect.claim.recorded",
        claim_id=recorded.claim.id,
        transfer_id=transfer.id,
        amount=short,
        cause=cause,
        reversal_id=made.id if made is not None else None,
    )
    return recorded.claim.id


async def _reversal_for(
    transfer: Transfer, cause: ReversalCause, cause_id: str, *, gateway: StripeGateway
) -> Reversal | None:
    """The reversal of the transfer already made for (cause, cause_id), if any: from the
    reversals Stripe embeds in the transfer when they are all there, else listed."""
    held = (
        transfer.reversals
        if transfer.reversals_complete
        else await gateway.reversals_of(transfer.id)
    )
    return next((r for r in held if (r.cause, r.cause_id) == (cause, cause_id)), None)


async def _claim_for(
    transfer: Transfer,
    organization_id: str,
    cause: ClaimCause,
    cause_id: str,
    *,
    worker: WorkerClient,
) -> Claim | None:
    return next(
        (
            c
            for c in await _claims_on(transfer, organization_id, worker=worker)
            if (c.cause, c.cause_id) == (cause, cause_id)
        ),
        None,
    )


async def _claims_on(
    transfer: Transfer, organization_id: str, *, worker: WorkerClient
) -> list[Claim]:
    """The organization's claims on the transfer, from every page of its claims: one missed
    for being on a later page would let a reversal take twice."""
    return [
        c
        async for c in worker.every_claim(
            organization_id=organization_id, state="all", currency=transfer.currency
        )
        if c.transfer_id == transfer.id
    ]


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
    """Take back `amount` of the transfer (all that remains without one), once per key. What
    remains is what was sent less what was reversed and what is already claimed on it (a
    claim is money taken back too, only not yet collected)."""
    remaining = transfer.reversible - await claimed_on(transfer, organization_id, worker=worker)
    wanted = remaining if amount is None else amount
    request = {"transfer_id": transfer.id, "amount": amount, "reason": reason}
    decision = {"transfer_id": transfer.id, "amount": wanted, "remaining": remaining}

    async def make(decided: Mapping[str, Any]) -> str:
        # Checked against what remained when the key was first claimed: a retry that resumes
        # a first attempt Stripe may already have made sends the same request (Stripe replays
        # it), never refused for the reversal it made itself.
        taken, left = int(decided["amount"]), int(decided["remaining"])
        if taken <= 0 or taken > left:
            raise Conflict(
                f"The transfer has {left} left to reverse; {taken} cannot be taken back.",
                code="reversal_exceeds_transfer",
            )
        return await take_back(
            transfer,
            organization_id=organization_id,
            amount=taken,
            cause="manual",
            cause_id=caller_key,
            key=f"manual:{organization_id}:{caller_key}",
            gateway=gateway,
            worker=worker,
            description=reason,
        )

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
    claimed = made.object_id.startswith(CLAIM_PREFIX)
    return ManualReversal(
        reversal_id=None if claimed else made.object_id,
        claim_id=made.object_id if claimed else None,
        transfer=after,
        amount=int(made.decision["amount"]),
        amount_reversed=after.amount_reversed,
        claimed=await claimed_on(after, organization_id, worker=worker),
    )


async def claimed_on(transfer: Transfer, organization_id: str, *, worker: WorkerClient) -> int:
    """What the organization's claims on the transfer hold beyond what reversals of the
    transfer collected (those count in its `amount_reversed`) or a won dispute waived."""
    return sum(
        c.amount - sum(s.amount for s in c.settlements if s.kind in ("reversal", "waived"))
        for c in await _claims_on(transfer, organization_id, worker=worker)
    )


async def charge_transfers(charge: Charge, *, gateway: StripeGateway) -> list[Transfer]:
    """The platform's transfers made from `charge`: its own group's, and those grouped under
    the charge's id (the group the service gives a transfer named by `source_transaction`)."""
    groups = dict.fromkeys(g for g in (charge.transfer_group, charge.id) if g)
    found: dict[str, Transfer] = {}
    for group in groups:
        for transfer in await gateway.transfers_in_group(group):
            found.setdefault(transfer.id, transfer)
    # A transfer returning what a won dispute reinstated is in the group, but was not paid
    # from the charge: nothing is taken back from it.
    return [t for t in found.values() if t.returns_for is None]


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
            shares[refund.id] = owed(transfer, charge, before + refund.amount, policy) - owed(
                transfer, charge, before, policy
            )
        before += refund.amount
    return shares


def owed(transfer: Transfer, charge: Charge, taken_back: int, policy: RefundFeePolicy) -> int:
    """What the transfer's organization owes back once `taken_back` of the charge was refunded
    (or disputed): `money.clawback` of what it earned by the transfer."""
    return clawback(
        net=min(transfer.earned, charge.amount),
        charged=charge.amount,
        taken_back=min(taken_back, charge.amount),
        policy=policy,
    )


async def on_refunds(
    charge_id: str, *, gateway: StripeGateway, worker: WorkerClient, policy: RefundFeePolicy
) -> list[str]:
    """Take back from each transfer made from the charge each succeeded refund's share (a
    reversal, or a claim where the organization's balance cannot cover it)."""
    charge = await gateway.retrieve_charge(charge_id)
    refunds = await gateway.refunds_of(charge_id)
    done: list[str] = []
    for transfer, organization_id in await _linked(charge, gateway=gateway, worker=worker):
        for refund_id, share in refund_shares(transfer, charge, refunds, policy=policy).items():
            if share > 0:
                done.append(
                    await take_back(
                        transfer,
                        organization_id=organization_id,
                        amount=share,
                        cause="refund",
                        cause_id=refund_id,
                        key=f"refund:{refund_id}:{transfer.id}",
                        gateway=gateway,
                        worker=worker,
                    )
                )
    if not done:
        log.info("connect.refund.nothing_to_reverse", charge_id=charge_id)
    return done


async def _linked(
    charge: Charge, *, gateway: StripeGateway, worker: WorkerClient
) -> list[tuple[Transfer, str]]:
    """The charge's transfers to an account an organization holds, with that organization
    (a transfer to an account no organization holds is logged and left alone)."""
    linked: list[tuple[Transfer, str]] = []
    for transfer in await charge_transfers(charge, gateway=gateway):
        organization = await worker.get_organization_by_account(transfer.destination)
        if organization is None:
            log.warning("connect.reversal.unlinked", transfer_id=transfer.id)
            continue
        linked.append((transfer, organization.id))
    return linked


async def on_dispute(
    dispute_id: str, *, gateway: StripeGateway, worker: WorkerClient, policy: RefundFeePolicy
) -> list[str]:
    """Bring the charge's transfers to what the dispute, as Stripe holds it now, asks: its
    share reversed while it is open or lost; when it is won, what its reversal took sent back
    as a new transfer keyed on the dispute (so a redelivery never pays twice)."""
    dispute = await gateway.retrieve_dispute(dispute_id)
    charge = await gateway.retrieve_charge(dispute.charge_id)
    refunds = await gateway.refunds_of(charge.id) if charge.amount_refunded else []
    done: list[str] = []
    for transfer, organization_id in await _linked(charge, gateway=gateway, worker=worker):
        if dispute.status == DISPUTE_WON:
            done.extend(
                await _give_back(transfer, dispute, organization_id, gateway=gateway, worker=worker)
            )
            continue
        share = dispute_share(transfer, charge, refunds, dispute, policy=policy)
        if share > 0:
            done.append(
                await take_back(
                    transfer,
                    organization_id=organization_id,
                    amount=share,
                    cause="dispute",
                    cause_id=dispute.id,
                    key=f"dispute:{dispute.id}:{transfer.id}",
                    gateway=gateway,
                    worker=worker,
                )
            )
    return done


async def _give_back(
    transfer: Transfer,
    dispute: Dispute,
    organization_id: str,
    *,
    gateway: StripeGateway,
    worker: WorkerClient,
) -> list[str]:
    """A won dispute waives what its claim still held, and gives back what its reversal took
    and what its claim had already collected (settled from a later transfer's net, or by a
    reversal), as one new transfer in the group (found there, by its metadata, before another
    is made: Stripe forgets the key after 24 hours). Once the claim is waived nothing more
    settles it, so a redelivery computes the same amount."""
    done: list[str] = []
    claim = await _claim_for(transfer, organization_id, "dispute", dispute.id, worker=worker)
    if claim is not None and claim.open > 0:
        waived = await worker.settle_claim(
            claim.id, key=f"dispute-won:{dispute.id}", amount=claim.open, kind="waived"
        )
        log.info("connect.claim.waived", claim_id=claim.id, dispute_id=dispute.id)
        done.append(waived.claim.id)
        claim = waived.claim
    collected = (
        sum(s.amount for s in claim.settlements if s.kind != "waived") if claim is not None else 0
    )
    taken = await _reversal_for(transfer, "dispute", dispute.id, gateway=gateway)
    owed_back = (taken.amount if taken is not None else 0) + collected
    if owed_back <= 0:
        return done
    group = transfer.transfer_group
    returned = [
        t
        for t in (await gateway.transfers_in_group(group) if group is not None else [])
        if t.returns_for == transfer.id and t.returns_cause_id == dispute.id
    ]
    if returned:
        return [*done, returned[0].id]
    back = await gateway.return_to_destination(
        transfer=transfer,
        amount=owed_back,
        cause_id=dispute.id,
        key=f"dispute-won:{dispute.id}:{transfer.id}",
    )
    return [*done, back.id]


def dispute_share(
    transfer: Transfer,
    charge: Charge,
    refunds: Iterable[Refund],
    dispute: Dispute,
    *,
    policy: RefundFeePolicy,
) -> int:
    """What the dispute takes back from the transfer: like one more refund after the charge's
    refunds (a charge is refunded before it is disputed; Stripe takes no refund of a charge
    whose dispute is open or lost), `owed(refunded + disputed) - owed(refunded)`, so that
    refunds and a dispute together never take back more than the organization earned, nor
    drift by the rounding of each step. Nothing for a dispute won or an inquiry."""
    if not takes_back(dispute):
        return 0
    refunded = sum(r.amount for r in refunds if r.status not in _UNDONE)
    return owed(transfer, charge, refunded + dispute.amount, policy) - owed(
        transfer, charge, refunded, policy
    )


def takes_back(dispute: Dispute) -> bool:
    """Whether the dispute withdrew the disputed amount from the platform: a dispute open or
    lost, not one won, nor an inquiry (`warning_*`: Stripe withdraws nothing for those)."""
    return dispute.status != DISPUTE_WON and not dispute.status.startswith("warning_")


def require_platform_transfer(transfer: Transfer | None) -> Transfer:
    """404 for a transfer that is not the platform's."""
    if transfer is None:
        raise NotFound("No such transfer of the platform's.", code="transfer_not_found")
    return transfer
