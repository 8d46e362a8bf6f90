"""Who is calling and what they may do: every call is verified through the Worker.

The client's claims (`X-User-ID`, `X-Org-ID`, `organization_id`) only *name* things; the Worker's
`verify-user-context` decides who the caller is and their role. Successful checks are cached
for `SESSION_CACHE_TTL_SECONDS` per (token, organization) — the identity and role only, never
the organization's data, which is read fresh on every call. Failures are never cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connect_backend import log
from connect_backend.errors import BadRequest, Forbidden, InvalidSession
from connect_backend.limits import RateLimiter, RouteGroup, StripeClass, stripe_class
from connect_backend.sessions import SessionCache
from connect_backend.types import MemberRole, Organization, User
from connect_backend.worker import WorkerClient


class Action(StrEnum):
    """What a route does, for the roles table of the product spec."""

    READ_STATUS = "read_status"
    READ_BALANCE = "read_balance"
    MANAGE_ACCOUNT = "manage_account"  # onboard, dashboard link, payout, payout schedule
    MOVE_PLATFORM_MONEY = "move_platform_money"  # transfer, platform fee
    RUN_PLATFORM = "run_platform"  # the console: every organization, not one


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


_SESSION = HTTPBearer(
    auto_error=False,  # our own 401 `missing_token`, in the one error body
    description="The Better Auth session token, verified through the Worker on every call.",
)


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    token = credentials.credentials if credentials is not None else ""
    if not token or len(token) > 4096:
        raise InvalidSession("A Bearer session token is required.", code="missing_token")
    return token


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route does, declared in its signature: the roles table's action, the per-user
    rate limit it counts against, and whether a cached session check may stand for it.

    Used as the route's dependency (`Annotated[Caller, Depends(Requirement(...))]`), so a
    route cannot be written without one; tests read it from the routes themselves.
    """

    action: Action
    limit: RouteGroup | None = None
    verify_every_call: bool = False

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_SESSION)],
        x_user_id: Annotated[
            str | None,
            Header(
                alias="X-User-ID",
                max_length=255,
                description="Optional: must be the session's own user id (else 403).",
            ),
        ] = None,
        x_org_id: Annotated[
            str | None,
            Header(
                alias="X-Org-ID",
                max_length=255,
                description="Names the organization, where path and body do not (they must agree).",
            ),
        ] = None,
    ) -> Caller:
        # A repeated header whose copies differ would let a proxy that reads the last copy
        # see another organization or user than the one checked here: refuse it.
        if len(set(request.headers.getlist("x-org-id"))) > 1:
            raise BadRequest(
                "X-Org-ID is repeated with different values.", code="organization_mismatch"
            )
        if len(set(request.headers.getlist("x-user-id"))) > 1:
            raise Forbidden("X-User-ID is repeated with different values.", code="user_mismatch")
        # The Stripe calls of a read are refused first when the platform's budget runs short.
        reads = self.action in (Action.READ_STATUS, Action.READ_BALANCE, Action.RUN_PLATFORM)
        stripe_class.set(StripeClass.READ if reads else StripeClass.WRITE)
        state = request.state
        return Caller(
            self,
            token=_bearer(credentials),
            claimed_user_id=x_user_id,
            header_org_id=x_org_id,
            worker=state.worker,
            cache=state.session_cache,
            limiter=state.rate_limiter,
        )


class Caller:
    """The request's credentials and claims, resolved into an `OrgContext` by `authorize`."""

    def __init__(
        self,
        requirement: Requirement,
        *,
        token: str,
        claimed_user_id: str | None,
        header_org_id: str | None,
        worker: WorkerClient,
        cache: SessionCache,
        limiter: RateLimiter,
    ) -> None:
        self.requirement = requirement
        self._token = token
        self._claimed_user_id = claimed_user_id
        self._header_org_id = header_org_id
        self._worker = worker
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
            organization = await self._worker.get_organization(org_id, request_id=request_id)
        else:
            context = await self._worker.verify_user_context(
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
        context = await self._worker.verify_user_context(
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
"""Owners and admins: onboarding and the dashboard link."""
ManagesPayouts = Annotated[
    Caller, Depends(Requirement(Action.MANAGE_ACCOUNT, limit=RouteGroup.MONEY))
]
"""Owners and admins: the payout schedule."""
PaysOut = Annotated[
    Caller,
    Depends(Requirement(Action.MANAGE_ACCOUNT, limit=RouteGroup.MONEY, verify_every_call=True)),
]
"""Owners and admins moving their money out: the session is verified on every call."""
MovesPlatformMoney = Annotated[
    Caller,
    Depends(
        Requirement(Action.MOVE_PLATFORM_MONEY, limit=RouteGroup.MONEY, verify_every_call=True)
    ),
]
"""Platform admins: transfers and fees; the session is verified on every call."""
RunsPlatform = Annotated[
    Caller,
    Depends(Requirement(Action.RUN_PLATFORM, limit=RouteGroup.READS, verify_every_call=True)),
]
"""Platform admins: the console's view of every organization; verified on every call."""
