"""The whole system as real processes (devstack's `Stack`), for tests/e2e: Better Auth's API on
its Worker (`better_auth_api`), a member's headers (`auth`), what D1 holds for an organization
(`d1_org`), waiting for the simulator's webhooks (`settle`), `Team`, what the `team`
fixture makes, and accounts made at Stripe (the simulator) by another part of the platform and
linked in D1 (`linked_v1_account`, `linked_v2_account`). The fixtures are in
tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from connect_backend.stripe_objects import v2_account_params
from devstack.stack import BetterAuth, Member


@contextmanager
def better_auth_api(worker_url: str) -> Iterator[BetterAuth]:
    """Better Auth's HTTP API on the Worker at `worker_url`, closed on exit."""
    auth_api = BetterAuth(worker_url)
    try:
        yield auth_api
    finally:
        auth_api.close()


@dataclass
class Team:
    """An organization with its owner, a member and the platform admin."""

    org_id: str
    owner: Member
    member: Member
    admin: Member


def auth(member: Member, **headers: str) -> dict[str, str]:
    """Headers for a call made with `member`'s session."""
    return {"Authorization": f"Bearer {member.token}", **headers}


async def d1_org(internal: httpx.AsyncClient, org_id: str) -> dict[str, Any]:
    """The organization as D1 holds it, read through the Worker's internal API."""
    response = await internal.get(f"/organization/{org_id}")
    assert response.status_code == 200, response.text
    organization: dict[str, Any] = response.json()["organization"]
    return organization


async def settle(sim: httpx.AsyncClient, timeout: float = 20.0) -> None:
    """Wait until the simulator has delivered (and had acknowledged) every webhook."""
    response = await sim.post("/_sim/webhooks/flush", params={"timeout": str(timeout)})
    assert response.status_code == 200, response.text


def form(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as Stripe's v1 form encoding (`a[b][c]=…`)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            flat.update(form(value, name))
        else:
            flat[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


async def _link(
    internal: httpx.AsyncClient, org_id: str, account_id: str, account_api: str
) -> None:
    linked = await internal.post(
        "/create-connect-account",
        json={
            "organization_id": org_id,
            "stripe_connect_account_id": account_id,
            "account_api": account_api,
        },
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["organization"]["stripe_connect_account_api"] == account_api


async def linked_v1_account(
    stripe_api: httpx.AsyncClient, internal: httpx.AsyncClient, org_id: str, **params: Any
) -> str:
    """A v1 account made at Stripe (`stripe_api`: the simulator with the platform's key) and
    linked in D1 as v1 (an organization onboarded before issue 22, or by another part of the
    platform); `params` add to or override the creation's (`type="express"`, `controller=…`)."""
    made = await stripe_api.post(
        "/v1/accounts",
        data=form(
            {
                "country": "US",
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"organization_id": org_id},
                **params,
            }
        ),
    )
    assert made.status_code == 200, made.text
    account_id: str = made.json()["id"]
    await _link(internal, org_id, account_id, "v1")
    return account_id


async def linked_v2_account(
    stripe_api: httpx.AsyncClient, internal: httpx.AsyncClient, org_id: str
) -> str:
    """An Accounts v2 recipient account made at Stripe (Express-like, the platform collecting
    fees and carrying losses, as the service makes them with `CONNECT_ACCOUNTS_API=v2`) and
    linked in D1 as v2."""
    made = await stripe_api.post(
        "/v2/core/accounts",
        json=v2_account_params(
            organization_id=org_id,
            organization_name=f"Organization {org_id}",
            country="US",
            dashboard="express",
        ),
    )
    assert made.status_code == 200, made.text
    account_id: str = made.json()["id"]
    await _link(internal, org_id, account_id, "v2")
    return account_id


async def add_event_destination(sim: httpx.AsyncClient, service_url: str, secret: str) -> str:
    """Register the platform's event destination at the simulator: thin events (Accounts v2)
    to the service's webhook route, signed with `secret`; its id."""
    made = await sim.post(
        "/_sim/webhook_endpoints",
        json={"url": f"{service_url}/api/connect/webhook", "secret": secret, "thin": True},
    )
    assert made.status_code == 200, made.text
    endpoint_id: str = made.json()["id"]
    return endpoint_id
