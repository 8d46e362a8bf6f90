"""Every `/api/connect` route declares what it does (its `Requirement`): a route cannot be
written without authorization, and money routes always verify the session."""

from __future__ import annotations

import inspect

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from connect_backend.app import create_app
from connect_backend.auth import Action, PlatformRequirement, Requirement
from connect_backend.rate_limits import RouteGroup
from connect_backend.routes import connect
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, make_settings, onboarded


def requirements_of(route: APIRoute) -> list[Requirement | PlatformRequirement]:
    """The `Requirement`s among a route's dependencies, as FastAPI will resolve them."""
    return [
        d.call
        for d in route.dependant.dependencies
        if isinstance(d.call, Requirement | PlatformRequirement)
    ]


def connect_routes() -> list[APIRoute]:
    app = create_app(make_settings())
    served = [r for r in connect.router.routes if isinstance(r, APIRoute)]
    assert all(r in app.routes for r in served)  # the app serves them as they are
    return served


def test_every_connect_route_declares_exactly_one_requirement() -> None:
    routes = connect_routes()

    missing = {f"{sorted(r.methods)} {r.path}" for r in routes if len(requirements_of(r)) != 1}

    assert len(routes) >= 10
    assert missing == set()


def test_the_requirement_is_each_connect_route_s_only_dependency() -> None:
    """FastAPI solves every dependency and sub-dependency on every request: the clients come
    with the `Caller`, the headers are read by the `Requirement` (docs/benchmarks.md)."""
    extra = {
        f"{sorted(r.methods)} {r.path}": [d.call for d in r.dependant.dependencies]
        for r in connect_routes()
        if len(r.dependant.dependencies) != 1 or r.dependant.dependencies[0].dependencies
    }

    assert extra == {}


def test_the_declared_actions_are_the_roles_table_s() -> None:
    declared = {
        (method, route.path): requirements_of(route)[0].action
        for route in connect_routes()
        for method in route.methods
    }

    assert declared == {
        ("GET", "/api/connect/status"): Action.READ_STATUS,
        ("GET", "/api/connect/status/{org_id}"): Action.READ_STATUS,
        ("GET", "/api/connect/balance"): Action.READ_BALANCE,
        ("GET", "/api/connect/balance/{org_id}"): Action.READ_BALANCE,
        ("POST", "/api/connect/onboard"): Action.MANAGE_ACCOUNT,
        ("POST", "/api/connect/dashboard-link"): Action.MANAGE_ACCOUNT,
        ("POST", "/api/connect/account-session"): Action.MANAGE_ACCOUNT,
        ("POST", "/api/connect/payout"): Action.MANAGE_ACCOUNT,
        ("PUT", "/api/connect/payout-schedule"): Action.MANAGE_ACCOUNT,
        ("POST", "/api/connect/transfer"): Action.MOVE_PLATFORM_MONEY,
        ("POST", "/api/connect/transfers/{transfer_id}/reversals"): Action.MOVE_PLATFORM_MONEY,
        ("PUT", "/api/connect/platform-fee/{org_id}"): Action.MOVE_PLATFORM_MONEY,
        ("GET", "/api/connect/payouts"): Action.READ_BALANCE,
        ("GET", "/api/connect/payouts/{org_id}"): Action.READ_BALANCE,
        ("GET", "/api/connect/transfers"): Action.READ_BALANCE,
        ("GET", "/api/connect/transfers/{org_id}"): Action.READ_BALANCE,
        ("GET", "/api/connect/claims"): Action.READ_BALANCE,
        ("GET", "/api/connect/claims/{org_id}"): Action.READ_BALANCE,
        ("GET", "/api/connect/open-claims"): Action.RUN_PLATFORM,
        ("GET", "/api/connect/payout-schedule"): Action.READ_BALANCE,
        ("GET", "/api/connect/payout-schedule/{org_id}"): Action.READ_BALANCE,
        ("GET", "/api/connect/organizations"): Action.RUN_PLATFORM,
    }


def test_money_routes_verify_every_call_and_count_as_money() -> None:
    by_path = {route.path: requirements_of(route)[0] for route in connect_routes()}

    for path in (
        "/api/connect/transfer",
        "/api/connect/payout",
        "/api/connect/platform-fee/{org_id}",
    ):
        required = by_path[path]
        assert isinstance(required, Requirement)
        assert required.verify_every_call, path
        assert required.limit is RouteGroup.MONEY, path
    reads = by_path["/api/connect/status/{org_id}"]
    assert isinstance(reads, Requirement)
    assert not reads.verify_every_call
    assert by_path["/api/connect/status/{org_id}"].limit is RouteGroup.READS


def test_every_route_that_writes_or_hands_out_a_link_verifies_every_call() -> None:
    """The session cache serves an organization's reads only (README, "Sessions")."""
    cached = {
        f"{method} {route.path}"
        for route in connect_routes()
        for method in route.methods
        if isinstance(required := requirements_of(route)[0], Requirement)
        and not required.verify_every_call
    }

    assert cached == {
        f"GET /api/connect/{path}"
        for path in (
            "status",
            "status/{org_id}",
            "balance",
            "balance/{org_id}",
            "payouts",
            "payouts/{org_id}",
            "transfers",
            "transfers/{org_id}",
            "payout-schedule",
            "payout-schedule/{org_id}",
            "claims",
            "claims/{org_id}",
        )
    }


def test_a_handler_receives_its_clients_only_from_its_authorized_context() -> None:
    """The dependency returns the authorized context (the organization, the role and the
    clients): no route takes the Worker, Stripe or the settings any other way, so a handler
    that was not authorized has nothing to call them with."""
    from connect_backend.deps import Clients
    from connect_backend.settings import Settings
    from connect_backend.stripe_gateway import StripeGateway
    from connect_backend.worker import WorkerClient

    clients = (Clients, Settings, StripeGateway, WorkerClient)
    handed = {
        f"{sorted(r.methods)} {r.path}": name
        for r in connect_routes()
        for name, parameter in inspect.signature(r.endpoint).parameters.items()
        if any(c.__name__ in str(parameter.annotation) for c in clients)
    }

    assert handed == {}


def test_a_route_without_a_requirement_is_found() -> None:
    """The check above would catch a route written without authorization."""
    router = connect.router.__class__()

    @router.get("/api/connect/leak")
    async def leak() -> dict[str, str]:
        return {}

    [route] = [r for r in router.routes if isinstance(r, APIRoute)]
    assert requirements_of(route) == []


MONEY_CALLS = {
    "transfer": (
        "POST",
        "/api/connect/transfer",
        {"organization_id": "org_a", "amount": 100, "currency": "usd"},
        {"Idempotency-Key": "t"},
    ),
    "payout": (
        "POST",
        "/api/connect/payout",
        {"organization_id": "org_a", "currency": "usd", "amount": 100},
        {"Idempotency-Key": "p"},
    ),
    "platform-fee": ("PUT", "/api/connect/platform-fee/org_a", {"platform_fee_percent": 5}, {}),
}


@pytest.mark.parametrize("settings", [make_settings(session_cache_ttl_seconds=60)])
@pytest.mark.parametrize("route", list(MONEY_CALLS))
async def test_a_cached_session_never_covers_money(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, route: str
) -> None:
    """A demoted admin, a removed member or a signed-out session cannot move money on a cached
    check: the Worker is asked on every money call, and its refusal stands at once."""
    onboarded(worker, stripe, "org_a", available=5000)
    person = (
        worker.add_person("olive", org_a="owner")
        if route == "payout"
        else worker.add_person("pat", role="admin")
    )
    method, path, body, headers = MONEY_CALLS[route]
    status = await client.get("/api/connect/status/org_a", headers=bearer(person.token))
    assert status.status_code == 200  # a read: the session is now cached

    first = await client.request(method, path, json=body, headers=bearer(person.token, **headers))
    del worker.people[person.token]  # signed out (or removed) since
    second = await client.request(method, path, json=body, headers=bearer(person.token, **headers))

    assert first.status_code == 200, first.text
    assert (second.status_code, second.json()["error"]["code"]) == (401, "invalid_session")
    assert len(worker.calls("verify-user-context")) == 3  # the read once, each money call


@pytest.mark.parametrize("settings", [make_settings(session_cache_ttl_seconds=60)])
async def test_reads_still_use_the_cache(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    for _ in range(3):
        r = await client.get("/api/connect/status/org_a", headers=bearer(owner.token))
        assert r.status_code == 200

    assert len(worker.calls("verify-user-context")) == 1


async def test_a_request_matches_its_route_once(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The routers' routes are the app's own: FastAPI's `include_router` would have the app's
    router ask a wrapper whether the path matches, then the wrapper match it again to find the
    route, every request (docs/benchmarks.md, issue 24's fourth pass)."""
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    (route,) = [r for r in connect.router.routes if isinstance(r, APIRoute) and r.name == "status"]
    asked: list[str] = []
    matches = route.matches

    def counted(scope: Scope) -> tuple[Match, Scope]:
        asked.append(scope["path"])
        return matches(scope)

    monkeypatch.setattr(route, "matches", counted)

    r = await client.get("/api/connect/status/org_a", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert asked == ["/api/connect/status/org_a"]
