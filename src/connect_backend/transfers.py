"""Sending platform money to an organization, once per `Idempotency-Key`, however late the
retry (`connect_backend.idempotency`).

What the caller sent is the request; the fee split decided from today's fee is the decision,
recorded with the key. A retry of the same request answers the transfer made from the first
decision, even after the fee changed; the same key with anything else sent differently is 409.

What the organization still owes (its open claims in the currency, first in, first out) is
settled from the net before anything is sent: the decision names each claim and how much of it,
the settlements are recorded in D1 under the transfer's key before Stripe is asked (so a second
transfer cannot settle the same part), and undone if Stripe refuses the transfer. A transfer
whose whole net settles claims sends nothing to Stripe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from connect_backend import idempotency, log
from connect_backend.errors import BadRequest, ClaimExceeded, Conflict, ConnectError
from connect_backend.money import FeeSplit
from connect_backend.stripe_gateway import StripeGateway, idempotency_key
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
class ClaimSettled:
    """Part of a claim settled from a transfer's net instead of being sent."""

    claim_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class TransferMade:
    """The transfer and the split it was made with (the first attempt's, on a retry).

    `net` is what the organization earned (gross less fee); of it, `claims` settled what it
    owed, and `sent` went to Stripe (`transfer_id` is None when nothing was left to send)."""

    transfer_id: str | None
    account_id: str
    currency: str
    gross: int
    fee: int
    net: int
    percent: str
    sent: int
    claims: tuple[ClaimSettled, ...]

    @property
    def claims_settled(self) -> int:
        """What of the net settled claims."""
        return sum(c.amount for c in self.claims)


async def send(
    request: TransferRequest,
    *,
    account_id: str,
    split: FeeSplit,
    caller_key: str,
    gateway: StripeGateway,
    worker: WorkerClient,
) -> TransferMade:
    """Transfer `split.net` less the organization's open claims to the account, or answer the
    transfer made with this key."""
    if split.net <= 0:
        raise BadRequest(
            "Nothing is left to transfer after the platform fee.", code="amount_too_small"
        )
    claims = await _claims_to_settle(
        request.organization_id, request.currency, split.net, worker=worker
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
        "claims": [asdict(c) for c in claims],
        "sent": split.net - sum(c.amount for c in claims),
    }
    # The transfer's own Stripe key (hashed where the caller's key would make it too long).
    settlement_key = idempotency_key("transfer", request.organization_id, caller_key)

    async def make(decided: Mapping[str, Any]) -> str:
        settled = _settled(decided)
        await _settle(request.organization_id, settled, settlement_key, worker=worker)
        if not settled:
            return await _create(decided)
        if _sent(decided) == 0:
            # Everything the organization earned settled what it owed: nothing goes to Stripe,
            # and the record names the first claim it settled.
            return settled[0].claim_id
        try:
            return await _create(decided)
        except ConnectError as failed:
            if idempotency.refused(failed):
                # Nothing was sent: the claims it was to settle are owed again.
                await worker.release_claim_settlements(
                    organization_id=request.organization_id, key=settlement_key
                )
            raise

    async def _create(decided: Mapping[str, Any]) -> str:
        made = await gateway.create_transfer(
            organization_id=request.organization_id,
            account_id=decided["account_id"],
            amount=_sent(decided),
            currency=decided["currency"],
            gross=decided["gross"],
            fee=decided["fee"],
            percent=decided["percent"],
            claims_settled=decided["net"] - _sent(decided),
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
    settled = _settled(decided)
    sent = _sent(decided)
    return TransferMade(
        transfer_id=made.object_id if sent > 0 else None,
        account_id=decided["account_id"],
        currency=decided["currency"],
        gross=decided["gross"],
        fee=decided["fee"],
        net=decided["net"],
        percent=decided["percent"],
        sent=sent,
        claims=tuple(settled),
    )


def _settled(decided: Mapping[str, Any]) -> list[ClaimSettled]:
    # Records made before claims existed decided none.
    return [ClaimSettled(str(c["claim_id"]), int(c["amount"])) for c in decided.get("claims", ())]


def _sent(decided: Mapping[str, Any]) -> int:
    return int(decided.get("sent", decided["net"]))


async def _claims_to_settle(
    organization_id: str, currency: str, net: int, *, worker: WorkerClient
) -> list[ClaimSettled]:
    """The organization's open claims in `currency`, first in, first out, as far as `net`
    covers them."""
    left = net
    taken: list[ClaimSettled] = []
    async for claim in worker.every_claim(
        organization_id=organization_id, state="open", currency=currency
    ):
        part = min(claim.open, left)
        if part > 0:
            taken.append(ClaimSettled(claim.id, part))
            left -= part
        if left == 0:
            break
    return taken


async def _settle(
    organization_id: str, settled: list[ClaimSettled], key: str, *, worker: WorkerClient
) -> None:
    """Record each settlement under the transfer's key (a retry's are no-ops). When another
    transfer or reconcile settled a claim meanwhile, what this one recorded is undone and the
    caller is told to retry: a fresh decision sees the claims as they are."""
    for part in settled:
        try:
            await worker.settle_claim(part.claim_id, key=key, amount=part.amount, kind="transfer")
        except ClaimExceeded:
            await worker.release_claim_settlements(organization_id=organization_id, key=key)
            log.warning("connect.transfer.claims_changed", claim_id=part.claim_id)
            raise Conflict(
                "The organization's claims changed while this transfer was decided; nothing was "
                "sent. Send it again with the same Idempotency-Key.",
                code="claims_changed",
            ) from None
