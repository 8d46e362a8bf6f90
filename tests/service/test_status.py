"""`GET /api/connect/status[/{orgId}]`: D1's view, or Stripe's live one with `?refresh=true`."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.service.fakes import WORKER_KEY, FakeStripe, FakeWorker, stripe_error
from tests.support.service import bearer, make_settings, onboarded
from tests.support.stripe_account import stripe_account

ACCOUNT = "acct_a0000000000"


def _d1_view(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "organization_id": "org_a",
        "account_id": ACCOUNT,
        "status": "pending",
        "onboarding_step": "details_submission",
        "rejection_reason": None,
        "charges_enabled": None,
        "payouts_enabled": None,
        "details_submitted": None,
        "requirements": None,
        "platform_fee_percent": 10.0,
        "synced_at": None,
        "payout_failure": None,
    }
    view.update(overrides)
    return view


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/api/connect/status/org_a", {}), ("/api/connect/status", {"X-Org-ID": "org_a"})],
    ids=["path", "x-org-id"],
)
async def test_status_reads_d1_without_calling_stripe(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    path: str,
    headers: dict[str, str],
) -> None:
    onboarded(worker, stripe, "org_a", state="new")
    member = worker.add_person("mia", org_a="member")

    r = await client.get(path, headers=bearer(member.token, **headers))

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == _d1_view()
    assert stripe.requests == []
    assert worker.calls("update-organization") == []


async def test_status_without_an_account_is_not_started(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", platform_fee_percent=12.5)
    member = worker.add_person("mia", org_a="member")

    r = await client.get("/api/connect/status/org_a", headers=bearer(member.token))

    assert r.json() == _d1_view(
        account_id=None,
        status="not_started",
        onboarding_step="account_creation",
        platform_fee_percent=12.5,
    )


async def test_status_refresh_without_an_account_calls_no_one(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    member = worker.add_person("mia", org_a="member")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(member.token))

    assert r.json()["status"] == "not_started"
    assert stripe.requests == []
    assert worker.calls("update-organization") == []


async def test_status_shows_the_stored_sync_time_and_rejection(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(
        worker,
        stripe,
        "org_a",
        state="rejected",
        onboarding_rejection_reason="rejected.fraud",
        stripe_connect_synced_at="2026-11-26T10:00:00.000Z",
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a", headers=bearer(owner.token))

    assert r.json() == _d1_view(
        status="disabled",
        onboarding_step="rejected",
        rejection_reason="rejected.fraud",
        synced_at="2026-11-26T10:00:00Z",
    )


async def test_status_refresh_retrieves_the_account_and_returns_the_live_view(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active", stripe_connect_status="pending")
    stripe.accounts[ACCOUNT]["requirements"].update(
        eventually_due=["individual.id_number"], current_deadline=1767225600
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert [req.url.path for req in stripe.requests] == [f"/v1/accounts/{ACCOUNT}"]
    [write] = worker.calls("update-organization")
    body = r.json()
    assert datetime.fromisoformat(body.pop("synced_at")) == datetime.fromisoformat(
        json.loads(write.content)["synced_at"]
    )
    expected = _d1_view(
        status="active",
        onboarding_step="complete",
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        requirements={
            "currently_due": [],
            "past_due": [],
            "eventually_due": ["individual.id_number"],
            "pending_verification": [],
            "disabled_reason": None,
            "current_deadline": "2026-01-01T00:00:00Z",
        },
    )
    del expected["synced_at"]
    assert body == expected


async def test_status_refresh_writes_the_derived_status_with_synced_at(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(
        worker,
        stripe,
        "org_a",
        state="due",
        stripe_connect_status="pending",
        onboarding_step="details_submission",  # D1's view is older than Stripe's
    )
    stripe.accounts["acct_a0000000000"]["requirements"]["current_deadline"] = 1767225600
    owner = worker.add_person("olive", org_a="owner")

    await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    [write] = worker.calls("update-organization")
    body = json.loads(write.content)
    assert body["organization_id"] == "org_a"
    assert body["updates"] == {
        "stripe_connect_status": "pending",
        "onboarding_step": "action_required",
        "onboarding_rejection_reason": None,
        "stripe_connect_requirements_deadline": "2026-01-01T00:00:00Z",
    }
    assert body["synced_at"].endswith("Z")
    # The Worker stores it like every timestamp (UTC, ms), with the view (migrations/0009).
    held = worker.organizations["org_a"]["stripe_connect_requirements_deadline"]
    assert held == "2026-01-01T00:00:00.000Z"
    assert worker.organizations["org_a"]["onboarding_step"] == "action_required"
    assert worker.organizations["org_a"]["stripe_connect_synced_at"] == body["synced_at"]


async def test_status_refresh_by_x_org_id(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="rejected", stripe_connect_status="pending")
    member = worker.add_person("mia", org_a="member")

    r = await client.get(
        "/api/connect/status?refresh=true", headers=bearer(member.token, **{"X-Org-ID": "org_a"})
    )

    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["onboarding_step"], r.json()["rejection_reason"]) == (
        "disabled",
        "rejected",
        "rejected.fraud",
    )
    assert r.json()["requirements"]["disabled_reason"] == "rejected.fraud"


async def test_status_refresh_never_overwrites_a_newer_stored_view(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(
        worker,
        stripe,
        "org_a",
        state="new",
        stripe_connect_status="active",
        onboarding_step="complete",
        stripe_connect_synced_at="2999-01-01T00:00:00.000Z",
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert (r.json()["status"], r.json()["onboarding_step"]) == ("active", "complete")
    assert worker.organizations["org_a"]["stripe_connect_status"] == "active"


async def test_status_refresh_of_a_deauthorized_account_stores_deauthorized(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active")
    stripe.fail(
        "GET",
        r"/v1/accounts/.+",
        lambda _: stripe_error(403, type_="invalid_request_error", code="account_invalid"),
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["onboarding_step"], r.json()["rejection_reason"]) == (
        "disabled",
        "deauthorized",
        "deauthorized",
    )
    assert r.json()["requirements"] is None
    assert worker.organizations["org_a"]["onboarding_step"] == "deauthorized"


async def test_status_refresh_of_a_deauthorized_organization_does_not_ask_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(
        worker,
        stripe,
        "org_a",
        stripe_connect_status="disabled",
        onboarding_step="deauthorized",
        onboarding_rejection_reason="deauthorized",
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert r.json()["onboarding_step"] == "deauthorized"
    assert stripe.requests == []


async def test_every_worker_call_carries_the_api_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", stripe_connect_status="pending")  # D1 behind: a write
    owner = worker.add_person("olive", org_a="owner")

    await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    paths = [r.url.path for r in worker.requests]
    assert paths == ["/api/internal/verify-user-context", "/api/internal/update-organization"]
    assert {r.headers["X-Internal-Api-Key"] for r in worker.requests} == {WORKER_KEY}


async def test_status_rejects_a_non_boolean_refresh(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    member = worker.add_person("mia", org_a="member")

    r = await client.get("/api/connect/status/org_a?refresh=maybe", headers=bearer(member.token))

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["details"][0]["loc"] == ["query", "refresh"]


async def test_a_non_boolean_refresh_without_a_session_is_refused_for_the_session_first(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    # As FastAPI orders them: the route's dependency (the session check) before its own
    # parameters, so a caller without a session learns nothing of the route's parameters.
    onboarded(worker, stripe, "org_a", state="new")

    r = await client.get("/api/connect/status/org_a?refresh=maybe")

    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_token"
    assert worker.requests == []
    assert stripe.requests == []


@pytest.mark.parametrize(("given", "reads_stripe"), [("1", True), ("yes", True), ("off", False)])
async def test_refresh_reads_the_booleans_fastapi_reads(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    given: str,
    reads_stripe: bool,
) -> None:
    onboarded(worker, stripe, "org_a", state="new")
    member = worker.add_person("mia", org_a="member")

    r = await client.get(
        f"/api/connect/status?refresh={given}",
        headers=bearer(member.token, **{"X-Org-ID": "org_a"}),
    )

    assert r.status_code == 200, r.text
    assert bool(stripe.requests) is reads_stripe


# --- shared reads ---------------------------------------------------------------------------


async def test_a_refresh_that_finds_d1_current_writes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active")  # D1: active, complete — as Stripe
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["charges_enabled"]) == ("active", True)  # live
    assert worker.calls("update-organization") == []
    assert len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) == 1


@pytest.mark.parametrize("settings", [make_settings(rate_limit_reads_per_minute=0)])
async def test_a_burst_of_200_refreshes_of_one_organization_reads_stripe_at_most_twice(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="due", stripe_connect_status="pending")
    owner = worker.add_person("olive", org_a="owner")

    answers = await asyncio.gather(
        *(
            client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))
            for _ in range(200)
        )
    )

    assert {r.status_code for r in answers} == {200}
    assert {r.json()["onboarding_step"] for r in answers} == {"action_required"}
    assert 1 <= len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) <= 2
    assert len(worker.calls("update-organization")) <= 2  # identical writes shared too


async def test_a_refresh_never_answers_with_a_read_begun_before_it_arrived(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active")
    owner = worker.add_person("olive", org_a="owner")
    first_read_arrived, release = asyncio.Event(), asyncio.Event()

    async def as_it_is_when_asked(_: httpx.Request) -> httpx.Response:
        answer = httpx.Response(200, json=copy.deepcopy(stripe.accounts[ACCOUNT]))
        first_read_arrived.set()
        await release.wait()
        return answer

    stripe.fail("GET", rf"/v1/accounts/{ACCOUNT}", as_it_is_when_asked)
    url, headers = "/api/connect/status/org_a?refresh=true", bearer(owner.token)
    early = asyncio.create_task(client.get(url, headers=headers))
    await first_read_arrived.wait()  # the early refresh's read is under way …
    stripe.accounts[ACCOUNT] = stripe_account(ACCOUNT, organization_id="org_a", state="due")
    late = asyncio.create_task(client.get(url, headers=headers))  # … when the account changes
    await asyncio.sleep(0.05)
    release.set()

    assert (await early).json()["onboarding_step"] == "complete"
    assert (await late).json()["onboarding_step"] == "action_required"  # its own, later read
    assert len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) == 2


@pytest.mark.parametrize("settings", [make_settings(session_cache_ttl_seconds=10)])
async def test_a_burst_of_status_reads_of_one_organization_shares_d1_reads(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active")
    owner = worker.add_person("olive", org_a="owner")
    url, headers = "/api/connect/status/org_a", bearer(owner.token)
    assert (await client.get(url, headers=headers)).status_code == 200  # session now cached

    answers = await asyncio.gather(*(client.get(url, headers=headers) for _ in range(100)))

    assert {r.json()["status"] for r in answers} == {"active"}
    assert len(worker.calls("verify-user-context")) == 1
    assert 1 <= len(worker.calls("organization/org_a")) <= 2


@pytest.mark.parametrize("settings", [make_settings(_env_file=None)])
async def test_a_refresh_right_after_another_reads_stripe_again(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """`refresh=true` means "read Stripe now": an owner who has just finished onboarding sees
    it, however recently the account was last read (the default settings: no reuse window)."""
    onboarded(worker, stripe, "org_a", state="new", stripe_connect_status="pending")
    owner = worker.add_person("olive", org_a="owner")
    url, headers = "/api/connect/status/org_a?refresh=true", bearer(owner.token)

    before = await client.get(url, headers=headers)
    stripe.accounts[ACCOUNT] = stripe_account(ACCOUNT, organization_id="org_a", state="active")
    after = await client.get(url, headers=headers)

    assert (before.json()["status"], after.json()["status"]) == ("pending", "active")
    assert after.json()["details_submitted"] is True
    assert len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) == 2
