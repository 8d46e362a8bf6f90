"""`reconcile --money`: what came back from organizations checked against the refund policy,
and open claims settled by reversal where a balance now exists.

A run does two things, in this order:

1. **Settles open claims by reversal** (not with `--dry-run`), first in, first out: for each
   open claim, what the organization's available balance and the claim's transfer allow is
   reversed (metadata `cause=claim`, `cause_id` the claim) and recorded against the claim
   under the reversal's id. A reversal made for the claim but not recorded (a run that stopped
   half-way) is found on the transfer and recorded first, so a claim is never settled twice.
2. **Checks every charge** the platform made since `--since` (Stripe's `created[gte]` list,
   then each charge's refunds and disputes, and its transfer groups): for each transfer paid
   from it, what the policy says the organization owes back (`reversals.refund_shares` for the
   refunds; `reversals.dispute_share` for an open or lost dispute, counted after the refunds,
   nothing for a won one) against what was taken (reversals for refunds and disputes, less
   money a won dispute gave back, plus claims recorded for them, less what a won dispute
   waived). Each transfer where they differ is printed, and the run exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connect_backend import log, reversals
from connect_backend.domain import Charge, Claim, Dispute, Refund, Reversal, Transfer
from connect_backend.errors import Conflict, ConnectError
from connect_backend.money import RefundFeePolicy
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient

MAX_CHARGE_PAGES = 1000
"""How many pages of charges (100 each) one run reads at most: a window longer than that is
refused (Stripe's failure) rather than checked in part."""


@dataclass(frozen=True, slots=True)
class TransferCheck:
    """One transfer paid from a charge: what the policy says it owes back, and what was taken."""

    charge_id: str
    transfer_id: str
    organization_id: str | None
    currency: str
    charged: int
    refunded: int
    disputed: int
    earned: int
    owed: int
    reversed: int
    claimed: int

    @property
    def matches(self) -> bool:
        """Whether what was taken back (reversed or claimed) is what is owed."""
        return self.owed == self.reversed + self.claimed

    def line(self) -> str:
        """The check as one line."""
        return (
            f"mismatch charge={self.charge_id} transfer={self.transfer_id} "
            f"organization={self.organization_id} currency={self.currency} "
            f"charged={self.charged} refunded={self.refunded} disputed={self.disputed} "
            f"earned={self.earned} owed={self.owed} reversed={self.reversed} "
            f"claimed={self.claimed}"
        )


@dataclass(slots=True)
class MoneyReport:
    """What one `reconcile --money` run found and did."""

    charges: int = 0
    checked: list[TransferCheck] = field(default_factory=list)
    claims_settled: list[tuple[str, str, int]] = field(default_factory=list)
    """(claim, reversal, amount) for each settlement this run made."""
    claims_failed: list[str] = field(default_factory=list)
    """Claims whose settlement failed (the Worker or Stripe did not answer): the next run's."""
    dry_run: bool = False

    @property
    def mismatches(self) -> list[TransferCheck]:
        """The transfers whose organization's net does not match the policy."""
        return [c for c in self.checked if not c.matches]

    @property
    def exit_status(self) -> int:
        """0 when every transfer matched and every claim could be tried, else 1."""
        return 1 if self.mismatches or self.claims_failed else 0

    def lines(self) -> list[str]:
        """The summary: one line per mismatch, then the totals."""
        settled = sum(amount for _, _, amount in self.claims_settled)
        return [
            *(c.line() for c in self.mismatches),
            f"money: {self.charges} charges, {len(self.checked)} transfers checked, "
            f"{len(self.mismatches)} mismatches; "
            + (
                "claims not settled (dry run)"
                if self.dry_run
                else f"{len(self.claims_settled)} claim settlements by reversal ({settled})"
            )
            + (f"; {len(self.claims_failed)} claims failed" if self.claims_failed else ""),
        ]


async def reconcile_money(
    *,
    worker: WorkerClient,
    gateway: StripeGateway,
    since: datetime,
    policy: RefundFeePolicy,
    dry_run: bool = False,
) -> MoneyReport:
    """One run (see the module's doc)."""
    report = MoneyReport(dry_run=dry_run)
    if not dry_run:
        await settle_claims(report, worker=worker, gateway=gateway)
    claims_of: dict[str, list[Claim]] = {}
    for charge in await gateway.charges_since(since, max_pages=MAX_CHARGE_PAGES):
        report.charges += 1
        paid, returns = await _group(charge, gateway=gateway)
        if not paid:
            continue
        refunds = await gateway.refunds_of(charge.id) if charge.amount_refunded else []
        disputes = await gateway.disputes_of(charge.id) if charge.disputed else []
        for transfer in paid:
            organization = await worker.get_organization_by_account(transfer.destination)
            claims: list[Claim] = []
            if organization is not None:
                if organization.id not in claims_of:
                    claims_of[organization.id] = await _all_claims(organization.id, worker)
                claims = [c for c in claims_of[organization.id] if c.transfer_id == transfer.id]
            report.checked.append(
                await _check(
                    transfer,
                    charge,
                    refunds,
                    disputes,
                    claims,
                    returns,
                    organization_id=organization.id if organization else None,
                    policy=policy,
                    gateway=gateway,
                )
            )
    for mismatch in report.mismatches:
        log.error(
            "reconcile.money.mismatch",
            charge_id=mismatch.charge_id,
            transfer_id=mismatch.transfer_id,
            owed=mismatch.owed,
            reversed=mismatch.reversed,
            claimed=mismatch.claimed,
        )
    return report


async def _group(
    charge: Charge, *, gateway: StripeGateway
) -> tuple[list[Transfer], list[Transfer]]:
    """The charge's transfers: those paid from it, and those returning what a won dispute
    reinstated."""
    found: dict[str, Transfer] = {}
    for group in dict.fromkeys(g for g in (charge.transfer_group, charge.id) if g):
        for transfer in await gateway.transfers_in_group(group):
            found.setdefault(transfer.id, transfer)
    paid = [t for t in found.values() if t.returns_for is None]
    returns = [t for t in found.values() if t.returns_for is not None]
    return paid, returns


async def _check(
    transfer: Transfer,
    charge: Charge,
    refunds: list[Refund],
    disputes: list[Dispute],
    claims: list[Claim],
    returns: list[Transfer],
    *,
    organization_id: str | None,
    policy: RefundFeePolicy,
    gateway: StripeGateway,
) -> TransferCheck:
    owed_for_refunds = sum(
        reversals.refund_shares(transfer, charge, refunds, policy=policy).values()
    )
    taking = [d for d in disputes if reversals.takes_back(d)]
    owed_for_disputes = sum(
        reversals.dispute_share(transfer, charge, refunds, d, policy=policy) for d in taking
    )
    held = await _reversals(transfer, gateway=gateway)
    reversed_ = sum(r.amount for r in held if r.cause in ("refund", "dispute"))
    given_back = sum(
        t.amount for t in returns if t.returns_for == transfer.id and t.returns_cause_id
    )
    claimed = sum(
        c.amount - sum(s.amount for s in c.settlements if s.kind == "waived")
        for c in claims
        if c.cause in ("refund", "dispute")
    )
    return TransferCheck(
        charge_id=charge.id,
        transfer_id=transfer.id,
        organization_id=organization_id,
        currency=transfer.currency,
        charged=charge.amount,
        refunded=sum(r.amount for r in refunds if r.status == "succeeded"),
        disputed=sum(d.amount for d in taking),
        earned=transfer.earned,
        owed=min(owed_for_refunds + owed_for_disputes, transfer.earned),
        reversed=reversed_ - given_back,
        claimed=claimed,
    )


async def _reversals(transfer: Transfer, *, gateway: StripeGateway) -> list[Reversal]:
    if transfer.reversals_complete:
        return list(transfer.reversals)
    return await gateway.reversals_of(transfer.id)


async def _all_claims(organization_id: str | None, worker: WorkerClient) -> list[Claim]:
    """Every claim (of one organization; of every one's open ones with None), first in,
    first out."""
    return [
        c
        async for c in worker.every_claim(
            organization_id=organization_id,
            state="all" if organization_id is not None else "open",
        )
    ]


async def settle_claims(
    report: MoneyReport, *, worker: WorkerClient, gateway: StripeGateway
) -> None:
    """Settle open claims by reversal, first in, first out, as far as each organization's
    available balance allows (see the module's doc); a claim that fails is left for the next
    run."""
    for claim in await _all_claims(None, worker):
        try:
            report.claims_settled.extend(
                await _settle_by_reversal(claim, worker=worker, gateway=gateway)
            )
        except ConnectError as failed:
            log.error("reconcile.money.claim_failed", claim_id=claim.id, code=failed.code)
            report.claims_failed.append(claim.id)


async def _settle_by_reversal(
    claim: Claim, *, worker: WorkerClient, gateway: StripeGateway
) -> list[tuple[str, str, int]]:
    settled: list[tuple[str, str, int]] = []
    transfer = await gateway.retrieve_transfer(claim.transfer_id)
    if transfer is None:
        log.error("reconcile.money.claim_transfer_missing", claim_id=claim.id)
        return settled
    open_ = claim.open
    recorded = {s.key for s in claim.settlements}
    # A reversal this claim made in a run that stopped before recording it.
    for found in await _reversals(transfer, gateway=gateway):
        if (found.cause, found.cause_id) == ("claim", claim.id) and found.id not in recorded:
            part = min(found.amount, open_)
            if part > 0:
                await worker.settle_claim(claim.id, key=found.id, amount=part, kind="reversal")
                settled.append((claim.id, found.id, part))
                open_ -= part
    if open_ <= 0:
        return settled
    balance = await gateway.retrieve_balance(transfer.destination)
    available = sum(m.amount for m in balance.available if m.currency == claim.currency)
    part = min(open_, available, transfer.reversible)
    if part <= 0:
        return settled
    try:
        made = await gateway.reverse_transfer(
            transfer_id=transfer.id,
            amount=part,
            cause="claim",
            cause_id=claim.id,
            key=f"claim:{claim.id}:{claim.amount - open_}",
        )
    except Conflict as refused:
        if refused.code != "balance_insufficient":
            raise
        return settled
    await worker.settle_claim(claim.id, key=made.id, amount=part, kind="reversal")
    log.info("reconcile.money.claim_settled", claim_id=claim.id, reversal_id=made.id)
    settled.append((claim.id, made.id, part))
    return settled
