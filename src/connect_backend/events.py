"""What each verified Stripe event does to D1.

The answer to Stripe is 2xx only once D1 holds the result; when the Worker or Stripe fails
the error propagates (5xx) and Stripe delivers again. Handling an event twice, or out of order,
changes nothing: the account is always re-read from Stripe and D1 keeps the newest view
(`synced_at`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from connect_backend import accounts, log, reversals
from connect_backend.domain import DEAUTHORIZED, WebhookOutcome
from connect_backend.errors import BadRequest
from connect_backend.money import RefundFeePolicy
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.webhooks import Event
from connect_backend.worker import WorkerClient

ACCOUNT_EVENTS = ("account.updated", "capability.updated")
ACCOUNT_EVENT_PREFIXES = ("account.external_account.", "person.")
DEAUTHORIZED_EVENT = "account.application.deauthorized"
REFUND_EVENTS = ("charge.refunded", "refund.created", "refund.updated")
"""A charge of the platform's was refunded: its transfers give back each refund's share."""
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.closed",
    "charge.dispute.funds_reinstated",
)
"""A charge of the platform's is disputed, or its dispute closed: its transfers follow."""
PAYOUT_EVENTS = ("payout.failed", "payout.paid")
"""An organization's payout failed (its settings page says so) or, later, one was paid."""

Outcome = WebhookOutcome


async def handle(
    event: Event,
    *,
    livemode: bool,
    worker: WorkerClient,
    gateway: StripeGateway,
    refund_fee_policy: RefundFeePolicy = "proportional",
) -> Outcome:
    """Bring D1 up to date with what `event` announces; what was done."""
    fields = {"event_id": event.id, "event_type": event.type, "account_id": event.account_id}
    if event.livemode != livemode:
        log.info("webhook.ignored.livemode", **fields)
        return "ignored"
    if event.type in REFUND_EVENTS or event.type in DISPUTE_EVENTS:
        return await _money_back(event, gateway=gateway, worker=worker, policy=refund_fee_policy)
    if event.type in PAYOUT_EVENTS and event.account_id is not None:
        return await _payout_outcome(event, event.account_id, worker=worker, gateway=gateway)
    account_id = event.account_id
    about_account = event.type in ACCOUNT_EVENTS or event.type.startswith(ACCOUNT_EVENT_PREFIXES)
    if account_id is None or not (about_account or event.type == DEAUTHORIZED_EVENT):
        obj = event.object
        log.info(
            "webhook.logged",
            **fields,
            amount=obj.get("amount"),
            currency=obj.get("currency"),
            object_id=obj.get("id"),
        )
        return "logged"
    if event.type == DEAUTHORIZED_EVENT:
        organization = await worker.get_organization_by_account(account_id)
        if organization is None:
            log.warning("webhook.unlinked", **fields)
            return "unlinked"
        log.organization_id.set(organization.id)
        # Stamped with the service's clock, like every other view (one clock orders the
        # writes); D1 keeps a deauthorization whatever a later view's stamp says.
        await accounts.store_onboarding(
            organization, account_id, DEAUTHORIZED, datetime.now(UTC), worker=worker
        )
        log.info("webhook.deauthorized", **fields)
        return "deauthorized"
    if await accounts.sync_from_event(account_id, worker=worker, gateway=gateway) is None:
        log.warning("webhook.unlinked", **fields)
        return "unlinked"
    log.info("webhook.synced", **fields)
    return "synced"


async def _money_back(
    event: Event, *, gateway: StripeGateway, worker: WorkerClient, policy: RefundFeePolicy
) -> Outcome:
    """A refund or a dispute of one of the platform's charges: the charge's transfers are
    brought to what Stripe's objects, re-read, say is owed back (`reversals`); a charge with no
    transfers is acknowledged and logged."""
    obj = event.object
    fields = {"event_id": event.id, "event_type": event.type}
    if event.type in DISPUTE_EVENTS:
        dispute_id = obj.get("id") if obj.get("object") == "dispute" else None
        if not isinstance(dispute_id, str):
            log.warning("webhook.logged.unreadable", **fields)
            return "logged"
        done = await reversals.on_dispute(dispute_id, gateway=gateway, worker=worker, policy=policy)
    else:
        charge_id = obj.get("id") if obj.get("object") == "charge" else obj.get("charge")
        if event.type != "charge.refunded" and obj.get("status") != "succeeded":
            log.info("webhook.logged.refund_not_succeeded", **fields, status=obj.get("status"))
            return "logged"
        if not isinstance(charge_id, str):
            log.warning("webhook.logged.unreadable", **fields)
            return "logged"
        done = await reversals.on_refunds(charge_id, gateway=gateway, worker=worker, policy=policy)
    log.info("webhook.money_back", **fields, reversals=len(done))
    return "reversed" if done else "logged"


async def _payout_outcome(
    event: Event, account_id: str, *, worker: WorkerClient, gateway: StripeGateway
) -> Outcome:
    """A payout failed, or one was paid: D1 keeps the last failure for the settings page's
    banner until a payout made after it is paid (the Worker compares the payouts' `created`,
    so events in any order converge). The payout is re-read from Stripe; no money moves."""
    fields = {"event_id": event.id, "event_type": event.type, "account_id": account_id}
    payout_id = event.object.get("id")
    organization = await worker.get_organization_by_account(account_id)
    if organization is None or not isinstance(payout_id, str):
        log.warning("webhook.unlinked", **fields)
        return "unlinked"
    log.organization_id.set(organization.id)
    try:
        payout = await gateway.retrieve_payout(account_id, payout_id)
    except BadRequest as refused:
        if refused.code != "resource_missing":
            raise
        log.warning("webhook.logged.payout_missing", **fields)
        return "logged"
    if payout.status not in ("failed", "paid") or payout.created is None:
        log.info("webhook.logged.payout", **fields, status=payout.status)
        return "logged"
    await worker.record_payout_outcome(
        organization_id=organization.id,
        payout_id=payout.id,
        outcome="failed" if payout.status == "failed" else "paid",
        payout_created=payout.created,
        failure_code=payout.failure_code,
        failure_message=payout.failure_message,
    )
    log.info("webhook.payout_recorded", **fields, payout_id=payout.id, status=payout.status)
    return "synced"
