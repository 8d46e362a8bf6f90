"""The `/api/connect/*` routes: thin; their one dependency authorizes, then they call the flows
and the gateway with the clients it handed them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.routing import APIRoute

from connect_backend import accounts, log, payouts, reversals, transfers
from connect_backend.auth import (
    Action,
    Authorized,
    PlatformAdmin,
    PlatformRequirement,
    ReadsBalance,
    ReadsStatus,
    Requirement,
    RunsPlatform,
)
from connect_backend.domain import (
    ConnectStatus,
    Organization,
    OrganizationFilter,
    OrganizationOrder,
    PayoutSchedule,
)
from connect_backend.errors import BadRequest, Conflict, NotFound
from connect_backend.json_body import LeanRoute, StrictJSONRoute, json_answer
from connect_backend.money import split_fee
from connect_backend.onboarding import session_components
from connect_backend.openapi import responses
from connect_backend.rate_limits import RouteGroup
from connect_backend.schemas import (
    AccountSessionCreated,
    BalanceView,
    ClaimList,
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
    PayoutScheduleUpdate,
    PayoutScheduleView,
    PayoutView,
    PlatformFeeUpdate,
    ReversalCreate,
    ReversalView,
    SettledClaim,
    Status,
    StatusCounts,
    TransferCreate,
    TransferHistory,
    TransferItem,
    TransferView,
)
from connect_backend.settings import Settings, origin_of

# Every JSON body is read refusing a key given twice (400 `duplicate_json_key`).
router = APIRouter(prefix="/api/connect", tags=["connect"], route_class=StrictJSONRoute)

# What every authorized route can answer: a bad claim (400), no session (401), a role or
# membership refused (403), no such organization (404), a malformed header (422), or the
# Worker unavailable (503). Each route adds what its own steps can add.
_AUTHORIZED = (400, 401, 403, 404, 422, 503)

P = ParamSpec("P")
R = TypeVar("R")


def for_each_form(
    path: str,
    *,
    names: tuple[str, str],
    summaries: tuple[str, str],
    response_model: Any,
    responses: dict[int | str, dict[str, Any]],
    route_class: type[APIRoute] | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Register a read of one organization at `path` (the organization named by `X-Org-ID`)
    and at `path/{org_id}`: one handler, as the `Requirement` finds the organization itself.
    The path form's endpoint declares `org_id` only so that the OpenAPI document names it.
    Both forms are `route_class` routes if given (else the router's)."""

    def register(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        header_form, path_form = names
        router.add_api_route(
            path,
            handler,
            methods=["GET"],
            name=header_form,
            description=summaries[0],
            response_model=response_model,
            responses=responses,
            route_class_override=route_class,
        )

        @functools.wraps(handler)
        async def with_org_id(org_id: str, *args: P.args, **kwargs: P.kwargs) -> R:
            return await handler(*args, **kwargs)

        declared = inspect.signature(handler)
        org_id = inspect.Parameter(
            "org_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str
        )
        with_org_id.__signature__ = declared.replace(  # type: ignore[attr-defined]
            parameters=[org_id, *declared.parameters.values()]
        )
        router.add_api_route(
            f"{path}/{{org_id}}",
            with_org_id,
            methods=["GET"],
            name=path_form,
            description=summaries[1],
            response_model=response_model,
            responses=responses,
            route_class_override=route_class,
        )
        return handler

    return register


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


Onboards = Annotated[
    Authorized[OnboardCreate],
    Depends(Requirement(Action.MANAGE_ACCOUNT, RouteGroup.ONBOARDING, body=OnboardCreate)),
]


@router.post(
    "/onboard", response_model=Onboard, responses=responses(*_AUTHORIZED, 409, 413, 429, 502)
)
async def onboard(ctx: Onboards) -> Onboard:
    """Create the organization's account if needed and return a fresh onboarding link."""
    body, settings, stripe = ctx.body, ctx.clients.settings, ctx.clients.stripe
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
        worker=ctx.clients.worker,
        gateway=stripe,
    )
    account_id = accounts.require_account(organization)
    make_link = (
        stripe.create_account_link_v2
        if accounts.api_of(organization) == "v2"
        else stripe.create_account_link
    )
    link = await make_link(account_id=account_id, refresh_url=refresh_url, return_url=return_url)
    return Onboard(
        url=link.url,
        expires_at=link.expires_at,
        account_id=account_id,
        status=organization.shown_status,
    )


Refresh = Annotated[
    bool,
    Query(
        description=(
            "Read the account from Stripe now (a read that begins after this request arrived) "
            "and sync D1 first."
        )
    ),
]


@for_each_form(
    "/status",
    names=("status_of_header_org", "status"),
    summaries=(
        "Onboarding status of the organization named by `X-Org-ID`.",
        "Onboarding status of an organization.",
    ),
    response_model=Status,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
    route_class=LeanRoute,
)
async def status(ctx: ReadsStatus, refresh: Refresh = False) -> Response:
    """Onboarding status: D1's view, or with `refresh` Stripe's, synced into D1 first. (The
    busiest read: a `LeanRoute`, answered as `json_answer`, serialized once.)"""
    organization = ctx.organization
    account_id = organization.stripe_connect_account_id
    if not refresh or account_id is None or organization.deauthorized:
        return json_answer(Status.of(organization))
    organization, account = await accounts.sync_account(
        organization, account_id, worker=ctx.clients.worker, gateway=ctx.clients.stripe
    )
    return json_answer(Status.of(organization, account))


@for_each_form(
    "/balance",
    names=("balance_of_header_org", "balance"),
    summaries=(
        "Balance of the organization named by `X-Org-ID`.",
        "Balance of an organization's connected account, read from Stripe.",
    ),
    response_model=BalanceView,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def balance(ctx: ReadsBalance) -> BalanceView:
    """The account's available and pending balance."""
    account_id = accounts.require_account(ctx.organization)
    held = await ctx.clients.stripe.retrieve_balance(account_id)
    return BalanceView(
        organization_id=ctx.organization.id,
        account_id=account_id,
        available=[MoneyAmount.of(m) for m in held.available],
        pending=[MoneyAmount.of(m) for m in held.pending],
    )


def _require_active(organization: Organization) -> str:
    account_id = accounts.require_account(organization)
    if organization.stripe_connect_status != "active":
        raise Conflict(
            "The organization's Stripe account is not active yet.", code="account_not_active"
        )
    return account_id


Transfers = Annotated[
    Authorized[TransferCreate],
    Depends(
        Requirement(
            Action.MOVE_PLATFORM_MONEY, RouteGroup.MONEY, body=TransferCreate, idempotency_key=True
        )
    ),
]


@router.post(
    "/transfer",
    response_model=TransferView,
    responses=responses(*_AUTHORIZED, 402, 409, 413, 429, 502),
)
async def transfer(ctx: Transfers) -> TransferView:
    """Platform admins: transfer `amount` less the platform fee to the organization.

    A retry with the same key returns the first transfer, however late it comes.
    """
    body, organization = ctx.body, ctx.organization
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
        caller_key=ctx.idempotency_key,
        gateway=ctx.clients.stripe,
        worker=ctx.clients.worker,
    )
    return TransferView(
        transfer_id=made.transfer_id,
        organization_id=organization.id,
        account_id=made.account_id,
        currency=made.currency,
        gross_amount=made.gross,
        fee_amount=made.fee,
        transfer_amount=made.sent,
        platform_fee_percent=float(made.percent),
        claims_settled=made.claims_settled,
        settled_claims=[SettledClaim(claim_id=c.claim_id, amount=c.amount) for c in made.claims],
    )


PaysOut = Annotated[
    Authorized[PayoutCreate],
    Depends(
        Requirement(
            Action.MANAGE_ACCOUNT, RouteGroup.MONEY, body=PayoutCreate, idempotency_key=True
        )
    ),
]


@router.post(
    "/payout",
    response_model=PayoutView,
    responses=responses(*_AUTHORIZED, 402, 409, 413, 429, 502),
)
async def payout(ctx: PaysOut) -> PayoutView:
    """Owners/admins: pay out `amount`, or all that is available from one source type (card,
    unless `source_type` says otherwise), to the organization's bank.

    A retry with the same key returns the first payout, even when the balance it emptied now
    reads zero, however late it comes.
    """
    body = ctx.body
    made = await payouts.pay_out(
        payouts.PayoutRequest(
            organization_id=ctx.organization.id,
            currency=body.currency.lower(),
            amount=body.amount,
            source_type=body.source_type,
        ),
        account_id=accounts.require_account(ctx.organization),
        caller_key=ctx.idempotency_key,
        gateway=ctx.clients.stripe,
        worker=ctx.clients.worker,
    )
    return PayoutView(
        payout_id=made.id,
        amount=made.amount,
        currency=made.currency,
        status=made.status,
        arrival_date=made.arrival_date,
    )


SetsSchedule = Annotated[
    Authorized[PayoutScheduleUpdate],
    Depends(Requirement(Action.MANAGE_ACCOUNT, RouteGroup.MONEY, body=PayoutScheduleUpdate)),
]


@router.put(
    "/payout-schedule",
    response_model=PayoutScheduleView,
    responses=responses(*_AUTHORIZED, 409, 413, 429, 502),
)
async def payout_schedule(ctx: SetsSchedule) -> PayoutScheduleView:
    """Owners/admins: switch the account between manual, daily, weekly and monthly payouts."""
    body = ctx.body
    account_id = accounts.require_account(ctx.organization)
    held = await ctx.clients.stripe.update_payout_schedule(
        account_id=account_id,
        schedule=PayoutSchedule(
            interval=body.interval,
            weekly_anchor=body.weekly_anchor,
            monthly_anchor=body.monthly_anchor,
            delay_days=body.delay_days,
        ),
    )
    return PayoutScheduleView.of(ctx.organization.id, account_id, held)


OpensDashboard = Annotated[
    Authorized[OrganizationRef | None],
    Depends(
        Requirement(
            Action.MANAGE_ACCOUNT, RouteGroup.ONBOARDING, body=OrganizationRef, body_required=False
        )
    ),
]


@router.post(
    "/dashboard-link",
    response_model=DashboardLink,
    responses=responses(*_AUTHORIZED, 409, 413, 429, 502),
)
async def dashboard_link(ctx: OpensDashboard) -> DashboardLink:
    """Owners/admins: a login link to the Express dashboard, for an account that has one (its
    own controller decides, `controller.stripe_dashboard.type`, not how new accounts are
    made); for a v1 account whose details the platform collects (Custom-like), an
    `account_update` Account Link to change them, back to the settings page."""
    stripe, settings = ctx.clients.stripe, ctx.clients.settings
    account_id = accounts.require_account(ctx.organization)
    api = accounts.api_of(ctx.organization)
    controller = (await stripe.read_account(account_id, api)).account.controller
    if controller.express_dashboard:
        return DashboardLink(url=await stripe.create_login_link(account_id))
    if controller.platform_collects_requirements and api == "v1":
        back = settings.frontend_url + "/settings/payments?connect="
        link = await stripe.create_account_link(
            account_id=account_id,
            refresh_url=back + "refresh",
            return_url=back + "return",
            purpose="account_update",
        )
        return DashboardLink(url=link.url)
    raise Conflict(
        "Only accounts with the Express dashboard have a Stripe dashboard to log in to.",
        code="not_supported",
    )


@router.post(
    "/account-session",
    response_model=AccountSessionCreated,
    responses=responses(*_AUTHORIZED, 409, 413, 429, 502),
)
async def account_session(ctx: OpensDashboard) -> AccountSessionCreated:
    """Owners/admins: a fresh Account Session for Stripe's embedded components (onboarding,
    account management, the notification banner, payouts), their features chosen by the
    caller's role and the account's controller (`onboarding.session_components`). The
    secret goes to the caller only: never stored, never logged."""
    stripe = ctx.clients.stripe
    account_id = accounts.require_account(ctx.organization)
    read = await stripe.read_account(account_id, accounts.api_of(ctx.organization))
    components = session_components(read.account.controller, ctx.member_role)
    session = await stripe.create_account_session(account_id, components)
    return AccountSessionCreated(
        client_secret=session.client_secret, expires_at=session.expires_at, account_id=account_id
    )


SetsFee = Annotated[
    Authorized[PlatformFeeUpdate],
    Depends(Requirement(Action.MOVE_PLATFORM_MONEY, RouteGroup.MONEY, body=PlatformFeeUpdate)),
]


@router.put(
    "/platform-fee/{org_id}", response_model=Status, responses=responses(*_AUTHORIZED, 413, 429)
)
async def platform_fee(org_id: str, ctx: SetsFee) -> Status:
    """Platform admins: set the organization's platform fee percent."""
    percent = ctx.body.platform_fee_percent
    result = await ctx.clients.worker.update_organization(
        organization_id=ctx.organization.id, updates={"platform_fee_percent": percent}
    )
    log.info("connect.platform_fee.set", platform_fee_percent=percent)
    return Status.of(result.organization)


Reverses = Annotated[
    PlatformAdmin[ReversalCreate],
    Depends(
        PlatformRequirement(
            Action.MOVE_PLATFORM_MONEY, RouteGroup.MONEY, body=ReversalCreate, idempotency_key=True
        )
    ),
]
TransferId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_]{1,255}$")]


@router.post(
    "/transfers/{transfer_id}/reversals",
    response_model=ReversalView,
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429, 502, 503),
)
async def reverse_transfer(transfer_id: TransferId, admin: Reverses) -> ReversalView:
    """Platform admins: take back `amount` of a transfer (all that remains without one) from
    the organization it went to. A retry with the same key answers the first reversal."""
    stripe, worker = admin.clients.stripe, admin.clients.worker
    transfer = reversals.require_platform_transfer(await stripe.retrieve_transfer(transfer_id))
    organization = await worker.get_organization_by_account(transfer.destination)
    if organization is None:
        raise NotFound("No organization holds this transfer's account.", code="transfer_not_found")
    log.organization_id.set(organization.id)
    made = await reversals.reverse_by_hand(
        transfer,
        organization_id=organization.id,
        amount=admin.body.amount,
        reason=admin.body.reason,
        caller_key=admin.idempotency_key,
        gateway=stripe,
        worker=worker,
    )
    after = made.transfer
    return ReversalView(
        reversal_id=made.reversal_id,
        claim_id=made.claim_id,
        transfer_id=after.id,
        organization_id=organization.id,
        account_id=after.destination,
        currency=after.currency,
        amount=made.amount,
        transfer_amount=after.amount,
        amount_reversed=after.amount_reversed,
        claimed=made.claimed,
        remaining=after.reversible - made.claimed,
    )


# --- history: what the organization's money did ---------------------------------------------

Limit = Annotated[int, Query(ge=1, le=100, description="Items a page holds at most.")]
StartingAfter = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_]{1,255}$",
        description="The id of the last item of the previous page (its `next_cursor`).",
    ),
]


@for_each_form(
    "/payouts",
    names=("payouts_of_header_org", "payout_history"),
    summaries=(
        "Payouts of the organization named by `X-Org-ID`, newest first.",
        "Payouts of the organization's account, newest first, read from Stripe; a failed one "
        "says why in words.",
    ),
    response_model=PayoutHistory,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def payout_history(
    ctx: ReadsBalance, limit: Limit = 20, starting_after: StartingAfter = None
) -> PayoutHistory:
    """The account's payouts, newest first."""
    account_id = accounts.require_account(ctx.organization)
    page = await ctx.clients.stripe.list_payouts(
        account_id, limit=limit, starting_after=starting_after
    )
    return PayoutHistory(
        organization_id=ctx.organization.id,
        account_id=account_id,
        data=[PayoutItem.of(p) for p in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@for_each_form(
    "/transfers",
    names=("transfers_of_header_org", "transfer_history"),
    summaries=(
        "Transfers to the organization named by `X-Org-ID`, newest first.",
        "The platform's transfers to the organization, newest first: gross, fee and net as "
        "they were made (from the transfer's metadata).",
    ),
    response_model=TransferHistory,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def transfer_history(
    ctx: ReadsBalance, limit: Limit = 20, starting_after: StartingAfter = None
) -> TransferHistory:
    """The platform's transfers to the account, newest first."""
    account_id = accounts.require_account(ctx.organization)
    page = await ctx.clients.stripe.list_transfers(
        account_id, limit=limit, starting_after=starting_after
    )
    return TransferHistory(
        organization_id=ctx.organization.id,
        account_id=account_id,
        data=[TransferItem.of(t) for t in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@for_each_form(
    "/payout-schedule",
    names=("payout_schedule_of_header_org", "payout_schedule_read"),
    summaries=(
        "The payout schedule of the organization named by `X-Org-ID`.",
        "The payout schedule the organization's account has at Stripe.",
    ),
    response_model=PayoutScheduleView,
    responses=responses(*_AUTHORIZED, 409, 429, 502),
)
async def payout_schedule_read(ctx: ReadsBalance) -> PayoutScheduleView:
    """The account's payout schedule as Stripe holds it."""
    account_id = accounts.require_account(ctx.organization)
    held = await ctx.clients.stripe.retrieve_payout_schedule(account_id)
    return PayoutScheduleView.of(ctx.organization.id, account_id, held)


ClaimState = Annotated[
    Literal["open", "all"] | None,
    Query(description="`open`: only claims with something left; `all`: every claim."),
]
ClaimCursor = Annotated[
    str | None,
    Query(min_length=1, max_length=512, description="The `next_cursor` of the previous page."),
]


@for_each_form(
    "/claims",
    names=("claims_of_header_org", "claims"),
    summaries=(
        "Claims on the organization named by `X-Org-ID`, first in, first out.",
        "What the organization still owes the platform (a reversal Stripe refused because the "
        "money was already paid out), first in, first out, each with how it was settled, and "
        "the open totals per currency. Every claim by default; `state=open` for the open ones.",
    ),
    response_model=ClaimList,
    responses=responses(*_AUTHORIZED, 429),
)
async def claims(
    ctx: ReadsBalance, state: ClaimState = None, limit: Limit = 20, cursor: ClaimCursor = None
) -> ClaimList:
    """The organization's claims, oldest first."""
    page = await ctx.clients.worker.list_claims(
        organization_id=ctx.organization.id, state=state or "all", limit=limit, cursor=cursor
    )
    return ClaimList.of(page.claims, page.totals, page.next_cursor)


# --- the console: platform admins ----------------------------------------------------------

ConsoleSort = Literal["id", "last_sync", "-last_sync"]
"""The console's orders: stable by id, or by last sync (oldest or newest first)."""
_ORDERS: dict[ConsoleSort, OrganizationOrder] = {
    "id": "id",
    "last_sync": "synced_at",
    "-last_sync": "-synced_at",
}


@router.get(
    "/organizations",
    response_model=OrganizationList,
    responses=responses(400, 401, 403, 422, 429, 503),
)
async def organizations(
    admin: RunsPlatform,
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
    name: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only organizations whose name starts with this (ASCII letters in "
            "either case).",
        ),
    ] = None,
    sort: Annotated[
        ConsoleSort,
        Query(
            description="`id` (stable, the default); `last_sync`: never synced first, then "
            "oldest; `-last_sync`: newest sync first, never synced last. A cursor belongs "
            "to its sort."
        ),
    ] = "id",
) -> OrganizationList:
    """Platform admins: every organization with its Connect status, fee and last sync, in a
    stable order (D1's, by id, or by last sync), with the counts per status on the first
    page."""
    worker = admin.clients.worker
    where = OrganizationFilter(status=status, name=name)
    listing = worker.list_organizations(
        limit=limit, cursor=cursor, order=_ORDERS[sort], where=where
    )
    if cursor is None:
        page, counted = await accounts.gather_both(
            listing, worker.count_organizations(OrganizationFilter(name=name))
        )
        counts = StatusCounts(total=counted.total, **counted.by_status)
    else:
        page, counts = await listing, None
    return OrganizationList(
        data=[ConsoleOrganization.listed(o) for o in page.organizations],
        next_cursor=page.next_cursor,
        counts=counts,
    )


@router.get(
    "/open-claims",
    response_model=ClaimList,
    responses=responses(400, 401, 403, 422, 429, 503),
)
async def open_claims(
    admin: RunsPlatform,
    limit: Annotated[int, Query(ge=1, le=200, description="Claims a page holds.")] = 50,
    cursor: ClaimCursor = None,
) -> ClaimList:
    """Platform admins: every organization's open claims, first in, first out, with what they
    add up to per currency."""
    page = await admin.clients.worker.list_claims(
        organization_id=None, state="open", limit=limit, cursor=cursor
    )
    return ClaimList.of(page.claims, page.totals, page.next_cursor)
