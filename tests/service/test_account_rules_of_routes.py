"""Real Stripe's account rules: where organizations may onboard, under which service agreement,
Stripe's refusals as clear 4xx codes, balances by source type, automatic payouts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error
from tests.support.service import bearer, make_settings, onboarded

ONBOARD = "/api/connect/onboard"
WIDE = make_settings(connect_allowed_countries="US,DE,AU,KE")


async def _onboard(client: httpx.AsyncClient, worker: FakeWorker, **body: Any) -> httpx.Response:
    owner = worker.people.get("tok_olive") or worker.add_person("olive", org_a="owner")
    return await client.post(
        ONBOARD, json={"organization_id": "org_a", **body}, headers=bearer(owner.token)
    )


def _created(stripe: FakeStripe) -> dict[str, Any]:
    [created] = stripe.calls("POST", "/v1/accounts")
    return form_to_nested(created.content)


async def test_a_country_outside_the_allow_list_is_400_and_asks_stripe_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")

    r = await _onboard(client, worker, country="AU")  # not in the default list

    assert (r.status_code, r.json()["error"]["code"]) == (400, "country_not_allowed")
    assert stripe.requests == []


@pytest.mark.parametrize("settings", [WIDE])
@pytest.mark.parametrize(
    ("country", "agreement"), [("US", None), ("DE", None), ("AU", "recipient"), ("KE", "recipient")]
)
async def test_accounts_take_the_service_agreement_their_country_needs(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    country: str,
    agreement: str | None,
) -> None:
    """US, Canada, the UK, the EEA and Switzerland receive a US platform's transfers under
    the `full` agreement (Stripe's default); elsewhere only under `recipient`."""
    worker.add_org("org_a")

    r = await _onboard(client, worker, country=country)

    assert r.status_code == 200, r.text
    params = _created(stripe)
    assert params["country"] == country
    assert params.get("tos_acceptance", {}).get("service_agreement") == agreement


@pytest.mark.parametrize(
    "settings",
    [
        make_settings(
            connect_allowed_countries="US,AU", connect_capabilities="transfers,card_payments"
        )
    ],
)
async def test_a_recipient_country_with_card_payments_is_400_before_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")

    r = await _onboard(client, worker, country="AU")

    assert (r.status_code, r.json()["error"]["code"]) == (400, "country_not_supported")
    assert stripe.requests == []


def _refusal(code: str | None = None, param: str | None = None) -> Any:
    def answer(_: httpx.Request) -> httpx.Response:
        error: dict[str, Any] = {"type": "invalid_request_error", "message": "Stripe says no."}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        return httpx.Response(400, json={"error": error}, headers={"Request-Id": "req_x"})

    return answer


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (_refusal("country_unsupported", "country"), 400, "country_not_supported"),
        (_refusal(None, "country"), 400, "country_not_supported"),
        (
            _refusal(None, "tos_acceptance[service_agreement]"),
            400,
            "service_agreement_not_supported",
        ),
        (_refusal(None, "requested_capabilities"), 409, "capabilities_not_allowed"),
        (_refusal(None, "capabilities[card_payments]"), 409, "capabilities_not_allowed"),
    ],
    ids=["code", "country-param", "agreement", "approval", "capability"],
)
async def test_stripe_s_refusals_of_an_account_are_clear_4xx(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    refusal: Any,
    status: int,
    code: str,
) -> None:
    worker.add_org("org_a")
    stripe.fail("POST", "/v1/accounts", refusal)

    r = await _onboard(client, worker)

    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert "Stripe says no." not in r.json()["error"]["message"]  # ours, in words
    assert worker.calls("create-connect-account") == []


async def test_a_transfer_stripe_cannot_send_to_the_account_is_409(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")
    stripe.fail("POST", "/v1/transfers", _refusal(None, "destination"))

    r = await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "t"}),
    )

    assert (r.status_code, r.json()["error"]["code"]) == (409, "transfers_not_supported")


# --- payouts: source types and schedules ----------------------------------------------------


def _funded(worker: FakeWorker, stripe: FakeStripe, card: int, bank_account: int) -> str:
    account_id = onboarded(worker, stripe, "org_a")
    stripe.balances[account_id]["available"] = [
        {
            "amount": card + bank_account,
            "currency": "usd",
            "source_types": {"card": card, "bank_account": bank_account},
        }
    ]
    return account_id


async def _payout(client: httpx.AsyncClient, worker: FakeWorker, **body: Any) -> httpx.Response:
    owner = worker.people.get("tok_olive") or worker.add_person("olive", org_a="owner")
    return await client.post(
        "/api/connect/payout",
        json={"organization_id": "org_a", "currency": "usd", **body},
        headers=bearer(owner.token, **{"Idempotency-Key": str(sorted(body.items()))}),
    )


@pytest.mark.parametrize(
    ("source_type", "paid"), [(None, 3000), ("card", 3000), ("bank_account", 2000)]
)
async def test_paying_out_everything_pays_out_one_source_type_s_balance(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    source_type: str | None,
    paid: int,
) -> None:
    _funded(worker, stripe, card=3000, bank_account=2000)

    r = await _payout(client, worker, **({"source_type": source_type} if source_type else {}))

    assert r.status_code == 200, r.text
    assert r.json()["amount"] == paid
    [sent] = stripe.calls("POST", "/v1/payouts")
    assert form_to_nested(sent.content)["source_type"] == (source_type or "card")


async def test_a_payout_beyond_its_source_type_s_balance_is_409_before_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """4,000 is available in all, but only 3,000 of it came from cards."""
    _funded(worker, stripe, card=3000, bank_account=1000)

    r = await _payout(client, worker, amount=4000)

    assert (r.status_code, r.json()["error"]["code"]) == (409, "insufficient_balance")
    assert stripe.calls("POST", "/v1/payouts") == []


async def test_a_payout_stripe_refuses_for_an_automatic_schedule_is_409(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    stripe.fail(
        "POST",
        "/v1/payouts",
        lambda _: stripe_error(400, code="cannot_create_connect_standard_payouts_through_api"),
    )

    r = await _payout(client, worker, amount=1000)

    assert (r.status_code, r.json()["error"]["code"]) == (409, "automatic_payouts")
    assert "manual" in r.json()["error"]["message"]


async def test_the_balance_shows_each_source_type(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe, card=3000, bank_account=2000)
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/balance/org_a", headers=bearer(owner.token))

    assert r.json()["available"] == [
        {"amount": 5000, "currency": "usd", "source_types": {"card": 3000, "bank_account": 2000}}
    ]
