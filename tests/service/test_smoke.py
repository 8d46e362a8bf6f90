"""A first pass through the main journey, to prove the harness."""

from __future__ import annotations

import httpx

from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer


async def test_onboard_then_status(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    r = await client.post(
        "/api/connect/onboard", json={"organization_id": "org_a"}, headers=bearer(owner.token)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert body["account_id"].startswith("acct_")
    assert worker.organizations["org_a"]["stripe_connect_account_id"] == body["account_id"]
    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))
    assert r.status_code == 200, r.text
    assert r.json()["onboarding_step"] == "details_submission"
    assert r.headers["x-request-id"]
