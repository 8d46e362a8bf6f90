"""`GET /api/connect/balance[/{orgId}]`: the connected account's balance, read from Stripe."""

from __future__ import annotations

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, onboarded


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/api/connect/balance/org_a", {}), ("/api/connect/balance", {"X-Org-ID": "org_a"})],
    ids=["path", "x-org-id"],
)
async def test_balance_reads_the_connected_accounts_balance(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    path: str,
    headers: dict[str, str],
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    stripe.balances[account_id] = {
        "available": [
            {"amount": 1234, "currency": "usd", "source_types": {"card": 1234}},
            {"amount": 50, "currency": "eur", "source_types": {"card": 50}},
        ],
        "pending": [{"amount": 700, "currency": "usd", "source_types": {"card": 700}}],
    }
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get(path, headers=bearer(owner.token, **headers))

    assert r.status_code == 200, r.text
    assert r.json() == {
        "organization_id": "org_a",
        "account_id": account_id,
        "available": [
            {"amount": 1234, "currency": "usd", "source_types": {"card": 1234}},
            {"amount": 50, "currency": "eur", "source_types": {"card": 50}},
        ],
        "pending": [{"amount": 700, "currency": "usd", "source_types": {"card": 700}}],
    }


async def test_balance_is_read_on_behalf_of_the_connected_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    await client.get("/api/connect/balance/org_a", headers=bearer(admin.token))

    [read] = stripe.calls("GET", r"/v1/balance")
    assert read.headers["Stripe-Account"] == account_id


async def test_balance_without_an_account_is_409_not_onboarded(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/balance/org_a", headers=bearer(owner.token))

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_onboarded"
    assert stripe.requests == []
