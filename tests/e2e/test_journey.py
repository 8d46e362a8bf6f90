"""The money journey across real processes: Better Auth → service → Worker/D1 and simulator."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from devstack.stack import Stack
from tests.support.stack import Team, auth, d1_org, settle

pytestmark = pytest.mark.e2e


async def onboard(service: httpx.AsyncClient, team: Team) -> dict[str, str]:
    response = await service.post(
        "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.owner)
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def choose_on_hosted_page(url: str, outcome: str) -> httpx.Response:
    """What a person does in the browser: open the link, press one of the buttons."""
    async with httpx.AsyncClient(timeout=30.0) as browser:
        page = await browser.get(url)
        assert page.status_code == 200
        assert re.search(rf"name=['\"]outcome['\"] value=['\"]{outcome}['\"]", page.text)
        return await browser.post(url, data={"outcome": outcome})


async def test_full_journey_from_sign_up_to_payout(
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    team: Team,
) -> None:
    status = await service.get(f"/api/connect/status/{team.org_id}", headers=auth(team.member))
    assert status.json()["status"] == "not_started"

    link = await onboard(service, team)
    assert link["status"] == "pending"
    assert (await d1_org(internal, team.org_id))["stripe_connect_account_id"] == link["account_id"]

    done = await choose_on_hosted_page(link["url"], "complete")
    assert done.status_code == 303
    assert done.headers["location"].endswith("/settings/payments?connect=return")
    await settle(sim)

    status = await service.get(
        "/api/connect/status", headers=auth(team.member, **{"X-Org-ID": team.org_id})
    )
    assert status.json()["status"] == "active"
    assert status.json()["onboarding_step"] == "complete"
    stored = await d1_org(internal, team.org_id)
    assert stored["stripe_connect_status"] == "active"
    assert stored["stripe_connect_synced_at"] is not None

    funded = await sim.post("/_sim/platform/fund", json={"amount": 1_000_000, "currency": "usd"})
    assert funded.status_code == 200, funded.text
    transfer = await service.post(
        "/api/connect/transfer",
        json={"organization_id": team.org_id, "amount": 10_000, "currency": "usd"},
        headers=auth(team.admin, **{"Idempotency-Key": f"journey-{team.org_id}"}),
    )
    assert transfer.status_code == 200, transfer.text
    assert transfer.json()["fee_amount"] == 1_000
    assert transfer.json()["transfer_amount"] == 9_000
    again = await service.post(
        "/api/connect/transfer",
        json={"organization_id": team.org_id, "amount": 10_000, "currency": "usd"},
        headers=auth(team.admin, **{"Idempotency-Key": f"journey-{team.org_id}"}),
    )
    assert again.json()["transfer_id"] == transfer.json()["transfer_id"]

    balance = await service.get(f"/api/connect/balance/{team.org_id}", headers=auth(team.owner))
    assert balance.status_code == 200, balance.text
    available = {m["currency"]: m["amount"] for m in balance.json()["available"]}
    assert available["usd"] == 9_000  # once, not twice

    payout = await service.post(
        "/api/connect/payout",
        json={"organization_id": team.org_id, "currency": "usd"},
        headers=auth(team.owner, **{"Idempotency-Key": f"payout-{team.org_id}"}),
    )
    assert payout.status_code == 200, payout.text
    assert payout.json()["amount"] == 9_000
    balance = await service.get(f"/api/connect/balance/{team.org_id}", headers=auth(team.owner))
    assert {m["currency"]: m["amount"] for m in balance.json()["available"]}["usd"] == 0

    schedule = await service.put(
        "/api/connect/payout-schedule",
        json={"organization_id": team.org_id, "interval": "weekly", "weekly_anchor": "friday"},
        headers=auth(team.owner),
    )
    assert schedule.status_code == 200, schedule.text
    assert schedule.json()["interval"] == "weekly"
    assert schedule.json()["weekly_anchor"] == "friday"
    truth = await sim.get(f"/_sim/accounts/{link['account_id']}")
    assert truth.json()["account"]["settings"]["payouts"]["schedule"]["interval"] == "weekly"


async def test_a_member_cannot_onboard_or_move_money(
    service: httpx.AsyncClient, team: Team
) -> None:
    onboard_try = await service.post(
        "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.member)
    )
    assert onboard_try.status_code == 403
    transfer_try = await service.post(
        "/api/connect/transfer",
        json={"organization_id": team.org_id, "amount": 100, "currency": "usd"},
        headers=auth(team.owner, **{"Idempotency-Key": "self-pay"}),
    )
    assert transfer_try.status_code == 403
    assert transfer_try.json()["error"]["code"] == "forbidden"


async def test_rejected_account_is_disabled(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, internal: httpx.AsyncClient, team: Team
) -> None:
    link = await onboard(service, team)
    await choose_on_hosted_page(link["url"], "reject")
    await settle(sim)
    status = (
        await service.get(f"/api/connect/status/{team.org_id}", headers=auth(team.owner))
    ).json()
    assert (status["status"], status["onboarding_step"]) == ("disabled", "rejected")
    assert status["rejection_reason"].startswith("rejected.")
    assert (await d1_org(internal, team.org_id))["stripe_connect_status"] == "disabled"


async def test_information_left_due_needs_action(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, team: Team
) -> None:
    link = await onboard(service, team)
    await choose_on_hosted_page(link["url"], "due")
    await settle(sim)
    live = await service.get(
        f"/api/connect/status/{team.org_id}", params={"refresh": "true"}, headers=auth(team.owner)
    )
    body = live.json()
    assert (body["status"], body["onboarding_step"]) == ("pending", "action_required")
    assert body["requirements"]["currently_due"]
    transfer = await service.post(
        "/api/connect/transfer",
        json={"organization_id": team.org_id, "amount": 500, "currency": "usd"},
        headers=auth(team.admin, **{"Idempotency-Key": f"due-{team.org_id}"}),
    )
    assert transfer.status_code == 409
    assert transfer.json()["error"]["code"] == "account_not_active"


async def test_webhook_refused_while_the_worker_is_down_is_redelivered(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    team: Team,
) -> None:
    link = await onboard(service, team)
    stack.worker.stop()
    try:
        # The service fails closed while the Worker is away …
        status = await service.get(f"/api/connect/status/{team.org_id}", headers=auth(team.owner))
        assert status.status_code == 503
        assert status.json()["error"]["code"] == "upstream_unavailable"
        # … and answers Stripe's deliveries with 5xx, so they are kept for redelivery.
        outcome = await sim.post(
            f"/_sim/accounts/{link['account_id']}/onboarding", json={"outcome": "complete"}
        )
        assert outcome.status_code == 200, outcome.text
        refused = await _refused_deliveries(sim)
        for _ in range(100):
            if await _refused_deliveries(sim) > refused:
                break
            await asyncio.sleep(0.1)
        assert await _refused_deliveries(sim) > refused
    finally:
        stack.start_worker()  # the Worker restarts on the same D1 state
    await settle(sim, timeout=30.0)
    stored = await d1_org(internal, team.org_id)
    assert stored["stripe_connect_status"] == "active"
    status = await service.get(f"/api/connect/status/{team.org_id}", headers=auth(team.owner))
    assert status.json()["status"] == "active"


async def _refused_deliveries(sim: httpx.AsyncClient) -> int:
    counts = (await sim.get("/_sim/deliveries")).json()["counts"]
    failed: int = counts["failed_attempts"]
    return failed
