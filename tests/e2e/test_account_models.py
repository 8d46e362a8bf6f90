"""Stripe's account models across real processes (issue 22), on a stack of its own with
`CONNECT_ACCOUNTS_API=v2`: a v2 organization's whole journey; a platform whose key cannot use
Accounts v2; a Custom-like v1 account made by a second service process of the same platform
(`CONNECT_ACCOUNT_TYPE=custom`) and onboarded through an Account Session (the simulator's
stand-in for the embedded component); and a mixed fleet of a legacy-type v1, a controller v1
and a v2 account under `reconcile`."""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.procs import Process, free_port
from devstack.stack import BetterAuth, Member, Stack, StackConfig
from stripe_sim.objects import CONTROLLERS
from tests.support.stack import (
    Team,
    add_event_destination,
    auth,
    better_auth_api,
    d1_org,
    linked_v1_account,
    settle,
)

pytestmark = pytest.mark.e2e

_serial = itertools.count(1)

EXPRESS_LIKE = {
    "controller": {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": "express"},
    }
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("account-models"),
        service_env={"CONNECT_ACCOUNTS_API": "v2"},
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def custom_service_url(stack: Stack) -> Iterator[str]:
    """A second service process beside the stack's, sharing its Worker, D1 and simulator, that
    makes new accounts Custom-like through v1 (`CONNECT_ACCOUNTS_API=v1`,
    `CONNECT_ACCOUNT_TYPE=custom`): the service's own creation path, without a second stack.
    Webhooks still go to the stack's process (they are handled alike: D1 records each
    account's API, and the dashboard link follows the account's own controller)."""
    port = free_port()
    process = Process(
        "connect-backend-custom",
        [sys.executable, "-m", "connect_backend"],
        log_path=stack.config.state_dir / "logs" / "connect-backend-custom.log",
        env={
            **stack.service_env(),
            "CONNECT_ACCOUNTS_API": "v1",
            "CONNECT_ACCOUNT_TYPE": "custom",
            "HOST": "127.0.0.1",
            "PORT": str(port),
        },
    )
    process.start()
    try:
        process.wait_http(f"http://127.0.0.1:{port}/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
async def custom_service(custom_service_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=custom_service_url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


@pytest.fixture(scope="module")
def platform_admin(stack: Stack, better_auth: BetterAuth) -> Member:
    admin = better_auth.sign_up("root@models.test", "admin-password-123", "Root")
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'root@models.test'")
    return admin


def new_team(better_auth: BetterAuth, admin: Member) -> Team:
    n = next(_serial)
    owner = better_auth.sign_up(f"owner{n}@models.test", "owner-password-123", f"Owner {n}")
    member = better_auth.sign_up(f"member{n}@models.test", "member-password-123", f"Member {n}")
    org_id = better_auth.create_organization(owner, f"Models {n}", f"models-{n}")
    better_auth.add_member(owner, member, org_id, "member")
    return Team(org_id=org_id, owner=owner, member=member, admin=admin)


async def onboard_linked(
    service: httpx.AsyncClient, internal: httpx.AsyncClient, team: Team, api: str
) -> tuple[str, str]:
    """The owner's `POST /onboard`: the account it made and linked in D1 through `api`, and
    its onboarding link."""
    link = await service.post(
        "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.owner)
    )
    assert link.status_code == 200, link.text
    account_id: str = link.json()["account_id"]
    stored = await d1_org(internal, team.org_id)
    assert (stored["stripe_connect_account_id"], stored["stripe_connect_account_api"]) == (
        account_id,
        api,
    )
    return account_id, link.json()["url"]


async def test_a_v2_organization_onboards_and_is_paid_and_pays_out(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    better_auth: BetterAuth,
    platform_admin: Member,
) -> None:
    team = new_team(better_auth, platform_admin)
    # The platform's event destination: thin events, to the service's webhook route.
    destination = await add_event_destination(
        sim, stack.config.service_url, stack.config.webhook_secret
    )
    # Only thin events tell the service about this account: the snapshot endpoints are
    # taken away for the test (and put back after it).
    snapshot_endpoints = [
        e for e in (await sim.get("/_sim/webhook_endpoints")).json()["data"] if not e["thin"]
    ]
    for endpoint in snapshot_endpoints:
        await sim.delete(f"/_sim/webhook_endpoints/{endpoint['id']}")
    try:
        await _v2_journey(stack, service, sim, internal, team)
    finally:
        for endpoint in snapshot_endpoints:
            await sim.post(
                "/_sim/webhook_endpoints",
                json={
                    "url": endpoint["url"],
                    "secret": endpoint["secret"],
                    "connect": endpoint["application"] == "connect",
                },
            )
        await sim.delete(f"/_sim/webhook_endpoints/{destination}")


async def _v2_journey(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    team: Team,
) -> None:
    account_id, url = await onboard_linked(service, internal, team, "v2")
    v2_view = await sim.get(f"/_sim/accounts/{account_id}")
    assert v2_view.json()["account"]["settings"]["payouts"]["schedule"]["interval"] == "manual"

    async with httpx.AsyncClient() as browser:
        done = await browser.post(url, data={"outcome": "complete"})
    assert done.status_code == 303
    await settle(sim)
    # D1 learned it from the thin events (no refresh): the service fetched the account.
    stored = await d1_org(internal, team.org_id)
    assert (stored["stripe_connect_status"], stored["onboarding_step"]) == ("active", "complete")
    deliveries = (await sim.get("/_sim/deliveries")).json()["data"]
    thin = [d for d in deliveries if d["event_type"].startswith("v2.core.account")]
    assert thin
    assert {d["status"] for d in thin} == {200}
    status = await service.get(
        f"/api/connect/status/{team.org_id}?refresh=true", headers=auth(team.owner)
    )
    assert (status.json()["status"], status.json()["onboarding_step"]) == ("active", "complete")

    funded = await sim.post("/_sim/platform/fund", json={"amount": 100_000})
    assert funded.status_code == 200, funded.text
    sent = await service.post(
        "/api/connect/transfer",
        json={"organization_id": team.org_id, "amount": 10_000, "currency": "usd"},
        headers=auth(team.admin, **{"Idempotency-Key": f"v2-{team.org_id}"}),
    )
    assert sent.status_code == 200, sent.text
    paid = await service.post(
        "/api/connect/payout",
        json={"organization_id": team.org_id, "currency": "usd"},
        headers=auth(team.owner, **{"Idempotency-Key": f"v2-payout-{team.org_id}"}),
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["amount"] == 9_000
    history = await service.get(f"/api/connect/transfers/{team.org_id}", headers=auth(team.owner))
    assert [t["net_amount"] for t in history.json()["data"]] == [9_000]


async def test_a_key_that_cannot_use_accounts_v2_is_a_409_and_changes_nothing(
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    team: Team,
) -> None:
    before = await d1_org(internal, team.org_id)
    await sim.delete("/_sim/requests")
    refused = await sim.post("/_sim/config", json={"platform": {"accounts_v2": False}})
    assert refused.status_code == 200, refused.text
    try:
        onboard = await service.post(
            "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.owner)
        )
    finally:
        await sim.post("/_sim/config", json={"platform": {"accounts_v2": True}})

    assert onboard.status_code == 409, onboard.text
    assert onboard.json()["error"]["code"] == "accounts_v2_not_enabled"
    assert "CONNECT_ACCOUNTS_API=v1" in onboard.json()["error"]["message"]
    assert await d1_org(internal, team.org_id) == before
    calls = (await sim.get("/_sim/requests", params={"method": "POST"})).json()["data"]
    assert [(c["path"], c["count"]) for c in calls] == [("/v2/core/accounts", 1)]
    # The platform's key may use v2 again: the same organization onboards as v2.
    again = await service.post(
        "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.owner)
    )
    assert again.status_code == 200, again.text
    assert (await d1_org(internal, team.org_id))["stripe_connect_account_api"] == "v2"


async def test_a_custom_like_account_made_by_the_service_onboards_through_an_account_session(
    stack: Stack,
    custom_service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    team: Team,
) -> None:

    account_id, _ = await onboard_linked(custom_service, internal, team, "v1")
    # What Stripe holds: the Custom-like controller properties (Stripe's equivalent of the
    # legacy `custom` type, which the simulator shows as `type`), the full agreement the
    # platform collects, and the payout schedule made manual.
    held = (await sim.get(f"/_sim/accounts/{account_id}")).json()["account"]
    assert held["controller"] == CONTROLLERS["custom"]
    assert held["type"] == "custom"
    assert held["tos_acceptance"]["service_agreement"] == "full"
    assert held["settings"]["payouts"]["schedule"]["interval"] == "manual"
    assert held["metadata"] == {"organization_id": team.org_id}
    created = await sim.get("/_sim/requests", params={"path": f"/v2/core/accounts/{account_id}"})
    assert created.json()["total"] == 0  # a v1 account: never read through v2

    refused = await custom_service.post(
        "/api/connect/account-session",
        json={"organization_id": team.org_id},
        headers=auth(team.member),
    )
    session = await custom_service.post(
        "/api/connect/account-session",
        json={"organization_id": team.org_id},
        headers=auth(team.owner),
    )
    assert refused.status_code == 403
    assert session.status_code == 200, session.text
    assert session.json()["account_id"] == account_id
    given = await sim.post(
        "/_sim/account_sessions/onboarding",
        json={"client_secret": session.json()["client_secret"], "outcome": "complete"},
    )
    assert given.status_code == 200, given.text
    await settle(sim)

    # D1 learned it from the webhooks (no refresh).
    stored = await d1_org(internal, team.org_id)
    assert (stored["stripe_connect_status"], stored["onboarding_step"]) == ("active", "complete")
    status = await custom_service.get(
        f"/api/connect/status/{team.org_id}", headers=auth(team.member)
    )
    assert (status.json()["status"], status.json()["onboarding_step"]) == ("active", "complete")
    # No Stripe dashboard for a Custom-like account: the route gives an `account_update`
    # Account Link instead (the simulator refuses that type unless the platform collects).
    update = await custom_service.post(
        "/api/connect/dashboard-link",
        json={"organization_id": team.org_id},
        headers=auth(team.owner),
    )
    assert update.status_code == 200, update.text
    assert update.json()["url"].startswith(f"{stack.config.sim_url}/setup/s/{account_id}/")
    logins = await sim.get(
        "/_sim/requests", params={"path": f"/v1/accounts/{account_id}/login_links"}
    )
    assert logins.json()["total"] == 0


async def test_reconcile_brings_a_mixed_fleet_to_stripes_truth(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    better_auth: BetterAuth,
    platform_admin: Member,
) -> None:
    legacy, controlled, modern = (new_team(better_auth, platform_admin) for _ in range(3))
    accounts = {
        legacy.org_id: await linked_v1_account(stripe_api, internal, legacy.org_id, type="express"),
        controlled.org_id: await linked_v1_account(
            stripe_api, internal, controlled.org_id, **EXPRESS_LIKE
        ),
    }
    link = await service.post(
        "/api/connect/onboard", json={"organization_id": modern.org_id}, headers=auth(modern.owner)
    )
    assert link.status_code == 200, link.text
    accounts[modern.org_id] = link.json()["account_id"]
    await settle(sim)

    await sim.post("/_sim/config", json={"webhooks_enabled": False})
    try:
        for account_id in accounts.values():
            done = await sim.post(
                f"/_sim/accounts/{account_id}/onboarding", json={"outcome": "complete"}
            )
            assert done.status_code == 200, done.text
        for org_id in accounts:
            assert (await d1_org(internal, org_id))["stripe_connect_status"] == "pending"

        run = stack.reconcile()
    finally:
        await sim.post("/_sim/config", json={"webhooks_enabled": True})

    assert run.returncode == 0, run.stderr
    for org_id in accounts:
        stored = await d1_org(internal, org_id)
        assert (stored["stripe_connect_status"], stored["onboarding_step"]) == (
            "active",
            "complete",
        ), org_id
    apis = {
        org_id: (await d1_org(internal, org_id))["stripe_connect_account_api"]
        for org_id in accounts
    }
    assert apis == {legacy.org_id: "v1", controlled.org_id: "v1", modern.org_id: "v2"}
    counted = await sim.get(
        "/_sim/requests", params={"path": f"/v2/core/accounts/{accounts[modern.org_id]}"}
    )
    assert counted.json()["total"] >= 1  # the v2 account was read through v2
