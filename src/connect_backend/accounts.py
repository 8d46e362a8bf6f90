"""Connect flows shared by routes and webhooks: linking, syncing and viewing an account."""

from __future__ import annotations

from datetime import UTC, datetime

from connect_backend import log
from connect_backend.errors import AccountAlreadyLinked, AccountInaccessible, Conflict
from connect_backend.onboarding import DEAUTHORIZED, AccountSnapshot, Onboarding, derive_status
from connect_backend.schemas import Status
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import Organization, WorkerClient


def status_view(organization: Organization, account: AccountSnapshot | None = None) -> Status:
    """The status route's body: D1's view, with Stripe's live details when `account` is given."""
    return Status(
        organization_id=organization.id,
        account_id=organization.stripe_connect_account_id,
        status=organization.stripe_connect_status or "not_started",
        onboarding_step=organization.onboarding_step or "account_creation",
        rejection_reason=organization.onboarding_rejection_reason,
        charges_enabled=account.charges_enabled if account else None,
        payouts_enabled=account.payouts_enabled if account else None,
        details_submitted=account.details_submitted if account else None,
        requirements=account.requirements if account else None,
        platform_fee_percent=organization.platform_fee_percent,
        synced_at=organization.stripe_connect_synced_at,
    )


def require_account(organization: Organization) -> str:
    """The organization's Stripe account id; 409 `not_onboarded` without one."""
    if organization.stripe_connect_account_id is None:
        raise Conflict("The organization has not started Stripe onboarding.", code="not_onboarded")
    return organization.stripe_connect_account_id


async def link_new_account(
    organization: Organization,
    *,
    email: str,
    country: str,
    worker: WorkerClient,
    gateway: StripeGateway,
) -> Organization:
    """Create the organization's account at Stripe and link it in D1, race-safely.

    The same parameters replay the same Stripe account (deterministic idempotency key, not
    tied to the caller), so a retry after a lost D1 write — by the same admin or another —
    finds the first account. D1's compare-and-set lets exactly one account win; a loser made
    with other parameters (another country) is deleted at Stripe, and the winner is used.
    The caller's email is prefilled on the account that this call linked.
    """
    params = gateway.account_params(
        organization_id=organization.id, organization_name=organization.name, country=country
    )
    account = await gateway.create_account(params)
    request_id = log.request_id.get()
    try:
        result = await worker.create_connect_account(
            organization_id=organization.id, account_id=account.id, request_id=request_id
        )
    except AccountAlreadyLinked as exc:
        log.info("connect.account.lost_race", account_id=account.id)
        await gateway.delete_account(account.id)
        return exc.organization
    log.info("connect.account.linked", account_id=account.id, created=result.created)
    if result.created:
        await gateway.set_email(account.id, email)
    return result.organization


async def sync_account(
    organization: Organization,
    account_id: str,
    *,
    worker: WorkerClient,
    gateway: StripeGateway,
) -> tuple[Organization, AccountSnapshot | None]:
    """Read the account from Stripe, derive its status and store it in D1, in order.

    `synced_at` is taken before the read: the view includes every change Stripe made before
    it, so D1 keeps whichever stored view is newest, whatever order the writes arrive in.
    """
    seen_at = datetime.now(UTC)
    account: AccountSnapshot | None
    onboarding: Onboarding
    try:
        account = await gateway.retrieve_account(account_id)
    except AccountInaccessible:
        account, onboarding = None, DEAUTHORIZED
    else:
        onboarding = derive_status(account, required_capabilities=gateway.capabilities)
    updated = await store_onboarding(organization.id, onboarding, seen_at, worker=worker)
    return updated, account


async def store_onboarding(
    organization_id: str, onboarding: Onboarding, seen_at: datetime, *, worker: WorkerClient
) -> Organization:
    """Write a derived status through `update-organization`, ordered by `seen_at`."""
    result = await worker.update_organization(
        organization_id=organization_id,
        updates={
            "stripe_connect_status": onboarding.status,
            "onboarding_step": onboarding.step,
            "onboarding_rejection_reason": onboarding.rejection_reason,
        },
        synced_at=seen_at,
        request_id=log.request_id.get(),
    )
    log.info(
        "connect.status.synced",
        status=onboarding.status,
        step=onboarding.step,
        applied=result.applied,
    )
    return result.organization
