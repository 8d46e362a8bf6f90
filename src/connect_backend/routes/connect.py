"""The `/api/connect/*` routes: thin; they authorize, then call the flows and the gateway."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query

from connect_backend import accounts, log, payouts, transfers
from connect_backend.auth import (
    Caller,
    ManagesOnboarding,
    ManagesPayouts,
    MovesPlatformMoney,
    PaysOut,
    ReadsBalance,
    ReadsStatus,
    RunsPlatform,
)
from connect_backend.domain import ConnectStatus, Organization, PayoutSchedule
from connect_backend.errors import BadRequest, Conflict
from connect_backend.json_body import StrictJSONRoute
from connect_backend.money import split_fee
from connect_backend.schemas import (
    BalanceView,
    ConsoleOrganization,
    DashboardLink,
    MoneyAmount,
    Onboard,
    OnboardCreate,
    OrganizationList,
    OrganizationRef,
    PayoutCreate,
    PayoutHistory,
    PayoutItem,
    PayoutScheduleRead,
    PayoutScheduleUpdate,
    PayoutScheduleView,
    PayoutView,
    PlatformFeeUpdate,
    Status,
    TransferCreate,
    TransferHistory,
    TransferItem,
    TransferView,
    responses,
)
from connect_backend.settings import Settings, origin_of

# Every JSON body is read refusing a key given twice (400 `duplicate_json_key`).
router = APIRouter(prefix="/api/connect", tags=["connect"], route_class=StrictJSONRoute)

# What every authorized route can answer: a bad claim (400), no session (401), a role or
# membership refused (403), no such organization (404), a malformed header (422), or the
# Worker unavailable (503). Each route adds what its own steps can add.
_AUTHORIZED = (400, 401, 403, 404, 422, 503)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Required: a retry with the same key never moves money twice.",
    ),
]


def _redirect(url: str | None, default: str, settings: Settings) -> str:
    if url is None:
        return default
    try:
        origin = origin_of(url)
    except ValueError:
        origin = None
    if origin not in settings.allowed_origins:
        raise BadRequest(
            "Redirect URLs must point at an allowed origin.", code="invalid_redirect_url"
        )
    return url


@router.post(
    "/onboard", response_model=Onboard, responses=responses(*_AUTHORIZED, 409, 413, 429, 502)
)
async def onboard(
    body: OnboardCreate,
    caller: ManagesOnboarding,
) -> Onboard:
    """Create the organization's account if needed and return a fresh onboarding link."""
    ctx = await caller.authorize(body.organization_id)
    settings = caller.settings
    base = settings.frontend_url + "/settings/payments?connect="
    return_url = _redirect(body.return_url, base + "return", settings)
    refresh_url = _redirect(body.refresh_url, base + "refresh", settings)
    country = (body.country or settings.connect_default_country).upper()
    if country not in settings.connect_allowed_countries:
        raise BadRequest(
            f"Organizations cannot onboard from {country} on this platform.",
            code="country_not_allowed",
        )
    organization = await accounts.ensure_account(
        ctx.organization,
        email=ctx.user.email,
        country=country,
        worker=caller.worker,
        gateway=caller.stripe,
    )
    account_id = accounts.require_account(organization)
    link = await caller.stripe.create_account_link(
        account_id=account_id, refresh_url=refresh_url, return_url=return_url
    )
    return Onboard(
        url=link.url,
        expires_at=link.expires_at,
        account_id=account_id,
        status=organization.stripe_connect_status or "pending",
    )


async def _status(caller: Caller, org_id: str | None, refresh: bool) -> Status:
    ctx = await caller.authorize(org_id)
    organization = ctx.organization
    account_id = organization.stripe_connect_account_id
    if not refresh or account_id is None or organization.onboarding_step == "deauthorized":
        return Status.of(organization)
    organization, account = await accounts.sync_account(
        organization, account_id, worker=caller.worker, gateway=caller.stripe
    )
    return Status.of(organization, account)


Refresh = Annotated[
    bool,
    Query(
        description=(
            "Read the account from Stripe now (a read that begins after this request arrived) "
            "and sync D1 first."
        )
    ),
]


@router.get("/status", response_model=Status, responses=responses(*_AUTHORIZED, 409, 429, 502))
async def status_of_header_org(caller: ReadsStatus, refresh: Refresh = False) -> Status:
    """Onboarding status of the organization named by `X-Org-ID`."""
    return await _status(caller, None, refresh)


@router.get(
    "/status/{org_id}", response_model=Status, responses=responses(*_AUTHORIZED, 409, 429, 502)
)
async def status(
    org_id: str,
    caller: ReadsStatus,
    refresh: Refresh = False,
) -> Status:
    """Onboarding status of an organization."""
    return await _status(caller, org_id, refresh)


async def _balance(caller: Caller, org_id: str | None) -> BalanceView:
    ctx = await caller.authorize(org_id)
    account_id = accounts.require_account(ctx.organization)
    balance = await caller.stripe.retrieve_balance(account_id)
    return BalanceView(
        organization_id=ctx.organization.id,
        account_id=account_id,
        available=[MoneyAmount.of(m) for m in balance.available],
        pending=[MoneyAmount.of(m) for m in balance.pending],
    )


@router.get(
    "/balance", response_model=BalanceView, responses=responses(*_AUTHORIZED, 409, 429, 502)
)
async def balance_of_header_org(caller: ReadsBalance) -> BalanceView:
    """Balance of the organization named by `X-Org-ID`."""
    return await _balance(caller, None)


@router.get(
    "/balance/{org_id}",
    response_model=BalanceView,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def balance(org_id: str, caller: ReadsBalance) -> BalanceView:
    """Balance of an organization's connected account, read from Stripe."""
    return await _balance(caller, org_id)


def _require_active(organization: Organization) -> str:
    account_id = accounts.require_account(organization)
    if organization.stripe_connect_status != "active":
        raise Conflict(
            "The organization's Stripe account is not active yet.", code="account_not_active"
        )
    return account_id


@router.post(
    "/transfer",
    response_model=TransferView,
    responses=responses(*_AUTHORIZED, 402, 409, 413, 429, 502),
)
async def transfer(
    body: TransferCreate,
    idempotency_key: IdempotencyKey,
    caller: MovesPlatformMoney,
) -> TransferView:
    """Platform admins: transfer `amount` less the platform fee to the organization.

    A retry with the same key returns the first transfer, however late it comes.
    """
    ctx = await caller.authorize(body.organization_id)
    organization = ctx.organization
    account_id = _require_active(organization)
    made = await transfers.send(
        transfers.TransferRequest(
            organization_id=organization.id,
            amount=body.amount,
            currency=body.currency.lower(),
            source_transaction=body.source_transaction,
            transfer_group=body.transfer_group,
            description=body.description,
        ),
        account_id=account_id,
        split=split_fee(body.amount, organization.platform_fee_percent),
        caller_key=idempotency_key,
        gateway=caller.stripe,
        worker=caller.worker,
    )
    return TransferView(
        transfer_id=made.transfer_id,
        organization_id=organization.id,
        account_id=made.account_id,
        currency=made.currency,
        gross_amount=made.gross,
        fee_amount=made.fee,
        transfer_amount=made.net,
        platform_fee_percent=float(made.percent),
    )


@router.post(
    "/payout",
    response_model=PayoutView,
    responses=responses(*_AUTHORIZED, 402, 409, 413, 429, 502),
)
async def payout(
    body: PayoutCreate,
    idempotency_key: IdempotencyKey,
    caller: PaysOut,
) -> PayoutView:
    """Owners/admins: pay out `amount`, or all that is available from one source type (card,
    unless `source_type` says otherwise), to the organization's bank.

    A retry with the same key returns the first payout, even when the balance it emptied now
    reads zero, however late it comes.
    """
    ctx = await caller.authorize(body.organization_id)
    made = await payouts.pay_out(
        payouts.PayoutRequest(
            organization_id=ctx.organization.id,
            currency=body.currency.lower(),
            amount=body.amount,
            source_type=body.source_type,
        ),
        account_id=accounts.require_account(ctx.organization),
        caller_key=idempotency_key,
        gateway=caller.stripe,
        worker=caller.worker,
    )
    return PayoutView(
        payout_id=made.id,
        amount=made.amount,
        currency=made.currency,
        status=made.status,
        arrival_date=made.arrival_date,
    )


@router.put(
    "/payout-schedule",
    response_model=PayoutScheduleView,
    responses=responses(*_AUTHORIZED, 409, 413, 429, 502),
)
async def payout_schedule(body: PayoutScheduleUpdate, caller: ManagesPayouts) -> PayoutScheduleView:
    """Owners/admins: switch the account between manual, daily, weekly and monthly payouts."""
    ctx = await caller.authorize(body.organization_id)
    account_id = accounts.require_account(ctx.organization)
    held = await caller.stripe.update_payout_schedule(
        account_id=account_id,
        schedule=PayoutSchedule(
            interval=body.interval,
            weekly_anchor=body.weekly_anchor,
            monthly_anchor=body.monthly_anchor,
            delay_days=body.delay_days,
        ),
    )
    return PayoutScheduleView(
        organization_id=ctx.organization.id,
        account_id=account_id,
        interval=held.interval,
        weekly_anchor=held.weekly_anchor,
        monthly_anchor=held.monthly_anchor,
        delay_days=held.delay_days,
    )


@router.post(
    "/dashboard-link",
    response_model=DashboardLink,
    responses=responses(*_AUTHORIZED, 409, 413, 429, 502),
)
async def dashboard_link(
    caller: ManagesOnboarding, body: OrganizationRef | None = None
) -> DashboardLink:
    """Owners/admins: a login link to the Express dashboard, for an account that has one (its
    own type decides, not the type new accounts are made with)."""
    ctx = await caller.authorize(body.organization_id if body else None)
    account_id = accounts.require_account(ctx.organization)
    read = await caller.stripe.read_account(account_id)
    if read.account.dashboard != "express":
        raise Conflict(
            "Only Express accounts have a Stripe dashboard to log in to.", code="not_supported"
        )
    return DashboardLink(url=await caller.stripe.create_login_link(account_id))


@router.put(
    "/platform-fee/{org_id}", response_model=Status, responses=responses(*_AUTHORIZED, 413, 429)
)
async def platform_fee(org_id: str, body: PlatformFeeUpdate, caller: MovesPlatformMoney) -> Status:
    """Platform admins: set the organization's platform fee percent."""
    ctx = await caller.authorize(org_id)
    result = await caller.worker.update_organization(
        organization_id=ctx.organization.id,
        updates={"platform_fee_percent": body.platform_fee_percent},
        request_id=log.request_id.get(),
    )
    log.info("connect.platform_fee.set", platform_fee_percent=body.platform_fee_percent)
    return Status.of(result.organization)


# --- history: what the organization's money did ---------------------------------------------

Limit = Annotated[int, Query(ge=1, le=100, description="Items a page holds at most.")]
StartingAfter = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_]{1,255}$",
        description="The id of the last item of the previous page (its `next_cursor`).",
    ),
]


async def _payouts(
    caller: Caller, org_id: str | None, limit: int, after: str | None
) -> PayoutHistory:
    ctx = await caller.authorize(org_id)
    account_id = accounts.require_account(ctx.organization)
    page = await caller.stripe.list_payouts(account_id, limit=limit, starting_after=after)
    return PayoutHistory(
        organization_id=ctx.organization.id,
        account_id=account_id,
        data=[PayoutItem.of(p) for p in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/payouts", response_model=PayoutHistory, responses=responses(*_AUTHORIZED, 409, 429, 502)
)
async def payouts_of_header_org(
    caller: ReadsBalance, limit: Limit = 20, starting_after: StartingAfter = None
) -> PayoutHistory:
    """Payouts of the organization named by `X-Org-ID`, newest first."""
    return await _payouts(caller, None, limit, starting_after)


@router.get(
    "/payouts/{org_id}",
    response_model=PayoutHistory,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def payout_history(
    org_id: str,
    caller: ReadsBalance,
    limit: Limit = 20,
    starting_after: StartingAfter = None,
) -> PayoutHistory:
    """Payouts of the organization's account, newest first, read from Stripe; a failed one
    says why in words."""
    return await _payouts(caller, org_id, limit, starting_after)


async def _transfers(
    caller: Caller, org_id: str | None, limit: int, after: str | None
) -> TransferHistory:
    ctx = await caller.authorize(org_id)
    account_id = accounts.require_account(ctx.organization)
    page = await caller.stripe.list_transfers(account_id, limit=limit, starting_after=after)
    return TransferHistory(
        organization_id=ctx.organization.id,
        account_id=account_id,
        data=[TransferItem.of(t) for t in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/transfers", response_model=TransferHistory, responses=responses(*_AUTHORIZED, 409, 429, 502)
)
async def transfers_of_header_org(
    caller: ReadsBalance, limit: Limit = 20, starting_after: StartingAfter = None
) -> TransferHistory:
    """Transfers to the organization named by `X-Org-ID`, newest first."""
    return await _transfers(caller, None, limit, starting_after)


@router.get(
    "/transfers/{org_id}",
    response_model=TransferHistory,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def transfer_history(
    org_id: str,
    caller: ReadsBalance,
    limit: Limit = 20,
    starting_after: StartingAfter = None,
) -> TransferHistory:
    """The platform's transfers to the organization, newest first: gross, fee and net as
    they were made (from the transfer's metadata)."""
    return await _transfers(caller, org_id, limit, starting_after)


async def _schedule(caller: Caller, org_id: str | None) -> PayoutScheduleRead:
    ctx = await caller.authorize(org_id)
    account_id = accounts.require_account(ctx.organization)
    held = await caller.stripe.retrieve_payout_schedule(account_id)
    return PayoutScheduleRead.of(ctx.organization.id, account_id, held)


@router.get(
    "/payout-schedule",
    response_model=PayoutScheduleRead,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def payout_schedule_of_header_org(caller: ReadsBalance) -> PayoutScheduleRead:
    """The payout schedule of the organization named by `X-Org-ID`."""
    return await _schedule(caller, None)


@router.get(
    "/payout-schedule/{org_id}",
    response_model=PayoutScheduleRead,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def payout_schedule_read(org_id: str, caller: ReadsBalance) -> PayoutScheduleRead:
    """The payout schedule the organization's account has at Stripe."""
    return await _schedule(caller, org_id)


# --- the console: platform admins ----------------------------------------------------------


@router.get(
    "/organizations",
    response_model=OrganizationList,
    responses=responses(400, 401, 403, 422, 429, 503),
)
async def organizations(
    caller: RunsPlatform,
    limit: Annotated[int, Query(ge=1, le=200, description="Organizations a page holds.")] = 50,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=512,
            description="The `next_cursor` of the previous page, as it came.",
        ),
    ] = None,
    status: Annotated[
        ConnectStatus | Literal["not_started"] | None,
        Query(description="Only organizations with this Connect status."),
    ] = None,
) -> OrganizationList:
    """Platform admins: every organization with its Connect status, fee and last sync, in a
    stable order (D1's, by id)."""
    await caller.authorize_platform()
    page = await caller.worker.list_organizations(
        limit=limit, cursor=cursor, status=status, request_id=log.request_id.get()
    )
    return OrganizationList(
        data=[ConsoleOrganization.listed(o) for o in page.organizations],
        next_cursor=page.next_cursor,
    )
