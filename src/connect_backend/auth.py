"""Who is calling and what they may do: every call is verified through the Worker.

The client's claims (`X-User-ID`, `X-Org-ID`, `organization_id`) only *name* things; the Worker's
`verify-user-context` decides who the caller is and their role. Successful checks are cached
for `SESSION_CACHE_TTL_SECONDS` per (token, organization) for an organization's reads only —
the identity and role, never the organization's data, which is read fresh on every call.
Failures are never cached.

Each route's one dependency is a `Requirement`, and it returns the *authorized* context: the
organization, the caller's role and the clients the route may act with (`Authorized`). A
handler that was not authorized never received a client, so it cannot reach Stripe or the
Worker (Polar's `AuthenticatedWithScope`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from inspect import Parameter, Signature
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel
from starlette.datastructures import Headers

from connect_backend import log
from connect_backend.deps import Clients
from connect_backend.domain import MemberRole, Organization, User
from connect_backend.errors import BadRequest, Forbidden, InvalidSession
from connect_backend.rate_limits import RateLimiter, RouteGroup
from connect_backend.sessions import SessionCache
from connect_backend.stripe_budget import StripeClass, stripe_class
from connect_backend.worker import UserContext, WorkerClient

B = TypeVar("B")


class Action(StrEnum):
    """What a route does, for the roles table of the product spec."""

    READ_STATUS = "read_status"
    READ_BALANCE = "read_balance"
    MANAGE_ACCOUNT = "manage_account"  # onboard, dashboard link, payout, payout schedule
    MOVE_PLATFORM_MONEY = "move_platform_money"  # transfer, platform fee
    RUN_PLATFORM = "run_platform"  # the console: every organization, not one

    @property
    def reads(self) -> bool:
        """Whether the action only reads: its Stripe calls are the budget's reads."""
        return self in (Action.READ_STATUS, Action.READ_BALANCE, Action.RUN_PLATFORM)

    @property
    def may_use_cached_session(self) -> bool:
        """Whether a session check cached within `SESSION_CACHE_TTL_SECONDS` may stand for
        this action: only an organization's reads. Anything that writes to Stripe, moves money
        or hands out a link (a login link opens the dashboard) verifies the session on every
        call, so signing out or leaving the organization takes effect at once."""
        return self in (Action.READ_STATUS, Action.READ_BALANCE)


def allowed(action: Action, *, member_role: MemberRole | None, platform_admin: bool) -> bool:
    """The roles table: may someone with this membership and platform role do `action`?"""
    org_admin = member_role in ("owner", "admin")
    match action:
        case Action.READ_STATUS:
            return member_role is not None or platform_admin
        case Action.READ_BALANCE:
            return org_admin or platform_admin
        case Action.MANAGE_ACCOUNT:
            return org_admin
        case Action.MOVE_PLATFORM_MONEY:
            # An organization's admin must never move platform money to their own account.
            return platform_admin
        case Action.RUN_PLATFORM:
            return platform_admin


CLAIMS = {
    "X-User-ID": "Optional: must be the session's own user id (else 403).",
    "X-Org-ID": "Names the organization, where path and body do not (they must agree).",
}
"""The headers that name the caller's user and organization (they are claims, checked), and
what the OpenAPI document says of each."""
IDEMPOTENCY_KEY = "Idempotency-Key"
"""The header that keys a money route (`Requirement.idempotency_key`)."""
MAX_HEADER = 255
"""The longest claim or `Idempotency-Key` accepted (422 beyond)."""
_MAX_TOKEN = 4096


def _bearer(headers: Headers) -> str:
    """The session token of `Authorization: Bearer …`; 401 `missing_token` without one."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN:
        raise InvalidSession("A Bearer session token is required.", code="missing_token")
    return token


def _too_long(name: str) -> dict[str, Any]:
    return {
        "type": "string_too_long",
        "loc": ("header", name),
        "msg": f"String should have at most {MAX_HEADER} characters",
    }


def _claims(headers: Headers) -> tuple[str | None, str | None]:
    """`X-User-ID` and `X-Org-ID`: 422 for a value over 255 characters (as a declared header
    parameter would be), and refused when a header is repeated with different values: a proxy
    that reads the last copy would see another user or organization than the one checked."""
    too_long = [_too_long(name) for name in CLAIMS if len(headers.get(name, "")) > MAX_HEADER]
    if too_long:
        raise RequestValidationError(too_long)
    if len(set(headers.getlist("x-org-id"))) > 1:
        raise BadRequest(
            "X-Org-ID is repeated with different values.", code="organization_mismatch"
        )
    if len(set(headers.getlist("x-user-id"))) > 1:
        raise Forbidden("X-User-ID is repeated with different values.", code="user_mismatch")
    return headers.get("x-user-id"), headers.get("x-org-id")


def _idempotency_key(headers: Headers) -> str:
    """`Idempotency-Key`, 1 to 255 characters: 422 otherwise, as a declared header would be."""
    key = headers.get(IDEMPOTENCY_KEY)
    if key is None:
        missing = {"type": "missing", "loc": ("header", IDEMPOTENCY_KEY), "msg": "Field required"}
        raise RequestValidationError([missing])
    if not key:
        short = {
            "type": "string_too_short",
            "loc": ("header", IDEMPOTENCY_KEY),
            "msg": "String should have at least 1 character",
        }
        raise RequestValidationError([short])
    if len(key) > MAX_HEADER:
        raise RequestValidationError([_too_long(IDEMPOTENCY_KEY)])
    return key


@dataclass(frozen=True, slots=True)
class Authorized(Generic[B]):
    """A verified caller whose role allows the route's action on one organization, as D1
    holds it now; the request's body and `Idempotency-Key` (where the route takes them); and
    the clients the route acts with, handed out only here."""

    user: User
    organization: Organization
    member_role: MemberRole | None
    body: B
    idempotency_key: str
    clients: Clients


@dataclass(frozen=True, slots=True)
class PlatformAdmin(Generic[B]):
    """A verified platform admin acting on the platform itself (the console's view of every
    organization, a transfer reversed), with the request's body and `Idempotency-Key` where the
    route takes them."""

    user: User
    body: B
    idempotency_key: str
    clients: Clients


@dataclass(frozen=True)
class _Declared:
    """What a route's dependency declares: the action, the rate limit, the body FastAPI
    validates before calling it (as the dependency's own parameter, so a malformed body
    reaches no one) and whether the route needs an `Idempotency-Key`."""

    action: Action
    limit: RouteGroup | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    idempotency_key: bool = False

    def __post_init__(self) -> None:
        # What FastAPI reads of the dependency: the request, and the body as a parameter.
        parameters = [Parameter("request", Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
        if self.body is not None:
            optional = not self.body_required
            parameters.append(
                Parameter(
                    "body",
                    Parameter.POSITIONAL_OR_KEYWORD,
                    annotation=self.body | None if optional else self.body,
                    default=None if optional else Parameter.empty,
                )
            )
        object.__setattr__(self, "__signature__", Signature(parameters))


@dataclass(frozen=True)
class Requirement(_Declared):
    """What a route does, declared in its signature as its one dependency: the roles table's
    action (which also decides whether a cached session check may stand for it), the per-user
    rate limit it counts against, the body it takes (`body`, optional unless `body_required`)
    and whether it needs an `Idempotency-Key`.

    It resolves to the authorized context (`Authorized`): the session verified through the
    Worker, the organization named by path, body and `X-Org-ID`, the role checked against the
    roles table, the call counted. FastAPI validates the body before calling it (as the
    dependency's own parameter), so a malformed body reaches no one. The token, the claims and
    the key are read from the headers here rather than as FastAPI parameters (each one a
    dependency solved per request); `document` describes them in the OpenAPI document as
    parameters would have been.
    """

    @property
    def verify_every_call(self) -> bool:
        """Whether the session is verified through the Worker on every call (`Action`)."""
        return not self.action.may_use_cached_session

    async def __call__(self, request: Request, body: Any = None) -> Authorized[Any]:
        headers = request.headers
        claimed_user_id, header_org_id = _claims(headers)
        key = _idempotency_key(headers) if self.idempotency_key else ""
        token = _credentials(headers, self.action)
        org_id = _one_organization(
            request.path_params.get("org_id"), getattr(body, "organization_id", None), header_org_id
        )
        state = request.state
        cache: SessionCache = state.session_cache
        worker: WorkerClient = state.worker
        cached = None if self.verify_every_call else cache.get(token, org_id)
        if cached is not None:
            user, role = cached.user, cached.member_role
            organization = await worker.get_organization(org_id)
        else:
            context = await worker.verify_user_context(session_token=token, organization_id=org_id)
            if context.organization is None:  # the Worker must name the org it checked
                raise Forbidden("You are not a member of this organization.", code="not_a_member")
            user, role, organization = context.user, context.member_role, context.organization
        log.user_id.set(user.id)
        log.organization_id.set(org_id)
        _check_claimed_user(claimed_user_id, user)
        if cached is None and not self.verify_every_call:
            cache.put(token, org_id, user, role, session_expires=context.session.expires_at)
        await _count(state.rate_limiter, self.limit, user)
        if not allowed(self.action, member_role=role, platform_admin=user.is_platform_admin):
            log.info("auth.forbidden", action=self.action.value, member_role=role)
            raise Forbidden("Your role does not allow this action.")
        return Authorized(user, organization, role, body, key, state.clients)


@dataclass(frozen=True)
class PlatformRequirement(_Declared):
    """A route of the platform's own, which only platform admins may use: the session is
    verified through the Worker on every call, no organization named, the call counted."""

    async def __call__(self, request: Request, body: Any = None) -> PlatformAdmin[Any]:
        headers = request.headers
        claimed_user_id, _ = _claims(headers)
        key = _idempotency_key(headers) if self.idempotency_key else ""
        token = _credentials(headers, self.action)
        state = request.state
        worker: WorkerClient = state.worker
        context: UserContext = await worker.verify_user_context(
            session_token=token, organization_id=None
        )
        user = context.user
        log.user_id.set(user.id)
        _check_claimed_user(claimed_user_id, user)
        await _count(state.rate_limiter, self.limit, user)
        if not allowed(self.action, member_role=None, platform_admin=user.is_platform_admin):
            log.info("auth.forbidden", action=self.action.value)
            raise Forbidden("Only platform admins may do this.")
        return PlatformAdmin(user, body, key, state.clients)


def _credentials(headers: Headers, action: Action) -> str:
    """The session token, and the class the request's Stripe calls count as in the platform's
    budget, decided here for every route (reads are refused first when it runs short)."""
    token = _bearer(headers)
    stripe_class.set(StripeClass.READ if action.reads else StripeClass.WRITE)
    return token


def _one_organization(*named: str | None) -> str:
    """The one organization named by path, body and `X-Org-ID`; 400 if they differ."""
    names = {n for n in named if n}
    if len(names) > 1:
        raise BadRequest(
            "The organization named in the request is ambiguous.", code="organization_mismatch"
        )
    if not names:
        raise BadRequest(
            "Name the organization (path, organization_id or X-Org-ID).",
            code="organization_required",
        )
    return names.pop()


def _check_claimed_user(claimed_user_id: str | None, user: User) -> None:
    if claimed_user_id is not None and claimed_user_id != user.id:
        raise Forbidden("X-User-ID does not match the session's user.", code="user_mismatch")


async def _count(limiter: RateLimiter, limit: RouteGroup | None, user: User) -> None:
    # Counted per verified user, never per claimed X-User-ID or per token.
    if limit is not None:
        await limiter.take(limit, user.id)


ReadsStatus = Annotated[
    Authorized[None], Depends(Requirement(Action.READ_STATUS, limit=RouteGroup.READS))
]
"""Any member, platform admins: the status (rate-limited per user as a read)."""
ReadsBalance = Annotated[
    Authorized[None], Depends(Requirement(Action.READ_BALANCE, limit=RouteGroup.READS))
]
"""Owners, admins and platform admins: what money an account holds (a read)."""
RunsPlatform = Annotated[
    PlatformAdmin[None], Depends(PlatformRequirement(Action.RUN_PLATFORM, limit=RouteGroup.READS))
]
"""Platform admins: the console's view of every organization; verified on every call."""
