"""JSON bodies of the `/api/connect/*` routes: a key given twice in one object is refused (400
`duplicate_json_key`) before anyone is asked, not read as its last value."""

from __future__ import annotations

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, onboarded

# (method, path, who calls, the body with a key twice at the top, the body with one twice in a
# nested object). The top-level pairs name another organization first: the one a check might
# read, while the last one is acted on.
ROUTES = {
    "transfer": (
        "POST",
        "/api/connect/transfer",
        "platform",
        '{"organization_id": "org_b", "organization_id": "org_a", "amount": 1000,'
        ' "currency": "usd"}',
        '{"organization_id": "org_a", "amount": 1000, "currency": "usd",'
        ' "metadata": {"k": 1, "k": 2}}',
    ),
    "payout": (
        "POST",
        "/api/connect/payout",
        "owner",
        '{"organization_id": "org_b", "currency": "usd", "organization_id": "org_a"}',
        '{"organization_id": "org_a", "currency": "usd", "x": [{"amount": 1, "amount": 2}]}',
    ),
    "onboard": (
        "POST",
        "/api/connect/onboard",
        "owner",
        '{"organization_id": "org_b", "organization_id": "org_a"}',
        '{"organization_id": "org_a", "x": {"y": {"return_url": "a", "return_url": "b"}}}',
    ),
    "platform-fee": (
        "PUT",
        "/api/connect/platform-fee/org_a",
        "platform",
        '{"platform_fee_percent": 5, "platform_fee_percent": 0}',
        '{"platform_fee_percent": 5, "x": {"platform_fee_percent": 1, "platform_fee_percent": 0}}',
    ),
    "payout-schedule": (
        "PUT",
        "/api/connect/payout-schedule",
        "owner",
        '{"organization_id": "org_a", "interval": "daily", "interval": "manual"}',
        '{"organization_id": "org_a", "interval": "daily", "x": {"a": 1, "a": 1}}',
    ),
    "dashboard-link": (
        "POST",
        "/api/connect/dashboard-link",
        "owner",
        '{"organization_id": "org_b", "organization_id": "org_a"}',
        '{"organization_id": "org_a", "x": {"a": null, "a": null}}',
    ),
}
DUPLICATED = {
    "transfer": ("organization_id", "k"),
    "payout": ("organization_id", "amount"),
    "onboard": ("organization_id", "return_url"),
    "platform-fee": ("platform_fee_percent", "platform_fee_percent"),
    "payout-schedule": ("interval", "a"),
    "dashboard-link": ("organization_id", "a"),
}


@pytest.mark.parametrize("where", [0, 1], ids=["top-level", "nested"])
@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_key_given_twice_is_400_and_nothing_reaches_stripe_or_the_worker(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, route: str, where: int
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    onboarded(worker, stripe, "org_b", available=5000)
    admin = worker.add_person("pat", role="admin")
    owner = worker.add_person("olive", org_a="owner", org_b="owner")
    method, path, who, *bodies = ROUTES[route]
    token = admin.token if who == "platform" else owner.token
    headers = bearer(token, **{"Idempotency-Key": "dup-1", "Content-Type": "application/json"})

    r = await client.request(method, path, content=bodies[where].encode(), headers=headers)

    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "duplicate_json_key"
    assert f'"{DUPLICATED[route][where]}"' in error["message"]
    assert error["request_id"] == r.headers["X-Request-ID"]
    assert stripe.requests == []
    assert worker.requests == []  # refused before the session is checked: nothing written


async def test_a_body_without_duplicates_is_read_as_before(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The strict reading changes nothing else: a body whose keys are distinct is read."""
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    r = await client.put(
        "/api/connect/platform-fee/org_a",
        content=b'{"platform_fee_percent": 7.5}',
        headers=bearer(admin.token, **{"Content-Type": "application/json"}),
    )

    assert r.status_code == 200, r.text
    assert r.json()["platform_fee_percent"] == 7.5
    assert worker.organizations["org_a"]["platform_fee_percent"] == 7.5


async def test_a_long_duplicated_key_is_named_only_in_part(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    admin = worker.add_person("pat", role="admin")
    key = "k" * 5000

    r = await client.post(
        "/api/connect/transfer",
        content=f'{{"{key}": 1, "{key}": 2}}'.encode(),
        headers=bearer(
            admin.token, **{"Idempotency-Key": "dup-2", "Content-Type": "application/json"}
        ),
    )

    assert r.status_code == 400
    assert r.json()["error"]["code"] == "duplicate_json_key"
    assert len(r.json()["error"]["message"]) < 200
