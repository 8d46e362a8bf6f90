"""Stripe's account models across real processes (issue 22), on a stack of its own with
`CONNECT_ACCOUNTS_API=v2`: a v2 organization's whole journey; a Custom-like v1 account
onboarded through an Account Session (the simulator's stand-in for the embedded component);
and a mixed fleet of a legacy-type v1, a controller v1 and a v2 account under `reconcile`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import BetterAuth, Member, Stack, StackConfig
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

CUSTOM_LIKE = {
    "controller": {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "application",
        "stripe_dashboard": {"type": "none"},
    },
    "tos_acceptance": {"service_agreement": "full"},
}
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
    link = await service.post(
        "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.owner)
    )
    assert link.status_code == 200, link.text
    account_id = link.json()["account_id"]
    stored = await d1_org(internal, team.org_id)
    assert (stored["stripe_connect_account_id"], stored["stripe_connect_account_api"]) == (
        account_id,
        "v2",
    )
    v2_view = await sim.get(f"/_sim/accounts/{account_id}")
    assert v2_view.json()["account"]["settings"]["payouts"]["schedule"]["interval"] == "manual"

    async with httpx.AsyncClient() as browser:
        done = await browser.post(link.json()["url"], data={"outcome": "complete"})
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


async def test_a_custom_like_account_onboards_through_an_account_session(
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    better_auth: BetterAuth,
    platform_admin: Member,
) -> None:
    team = new_team(better_auth, platform_admin)
    await linked_v1_account(stripe_api, internal, team.org_id, **CUSTOM_LIKE)

    refused = await service.post(
        "/api/connect/account-session",
        json={"organization_id": team.org_id},
        headers=auth(team.member),
    )
    session = await service.post(
        "/api/connect/account-session",
        json={"organization_id": team.org_id},
        headers=auth(team.owner),
    )
    assert refused.status_code == 403
    assert session.status_code == 200, session.text
    given = await sim.post(
        "/_sim/account_sessions/onboarding",
        json={"client_secret": session.json()["client_secret"], "outcome": "complete"},
    )
    assert given.status_code == 200, given.text
    await settle(sim)

    status = await service.get(f"/api/connect/status/{team.org_id}", headers=auth(team.member))
    assert (status.json()["status"], status.json()["onboarding_step"]) == ("active", "complete")
    # No Stripe dashboard for a Custom-like account: the route gives an `account_update`
    # Account Link instead (the simulator refuses that type unless the platform collects).
    update = await service.post(
        "/api/connect/dashboard-link",
        json={"organization_id": team.org_id},
        headers=auth(team.owner),
    )
    assert update.status_code == 200, update.text
    assert update.json()["url"].startswith("http")


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
