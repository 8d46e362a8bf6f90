"""Deauthorization: only Stripe's own word stores it, it is ordered like every other view, and
an organization whose account was deauthorized can onboard again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx

from tests.service import events
from tests.service.conftest import bearer
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_account, stripe_error

ORG = "org_a"
OLD = "acct_1Old00000000000001"


def deauthorized_org(worker: FakeWorker, stripe: FakeStripe) -> None:
    """ORG's account OLD was deauthorized from the platform: D1 says so, Stripe refuses it."""
    stripe.accounts[OLD] = stripe_account(OLD, organization_id=ORG, state="active")
    worker.add_org(
        ORG,
        name="Acme",
        stripe_connect_account_id=OLD,
        stripe_connect_status="disabled",
        onboarding_step="deauthorized",
        onboarding_rejection_reason="deauthorized",
        stripe_connect_synced_at="2026-12-01T10:00:00.000Z",
    )
    stripe.fail("GET", rf"/v1/accounts/{OLD}", lambda _: stripe_error(403, code="account_invalid"))


async def test_a_deauthorized_organization_can_onboard_again_with_a_new_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    deauthorized_org(worker, stripe)
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(
        "/api/connect/onboard", json={"organization_id": ORG}, headers=bearer(owner.token)
    )

    assert r.status_code == 200, r.text
    new = r.json()["account_id"]
    assert new != OLD
    assert (r.json()["status"], r.json()["url"].split("/")[-2]) == ("pending", new)
    [link] = worker.calls("create-connect-account")
    assert json.loads(link.content) == {
        "organization_id": ORG,
        "stripe_connect_account_id": new,
        "replace_account_id": OLD,  # compare-and-set on the deauthorized link
    }
    org = worker.organizations[ORG]
    assert (org["stripe_connect_account_id"], org["onboarding_step"]) == (new, "details_submission")
    assert org["stripe_connect_synced_at"] is None
    [created] = stripe.calls("POST", "/v1/accounts")
    assert created.headers["Idempotency-Key"].endswith(f":{OLD}")  # not the old account's key


async def test_two_admins_re_onboarding_at_once_end_with_one_new_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    deauthorized_org(worker, stripe)
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")

    answers = [
        await client.post(
            "/api/connect/onboard",
            json={"organization_id": ORG, "country": country},
            headers=bearer(person.token),
        )
        for person, country in ((owner, "US"), (admin, "CA"))  # other parameters: 2 accounts
    ]

    assert {a.status_code for a in answers} == {200}
    linked = worker.organizations[ORG]["stripe_connect_account_id"]
    assert {a.json()["account_id"] for a in answers} == {linked}
    assert set(stripe.accounts) - {OLD} == {linked}  # the loser was deleted at Stripe


async def test_a_deauthorization_older_than_d1_s_view_changes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Ordered by the event's `created`, not the service's clock: a delivery that arrives late
    (Stripe retries for days) cannot undo a newer view of the account."""
    stripe.accounts[OLD] = stripe_account(OLD, organization_id=ORG, state="active")
    worker.add_org(
        ORG,
        stripe_connect_account_id=OLD,
        stripe_connect_status="active",
        onboarding_step="complete",
        stripe_connect_synced_at="2026-12-05T10:00:00.000Z",
    )
    late = events.deauthorized(OLD)
    late["created"] = 1_764_000_000  # 2025-11-24, before D1's view

    r = await events.deliver(client, late)

    assert r.status_code == 200, r.text
    [write] = worker.calls("update-organization")
    assert json.loads(write.content)["synced_at"] == "2025-11-24T16:00:00.000Z"
    assert worker.organizations[ORG]["onboarding_step"] == "complete"


async def test_a_deauthorization_is_stamped_with_the_event_s_created(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    stripe.accounts[OLD] = stripe_account(OLD, organization_id=ORG, state="active")
    worker.add_org(ORG, stripe_connect_account_id=OLD, stripe_connect_status="active")
    evt = events.deauthorized(OLD)

    r = await events.deliver(client, evt)

    assert r.json()["action"] == "deauthorized"
    [write] = worker.calls("update-organization")
    body = json.loads(write.content)
    assert body["updates"]["onboarding_step"] == "deauthorized"
    stamped = datetime.fromtimestamp(evt["created"], UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert body["synced_at"] == stamped


async def test_a_refresh_reading_a_restricted_key_s_refusal_writes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    stripe.accounts[OLD] = stripe_account(OLD, organization_id=ORG, state="active")
    worker.add_org(
        ORG,
        stripe_connect_account_id=OLD,
        stripe_connect_status="active",
        onboarding_step="complete",
    )
    owner = worker.add_person("olive", org_a="owner")
    stripe.fail(
        "GET",
        rf"/v1/accounts/{OLD}",
        lambda _: stripe_error(
            403,
            message="The provided key 'rk_test_***abc123' does not have "
            "the required permissions for this endpoint.",
        ),
    )

    r = await client.get(f"/api/connect/status/{ORG}?refresh=true", headers=bearer(owner.token))

    assert r.status_code == 502
    assert r.json()["error"]["code"] == "stripe_error"
    assert worker.calls("update-organization") == []
    assert worker.organizations[ORG]["onboarding_step"] == "complete"


async def test_transfers_to_a_deauthorized_account_are_refused_before_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    deauthorized_org(worker, stripe)
    admin = worker.add_person("pat", role="admin")

    r = await client.post(
        "/api/connect/transfer",
        json={"organization_id": ORG, "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "k"}),
    )

    assert (r.status_code, r.json()["error"]["code"]) == (409, "account_not_active")
    assert stripe.calls("POST", r"/v1/.*") == []
    assert [form_to_nested(r.content) for r in stripe.requests] == []
