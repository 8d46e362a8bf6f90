"""Who is calling and what they may do: every call is verified through the Worker.

The client's claims (`X-User-ID`, `X-Org-ID`, `organization_id`) only *name* things; the Worker's
`verify-user-context` decides who the caller is and their role. Successful checks are cached
for `SESSION_CACHE_TTL_SECONDS` per (token, organization) — the identity and role only, never
the organization's data, which is read fresh on every call. Failures are never cached.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers

from connect_backend import log
from connect_backend.domain import MemberRole, Organization, User
from connect_backend.errors import BadRequest, Forbidden, InvalidSession
from connect_backend.rate_limits import RateLimiter, RouteGroup
from connect_backend.sessions import SessionCache
from connect_backend.settings import Settings
from connect_backend.stripe_budget import StripeClass, stripe_class
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient


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


@dataclass(frozen=True, slots=True)
class OrgContext:
    """A verified caller acting on one organization, as D1 holds it now."""

    user: User
    organization: Organization
    member_role: MemberRole | None


BEARER_SCHEME = "HTTPBearer"
"""The OpenAPI security scheme every route with a `Requirement` is documented under."""

_CLAIMS = {
    "X-User-ID": "Optional: must be the session's own user id (else 403).",
    "X-Org-ID": "Names the organization, where path and body do not (they must agree).",
}
"""The headers that name the caller's user and organization: they are claims, checked."""
_MAX_CLAIM = 255
_MAX_TOKEN = 4096


def _bearer(headers: Headers) -> str:
    """The session token of `Authorization: Bearer …`; 401 `missing_token` without one."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN:
        raise InvalidSession("A Bearer session token is required.", code="missing_token")
    return token


def _claims(headers: Headers) -> tuple[str | None, str | None]:
    """`X-User-ID` and `X-Org-ID`: 422 for a value over 255 characters (as a declared header
    parameter would be), and refused when a header is repeated with different values: a proxy
    that reads the last copy would see another user or organization than the one checked."""
    too_long = [
        {
            "type": "string_too_long",
            "loc": ("header", name),
            "msg": f"String should have at most {_MAX_CLAIM} characters",
        }
        for name in _CLAIMS
        if len(headers.get(name, "")) > _MAX_CLAIM
    ]
    if too_long:
        raise RequestValidationError(too_long)
    if len(set(headers.getlist("x-org-id"))) > 1:
        raise BadRequest(
            "X-Org-ID is repeated with different values.", code="organization_mismatch"
        )
    if len(set(headers.getlist("x-user-id"))) > 1:
        raise Forbidden("X-User-ID is repeated with different values.", code="user_mismatch")
    return headers.get("x-user-id"), headers.get("x-org-id")


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route does, declared in its signature: the roles table's action (which also
    decides whether a cached session check may stand for it) and the per-user rate limit it
    counts against.

    Used as the route's one dependency (`Annotated[Caller, Depends(Requirement(...))]`), so a
    route cannot be written without one; tests read it from the routes themselves. It reads
    the session token and the claims from the headers itself rather than as FastAPI
    parameters (each a dependency solved per request); `document` describes them in the
    OpenAPI document as parameters would have been.
    """

    action: Action
    limit: RouteGroup | None = None

    @property
    def verify_every_call(self) -> bool:
        """Whether the session is verified through the Worker on every call (`Action`)."""
        return not self.action.may_use_cached_session

    async def __call__(self, request: Request) -> Caller:
        headers = request.headers
        claimed_user_id, header_org_id = _claims(headers)
        # The Stripe calls of a read are refused first when the platform's budget runs short.
        stripe_class.set(StripeClass.READ if self.action.reads else StripeClass.WRITE)
        state = request.state
        return Caller(
            self,
            token=_bearer(headers),
            claimed_user_id=claimed_user_id,
            header_org_id=header_org_id,
            settings=state.settings,
            worker=state.worker,
            stripe=state.stripe,
            cache=state.session_cache,
            limiter=state.rate_limiter,
        )


def document(openapi: dict[str, Any], routes: Iterable[APIRoute]) -> None:
    """Describe in `openapi` what every route's `Requirement` reads, where FastAPI would have
    put it had they been parameters: the Bearer session scheme, and `X-User-ID` and
    `X-Org-ID` as optional header parameters."""
    schemes = openapi.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER_SCHEME] = {
        "type": "http",
        "description": "The Better Auth session token, verified through the Worker on every call.",
        "scheme": "bearer",
    }
    claims = [_claim_parameter(name, description) for name, description in _CLAIMS.items()]
    for route in routes:
        if not any(isinstance(d.call, Requirement) for d in route.dependant.dependencies):
            continue
        operations = openapi["paths"][route.path_format]
        for method in route.methods or ():
            operation = operations[method.lower()]
            later = {
                k: operation.pop(k)
                for k in ("parameters", "requestBody", "responses")
                if k in operation
            }
            operation["security"] = [{BEARER_SCHEME: []}]
            operation["parameters"] = [*later.pop("parameters", []), *copy.deepcopy(claims)]
            operation.update(later)


def _claim_parameter(name: str, description: str) -> dict[str, Any]:
    schema = {"anyOf": [{"type": "string", "maxLength": _MAX_CLAIM}, {"type": "null"}]}
    title = name.replace("-", " ").title().replace(" ", "-")  # as pydantic titles an alias
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {**schema, "description": description, "title": title},
        "description": description,
    }


class Caller:
    """The request's credentials and claims, resolved into an `OrgContext` by `authorize`, and
    what the route acts with: the settings, the Worker and Stripe."""

    def __init__(
        self,
        requirement: Requirement,
        *,
        token: str,
        claimed_user_id: str | None,
        header_org_id: str | None,
        settings: Settings,
        worker: WorkerClient,
        stripe: StripeGateway,
        cache: SessionCache,
        limiter: RateLimiter,
    ) -> None:
        self.requirement = requirement
        self.settings = settings
        self.worker = worker
        self.stripe = stripe
        self._token = token
        self._claimed_user_id = claimed_user_id
        self._header_org_id = header_org_id
        self._cache = cache
        self._limiter = limiter

    def organization_id(self, *named: str | None) -> str:
        """The one organization named by path, body and `X-Org-ID`; 400 if they differ."""
        names = {n for n in (*named, self._header_org_id) if n}
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

    async def authorize(self, *named: str | None) -> OrgContext:
        """Verify the session through the Worker and check the route's action against the
        roles table; count the call against the route's rate limit."""
        required = self.requirement
        org_id = self.organization_id(*named)
        request_id = log.request_id.get()
        cached = None if required.verify_every_call else self._cache.get(self._token, org_id)
        if cached is not None:
            user, role = cached.user, cached.member_role
            organization = await self.worker.get_organization(org_id, request_id=request_id)
        else:
            context = await self.worker.verify_user_context(
                session_token=self._token, organization_id=org_id, request_id=request_id
            )
            if context.organization is None:  # the Worker must name the org it checked
                raise Forbidden("You are not a member of this organization.", code="not_a_member")
            user, role, organization = context.user, context.member_role, context.organization
        log.user_id.set(user.id)
        log.organization_id.set(org_id)
        if self._claimed_user_id is not None and self._claimed_user_id != user.id:
            raise Forbidden("X-User-ID does not match the session's user.", code="user_mismatch")
        if cached is None and not required.verify_every_call:
            self._cache.put(
                self._token, org_id, user, role, session_expires=context.session.expires_at
            )
        if required.limit is not None:
            # Counted per verified user, never per claimed X-User-ID or per token.
            await self._limiter.take(required.limit, user.id)
        if not allowed(required.action, member_role=role, platform_admin=user.is_platform_admin):
            log.info("auth.forbidden", action=required.action.value, member_role=role)
            raise Forbidden("Your role does not allow this action.")
        return OrgContext(user=user, organization=organization, member_role=role)

    async def authorize_platform(self) -> User:
        """Verify the session through the Worker (every call, no organization named) and check
        the route's action, which only a platform admin may do; count the call."""
        required = self.requirement
        context = await self.worker.verify_user_context(
            session_token=self._token, organization_id=None, request_id=log.request_id.get()
        )
        user = context.user
        log.user_id.set(user.id)
        if self._claimed_user_id is not None and self._claimed_user_id != user.id:
            raise Forbidden("X-User-ID does not match the session's user.", code="user_mismatch")
        if required.limit is not None:
            await self._limiter.take(required.limit, user.id)
        if not allowed(required.action, member_role=None, platform_admin=user.is_platform_admin):
            log.info("auth.forbidden", action=required.action.value)
            raise Forbidden("Only platform admins may do this.")
        return user


ReadsStatus = Annotated[Caller, Depends(Requirement(Action.READ_STATUS, limit=RouteGroup.READS))]
"""Any member, platform admins: the status (rate-limited per user as a read)."""
ReadsBalance = Annotated[Caller, Depends(Requirement(Action.READ_BALANCE, limit=RouteGroup.READS))]
"""Owners, admins and platform admins: what money an account holds (a read)."""
ManagesOnboarding = Annotated[
    Caller, Depends(Requirement(Action.MANAGE_ACCOUNT, limit=RouteGroup.ONBOARDING))
]
"""Owners and admins: onboarding and the dashboard link; verified on every call."""
ManagesPayouts = Annotated[
    Caller, Depends(Requirement(Action.MANAGE_ACCOUNT, limit=RouteGroup.MONEY))
]
"""Owners and admins: the payout schedule and payouts; verified on every call."""
PaysOut = ManagesPayouts
"""Owners and admins moving their money out: the session is verified on every call."""
MovesPlatformMoney = Annotated[
    Caller, Depends(Requirement(Action.MOVE_PLATFORM_MONEY, limit=RouteGroup.MONEY))
]
"""Platform admins: transfers and fees; the session is verified on every call."""
RunsPlatform = Annotated[Caller, Depends(Requirement(Action.RUN_PLATFORM, limit=RouteGroup.READS))]
"""Platform admins: the console's view of every organization; verified on every call."""
