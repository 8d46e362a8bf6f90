"""Who is calling and what they may do: every call is verified through the Worker.

The client's claims (`X-User-ID`, `X-Org-ID`, `organization_id`) only *name* things; the Worker's
`verify-user-context` decides who the caller is and their role. Successful checks are cached
for `SESSION_CACHE_TTL_SECONDS` per (token, organization) — the identity and role only, never
the organization's data, which is read fresh on every call. Failures are never cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connect_backend import log
from connect_backend.deps import WorkerDep
from connect_backend.errors import BadRequest, Forbidden, InvalidSession
from connect_backend.limits import RateLimiter, RouteGroup
from connect_backend.sessions import SessionCache
from connect_backend.types import MemberRole, Organization, User
from connect_backend.worker import WorkerClient


class Action(StrEnum):
    """What a route does, for the roles table of the product spec."""

    READ_STATUS = "read_status"
    READ_BALANCE = "read_balance"
    MANAGE_ACCOUNT = "manage_account"  # onboard, dashboard link, payout, payout schedule
    MOVE_PLATFORM_MONEY = "move_platform_money"  # transfer, platform fee


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


class Caller:
    """The request's credentials and claims, resolved into an `OrgContext` per route."""

    def __init__(
        self,
        *,
        token: str,
        claimed_user_id: str | None,
        header_org_id: str | None,
        worker: WorkerClient,
        cache: SessionCache,
        limiter: RateLimiter | None = None,
        group: RouteGroup | None = None,
    ) -> None:
        self._token = token
        self._claimed_user_id = claimed_user_id
        self._header_org_id = header_org_id
        self._worker = worker
        self._cache = cache
        self._limiter = limiter
        self._group = group

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

    async def authorize(self, action: Action, *named: str | None) -> OrgContext:
        """Verify the session through the Worker and check `action` against the roles table."""
        org_id = self.organization_id(*named)
        request_id = log.request_id.get()
        cached = self._cache.get(self._token, org_id)
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
        if cached is None:
            self._cache.put(self._token, org_id, user, role)
        if self._limiter is not None and self._group is not None:
            # Counted per verified user, never per claimed X-User-ID or per token.
            self._limiter.take(self._group, user.id)
        if not allowed(action, member_role=role, platform_admin=user.is_platform_admin):
            log.info("auth.forbidden", action=action.value, member_role=role)
            raise Forbidden("Your role does not allow this action.")
        return OrgContext(user=user, organization=organization, member_role=role)


def _caller_for(group: RouteGroup | None) -> Callable[..., Awaitable[Caller]]:
    """The dependency that resolves a route's `Caller`; `group` names its rate limit, if any."""

    async def _caller(
        request: Request,
        worker: WorkerDep,
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
        return Caller(
            token=_bearer(credentials),
            claimed_user_id=x_user_id,
            header_org_id=x_org_id,
            worker=worker,
            cache=request.state.session_cache,
            limiter=request.state.rate_limiter if group is not None else None,
            group=group,
        )

    return _caller


CallerDep = Annotated[Caller, Depends(_caller_for(None))]
OnboardingCallerDep = Annotated[Caller, Depends(_caller_for(RouteGroup.ONBOARDING))]
"""A caller of onboard or dashboard-link: rate-limited per user (`RATE_LIMIT_ONBOARDING_…`)."""
MoneyCallerDep = Annotated[Caller, Depends(_caller_for(RouteGroup.MONEY))]
"""A caller of the money routes: rate-limited per user (`RATE_LIMIT_MONEY_PER_MINUTE`)."""
