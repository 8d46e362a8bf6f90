"""The headers the service reads itself (`Content-Length`, `Idempotency-Key`, `X-Request-ID`,
`Authorization`, `Stripe-Signature`), whatever their value: never a 5xx, always the one error
body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, make_settings, onboarded, signed

TRANSFER = "/api/connect/transfer"
WEBHOOK = "/api/connect/webhook"
TRANSFER_BODY = {"organization_id": "org_a", "amount": 1000, "currency": "usd"}


def assert_error_body(r: httpx.Response, status: int, code: str) -> None:
    assert (r.status_code, r.headers["content-type"]) == (status, "application/json"), r.text
    assert r.json() == {
        "error": {
            "code": code,
            "message": r.json()["error"]["message"],
            "request_id": r.headers["X-Request-ID"],
        }
    }


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param("9" * 4301, id="4301-digits"),  # int() refuses it: was a 500
        pytest.param("1" + "0" * 18, id="19-digits"),
        pytest.param("0" * 19, id="19-zeros"),
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
        pytest.param("-1", id="negative"),
        pytest.param("+5", id="plus"),
        pytest.param("1e3", id="exponent"),
        pytest.param("\xb2", id="superscript-two"),  # a Latin-1 "digit" to str.isdigit()
        pytest.param("12, 12", id="list"),
    ],
)
@pytest.mark.parametrize("path", ["/health", WEBHOOK, TRANSFER])
async def test_a_content_length_that_is_not_a_plain_decimal_is_400_before_anything(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    path: str,
    declared: str,
) -> None:
    r = await client.request(
        "GET" if path == "/health" else "POST",
        path,
        content=b"{}",
        headers=[(b"content-length", declared.encode("latin-1")), (b"authorization", b"Bearer x")],
    )

    assert_error_body(r, 400, "invalid_content_length")
    assert worker.requests == []
    assert stripe.requests == []


@pytest.mark.parametrize("declared", ["65537", "9" * 18], ids=["over-64-kib", "18-digits"])
async def test_a_plain_content_length_over_the_limit_stays_413(
    client: httpx.AsyncClient, worker: FakeWorker, declared: str
) -> None:
    r = await client.post(TRANSFER, content=b"{}", headers={"Content-Length": declared})

    assert_error_body(r, 413, "payload_too_large")
    assert worker.requests == []


# --- Hypothesis: any value of the headers the service parses --------------------------------

_FIELD_TEXT = st.characters(
    codec="latin-1", exclude_categories=("Cc",), include_characters="\t"
)  # what an HTTP server lets through: any Latin-1 byte but controls (tab is allowed)
_VALUES = st.one_of(
    st.text(_FIELD_TEXT, max_size=40),
    st.text(_FIELD_TEXT, min_size=256, max_size=6000),  # long
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),  # digits, up to huge
    st.sampled_from(["", " ", "0", "Bearer", "Bearer ", "Bearer tok_pat", "t=1,v1=00", "ok-key"]),
).map(lambda text: text.encode("latin-1"))
_PARSED = ["content-length", "idempotency-key", "x-request-id", "authorization", "stripe-signature"]
_HEADERS = st.dictionaries(st.sampled_from(_PARSED), _VALUES, min_size=1)
_ROUTES = st.sampled_from(["transfer", "webhook", "health", "status"])
PAYOUT_PAID = events.encode(events.payout_event("payout.paid", "acct_a0000000000"))


def _request(route: str, token: str) -> tuple[str, str, bytes, dict[str, str]]:
    """Method, path, body and headers of a call the service would accept."""
    if route == "transfer":
        body = httpx.Request("POST", "/", json=TRANSFER_BODY).content
        headers = {"Idempotency-Key": "hyp-1", "Content-Type": "application/json"}
        return "POST", TRANSFER, body, bearer(token, **headers)
    if route == "webhook":
        return "POST", WEBHOOK, PAYOUT_PAID, signed(PAYOUT_PAID)
    if route == "status":
        return "GET", "/api/connect/status/org_a", b"", bearer(token)
    return "GET", "/health", b"", {}


@pytest.mark.parametrize(
    "settings", [make_settings(rate_limit_money_per_minute=0, rate_limit_reads_per_minute=0)]
)
@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=_ROUTES, overrides=_HEADERS)
@example(route="transfer", overrides={"content-length": b"9" * 4301})
@example(route="health", overrides={"content-length": b"9" * 4301})
async def test_any_value_of_a_parsed_header_is_never_a_5xx_and_errors_keep_their_shape(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    route: str,
    overrides: dict[str, bytes],
) -> None:
    if "org_a" not in worker.organizations:
        onboarded(worker, stripe, "org_a")
        worker.add_person("pat", role="admin")
    method, path, body, base = _request(route, "tok_pat")
    headers: list[tuple[bytes, bytes]] = [
        (name.lower().encode(), value.encode())
        for name, value in base.items()
        if name.lower() not in overrides
    ]
    headers += [(name.encode(), value) for name, value in overrides.items()]

    r = await client.request(method, path, content=body, headers=headers)

    event(f"{route} {r.status_code}")
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        error: dict[str, Any] = r.json()["error"]
        assert r.headers["content-type"] == "application/json"
        assert set(r.json()) == {"error"}
        assert {"code", "message", "request_id"} <= set(error)
        assert error["code"].replace("_", "").isalpha()
        assert error["code"].islower()
        assert error["request_id"] == r.headers["X-Request-ID"]
