"""The whole system as real processes (devstack's `Stack`), for tests/e2e: Better Auth's API on
its Worker (`better_auth_api`), a member's headers (`auth`), what D1 holds for an organization
(`d1_org`), waiting for the simulator's webhooks (`settle`), and `Team`, what the `team`
fixture makes. The fixtures are in tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

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
