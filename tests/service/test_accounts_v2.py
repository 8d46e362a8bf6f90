"""Accounts v2 (`CONNECT_ACCOUNTS_API=v2`): recipient accounts made and onboarded through v2,
their status read from v2, their money moved through v1; a mixed fleet beside v1 accounts."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error, v2_entry
from tests.support.service import (
    SECOND_WEBHOOK_SECRET,
    bearer,
    make_settings,
    onboarded,
    signed,
)
from tests.support.stripe_account import stripe_account

V2 = make_settings(connect_accounts_api="v2")
ONBOARD = "/api/connect/onboard"
WEBHOOK = "/api/connect/webhook"


def v2_org(
    worker: FakeWorker, stripe: FakeStripe, org_id: str, **account: Any
) -> tuple[str, dict[str, Any]]:
    """An organization linked in D1 to a v2 account held by the fake Stripe."""
    account_id = f"acct_{org_id.removeprefix('org_')}v2000000000"
    held = stripe.v2_account(account_id, metadata={"organization_id": org_id}, **account)
    worker.add_org(
        org_id,
        stripe_connect_account_id=account_id,
        stripe_connect_account_api="v2",
        stripe_connect_status="pending",
        onboarding_step="details_submission",
    )
    return account_id, held


@pytest.mark.parametrize("settings", [V2])
async def test_onboarding_makes_a_v2_recipient_account_and_a_v2_link(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(ONBOARD, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    [created] = stripe.calls("POST", "/v2/core/accounts")
    sent = json.loads(created.content)
    assert sent == {
        "display_name": "Acme",
        "dashboard": "express",
        "identity": {"country": "us"},
        "defaults": {
            "responsibilities": {"fees_collector": "application", "losses_collector": "application"}
        },
        "configuration": {
            "recipient": {
                "capabilities": {"stripe_balance": {"stripe_transfers": {"requested": True}}}
            }
        },
        "metadata": {"organization_id": "org_a"},
        "include": ["configuration.recipient", "requirements", "defaults"],
    }
    assert created.headers["Idempotency-Key"].startswith("connect-account:org_a:v2:")
    assert stripe.calls("POST", "/v1/accounts") == []  # nothing made through v1
    account_id = r.json()["account_id"]
    # v2 has no payout schedule: v1's account update makes it manual, as for v1 accounts.
    [schedule] = stripe.calls("POST", f"/v1/accounts/{account_id}")
    assert form_to_nested(schedule.content) == {
        "settings": {"payouts": {"schedule": {"interval": "manual"}}}
    }
    assert worker.organizations["org_a"]["stripe_connect_account_api"] == "v2"
    [linked] = worker.calls("create-connect-account")
    assert json.loads(linked.content)["account_api"] == "v2"
    [link] = stripe.calls("POST", "/v2/core/account_links")
    assert json.loads(link.content) == {
        "account": account_id,
        "use_case": {
            "type": "account_onboarding",
            "account_onboarding": {
                "refresh_url": "https://app.example.com/settings/payments?connect=refresh",
                "return_url": "https://app.example.com/settings/payments?connect=return",
            },
        },
    }
    assert r.json()["url"].startswith(f"https://connect.stripe.test/v2/setup/{account_id}/")
    assert stripe.calls("POST", "/v1/account_links") == []


@pytest.mark.parametrize(
    "settings", [make_settings(connect_accounts_api="v2", connect_account_type="custom")]
)
async def test_a_custom_like_v2_account_has_no_stripe_dashboard(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(ONBOARD, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    [created] = stripe.calls("POST", "/v2/core/accounts")
    assert json.loads(created.content)["dashboard"] == "none"


# What stripe-python 16.1.0 reads a v2 error by: its `error.type` (`specific_v2_api_error`),
# here `feature_not_enabled`, whatever the status. Stripe's own wording for a key that cannot
# use Accounts v2 is not documented; this message is the fake's.
V2_NOT_ENABLED = stripe_error(
    400,
    type_="feature_not_enabled",
    message="Accounts v2 is not enabled for acct_1PLATFORM (req_secretish).",
)


@pytest.mark.parametrize("settings", [V2])
async def test_a_key_that_cannot_use_v2_is_a_409_for_the_operator_and_changes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, log_lines: list[str]
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")
    before = dict(worker.organizations["org_a"])
    stripe.fail("POST", "/v2/core/accounts", lambda _: V2_NOT_ENABLED)

    r = await client.post(ONBOARD, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "accounts_v2_not_enabled"
    assert "CONNECT_ACCOUNTS_API=v1" in error["message"]
    assert "acct_" not in r.text  # Stripe's text stays in the log
    assert worker.organizations["org_a"] == before  # nothing linked, no status written
    assert worker.calls("create-connect-account") == []
    assert len(stripe.calls("POST", "/v2/core/accounts")) == 1  # no retry of a refusal
    assert stripe.calls("POST", "/v1/accounts") == []  # no fallback to v1 behind its back
    assert stripe.calls("POST", "/v2/core/account_links") == []
    [logged] = [json.loads(line) for line in log_lines if "accounts_v2_not_enabled" in line]
    assert logged["level"] == "error"
    assert logged["stripe_message"].startswith("Accounts v2 is not enabled")


@pytest.mark.parametrize("settings", [V2])
async def test_a_country_outside_the_transfer_region_is_refused_before_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(
        ONBOARD, json={"organization_id": "org_a", "country": "MY"}, headers=bearer(owner.token)
    )

    assert r.status_code == 400
    assert stripe.requests == []


@pytest.mark.parametrize(
    ("account", "status", "step"),
    [
        pytest.param(
            {"entries": [v2_entry("identity.individual.first_name")]},
            "pending",
            "details_submission",
            id="onboarding-due",
        ),
        pytest.param(
            {"entries": [v2_entry("x", "routine_onboarding", awaiting="stripe")]},
            "pending",
            "under_review",
            id="stripe-verifying",
        ),
        pytest.param(
            {"entries": [v2_entry("id.document", "routine_verification")]},
            "pending",
            "action_required",
            id="verification-due",
        ),
        pytest.param(
            {"transfers": "active", "payouts": "active"}, "active", "complete", id="active"
        ),
        pytest.param(
            {
                "transfers": "active",
                "payouts": "active",
                "entries": [v2_entry("id.document", "routine_verification", deadline="past_due")],
            },
            "active",
            "action_required",
            id="active-with-something-due",
        ),
        pytest.param(
            {"transfers": "active", "payouts": "pending"},
            "pending",
            "under_review",
            id="payouts-not-yet",
        ),
        pytest.param(
            {"transfers": "rejected", "rejected": "rejected_fraud"},
            "disabled",
            "rejected",
            id="rejected",
        ),
    ],
)
async def test_status_of_a_v2_account_follows_the_readme_table(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    account: dict[str, Any],
    status: str,
    step: str,
) -> None:
    account_id, _ = v2_org(worker, stripe, "org_a", **account)
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["onboarding_step"]) == (status, step)
    [read] = stripe.calls("GET", f"/v2/core/accounts/{account_id}")
    assert [v for k, v in read.url.params.multi_items() if k.startswith("include")] == [
        "configuration.recipient",
        "requirements",
        "defaults",
    ]
    assert stripe.calls("GET", f"/v1/accounts/{account_id}") == []


@pytest.mark.parametrize("settings", [V2])
async def test_a_mixed_fleet_reads_each_account_through_its_own_api(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    legacy = onboarded(worker, stripe, "org_a", state="due")  # a v1 account of before
    modern, _ = v2_org(worker, stripe, "org_b", transfers="active", payouts="active")
    admin = worker.add_person("pat", role="admin")

    first = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(admin.token))
    second = await client.get("/api/connect/status/org_b?refresh=true", headers=bearer(admin.token))

    assert (first.json()["status"], first.json()["onboarding_step"]) == (
        "pending",
        "action_required",
    )
    assert (second.json()["status"], second.json()["onboarding_step"]) == ("active", "complete")
    assert len(stripe.calls("GET", f"/v1/accounts/{legacy}")) == 1
    assert stripe.calls("GET", f"/v2/core/accounts/{legacy}") == []
    assert len(stripe.calls("GET", f"/v2/core/accounts/{modern}")) == 1
    assert stripe.calls("GET", f"/v1/accounts/{modern}") == []


async def test_money_reaches_a_v2_account_through_v1_transfers_balance_and_payouts(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Stripe's v2 Account: the recipient's `stripe_transfers` capability receives
    /v1/transfers into the Stripe balance (/v1/balance); `payouts` pays it out."""
    account_id, _ = v2_org(worker, stripe, "org_a", transfers="active", payouts="active")
    worker.organizations["org_a"].update(stripe_connect_status="active", onboarding_step="complete")
    stripe.balances[account_id] = {
        "available": [{"amount": 5000, "currency": "usd", "source_types": {"card": 5000}}],
        "pending": [],
    }
    admin = worker.add_person("pat", role="admin")
    owner = worker.add_person("olive", org_a="owner")

    sent = await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "v2-transfer"}),
    )
    balance = await client.get("/api/connect/balance/org_a", headers=bearer(owner.token))
    paid = await client.post(
        "/api/connect/payout",
        json={"organization_id": "org_a", "amount": 500, "currency": "usd"},
        headers=bearer(owner.token, **{"Idempotency-Key": "v2-payout"}),
    )

    assert sent.status_code == 200, sent.text
    [transfer] = stripe.calls("POST", "/v1/transfers")
    assert form_to_nested(transfer.content)["destination"] == account_id
    assert balance.status_code == 200, balance.text
    reads = [r.headers.get("Stripe-Account") for r in stripe.calls("GET", "/v1/balance")]
    assert account_id in reads
    assert paid.status_code == 200, paid.text
    [payout] = stripe.calls("POST", "/v1/payouts")
    assert payout.headers["Stripe-Account"] == account_id


def test_v2_with_a_capability_recipients_do_not_have_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="CONNECT_ACCOUNTS_API=v2"):
        make_settings(connect_accounts_api="v2", connect_capabilities="transfers,card_payments")


def thin_event(
    event_type: str,
    account_id: str,
    *,
    event_id: str = "evt_thin_1",
    livemode: bool = False,
) -> bytes:
    """An event destination's thin event about a v2 account, as Stripe sends it."""
    return json.dumps(
        {
            "id": event_id,
            "object": "v2.core.event",
            "type": event_type,
            "created": "2025-11-26T09:41:00.000Z",
            "livemode": livemode,
            "related_object": {
                "id": account_id,
                "type": "v2.core.account",
                "url": f"/v2/core/accounts/{account_id}",
            },
        }
    ).encode()


async def test_a_thin_event_is_verified_and_the_v2_account_fetched(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id, _ = v2_org(worker, stripe, "org_a", transfers="active", payouts="active")
    body = thin_event(
        "v2.core.account[configuration.recipient].capability_status_updated", account_id
    )

    first = await client.post(WEBHOOK, content=body, headers=signed(body))
    again = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "event_id": "evt_thin_1", "action": "synced"}
    stored = worker.organizations["org_a"]
    assert (stored["stripe_connect_status"], stored["onboarding_step"]) == ("active", "complete")
    assert len(stripe.calls("GET", f"/v2/core/accounts/{account_id}")) == 2  # fetched each time
    assert again.json()["action"] == "synced"
    assert len(worker.calls("update-organization")) == 1  # the redelivery changed nothing


async def test_a_thin_event_with_a_bad_signature_or_an_old_time_changes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id, _ = v2_org(worker, stripe, "org_a", transfers="active", payouts="active")
    body = thin_event("v2.core.account[requirements].updated", account_id)

    forged = await client.post(WEBHOOK, content=body, headers=signed(body, secret="whsec_other"))
    stale = await client.post(WEBHOOK, content=body, headers=signed(body, at=1_000_000_000))
    future = await client.post(
        WEBHOOK, content=body, headers=signed(body, at=int(time.time()) + 3600)
    )
    unsigned = await client.post(WEBHOOK, content=body)

    assert [r.status_code for r in (forged, stale, future, unsigned)] == [400, 400, 400, 400]
    assert [r.json()["error"]["code"] for r in (forged, stale, future, unsigned)] == [
        "invalid_signature",
        "invalid_signature",
        "invalid_signature",
        "missing_signature",
    ]
    assert stripe.requests == []
    assert worker.calls("update-organization") == []


async def test_a_thin_event_signed_with_the_second_secret_is_accepted(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id, _ = v2_org(worker, stripe, "org_a")
    body = thin_event("v2.core.account.updated", account_id)

    r = await client.post(WEBHOOK, content=body, headers=signed(body, secret=SECOND_WEBHOOK_SECRET))

    assert r.status_code == 200, r.text


async def test_a_closed_v2_account_is_a_deauthorization(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id, _ = v2_org(worker, stripe, "org_a", transfers="active", payouts="active")
    body = thin_event("v2.core.account.closed", account_id)

    r = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert r.json()["action"] == "deauthorized"
    stored = worker.organizations["org_a"]
    assert (stored["stripe_connect_status"], stored["onboarding_step"]) == (
        "disabled",
        "deauthorized",
    )
    # A later view of the account does not undo it.
    later = thin_event("v2.core.account.updated", account_id, event_id="evt_thin_2")
    await client.post(WEBHOOK, content=later, headers=signed(later))
    assert worker.organizations["org_a"]["onboarding_step"] == "deauthorized"


async def test_an_event_read_after_the_account_closed_is_a_deauthorization(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """An earlier event delivered after the account was closed (its `closed` event not yet
    handled): Stripe still answers the account, `closed: true` with limited fields; D1 holds
    it deauthorized, not a status read from them, and the event is acknowledged (a refusal
    would be redelivered for three days)."""
    account_id, held = v2_org(worker, stripe, "org_a", transfers="active", payouts="active")
    worker.organizations["org_a"]["stripe_connect_status"] = "active"
    held.update(closed=True, configuration=None, requirements=None, defaults=None)
    body = thin_event("v2.core.account[requirements].updated", account_id)

    r = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert r.status_code == 200, r.text
    stored = worker.organizations["org_a"]
    assert (stored["stripe_connect_status"], stored["onboarding_step"]) == (
        "disabled",
        "deauthorized",
    )


@pytest.mark.parametrize(
    ("body", "action"),
    [
        (thin_event("v2.core.account.updated", "acct_unknown0000000000"), "unlinked"),
        (thin_event("v2.core.account_link.returned", "acct_a0000000000"), "logged"),
        (thin_event("v2.core.account.updated", "acct_a0000000000", livemode=True), "ignored"),
    ],
    ids=["unlinked", "not-about-an-account", "other-mode"],
)
async def test_other_thin_events_are_acknowledged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, body: bytes, action: str
) -> None:
    r = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert r.status_code == 200, r.text
    assert r.json()["action"] == action
    assert worker.calls("update-organization") == []


async def test_a_v1_event_about_a_v2_account_reads_it_through_v2(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id, _ = v2_org(worker, stripe, "org_a", transfers="active", payouts="active")
    body = json.dumps(
        {
            "id": "evt_v1",
            "object": "event",
            "type": "account.updated",
            "account": account_id,
            "livemode": False,
            "created": 1764150000,
            "data": {"object": {"id": account_id, "object": "account"}},
        }
    ).encode()
    stripe.accounts[account_id] = stripe_account(account_id, state="new")  # v1's view of it

    r = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert r.json()["action"] == "synced"
    assert worker.organizations["org_a"]["stripe_connect_status"] == "active"  # v2's view
    assert len(stripe.calls("GET", f"/v2/core/accounts/{account_id}")) == 1


async def test_a_thin_event_without_a_readable_time_or_object_is_logged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """What the schema allows is answered, not refused (the service's clock orders writes)."""
    body = json.dumps(
        {
            "id": "evt_odd",
            "object": "v2.core.event",
            "type": "v2.core.account.updated",
            "created": "",
            "livemode": False,
            "related_object": None,
        }
    ).encode()

    r = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert r.status_code == 200, r.text
    assert r.json()["action"] == "logged"
    assert stripe.requests == []


@pytest.mark.parametrize(
    "sent",
    [
        {"object": "v2.core.event", "type": "v2.core.account.updated"},
        {"object": "v2.core.event", "id": "evt_1", "type": None, "created": ""},
        {"object": "v2.core.event", "id": 7, "type": "v2.core.account.updated", "created": ""},
        {"object": "v2.core.event", "id": "e", "type": "t", "created": "", "livemode": 1},
        {
            "object": "v2.core.event",
            "id": "e",
            "type": "t",
            "created": "",
            "related_object": {"id": "acct_1", "type": {}, "url": "/"},
        },
    ],
    ids=["no-id", "type-null", "id-number", "livemode-number", "related-type-object"],
)
async def test_an_authentic_thin_body_without_an_id_and_a_type_is_not_an_event(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, sent: dict[str, Any]
) -> None:
    body = json.dumps(sent).encode()

    r = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_payload"
    assert stripe.requests == []
