"""`POST /api/connect/payout`: owners/admins pay the account's balance out to their bank, once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error
from tests.support.service import bearer, onboarded

PAYOUT = "/api/connect/payout"
ACCOUNT = "acct_a0000000000"


async def _payout(
    client: httpx.AsyncClient, worker: FakeWorker, key: str | None = "po-key-1", **body: Any
) -> httpx.Response:
    owner = worker.people.get("tok_olive") or worker.add_person("olive", org_a="owner")
    headers = (
        bearer(owner.token) if key is None else bearer(owner.token, **{"Idempotency-Key": key})
    )
    payload = {"organization_id": "org_a", "currency": "usd", **body}
    return await client.post(PAYOUT, json=payload, headers=headers)


def _payouts_made(stripe: FakeStripe) -> list[dict[str, Any]]:
    return stripe.payouts.get(ACCOUNT, [])


async def test_payout_without_amount_pays_out_everything_available(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    r = await _payout(client, worker)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "payout_id": body["payout_id"],
        "amount": 5000,
        "currency": "usd",
        "status": "pending",
        "arrival_date": "2025-11-28T03:20:00Z",
    }
    assert [p["id"] for p in _payouts_made(stripe)] == [body["payout_id"]]


async def test_payout_sends_stripe_the_amount_on_the_connected_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    await _payout(client, worker, key="weekly-7")

    [sent] = stripe.calls("POST", r"/v1/payouts")
    assert form_to_nested(sent.content) == {
        "amount": "5000",
        "currency": "usd",
        "source_type": "card",
        "metadata": {"organization_id": "org_a", "idempotency_key": "weekly-7"},
    }
    assert sent.headers["Stripe-Account"] == ACCOUNT
    assert sent.headers["Idempotency-Key"] == "payout:org_a:weekly-7"
    [read] = stripe.calls("GET", r"/v1/balance")
    assert read.headers["Stripe-Account"] == ACCOUNT


async def test_payout_of_an_explicit_amount(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    r = await _payout(client, worker, amount=1200, currency="USD")

    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["currency"]) == (1200, "usd")
    assert form_to_nested(stripe.calls("POST", r"/v1/payouts")[0].content)["amount"] == "1200"
    assert stripe.balances[ACCOUNT]["available"][0]["amount"] == 3800


async def test_payout_of_exactly_the_available_balance(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    r = await _payout(client, worker, amount=5000)

    assert r.status_code == 200, r.text
    assert r.json()["amount"] == 5000


@pytest.mark.parametrize(
    ("available", "body"),
    [(0, {}), (5000, {"amount": 5001}), (5000, {"currency": "eur"})],
    ids=["nothing-available", "more-than-available", "no-balance-in-currency"],
)
async def test_payout_without_enough_balance_is_409_insufficient_balance(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    available: int,
    body: dict[str, Any],
) -> None:
    onboarded(worker, stripe, "org_a", available=available)

    r = await _payout(client, worker, **body)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "insufficient_balance"
    assert stripe.calls("POST", r"/v1/payouts") == []


async def test_payout_refused_by_stripe_for_balance_is_409_insufficient_balance(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    stripe.fail("POST", r"/v1/payouts", lambda _: stripe_error(400, code="balance_insufficient"))

    r = await _payout(client, worker)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "insufficient_balance"


@pytest.mark.parametrize("amount", [None, 5000], ids=["all-available", "explicit"])
async def test_payout_retried_with_the_same_key_returns_the_first_payout(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, amount: int | None
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    body = {} if amount is None else {"amount": amount}

    first = await _payout(client, worker, key="po-1", **body)
    retry = await _payout(client, worker, key="po-1", **body)  # the balance now reads 0

    assert first.status_code == 200, first.text
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert len(_payouts_made(stripe)) == 1
    assert stripe.balances[ACCOUNT]["available"][0]["amount"] == 0


async def test_payout_retried_with_the_same_key_while_balance_remains_is_one_payout(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    first = await _payout(client, worker, key="po-1", amount=1000)
    retry = await _payout(client, worker, key="po-1", amount=1000)

    assert retry.json()["payout_id"] == first.json()["payout_id"]
    assert len(_payouts_made(stripe)) == 1
    keys = {r.headers["Idempotency-Key"] for r in stripe.calls("POST", r"/v1/payouts")}
    assert keys == {"payout:org_a:po-1"}


async def test_payout_reusing_a_key_for_another_amount_is_409(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    await _payout(client, worker, key="po-1", amount=1000)
    r = await _payout(client, worker, key="po-1", amount=2000)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "idempotency_conflict"
    assert len(_payouts_made(stripe)) == 1


async def test_payout_with_a_new_key_after_emptying_the_balance_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    await _payout(client, worker, key="po-1")
    r = await _payout(client, worker, key="po-2")

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "insufficient_balance"
    assert len(_payouts_made(stripe)) == 1


@pytest.mark.parametrize("key", [None, "k" * 256], ids=["missing", "too-long"])
async def test_payout_requires_an_idempotency_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, key: str | None
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    r = await _payout(client, worker, key=key)

    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["header", "Idempotency-Key"]
    assert stripe.requests == []


@pytest.mark.parametrize(
    "body",
    [{"amount": 0}, {"amount": -5}, {"amount": 10.5}, {"currency": "dollars"}, {"extra": 1}],
    ids=["zero", "negative", "float", "currency", "unknown-field"],
)
async def test_payout_rejects_an_invalid_body(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, body: dict[str, Any]
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    r = await _payout(client, worker, **body)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert stripe.requests == []


async def test_payout_without_an_account_is_409_not_onboarded(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")

    r = await _payout(client, worker)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_onboarded"
    assert stripe.requests == []


async def test_payout_for_the_org_named_by_x_org_id(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=300)
    admin = worker.add_person("adam", org_a="admin")

    r = await client.post(
        PAYOUT,
        json={"currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "k", "X-Org-ID": "org_a"}),
    )

    assert r.status_code == 200, r.text
    assert r.json()["amount"] == 300


async def test_payout_reusing_a_key_for_another_currency_is_409_idempotency_conflict(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    await _payout(client, worker, key="po-1")
    r = await _payout(client, worker, key="po-1", currency="eur")

    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "idempotency_conflict"
    assert len(_payouts_made(stripe)) == 1


async def test_payout_reusing_a_spent_key_for_another_amount_is_409_idempotency_conflict(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)

    await _payout(client, worker, key="po-1", amount=5000)
    r = await _payout(client, worker, key="po-1", amount=3000)  # the balance now reads 0

    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "idempotency_conflict"
    assert len(_payouts_made(stripe)) == 1
