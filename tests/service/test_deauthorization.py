"""Deauthorization: only Stripe's own word stores it, it is final for its account, a view
lands only on the account it describes, and an organization whose account was deauthorized can
onboard again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx

from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error
from tests.support.service import bearer
from tests.support.stripe_account import stripe_account

ORG = "org_a"
OLD = "acct_1Old00000000000001"
NEW = "acct_1New00000000000002"


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
        "account_api": "v1",
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


async def test_a_deauthorization_is_stamped_with_the_service_s_clock_and_names_its_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """One clock orders every write (docs/security.md, "Two clocks"): the event's `created`
    is Stripe's clock, which says nothing about when the service's own reads began."""
    stripe.accounts[OLD] = stripe_account(OLD, organization_id=ORG, state="active")
    worker.add_org(ORG, stripe_connect_account_id=OLD, stripe_connect_status="active")
    evt = events.deauthorized(OLD)
    evt["created"] = 1_764_000_000  # 2025-11-24: Stripe's clock, far behind the service's
    before = datetime.now(UTC)

    r = await events.deliver(client, evt)

    assert r.json()["action"] == "deauthorized"
    [write] = worker.calls("update-organization")
    body = json.loads(write.content)
    assert body["updates"]["onboarding_step"] == "deauthorized"
    assert body["expected_account_id"] == OLD
    assert datetime.fromisoformat(body["synced_at"]) >= before.replace(microsecond=0)
    assert worker.organizations[ORG]["onboarding_step"] == "deauthorized"


async def test_no_later_view_of_the_same_account_undoes_a_deauthorization(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """A read that began before Stripe deauthorized the account, on a replica whose clock runs
    ahead, is stamped later than the deauthorization: it still cannot undo it."""
    stripe.accounts[OLD] = stripe_account(OLD, organization_id=ORG, state="active")
    worker.add_org(
        ORG,
        stripe_connect_account_id=OLD,
        stripe_connect_status="disabled",
        onboarding_step="deauthorized",
        onboarding_rejection_reason="deauthorized",
        stripe_connect_synced_at="2026-01-01T00:00:00.000Z",  # long before this read's stamp
    )

    r = await events.deliver(client, events.account_updated(OLD))

    assert r.status_code == 200, r.text
    [write] = worker.calls("update-organization")
    assert json.loads(write.content)["updates"]["stripe_connect_status"] == "active"
    held = worker.organizations[ORG]
    assert (held["stripe_connect_status"], held["onboarding_step"]) == ("disabled", "deauthorized")


async def _refresh_held_across_a_re_onboarding(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, old_answer: httpx.Response
) -> httpx.Response:
    """A refresh reads OLD; while Stripe answers, the organization onboards again with NEW."""
    worker.add_org(
        ORG,
        stripe_connect_account_id=OLD,
        stripe_connect_status="pending",
        onboarding_step="details_submission",
        stripe_connect_synced_at="2026-12-01T10:00:00.000Z",
    )
    owner = worker.add_person("olive", org_a="owner")
    reading, release = asyncio.Event(), asyncio.Event()

    async def held(_: httpx.Request) -> httpx.Response:
        reading.set()
        await release.wait()
        return old_answer

    stripe.fail("GET", rf"/v1/accounts/{OLD}", held)
    refresh = asyncio.create_task(
        client.get(f"/api/connect/status/{ORG}?refresh=true", headers=bearer(owner.token))
    )
    await reading.wait()
    worker.organizations[ORG].update(  # what create-connect-account's replacement writes
        stripe_connect_account_id=NEW,
        stripe_connect_status="pending",
        onboarding_step="details_submission",
        onboarding_rejection_reason=None,
        stripe_connect_synced_at=None,
    )
    release.set()
    return await refresh


async def test_a_view_of_a_replaced_account_never_lands_on_the_new_one(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The review's run stored `active` for a new account that had submitted nothing, and a
    platform transfer to it then succeeded."""
    active_old = httpx.Response(200, json=stripe_account(OLD, organization_id=ORG, state="active"))

    await _refresh_held_across_a_re_onboarding(client, worker, stripe, active_old)

    [write] = worker.calls("update-organization")
    assert json.loads(write.content)["expected_account_id"] == OLD
    held = worker.organizations[ORG]
    assert held["stripe_connect_account_id"] == NEW
    assert (held["stripe_connect_status"], held["onboarding_step"]) == (
        "pending",
        "details_submission",
    )
    admin = worker.add_person("pat", role="admin")
    refused = await client.post(
        "/api/connect/transfer",
        json={"organization_id": ORG, "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "t-1"}),
    )
    assert refused.json()["error"]["code"] == "account_not_active"
    assert stripe.calls("POST", "/v1/transfers") == []


async def test_the_old_account_s_refusal_never_marks_the_new_one_deauthorized(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The `account_invalid` variant: the new account was stored as deauthorized, and the
    next onboarding click orphaned it."""
    await _refresh_held_across_a_re_onboarding(
        client, worker, stripe, stripe_error(403, code="account_invalid")
    )

    held = worker.organizations[ORG]
    assert held["stripe_connect_account_id"] == NEW
    assert held["onboarding_step"] == "details_submission"


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
