"""`PUT /api/connect/platform-fee/{orgId}`: platform admins set an organization's fee percent."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, onboarded

ACCOUNT = "acct_a0000000000"


async def _put_fee(client: httpx.AsyncClient, worker: FakeWorker, body: Any) -> httpx.Response:
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    return await client.put(
        "/api/connect/platform-fee/org_a", json=body, headers=bearer(admin.token)
    )


async def test_platform_fee_is_stored_through_update_organization(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    await _put_fee(client, worker, {"platform_fee_percent": 12.5})

    [write] = worker.calls("update-organization")
    assert json.loads(write.content) == {
        "organization_id": "org_a",
        "updates": {"platform_fee_percent": 12.5},
    }
    assert worker.organizations["org_a"]["platform_fee_percent"] == 12.5
    assert stripe.requests == []


async def test_platform_fee_returns_the_organizations_status_view(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _put_fee(client, worker, {"platform_fee_percent": 12.5})

    assert r.status_code == 200, r.text
    assert r.json() == {
        "organization_id": "org_a",
        "account_id": ACCOUNT,
        "status": "active",
        "onboarding_step": "complete",
        "rejection_reason": None,
        "charges_enabled": None,
        "payouts_enabled": None,
        "details_submitted": None,
        "requirements": None,
        "platform_fee_percent": 12.5,
        "synced_at": None,
        "payout_failure": None,
    }


@pytest.mark.parametrize("percent", [0, 100, 2.9])
async def test_platform_fee_accepts_the_bounds_and_fractions(
    client: httpx.AsyncClient, worker: FakeWorker, percent: float
) -> None:
    worker.add_org("org_a")

    r = await _put_fee(client, worker, {"platform_fee_percent": percent})

    assert r.status_code == 200, r.text
    assert r.json()["platform_fee_percent"] == percent
    assert r.json()["status"] == "not_started"


@pytest.mark.parametrize(
    "body",
    [
        {"platform_fee_percent": 101},
        {"platform_fee_percent": 100.01},
        {"platform_fee_percent": -1},
        {"platform_fee_percent": "nan"},
        {"platform_fee_percent": "NaN"},
        {"platform_fee_percent": "inf"},
        {"platform_fee_percent": "-Infinity"},
        {"platform_fee_percent": "ten"},
        {"platform_fee_percent": None},
        {"platform_fee_percent": True},
        {"platform_fee_percent": "12.5"},
        {},
        {"platform_fee_percent": 5, "organization_id": "org_a"},
    ],
    ids=[
        "101",
        "100.01",
        "negative",
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "word",
        "null",
        "boolean",
        "numeric-string",
        "missing",
        "extra-field",
    ],
)
async def test_platform_fee_not_a_number_in_0_to_100_is_422(
    client: httpx.AsyncClient, worker: FakeWorker, body: dict[str, Any]
) -> None:
    worker.add_org("org_a")

    r = await _put_fee(client, worker, body)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert worker.calls("update-organization") == []
    assert worker.organizations["org_a"]["platform_fee_percent"] == 10.0


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_platform_fee_rejects_non_finite_json_literals(
    client: httpx.AsyncClient, worker: FakeWorker, literal: bytes
) -> None:
    worker.add_org("org_a")
    admin = worker.add_person("pat", role="admin")

    r = await client.put(
        "/api/connect/platform-fee/org_a",
        content=b'{"platform_fee_percent": ' + literal + b"}",
        headers=bearer(admin.token, **{"Content-Type": "application/json"}),
    )

    assert r.status_code == 422
    assert worker.calls("update-organization") == []


async def test_a_new_platform_fee_applies_to_the_next_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    await _put_fee(client, worker, {"platform_fee_percent": 20})

    r = await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer("tok_pat", **{"Idempotency-Key": "t1"}),
    )

    assert (r.json()["fee_amount"], r.json()["transfer_amount"]) == (200, 800)
