"""`PUT /api/connect/payout-schedule`: switch the account between manual and automatic payouts."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested
from tests.support.service import bearer, onboarded

SCHEDULE = "/api/connect/payout-schedule"
ACCOUNT = "acct_a0000000000"


async def _put(client: httpx.AsyncClient, worker: FakeWorker, **body: Any) -> httpx.Response:
    owner = worker.people.get("tok_olive") or worker.add_person("olive", org_a="owner")
    return await client.put(
        SCHEDULE, json={"organization_id": "org_a", **body}, headers=bearer(owner.token)
    )


@pytest.mark.parametrize(
    ("wanted", "sent"),
    [
        ({"interval": "manual"}, {"interval": "manual"}),
        ({"interval": "daily"}, {"interval": "daily"}),
        ({"interval": "daily", "delay_days": 3}, {"interval": "daily", "delay_days": "3"}),
        (
            {"interval": "weekly", "weekly_anchor": "friday"},
            {"interval": "weekly", "weekly_anchor": "friday"},
        ),
        (
            {"interval": "monthly", "monthly_anchor": 15},
            {"interval": "monthly", "monthly_anchor": "15"},
        ),
    ],
    ids=["manual", "daily", "daily-delay", "weekly", "monthly"],
)
async def test_payout_schedule_is_set_at_stripe(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    wanted: dict[str, Any],
    sent: dict[str, str],
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _put(client, worker, **wanted)

    assert r.status_code == 200, r.text
    [update] = stripe.calls("POST", rf"/v1/accounts/{ACCOUNT}")
    assert form_to_nested(update.content) == {"settings": {"payouts": {"schedule": sent}}}
    assert r.json() == {
        "organization_id": "org_a",
        "account_id": ACCOUNT,
        "interval": wanted["interval"],
        "weekly_anchor": wanted.get("weekly_anchor"),
        "monthly_anchor": wanted.get("monthly_anchor"),
        "delay_days": wanted.get("delay_days"),
    }
    held = stripe.accounts[ACCOUNT]["settings"]["payouts"]["schedule"]
    assert held == wanted


async def test_payout_schedule_returns_what_stripe_holds_not_what_was_asked(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    held = copy.deepcopy(stripe.accounts[ACCOUNT])
    held["settings"]["payouts"]["schedule"] = {"interval": "daily", "delay_days": 7}
    stripe.fail("POST", rf"/v1/accounts/{ACCOUNT}", lambda _: httpx.Response(200, json=held))

    r = await _put(client, worker, interval="daily")

    assert r.status_code == 200, r.text
    assert (r.json()["interval"], r.json()["delay_days"]) == ("daily", 7)


@pytest.mark.parametrize(
    "body",
    [
        {"interval": "weekly"},
        {"interval": "monthly"},
        {"interval": "daily", "weekly_anchor": "monday"},
        {"interval": "weekly", "weekly_anchor": "monday", "monthly_anchor": 1},
        {"interval": "monthly", "monthly_anchor": 1, "weekly_anchor": "monday"},
        {"interval": "manual", "delay_days": 2},
        {"interval": "monthly", "monthly_anchor": 32},
        {"interval": "monthly", "monthly_anchor": 0},
        {"interval": "weekly", "weekly_anchor": "funday"},
        {"interval": "daily", "delay_days": 1},
        {"interval": "hourly"},
        {},
    ],
    ids=[
        "weekly-without-anchor",
        "monthly-without-anchor",
        "daily-with-weekly-anchor",
        "weekly-with-monthly-anchor",
        "monthly-with-weekly-anchor",
        "manual-with-delay",
        "monthly-anchor-32",
        "monthly-anchor-0",
        "bad-weekday",
        "delay-below-minimum",
        "unknown-interval",
        "no-interval",
    ],
)
async def test_payout_schedule_rejects_an_interval_without_its_anchor_or_with_another(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, body: dict[str, Any]
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _put(client, worker, **body)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["details"]
    assert stripe.requests == []


async def test_payout_schedule_without_an_account_is_409_not_onboarded(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")

    r = await _put(client, worker, interval="daily")

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_onboarded"
    assert stripe.requests == []
