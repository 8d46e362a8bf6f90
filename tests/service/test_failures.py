"""Failure mapping: upstream failures become stable error codes; never a 500, never a trace."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connect_backend.stripe_errors import ACTIONABLE, ACTIONABLE_PARAMS, MESSAGES
from tests.service.fakes import FakeStripe, FakeWorker, stripe_error
from tests.support.service import bearer, onboarded

pytestmark = pytest.mark.usefixtures("fast_stripe_retries")

TRANSFER_BODY = {"organization_id": "org_a", "amount": 1000, "currency": "usd"}


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_: httpx.Request) -> httpx.Response:
        raise exc

    return answer


async def _transfer(client: httpx.AsyncClient, worker: FakeWorker) -> httpx.Response:
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    return await client.post(
        "/api/connect/transfer",
        json=TRANSFER_BODY,
        headers=bearer(admin.token, **{"Idempotency-Key": "k-1"}),
    )


def _assert_error_body(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert body["error"]["request_id"] == r.headers["X-Request-ID"]
    assert "Traceback" not in r.text
    assert ".py" not in r.text


# --- the Worker -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [500, 502, 503, 429, httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
    ids=["500", "502", "503", "429", "connect-error", "timeout"],
)
async def test_worker_unavailable_is_503_after_three_attempts_and_no_stripe_call(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    failure: int | Exception,
) -> None:
    onboarded(worker, stripe, "org_a")
    worker.add_person("pat", role="admin")
    worker.fail_with = failure

    r = await _transfer(client, worker)

    _assert_error_body(r, 503, "upstream_unavailable")
    assert len(worker.calls("verify-user-context")) == 3
    assert stripe.requests == []  # fail closed: nothing is done without a verified caller


async def test_worker_recovering_within_the_retries_serves_the_call(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    member = worker.add_person("mia", org_a="member")
    handle = worker._handle
    answers = iter([httpx.Response(503, json={"error": {"code": "boom", "message": "x"}})])

    def flaky(request: httpx.Request) -> httpx.Response:
        worker.requests.append(request) if (first := next(answers, None)) else None
        return first if first is not None else handle(request)

    worker._handle = flaky  # type: ignore[method-assign]

    r = await client.get("/api/connect/status/org_a", headers=bearer(member.token))

    assert r.status_code == 200, r.text
    assert len(worker.calls("verify-user-context")) == 2


async def test_worker_write_failure_is_503_after_three_attempts(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    admin = worker.add_person("pat", role="admin")
    handle = worker._handle

    def writes_fail(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/update-organization"):
            worker.requests.append(request)
            return httpx.Response(503, json={"error": {"code": "boom", "message": "x"}})
        return handle(request)

    worker._handle = writes_fail  # type: ignore[method-assign]

    r = await client.put(
        "/api/connect/platform-fee/org_a",
        json={"platform_fee_percent": 5},
        headers=bearer(admin.token),
    )

    _assert_error_body(r, 503, "upstream_unavailable")
    assert len(worker.calls("update-organization")) == 3


async def test_worker_malformed_answer_is_503_without_retrying(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    worker.add_person("pat", role="admin")

    def malformed(request: httpx.Request) -> httpx.Response:
        worker.requests.append(request)
        return httpx.Response(200, json={"user": {"id": "usr_pat"}, "member_role": "owner"})

    worker._handle = malformed  # type: ignore[method-assign]

    r = await _transfer(client, worker)

    _assert_error_body(r, 503, "upstream_unavailable")
    assert len(worker.calls("verify-user-context")) == 1
    assert stripe.requests == []


async def test_worker_refusing_our_key_is_503_without_retrying(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    worker.add_person("pat", role="admin")
    worker.fail_with = 401

    r = await _transfer(client, worker)

    _assert_error_body(r, 503, "upstream_unavailable")
    assert len(worker.calls("verify-user-context")) == 1
    assert stripe.requests == []


@pytest.mark.parametrize("percent", [150, -5])
async def test_a_d1_fee_outside_0_to_100_is_a_malformed_answer_and_moves_no_money(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, percent: float
) -> None:
    onboarded(worker, stripe, "org_a", platform_fee_percent=percent)

    r = await _transfer(client, worker)

    _assert_error_body(r, 503, "upstream_unavailable")
    assert stripe.requests == []


# --- Stripe -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (lambda _: stripe_error(500, type_="api_error"), 502, "stripe_error"),
        (lambda _: httpx.Response(502, content=b"<html>bad gateway</html>"), 502, "stripe_error"),
        (_raise(httpx.ConnectError("refused")), 503, "upstream_unavailable"),
        (_raise(httpx.ReadTimeout("slow")), 503, "upstream_unavailable"),
    ],
    ids=["500", "502-html", "connect-error", "timeout"],
)
async def test_stripe_transient_failures_are_retried_then_mapped(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    answer: Callable[[httpx.Request], httpx.Response],
    status: int,
    code: str,
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail("POST", r"/v1/transfers", answer)

    r = await _transfer(client, worker)

    _assert_error_body(r, status, code)
    attempts = stripe.calls("POST", r"/v1/transfers")
    assert len(attempts) == 3  # stripe-python's two retries
    assert {a.headers["Idempotency-Key"] for a in attempts} == {"transfer:org_a:k-1"}


async def test_stripe_rate_limiting_is_503(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail("POST", r"/v1/transfers", lambda _: stripe_error(429, code="rate_limit"))

    r = await _transfer(client, worker)

    _assert_error_body(r, 503, "upstream_unavailable")
    keys = {a.headers["Idempotency-Key"] for a in stripe.calls("POST", r"/v1/transfers")}
    assert keys == {"transfer:org_a:k-1"}


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (lambda _: stripe_error(400, code="something_new"), 502, "stripe_error"),
        (lambda _: stripe_error(400), 502, "stripe_error"),
        (lambda _: stripe_error(401, type_="authentication_error"), 502, "stripe_error"),
        (
            lambda _: stripe_error(402, type_="card_error", code="card_declined"),
            402,
            "card_declined",
        ),
        (lambda _: stripe_error(400, code="transfers_not_allowed"), 409, "transfers_not_allowed"),
        (lambda _: stripe_error(400, code="amount_too_large"), 400, "amount_too_large"),
    ],
    ids=["unknown-code", "no-code", "auth", "card", "transfers-not-allowed", "amount-too-large"],
)
async def test_stripe_refusals_are_mapped_without_retrying(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    answer: Callable[[httpx.Request], httpx.Response],
    status: int,
    code: str,
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail("POST", r"/v1/transfers", answer)

    r = await _transfer(client, worker)

    _assert_error_body(r, status, code)
    assert len(stripe.calls("POST", r"/v1/transfers")) == 1


async def test_stripe_authentication_failure_does_not_show_the_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail(
        "POST",
        r"/v1/transfers",
        lambda _: stripe_error(
            401,
            type_="authentication_error",
            message="Invalid API Key provided: sk_test_service123",
        ),
    )

    r = await _transfer(client, worker)

    assert r.status_code == 502
    assert "sk_test" not in r.text
    assert "Invalid API Key" not in r.text


STRIPE_TEXT = (
    "Request req_9sKq2LmNpQ7xYz: the account acct_1PzXw9Lm0Stripe cannot be paid out: "
    "see https://dashboard.stripe.com/acct_1PzXw9Lm0Stripe/settings"
)


@pytest.mark.parametrize(
    ("method", "path", "answer", "status", "code"),
    [
        (
            "POST",
            r"/v1/payouts",
            lambda _: stripe_error(400, code="payouts_not_allowed", message=STRIPE_TEXT),
            409,
            "payouts_not_allowed",
        ),
        (
            "POST",
            r"/v1/payouts",
            lambda _: stripe_error(400, code="balance_insufficient", message=STRIPE_TEXT),
            409,
            "insufficient_balance",
        ),
        (
            "POST",
            r"/v1/transfers",
            lambda _: stripe_error(400, code="amount_too_small", message=STRIPE_TEXT),
            400,
            "amount_too_small",
        ),
        (
            "POST",
            r"/v1/transfers",
            lambda _: stripe_error(
                402, type_="card_error", code="card_declined", message=STRIPE_TEXT
            ),
            402,
            "card_declined",
        ),
    ],
    ids=["payout-not-allowed", "payout-balance", "transfer-amount", "card"],
)
async def test_stripe_s_own_text_never_reaches_the_caller_and_is_logged(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    log_lines: list[str],
    method: str,
    path: str,
    answer: Callable[[httpx.Request], httpx.Response],
    status: int,
    code: str,
) -> None:
    """Stripe's message may name its request, accounts and objects (API10): the caller gets
    the service's own sentence; the log keeps Stripe's, as `stripe_message`."""
    onboarded(worker, stripe, "org_a", available=5000)
    stripe.fail(method, path, answer)
    owner = worker.add_person("olive", org_a="owner")

    if path == r"/v1/payouts":
        r = await client.post(
            "/api/connect/payout",
            json={"organization_id": "org_a", "currency": "usd"},
            headers=bearer(owner.token, **{"Idempotency-Key": "po-1"}),
        )
    else:
        r = await _transfer(client, worker)

    _assert_error_body(r, status, code)
    assert "req_" not in r.text
    assert "acct_" not in r.text
    assert "stripe.com" not in r.text
    refused = [json.loads(line) for line in log_lines if '"stripe.refused"' in line]
    assert [line["stripe_message"] for line in refused] == [STRIPE_TEXT]


def test_every_code_the_gateway_maps_has_the_service_s_own_message() -> None:
    mapped = {ours for _, ours in (*ACTIONABLE.values(), *ACTIONABLE_PARAMS.values())}

    assert mapped - set(MESSAGES) == set()


@pytest.mark.parametrize(
    "answer",
    [
        lambda _: httpx.Response(200, content=b"not json"),
        lambda _: httpx.Response(200, json={"id": "tr_1", "object": "transfer"}),
        lambda _: httpx.Response(200, json={"object": "transfer"}),
        lambda _: httpx.Response(200, json=[1, 2]),
    ],
    ids=["not-json", "missing-amount", "missing-id", "not-an-object"],
)
async def test_a_malformed_stripe_answer_is_502_not_500(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail("POST", r"/v1/transfers", answer)

    r = await _transfer(client, worker)

    _assert_error_body(r, 502, "stripe_error")


@pytest.mark.parametrize(
    "account",
    [
        {"object": "account"},
        {"id": "acct_a0000000000", "requirements": {"currently_due": None}},
        {"id": "acct_a0000000000", "capabilities": "transfers"},
    ],
    ids=["no-id", "null-list", "capabilities-not-a-map"],
)
async def test_a_malformed_account_from_stripe_is_502_and_d1_is_untouched(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, account: dict[str, Any]
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    stripe.fail("GET", r"/v1/accounts/.+", lambda _: httpx.Response(200, json=account))

    r = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    _assert_error_body(r, 502, "stripe_error")
    assert worker.calls("update-organization") == []


# --- the service's own answers ----------------------------------------------------------------


async def test_unknown_route_is_a_404_error_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/connect/nope")

    _assert_error_body(r, 404, "not_found")


async def test_wrong_method_is_a_405_error_body(client: httpx.AsyncClient) -> None:
    r = await client.delete("/api/connect/transfer")

    _assert_error_body(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"


async def test_a_405_names_every_method_served_at_the_path(client: httpx.AsyncClient) -> None:
    """`/payout-schedule` is two routes (read and set): `Allow` names both."""
    r = await client.delete("/api/connect/payout-schedule")

    _assert_error_body(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, HEAD, PUT"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'"a string"', b""],
    ids=["broken-json", "array", "string", "empty"],
)
async def test_a_body_that_is_not_a_json_object_is_422(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, content: bytes
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    r = await client.post(
        "/api/connect/transfer",
        content=content,
        headers=bearer(admin.token, **{"Idempotency-Key": "k", "Content-Type": "application/json"}),
    )

    _assert_error_body(r, 422, "validation_error")
    assert r.json()["error"]["details"]
    assert stripe.requests == []


async def test_strings_are_checked_as_sent_not_after_stripping_them(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    async def transfer(organization_id: str) -> httpx.Response:
        return await client.post(
            "/api/connect/transfer",
            json={"organization_id": organization_id, "amount": 1000, "currency": "usd"},
            headers=bearer(admin.token, **{"Idempotency-Key": "k"}),
        )

    padded = await transfer("org_a" + " " * 251)  # 256 characters: over maxLength 255
    blank = await transfer(" ")  # 1 character: a name, of no organization there is

    _assert_error_body(padded, 422, "validation_error")
    _assert_error_body(blank, 403, "not_a_member")  # " " was a 422 once: stripped, then empty
    assert [
        json.loads(r.content)["organization_id"] for r in worker.calls("verify-user-context")
    ] == [" "]
    assert stripe.requests == []


async def test_validation_errors_do_not_echo_the_rejected_value(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(
        "/api/connect/onboard",
        json={"organization_id": "org_a", "country": "sk_live_pastedbymistake"},
        headers=bearer(owner.token),
    )

    _assert_error_body(r, 422, "validation_error")
    assert "sk_live_pastedbymistake" not in r.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/connect/status/org_a", {}, 401, "missing_token"),
        ("GET", "/api/connect/status/org_a", {"token": "tok_ghost"}, 401, "invalid_session"),
        ("GET", "/api/connect/balance/org_a", {"token": "tok_mia"}, 403, "forbidden"),
        ("GET", "/api/connect/status", {"token": "tok_mia"}, 400, "organization_required"),
        ("POST", "/api/connect/payout", {"token": "tok_olive"}, 422, "validation_error"),
        ("GET", "/api/connect/balance/org_a", {"token": "tok_olive"}, 409, "not_onboarded"),
    ],
)
async def test_every_error_carries_code_message_and_the_request_id(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    method: str,
    path: str,
    kwargs: dict[str, str],
    status: int,
    code: str,
) -> None:
    worker.add_org("org_a")
    worker.add_person("mia", org_a="member")
    worker.add_person("olive", org_a="owner")
    headers = bearer(kwargs["token"]) if "token" in kwargs else {}

    r = await client.request(method, path, headers=headers)

    _assert_error_body(r, status, code)


# --- request ids ------------------------------------------------------------------------------


async def test_a_sane_request_id_is_echoed_and_forwarded_to_the_worker(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    member = worker.add_person("mia", org_a="member")

    r = await client.get(
        "/api/connect/status/org_a",
        headers=bearer(member.token, **{"X-Request-ID": "req-2026.11:abc_DEF"}),
    )

    assert r.headers["X-Request-ID"] == "req-2026.11:abc_DEF"
    assert [c.headers["X-Request-ID"] for c in worker.requests] == ["req-2026.11:abc_DEF"]


async def test_a_sane_request_id_is_in_the_error_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/connect/status/org_a", headers={"X-Request-ID": "abc-123"})

    assert r.status_code == 401
    assert r.json()["error"]["request_id"] == "abc-123"
    assert r.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize(
    "sent",
    ["x" * 300, "has spaces in it", "semi;colon", "new\tline", "<script>"],
    ids=["300-chars", "spaces", "semicolon", "tab", "markup"],
)
async def test_an_insane_request_id_is_replaced_everywhere(
    client: httpx.AsyncClient, worker: FakeWorker, sent: str
) -> None:
    worker.add_org("org_a")
    member = worker.add_person("mia", org_a="member")

    r = await client.get(
        "/api/connect/status/org_a", headers=bearer(member.token, **{"X-Request-ID": sent})
    )

    assert r.status_code == 200, r.text
    replaced = r.headers["X-Request-ID"]
    assert replaced != sent
    assert 1 <= len(replaced) <= 128
    assert " " not in replaced
    assert [c.headers["X-Request-ID"] for c in worker.requests] == [replaced]


async def test_without_a_request_id_each_response_gets_a_new_one(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/health")
    second = await client.get("/health")

    assert first.headers["X-Request-ID"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_the_request_id_reaches_every_worker_call_of_a_request(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", stripe_connect_status="pending")  # D1 behind: a write
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get(
        "/api/connect/status/org_a?refresh=true",
        headers=bearer(owner.token, **{"X-Request-ID": "trace-77"}),
    )

    assert r.status_code == 200, r.text
    assert len(worker.requests) == 2
    assert {c.headers["X-Request-ID"] for c in worker.requests} == {"trace-77"}
    assert json.loads(worker.calls("update-organization")[0].content)["organization_id"] == "org_a"
