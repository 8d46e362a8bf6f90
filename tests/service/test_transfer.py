"""`POST /api/connect/transfer`: platform admins send `amount - fee` to an organization, once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connect_backend.stripe_gateway import idempotency_key
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error
from tests.support.service import bearer, onboarded

TRANSFER = "/api/connect/transfer"


async def _transfer(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    key: str | None = "key-1",
    **body: Any,
) -> httpx.Response:
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    headers = (
        bearer(admin.token) if key is None else bearer(admin.token, **{"Idempotency-Key": key})
    )
    payload = {"organization_id": "org_a", "amount": 1000, "currency": "usd", **body}
    return await client.post(TRANSFER, json=payload, headers=headers)


def _sent(stripe: FakeStripe) -> list[dict[str, Any]]:
    return [form_to_nested(r.content) for r in stripe.calls("POST", r"/v1/transfers")]


async def test_transfer_returns_the_fee_arithmetic(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, amount=1000)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "transfer_id": body["transfer_id"],
        "organization_id": "org_a",
        "account_id": account_id,
        "currency": "usd",
        "gross_amount": 1000,
        "fee_amount": 100,
        "transfer_amount": 900,
        "platform_fee_percent": 10.0,
        "claims_settled": 0,
        "settled_claims": [],
    }
    assert body["transfer_id"].startswith("tr_")


async def test_transfer_sends_the_net_amount_to_the_connected_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")

    await _transfer(client, worker, key="order-42", amount=1000)

    assert _sent(stripe) == [
        {
            "amount": "900",
            "currency": "usd",
            "destination": account_id,
            "metadata": {
                "organization_id": "org_a",
                "gross_amount": "1000",
                "fee_amount": "100",
                "platform_fee_percent": "10.0",
                "idempotency_key": "order-42",
            },
        }
    ]
    [sent] = stripe.calls("POST", r"/v1/transfers")
    assert sent.headers["Idempotency-Key"] == "transfer:org_a:order-42"
    assert "Stripe-Account" not in sent.headers  # money leaves the platform's own balance


@pytest.mark.parametrize(
    ("percent", "amount", "fee", "net"),
    [
        (12.5, 999, 125, 874),  # 124.875 rounds half-up
        (2.9, 1000, 29, 971),
        (0.0, 1000, 0, 1000),
        (10.0, 1, 0, 1),  # 0.1 rounds down
        (10.0, 5, 1, 4),  # 0.5 rounds up
        (99.99, 99_999_999, 99_989_999, 10_000),
    ],
)
async def test_transfer_fee_rounds_half_up_in_minor_units(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    percent: float,
    amount: int,
    fee: int,
    net: int,
) -> None:
    onboarded(worker, stripe, "org_a", platform_fee_percent=percent)

    r = await _transfer(client, worker, amount=amount)

    assert r.status_code == 200, r.text
    assert (r.json()["fee_amount"], r.json()["transfer_amount"]) == (fee, net)
    assert r.json()["platform_fee_percent"] == percent
    assert _sent(stripe)[0]["amount"] == str(net)


async def test_transfer_passes_the_optional_fields(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(
        client,
        worker,
        source_transaction="ch_123",
        transfer_group="order_42",
        description="October sales",
    )

    assert r.status_code == 200, r.text
    sent = _sent(stripe)[0]
    assert (sent["source_transaction"], sent["transfer_group"], sent["description"]) == (
        "ch_123",
        "order_42",
        "October sales",
    )


async def test_transfer_lowercases_the_currency(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, currency="EUR")

    assert r.json()["currency"] == "eur"
    assert _sent(stripe)[0]["currency"] == "eur"


@pytest.mark.parametrize("key", [None, "", "k" * 256], ids=["missing", "empty", "256-chars"])
async def test_transfer_requires_an_idempotency_key_of_1_to_255_chars(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, key: str | None
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, key=key)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["details"][0]["loc"] == ["header", "Idempotency-Key"]
    assert stripe.requests == []


async def test_transfer_with_a_255_char_key_sends_stripe_a_valid_deterministic_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    long_key = "k" * 255

    first = await _transfer(client, worker, key=long_key)
    second = await _transfer(client, worker, key=long_key)

    assert second.json()["transfer_id"] == first.json()["transfer_id"]
    [key] = [r.headers["Idempotency-Key"] for r in stripe.calls("POST", r"/v1/transfers")]
    assert key == idempotency_key("transfer", "org_a", long_key)  # the same on every retry
    assert key.startswith("transfer:")
    assert len(key) <= 255


@pytest.mark.parametrize(
    "amount",
    [0, -1, 100_000_000, 999.5, 1e8, "1000", True, None],
    ids=["zero", "negative", "too-large", "fraction", "too-large-float", "string", "bool", "null"],
)
async def test_transfer_rejects_an_invalid_amount(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, amount: Any
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, amount=amount)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert ["body", "amount"] in [d["loc"] for d in r.json()["error"]["details"]]
    assert stripe.requests == []


async def test_transfer_takes_a_json_integer_written_with_a_zero_fraction(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, amount=1000.0)  # JSON Schema's integer: 1000.0 is 1000

    assert r.status_code == 200, r.text
    assert (r.json()["gross_amount"], r.json()["transfer_amount"]) == (1000, 900)
    [sent] = stripe.calls("POST", "/v1/transfers")
    assert b"amount=900&" in sent.content


async def test_transfer_accepts_the_largest_amount(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, amount=99_999_999)

    assert r.status_code == 200, r.text
    assert r.json()["gross_amount"] == 99_999_999


@pytest.mark.parametrize("currency", ["us", "usdd", "u$d", 840, ""])
async def test_transfer_rejects_an_invalid_currency(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, currency: Any
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, currency=currency)

    assert r.status_code == 422
    assert ["body", "currency"] in [d["loc"] for d in r.json()["error"]["details"]]
    assert stripe.requests == []


@pytest.mark.parametrize("missing", ["organization_id", "amount", "currency"])
async def test_transfer_requires_its_fields(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, missing: str
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")
    payload = {"organization_id": "org_a", "amount": 1000, "currency": "usd"}
    del payload[missing]

    r = await client.post(
        TRANSFER, json=payload, headers=bearer(admin.token, **{"Idempotency-Key": "k"})
    )

    assert r.status_code == 422
    assert ["body", missing] in [d["loc"] for d in r.json()["error"]["details"]]


async def test_transfer_rejects_unknown_fields(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    r = await _transfer(client, worker, fee_amount=0)

    assert r.status_code == 422
    assert stripe.requests == []


@pytest.mark.parametrize("status", ["pending", "disabled"])
async def test_transfer_to_an_account_that_is_not_active_is_409(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, status: str
) -> None:
    onboarded(worker, stripe, "org_a", state="new", stripe_connect_status=status)

    r = await _transfer(client, worker)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "account_not_active"
    assert stripe.requests == []


async def test_transfer_to_an_organization_without_an_account_is_409_not_onboarded(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")

    r = await _transfer(client, worker)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_onboarded"
    assert stripe.requests == []


async def test_transfer_retried_with_the_same_key_moves_money_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    first = await _transfer(client, worker, key="order-42")
    retry = await _transfer(client, worker, key="order-42")

    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    sent = stripe.calls("POST", r"/v1/transfers")
    # The retry found the first transfer by its key before asking Stripe again.
    assert [r.headers["Idempotency-Key"] for r in sent] == ["transfer:org_a:order-42"]
    assert len(stripe.replies) == 1  # one transfer object at Stripe


async def test_transfer_with_another_key_is_another_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    first = await _transfer(client, worker, key="order-42")
    second = await _transfer(client, worker, key="order-43")

    assert second.json()["transfer_id"] != first.json()["transfer_id"]


async def test_same_caller_key_for_two_organizations_is_two_transfers(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    onboarded(worker, stripe, "org_b")

    first = await _transfer(client, worker, key="batch-1")
    second = await _transfer(client, worker, key="batch-1", organization_id="org_b")

    assert second.status_code == 200, second.text
    assert second.json()["transfer_id"] != first.json()["transfer_id"]
    keys = [r.headers["Idempotency-Key"] for r in stripe.calls("POST", r"/v1/transfers")]
    assert keys == ["transfer:org_a:batch-1", "transfer:org_b:batch-1"]


async def test_transfer_reusing_a_key_with_another_amount_is_409_idempotency_conflict(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    await _transfer(client, worker, key="order-42", amount=1000)
    r = await _transfer(client, worker, key="order-42", amount=2000)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "idempotency_conflict"
    assert len(stripe.replies) == 1


@pytest.mark.parametrize(("percent", "amount"), [(100.0, 1000), (50.0, 1), (99.9, 1)])
async def test_transfer_with_nothing_left_after_the_fee_is_400_amount_too_small(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, percent: float, amount: int
) -> None:
    onboarded(worker, stripe, "org_a", platform_fee_percent=percent)

    r = await _transfer(client, worker, amount=amount)

    assert r.status_code == 400
    assert r.json()["error"]["code"] == "amount_too_small"
    assert stripe.requests == []


async def test_transfer_beyond_the_platform_balance_is_409_balance_insufficient(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail(
        "POST",
        r"/v1/transfers",
        lambda _: stripe_error(
            400,
            code="balance_insufficient",
            message="You have insufficient available funds in your Stripe account.",
        ),
    )

    r = await _transfer(client, worker)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "balance_insufficient"
    assert len(stripe.calls("POST", r"/v1/transfers")) == 1
