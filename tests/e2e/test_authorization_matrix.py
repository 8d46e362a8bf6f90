"""The authorization matrix: every route by every principal, against the real Worker.

The product spec's roles table ("Who may do what", with the rows issue 13 added) is encoded
once, as data (`ROLES`). From it and the principals' expected refusals, `expected()` derives
what each of the 18 route forms must answer to each of the 10 principals.
`test_authorization_matrix` asks the local stack (Worker with Better Auth on D1, the Stripe
simulator, the service) every cell, on an organization whose
onboarding is complete, and fails on any difference. Refused cells run first, with a tripwire on
the simulator: any Stripe call made while they run (a read, a link, a transfer, a payout) fails
the build, and so does any change to the simulator's accounts, balances and events or to the
organization's row in D1. `test_roles_table_matches_auth_allowed` keeps the table and the
service's own `connect_backend.auth.allowed` from drifting apart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import httpx
import pytest
from fastapi.routing import APIRoute

from connect_backend.auth import Action, PlatformRequirement, Requirement, allowed
from connect_backend.routes import connect as connect_routes
from devstack.stack import BetterAuth, Member, Stack
from tests.support.stack import d1_org, settle

# ------------------------------------------------------------------------------------ the table


class Column(StrEnum):
    """The columns of the spec's roles table."""

    MEMBER = "org member"
    ORG_ADMIN = "org admin / owner"
    PLATFORM_ADMIN = "platform admin"


M, A, P = Column.MEMBER, Column.ORG_ADMIN, Column.PLATFORM_ADMIN

# product.md, "Who may do what": each row, and the columns that say "yes" (or "yes, any org").
ROLES: dict[str, frozenset[Column]] = {
    "GET /api/connect/status[/{orgId}]": frozenset({M, A, P}),
    "POST /api/connect/onboard": frozenset({A}),
    "POST /api/connect/dashboard-link": frozenset({A}),
    "GET /api/connect/balance[/{orgId}]": frozenset({A, P}),
    "POST /api/connect/payout": frozenset({A}),
    "PUT /api/connect/payout-schedule": frozenset({A}),
    "POST /api/connect/transfer": frozenset({P}),
    "PUT /api/connect/platform-fee/{orgId}": frozenset({P}),
    # Issue 13's rows (README "API"): history and the schedule read back, like the balance;
    # the console, platform admins only.
    "GET /api/connect/payouts[/{orgId}]": frozenset({A, P}),
    "GET /api/connect/transfers[/{orgId}]": frozenset({A, P}),
    "GET /api/connect/payout-schedule[/{orgId}]": frozenset({A, P}),
    "GET /api/connect/organizations": frozenset({P}),
    # Issue 21's row: a transfer reversed by hand, platform admins only (like the transfer).
    "POST /api/connect/transfers/{transferId}/reversals": frozenset({P}),
    # What the organization still owes (its claims), read like its history; every open claim
    # for the console.
    "GET /api/connect/claims[/{orgId}]": frozenset({A, P}),
    "GET /api/connect/open-claims": frozenset({P}),
}
# (Rows are spelled as in the spec; the route forms below refer to them by these names.)


def columns_of(member_role: str | None, *, platform_admin: bool) -> frozenset[Column]:
    """The table's columns that someone with this membership and platform role falls in."""
    columns = set()
    if member_role == "member":
        columns.add(M)
    if member_role in ("admin", "owner"):
        columns.add(A)
    if platform_admin:
        columns.add(P)
    return frozenset(columns)


# ------------------------------------------------------------------------------- the principals


class Principal(StrEnum):
    NO_TOKEN = "no token"
    BAD_TOKEN = "bad token"
    EXPIRED = "expired session"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"
    OTHER_OWNER = "owner of another organization"
    PLATFORM_ADMIN = "platform admin"
    SPOOFED_USER = "spoofed X-User-ID"  # the member's token, X-User-ID naming the owner
    MISMATCHED_ORG = "mismatched organization"  # the owner's token, X-Org-ID naming another org


# The principals the roles table speaks of, and their columns.
ROLE_COLUMNS: dict[Principal, frozenset[Column]] = {
    Principal.MEMBER: columns_of("member", platform_admin=False),
    Principal.ADMIN: columns_of("admin", platform_admin=False),
    Principal.OWNER: columns_of("owner", platform_admin=False),
    Principal.PLATFORM_ADMIN: columns_of(None, platform_admin=True),
}

# The answers every other principal gets, whatever the route.
REFUSALS: dict[Principal, tuple[int, str]] = {
    Principal.NO_TOKEN: (401, "missing_token"),
    Principal.BAD_TOKEN: (401, "invalid_session"),
    Principal.EXPIRED: (401, "invalid_session"),
    Principal.OTHER_OWNER: (403, "not_a_member"),
    Principal.SPOOFED_USER: (403, "user_mismatch"),
    Principal.MISMATCHED_ORG: (400, "organization_mismatch"),
}
ROLE_REFUSAL = (403, "forbidden")
AUTH_REFUSAL_STATUSES = frozenset({400, 401, 403})

# ----------------------------------------------------------------------------------- the routes

Outcome = tuple[int, str | None]  # status, and the error code (None for a 2xx)

# A gross so large that no payout of it can ever be made: an allowed payout reads the balance
# from Stripe and is refused with 409 insufficient_balance; no money moves.
UNPAYABLE = 99_999_999
TRANSFER_GROSS = 100


@dataclass(frozen=True)
class Route:
    """One form of a route: how it names the organization, the body it sends, and what an
    allowed caller gets on an organization whose (Express) onboarding is complete."""

    row: str  # the roles-table row
    method: str
    path: str  # FastAPI's template; {org_id} is the organization
    names_org_by: Literal["path", "body", "header", "nothing"]
    body: dict[str, Any] | None
    allowed_outcomes: frozenset[Outcome]
    idempotency_key: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.path.removeprefix('/api/connect')}"


OK: frozenset[Outcome] = frozenset({(200, None)})

STATUS, BALANCE = "GET /api/connect/status[/{orgId}]", "GET /api/connect/balance[/{orgId}]"
ONBOARD, DASHBOARD = "POST /api/connect/onboard", "POST /api/connect/dashboard-link"
PAYOUT, SCHEDULE = "POST /api/connect/payout", "PUT /api/connect/payout-schedule"
TRANSFER, FEE = "POST /api/connect/transfer", "PUT /api/connect/platform-fee/{orgId}"
PAYOUTS, TRANSFERS = "GET /api/connect/payouts[/{orgId}]", "GET /api/connect/transfers[/{orgId}]"
SCHEDULE_READ = "GET /api/connect/payout-schedule[/{orgId}]"
CONSOLE = "GET /api/connect/organizations"
REVERSAL = "POST /api/connect/transfers/{transferId}/reversals"
CLAIMS, OPEN_CLAIMS = "GET /api/connect/claims[/{orgId}]", "GET /api/connect/open-claims"
API = "/api/connect"
NO_SUCH_TRANSFER = "tr_matrix_none"  # the allowed caller's reversal finds nothing: no money moves

ROUTES: tuple[Route, ...] = (
    Route(STATUS, "GET", f"{API}/status/{{org_id}}", "path", None, OK),
    Route(STATUS, "GET", f"{API}/status", "header", None, OK),
    Route(ONBOARD, "POST", f"{API}/onboard", "body", {}, OK),
    Route(DASHBOARD, "POST", f"{API}/dashboard-link", "body", {}, OK),
    Route(BALANCE, "GET", f"{API}/balance/{{org_id}}", "path", None, OK),
    Route(BALANCE, "GET", f"{API}/balance", "header", None, OK),
    Route(
        PAYOUT,
        "POST",
        f"{API}/payout",
        "body",
        {"currency": "usd", "amount": UNPAYABLE},
        frozenset({(409, "insufficient_balance")}),
        idempotency_key=True,
    ),
    # The account starts on manual payouts: a refused call that leaked would show at Stripe.
    Route(SCHEDULE, "PUT", f"{API}/payout-schedule", "body", {"interval": "daily"}, OK),
    # Made once, by the platform admin; the platform is funded for it.
    Route(
        TRANSFER,
        "POST",
        f"{API}/transfer",
        "body",
        {"amount": TRANSFER_GROSS, "currency": "usd"},
        OK,
        idempotency_key=True,
    ),
    # What a greedy organization would ask for: a refused call that leaked would show in D1.
    Route(FEE, "PUT", f"{API}/platform-fee/{{org_id}}", "path", {"platform_fee_percent": 0.0}, OK),
    Route(PAYOUTS, "GET", f"{API}/payouts/{{org_id}}", "path", None, OK),
    Route(PAYOUTS, "GET", f"{API}/payouts", "header", None, OK),
    Route(TRANSFERS, "GET", f"{API}/transfers/{{org_id}}", "path", None, OK),
    Route(TRANSFERS, "GET", f"{API}/transfers", "header", None, OK),
    Route(SCHEDULE_READ, "GET", f"{API}/payout-schedule/{{org_id}}", "path", None, OK),
    Route(SCHEDULE_READ, "GET", f"{API}/payout-schedule", "header", None, OK),
    Route(CONSOLE, "GET", f"{API}/organizations", "nothing", None, OK),
    Route(
        REVERSAL,
        "POST",
        f"{API}/transfers/{{transfer_id}}/reversals",
        "nothing",
        {},
        frozenset({(404, "transfer_not_found")}),
        idempotency_key=True,
    ),
    Route(CLAIMS, "GET", f"{API}/claims/{{org_id}}", "path", None, OK),
    Route(CLAIMS, "GET", f"{API}/claims", "header", None, OK),
    Route(OPEN_CLAIMS, "GET", f"{API}/open-claims", "nothing", None, OK),
)


def expected(route: Route, principal: Principal) -> frozenset[Outcome]:
    """What `principal` may get from `route`, from the roles table and the refusals."""
    if principal in REFUSALS:
        if route.names_org_by == "nothing" and principal in (
            Principal.OTHER_OWNER,
            Principal.MISMATCHED_ORG,
        ):
            # No organization to be a member of, or to contradict: only the role counts.
            return frozenset({ROLE_REFUSAL})
        if principal is Principal.MISMATCHED_ORG and route.names_org_by == "header":
            # No path or body to contradict: X-Org-ID alone names an org the owner is not in.
            return frozenset({(403, "not_a_member")})
        return frozenset({REFUSALS[principal]})
    if ROLE_COLUMNS[principal] & ROLES[route.row]:
        return route.allowed_outcomes
    return frozenset({ROLE_REFUSAL})


def is_refusal(outcomes: frozenset[Outcome]) -> bool:
    return all(status in AUTH_REFUSAL_STATUSES for status, _ in outcomes)


# ------------------------------------------------------------------------------------ the world


@dataclass(frozen=True)
class World:
    """An onboarded, active organization, another organization, and a token per principal."""

    org_id: str
    other_org_id: str
    account_id: str
    owner: Member
    admin: Member
    member: Member
    other_owner: Member
    platform_admin: Member
    expired_token: str


def _complete_onboarding(service: httpx.Client, sim_url: str, owner: Member, org_id: str) -> str:
    link = service.post(
        "/api/connect/onboard",
        json={"organization_id": org_id},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert link.status_code == 200, link.text
    with httpx.Client(timeout=30.0) as browser:
        done = browser.post(link.json()["url"], data={"outcome": "complete"})
    assert done.status_code == 303, done.text
    flushed = httpx.post(f"{sim_url}/_sim/webhooks/flush", params={"timeout": "20"}, timeout=30.0)
    assert flushed.status_code == 200, flushed.text
    account_id: str = link.json()["account_id"]
    return account_id


@pytest.fixture(scope="module")
def world(stack: Stack, better_auth: BetterAuth, platform_admin: Member) -> World:
    tag = uuid.uuid4().hex[:10]

    def user(role: str) -> Member:
        return better_auth.sign_up(f"authz-{role}-{tag}@org.test", f"{role}-password-123", role)

    owner, admin, member, other_owner = user("owner"), user("admin"), user("member"), user("other")
    org_id = better_auth.create_organization(owner, f"Authz {tag}", f"authz-{tag}")
    other_org_id = better_auth.create_organization(other_owner, f"Other {tag}", f"other-{tag}")
    better_auth.add_member(owner, admin, org_id, "admin")
    better_auth.add_member(owner, member, org_id, "member")

    # A second session of the owner, never used before it expires (the service caches
    # successful checks for a few seconds, so a used session would stay good that long).
    expired = better_auth.sign_in(owner.email, owner.password).token
    raw = expired.split(".")[0].replace("'", "''")
    stack.d1(
        "UPDATE session SET expiresAt = '2020-01-01T00:00:00.000Z' "  # noqa: S608 - test data
        f"WHERE token = '{raw}'"
    )

    with httpx.Client(base_url=stack.config.service_url, timeout=30.0) as service:
        account_id = _complete_onboarding(service, stack.config.sim_url, owner, org_id)
    return World(
        org_id=org_id,
        other_org_id=other_org_id,
        account_id=account_id,
        owner=owner,
        admin=admin,
        member=member,
        other_owner=other_owner,
        platform_admin=platform_admin,
        expired_token=expired,
    )


def request_for(route: Route, principal: Principal, world: World) -> dict[str, Any]:
    """The `httpx` request arguments for one cell."""
    tokens: dict[Principal, str | None] = {
        Principal.NO_TOKEN: None,
        Principal.BAD_TOKEN: f"not-a-session-{uuid.uuid4().hex}",
        Principal.EXPIRED: world.expired_token,
        Principal.MEMBER: world.member.token,
        Principal.ADMIN: world.admin.token,
        Principal.OWNER: world.owner.token,
        Principal.OTHER_OWNER: world.other_owner.token,
        Principal.PLATFORM_ADMIN: world.platform_admin.token,
        Principal.SPOOFED_USER: world.member.token,
        Principal.MISMATCHED_ORG: world.owner.token,
    }
    headers: dict[str, str] = {}
    token = tokens[principal]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if principal is Principal.SPOOFED_USER:
        headers["X-User-ID"] = world.owner.user_id
    if route.idempotency_key:
        headers["Idempotency-Key"] = f"authz-{uuid.uuid4().hex}"
    body = None if route.body is None else dict(route.body)
    if route.names_org_by == "body":
        assert body is not None
        body["organization_id"] = world.org_id
    elif route.names_org_by == "header":
        headers["X-Org-ID"] = world.org_id
    if principal is Principal.MISMATCHED_ORG:
        headers["X-Org-ID"] = world.other_org_id
    url = route.path.replace("{org_id}", world.org_id).replace("{transfer_id}", NO_SUCH_TRANSFER)
    return {"method": route.method, "url": url, "headers": headers, "json": body}


# --------------------------------------------------------------------------------- the evidence


async def stripe_truth(sim: httpx.AsyncClient) -> dict[str, Any]:
    """What the simulator holds: accounts (settings, balances), the platform, every event."""
    accounts = (await sim.get("/_sim/accounts")).json()
    platform = (await sim.get("/_sim/platform")).json()
    events = (await sim.get("/_sim/events")).json()
    return {
        "accounts": sorted(accounts["data"], key=lambda a: str(a["id"])),
        "platform": platform,
        "events": events["count"],
        "last_event": events["data"][-1]["id"] if events["data"] else None,
    }


TRIPWIRE_COUNT = 1_000_000
TRIPWIRE = {"path_prefix": "/v1", "status": 500, "count": TRIPWIRE_COUNT, "when": "after"}


async def stripe_calls_during(sim: httpx.AsyncClient, run: Callable[[], Any]) -> int:
    """Run `run` with a tripwire on every Stripe call; how many calls it caught.

    The rule fires `after` the call ran, so a leaked write also shows in the simulator's state.
    """
    before = (await sim.get("/_sim/config")).json()["faults"]
    armed = await sim.post("/_sim/config", json={"faults": [TRIPWIRE, *before]})
    assert armed.status_code == 200, armed.text
    try:
        await run()
    finally:
        faults = (await sim.get("/_sim/config")).json()["faults"]
        restored = await sim.post("/_sim/config", json={"faults": before})
        assert restored.status_code == 200, restored.text
    remaining: int = faults[0]["count"]
    return TRIPWIRE_COUNT - remaining


# ----------------------------------------------------------------------------------- the tests


@dataclass
class Cell:
    route: Route
    principal: Principal
    expected: frozenset[Outcome]
    got: Outcome | None = None
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.got in self.expected


async def _ask(service: httpx.AsyncClient, cell: Cell, world: World) -> None:
    response = await service.request(**request_for(cell.route, cell.principal, world))
    try:
        body = response.json()
    except ValueError:
        body = response.text
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    cell.got, cell.body = (response.status_code, None if response.is_success else code), body
    # An allowed call works on the organization it named, never another one.
    named = body.get("organization_id", world.org_id) if isinstance(body, dict) else world.org_id
    if response.is_success and named != world.org_id:
        cell.got = (response.status_code, f"answered for {named}")


def _report(cells: list[Cell]) -> str:
    lines = [
        f"{c.route.label:<34} {c.principal.value:<30} expected {sorted(c.expected, key=str)} "
        f"got {c.got}: {str(c.body)[:200]}"
        for c in cells
        if not c.ok
    ]
    return f"{len(lines)} of {len(cells)} cells differ:\n" + "\n".join(lines)


@pytest.mark.e2e
async def test_authorization_matrix(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, internal: httpx.AsyncClient, world: World
) -> None:
    cells = [Cell(r, p, expected(r, p)) for r in ROUTES for p in Principal]
    assert len(cells) == 210
    refused = [c for c in cells if is_refusal(c.expected)]
    allowed_cells = [c for c in cells if not is_refusal(c.expected)]
    assert len(allowed_cells) == 51  # the table's "yes" cells, per route form

    # Enough for the one allowed transfer, even on a fresh simulator.
    funded = await sim.post("/_sim/platform/fund", json={"amount": TRANSFER_GROSS})
    assert funded.status_code == 200, funded.text
    await settle(sim)
    stripe_before = await stripe_truth(sim)
    d1_before = await d1_org(internal, world.org_id)
    assert d1_before["stripe_connect_status"] == "active"

    async def ask_refused() -> None:
        for cell in refused:
            await _ask(service, cell, world)

    leaked_calls = await stripe_calls_during(sim, ask_refused)
    await settle(sim)
    stripe_after = await stripe_truth(sim)
    d1_after = await d1_org(internal, world.org_id)

    for cell in allowed_cells:
        await _ask(service, cell, world)
        for _ in range(5):
            if cell.got != (429, "rate_limited"):
                break
            # The platform's Stripe budget for reads (test mode) is spent for the moment:
            # ask again after its Retry-After, as a browser would.
            await asyncio.sleep(1.0)
            await _ask(service, cell, world)
    await settle(sim)

    leaks = []
    if leaked_calls:
        leaks.append(f"refused callers made {leaked_calls} Stripe call(s)")
    if stripe_after != stripe_before:
        leaks.append(f"a refused caller changed Stripe: {stripe_before} -> {stripe_after}")
    if d1_after != d1_before:
        leaks.append(f"a refused caller changed D1: {d1_before} -> {d1_after}")
    failures = ([_report(cells)] if not all(c.ok for c in cells) else []) + leaks
    assert not failures, "\n".join(failures)

    # The allowed calls did real work: the one transfer, the schedule, the fee.
    truth = (await sim.get(f"/_sim/accounts/{world.account_id}")).json()
    assert truth["balance"]["available"] == {"usd": TRANSFER_GROSS - TRANSFER_GROSS // 10}
    assert truth["account"]["settings"]["payouts"]["schedule"]["interval"] == "daily"
    assert (await d1_org(internal, world.org_id))["platform_fee_percent"] == 0.0


# ------------------------------------------------------- the table against the service's own


def _actions_of(route: APIRoute) -> set[Action]:
    """The `Action`s a route declares in its signature (its `Requirement` dependencies)."""
    return {
        d.call.action
        for d in route.dependant.dependencies
        if isinstance(d.call, Requirement | PlatformRequirement)
    }


def test_roles_table_matches_auth_allowed() -> None:
    """`ROLES` (the spec's table) and `auth.allowed` agree on every route and every role."""
    routes = {
        (method, r.path): r
        for r in connect_routes.router.routes
        if isinstance(r, APIRoute)
        for method in r.methods
    }
    assert set(routes) == {(r.method, r.path) for r in ROUTES}, "a route is missing here"
    assert {r.row for r in ROUTES} == set(ROLES)
    for route in ROUTES:
        actions = _actions_of(routes[(route.method, route.path)])
        assert len(actions) == 1, (route.label, actions)
        (action,) = actions
        for role in (None, "member", "admin", "owner"):
            for platform_admin in (False, True):
                columns = columns_of(role, platform_admin=platform_admin)
                table_says = bool(columns & ROLES[route.row])
                service_says = allowed(action, member_role=role, platform_admin=platform_admin)
                assert service_says == table_says, (route.label, role, platform_admin)
