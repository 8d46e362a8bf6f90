"""Connect flows shared by routes and webhooks: linking, syncing and viewing an account."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Collection
from datetime import UTC, datetime
from typing import TypeVar

from connect_backend import log, metrics
from connect_backend.domain import DEAUTHORIZED, AccountApi, Onboarding, Organization
from connect_backend.errors import (
    AccountAlreadyLinked,
    AccountInaccessible,
    AccountInUse,
    BadRequest,
    Conflict,
    ConnectError,
    NotDeauthorized,
    NotFound,
)
from connect_backend.onboarding import AccountSnapshot, derive_status
from connect_backend.stripe_gateway import AccountRead, StripeGateway
from connect_backend.worker import WorkerClient

A = TypeVar("A")
B = TypeVar("B")


def require_account(organization: Organization) -> str:
    """The organization's Stripe account id; 409 `not_onboarded` without one."""
    if organization.stripe_connect_account_id is None:
        raise Conflict("The organization has not started Stripe onboarding.", code="not_onboarded")
    return organization.stripe_connect_account_id


async def ensure_account(
    organization: Organization,
    *,
    email: str,
    country: str,
    worker: WorkerClient,
    gateway: StripeGateway,
) -> Organization:
    """The organization with a Stripe account to onboard: its own, or a new one when it has
    none or its account was deauthorized from the platform (the way back)."""
    if organization.stripe_connect_account_id is None or organization.deauthorized:
        return await link_new_account(
            organization, email=email, country=country, worker=worker, gateway=gateway
        )
    if organization.onboarding_step == "details_submission" and api_of(organization) == "v1":
        # Nothing submitted yet: the account may have been linked by a webhook (after a lost
        # D1 write) before anyone's email reached it. (A v2 account's onboarding asks for it.)
        read = await gateway.read_account(organization.stripe_connect_account_id)
        if read.account.email is None:
            await gateway.set_email(read.account.id, email)
    return organization


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
    A deauthorized account is replaced the same way (compare-and-set on its id). The
    caller's email is prefilled on an account that has none yet.
    """
    replacing = organization.stripe_connect_account_id if organization.deauthorized else None
    api = gateway.accounts_api
    create = gateway.create_account_v2 if api == "v2" else gateway.create_account
    account = await create(
        organization_id=organization.id,
        organization_name=organization.name,
        country=country,
        replacing=replacing,
    )
    try:
        result = await worker.create_connect_account(
            organization_id=organization.id,
            account_id=account.id,
            replace_account_id=replacing,
            account_api=api,
        )
    except (AccountAlreadyLinked, NotDeauthorized) as exc:
        log.info("connect.account.lost_race", account_id=account.id)
        await gateway.delete_account(account.id, api)
        return exc.organization
    log.info(
        "connect.account.linked",
        account_id=account.id,
        created=result.created,
        replaced=replacing,
        api=api,
    )
    if account.email is None and api == "v1":
        await gateway.set_email(account.id, email)
    return result.organization


def api_of(organization: Organization) -> AccountApi:
    """The Stripe API the organization's account is used through, as D1 recorded it (v1 for
    an account linked before D1 recorded it)."""
    return organization.stripe_connect_account_api or "v1"


async def sync_account(
    organization: Organization,
    account_id: str,
    *,
    worker: WorkerClient,
    gateway: StripeGateway,
) -> tuple[Organization, AccountSnapshot | None]:
    """Read the account from Stripe, derive its status and bring D1 up to date, in order.

    The read is shared with concurrent syncs of the same account, but always begins after
    this call (`StripeGateway.read_account`); its `seen_at` orders the write.
    """
    asked_at = datetime.now(UTC)
    read = await read_or_failure(gateway.read_account(account_id, api_of(organization)))
    return await store_read(
        organization, account_id, read, asked_at, worker=worker, gateway=gateway
    )


async def read_or_failure(read: Awaitable[AccountRead]) -> AccountRead | ConnectError:
    """The read, or the expected failure it ended in (for the caller to decide on)."""
    try:
        return await read
    except ConnectError as failure:
        return failure


async def store_read(
    organization: Organization,
    account_id: str,
    read: AccountRead | ConnectError,
    asked_at: datetime,
    *,
    worker: WorkerClient,
    gateway: StripeGateway,
    confirm: bool = False,
) -> tuple[Organization, AccountSnapshot | None]:
    """Store what a read of the organization's account `account_id` says (`onboarding_of_read`); any
    failure but Stripe's refusal of a deauthorized account is raised (nothing is written).
    With `confirm`, see `store_onboarding`."""
    onboarding, seen_at = onboarding_of_read(read, asked_at, capabilities=gateway.capabilities)
    updated = await store_onboarding(
        organization,
        account_id,
        onboarding,
        seen_at,
        worker=worker,
        confirm=confirm,
        deadline=deadline_of_read(read),
    )
    return updated, read.account if isinstance(read, AccountRead) else None


def onboarding_of_read(
    read: AccountRead | ConnectError, asked_at: datetime, *, capabilities: Collection[str]
) -> tuple[Onboarding, datetime]:
    """What a read of an account says D1 should hold, and the moment that view stands for:
    the derived status as Stripe held it at `seen_at`, or `deauthorized` as of `asked_at`
    (when the read began) when Stripe no longer lets the platform reach the account. Any
    other failure is raised."""
    if isinstance(read, AccountInaccessible):
        return DEAUTHORIZED, asked_at
    if isinstance(read, ConnectError):
        raise read
    return derive_status(read.account, required_capabilities=capabilities), read.seen_at


def deadline_of_read(read: AccountRead | ConnectError) -> datetime | None:
    """The requirements deadline a read says D1 should hold (v1 `current_deadline`, v2
    `minimum_deadline.time`, both mapped into `current_deadline`), to the millisecond D1
    keeps; None when Stripe names none or the account could not be read (deauthorized)."""
    if not isinstance(read, AccountRead):
        return None
    deadline = read.account.requirements.current_deadline
    if deadline is None:
        return None
    return deadline.replace(microsecond=deadline.microsecond // 1000 * 1000)


async def sync_from_event(
    account_id: str, *, worker: WorkerClient, gateway: StripeGateway, api: AccountApi = "v1"
) -> Organization | None:
    """Bring D1 up to date with an account an event is about; None when no organization
    holds it (nothing to do).

    D1's link and Stripe's view are read at once. D1's link decides. Only when no
    organization holds the account does its own `metadata.organization_id` count, and then
    only to link it to an organization that holds no account yet (an onboarding whose D1
    write failed after Stripe created the account).
    """
    asked_at = datetime.now(UTC)
    linked, read = await gather_both(
        worker.get_organization_by_account(account_id),
        read_or_failure(gateway.read_account(account_id, api)),
    )
    if linked is not None and api_of(linked) != api:
        # The event came through the other API than D1 recorded: read it the recorded way.
        asked_at = datetime.now(UTC)
        read = await read_or_failure(gateway.read_account(account_id, api_of(linked)))
    if linked is not None:
        log.organization_id.set(linked.id)
        await store_read(linked, account_id, read, asked_at, worker=worker, gateway=gateway)
        return linked
    if isinstance(read, AccountInaccessible):
        # Not ours (any more) and unreadable: nothing to link or sync.
        return None
    if isinstance(read, BadRequest) and read.code == "resource_missing":
        # Deleted, e.g. the account that lost an onboarding race: its events still arrive.
        return None
    if isinstance(read, ConnectError):
        raise read
    claimed = read.account.metadata.get("organization_id")
    if not claimed:
        return None
    try:
        result = await worker.create_connect_account(
            organization_id=claimed, account_id=account_id, account_api=api
        )
    except (AccountAlreadyLinked, AccountInUse, NotFound):
        return None
    log.organization_id.set(claimed)
    log.info("connect.account.relinked", account_id=account_id)
    await store_read(
        result.organization, account_id, read, asked_at, worker=worker, gateway=gateway
    )
    return result.organization


async def gather_both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results, run at once: `second` in a task of its own, `first` in the caller's
    (one task a call, not two). A failure is raised as itself (not as an exception group):
    when `first` fails (or the caller is cancelled) `second` is cancelled; when `second`
    fails, once `first` is done."""
    task = asyncio.ensure_future(second)
    try:
        one = await first
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    return one, await task


async def store_onboarding(
    organization: Organization,
    account_id: str,
    onboarding: Onboarding,
    seen_at: datetime,
    *,
    worker: WorkerClient,
    confirm: bool = False,
    deadline: datetime | None = None,
) -> Organization:
    """Write a derived status of the account `account_id` through `update-organization`,
    ordered by `seen_at` (the service's clock when the view was taken), with the view's
    requirements `deadline` (None: Stripe names none), which reconcile reads first by.

    The write names the account it describes: D1 applies it only while the organization still
    holds that account, so a view of an account since replaced never lands on the new one; and
    D1 never moves an account out of `deauthorized` on a view (only a new link does), so no
    clock can undo a deauthorization. Nothing is written when D1 already holds it: see README,
    "A sync that changes nothing writes nothing", for why `synced_at` ordering stays right.
    With `confirm` (reconcile's checks), the same status is written too: D1's `synced_at` then
    records when it was last confirmed, which is how reconcile tells whom to read next.
    """
    unchanged = (
        organization.onboarding == onboarding
        and organization.stripe_connect_requirements_deadline == deadline
    )
    if unchanged and not confirm:
        log.debug("connect.status.unchanged", status=onboarding.status, step=onboarding.step)
        metrics.count_status_write("unchanged")
        return organization
    result = await worker.update_organization(
        organization_id=organization.id,
        updates={
            "stripe_connect_status": onboarding.status,
            "onboarding_step": onboarding.step,
            "onboarding_rejection_reason": onboarding.rejection_reason,
            "stripe_connect_requirements_deadline": deadline,
        },
        synced_at=seen_at,
        expected_account_id=account_id,
    )
    log.info(
        "connect.status.synced",
        status=onboarding.status,
        step=onboarding.step,
        applied=result.applied,
    )
    metrics.count_status_write("written" if result.applied else "older_view")
    return result.organization
