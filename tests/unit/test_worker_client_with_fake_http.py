"""`WorkerClient` on the wire (respx): headers, retries, error mapping, validated answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from connect_backend import log
from connect_backend.errors import (
    AccountAlreadyLinked,
    AccountInUse,
    BadRequest,
    ClaimExceeded,
    ConnectError,
    IdempotencyMismatch,
    InvalidSession,
    NotAMember,
    NotFound,
    UpstreamUnavailable,
)
from connect_backend.worker import WorkerClient

BASE = "https://worker.test"
KEY = "unit-worker-key"


def org(org_id: str = "org_a", **fields: Any) -> dict[str, Any]:
    return {
        "id": org_id,
        "name": "Acme",
        "slug": "acme",
        "stripe_connect_account_id": None,
        "stripe_connect_status": None,
        "platform_fee_percent": 10.0,
        "onboarding_step": "account_creation",
        "onboarding_rejection_reason": None,
        "stripe_connect_synced_at": None,
        "payout_failure": None,
        "stripe_connect_account_api": None,
        **fields,
    }


CONTEXT = {
    "user": {"id": "usr_1", "email": "a@b.co", "name": "Ada", "role": "user"},
    "session": {"id": "ses_1", "expires_at": "2026-12-03T10:00:00.000Z"},
    "organization": org(),
    "member_role": "owner",
}


def error(status: int, code: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": "x"}, **extra})


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE + "/api/internal", assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[WorkerClient]:
    async with httpx.AsyncHTTPTransport() as transport:
        yield WorkerClient(transport, base_url=BASE + "/", api_key=KEY, attempts=3)


# --- requests ---------------------------------------------------------------------------------


async def test_calls_carry_the_api_key_request_id_and_json_body(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    """The request's id travels by itself: the client reads it from the request's context."""
    route = mock.post("/verify-user-context").respond(200, json=CONTEXT)
    log.request_id.set("req-1")

    context = await client.verify_user_context(session_token="tok", organization_id="org_a")

    request = route.calls.last.request
    assert request.headers["X-Internal-Api-Key"] == KEY
    assert request.headers["X-Request-ID"] == "req-1"
    assert json.loads(request.content) == {"session_token": "tok", "organization_id": "org_a"}
    assert (context.user.id, context.member_role) == ("usr_1", "owner")
    assert context.organization is not None
    assert context.organization.id == "org_a"


async def test_no_request_id_header_without_a_request_id(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.get("/organization/org_a").respond(200, json={"organization": org()})

    await client.get_organization("org_a")

    assert "X-Request-ID" not in route.calls.last.request.headers


async def test_ids_are_percent_encoded_into_one_path_segment(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.get(url__regex=r".*/organization/.*").respond(200, json={"organization": org()})

    await client.get_organization("../health?x=1")

    assert (
        route.calls.last.request.url.raw_path == b"/api/internal/organization/..%2Fhealth%3Fx%3D1"
    )


async def test_update_sends_only_the_given_fields_and_synced_at_in_utc(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/update-organization").respond(
        200, json={"organization": org(platform_fee_percent=12.5), "applied": True}
    )

    result = await client.update_organization(
        organization_id="org_a",
        updates={"stripe_connect_status": "active", "onboarding_rejection_reason": None},
        synced_at=datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC),
    )

    assert json.loads(route.calls.last.request.content) == {
        "organization_id": "org_a",
        "updates": {"stripe_connect_status": "active", "onboarding_rejection_reason": None},
        "synced_at": "2026-11-26T10:00:00.123Z",
    }
    assert result.applied is True
    assert result.organization.platform_fee_percent == 12.5


@pytest.mark.parametrize(
    "updates",
    [{"platform_fee_percent": 101}, {"stripe_connect_status": "paused"}, {"name": "x"}],
    ids=["fee-over-100", "unknown-status", "unknown-field"],
)
async def test_invalid_updates_are_refused_before_sending(
    client: WorkerClient, mock: respx.MockRouter, updates: dict[str, Any]
) -> None:
    route = mock.post("/update-organization")

    with pytest.raises(ValueError, match="validation error"):
        await client.update_organization(organization_id="org_a", updates=updates)

    assert route.call_count == 0


async def test_create_connect_account_sends_the_pair(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/create-connect-account").respond(
        200, json={"organization": org(stripe_connect_account_id="acct_1"), "created": True}
    )

    result = await client.create_connect_account(organization_id="org_a", account_id="acct_1")

    assert json.loads(route.calls.last.request.content) == {
        "organization_id": "org_a",
        "stripe_connect_account_id": "acct_1",
        "account_api": "v1",
    }
    assert (result.created, result.organization.stripe_connect_account_id) == (True, "acct_1")


async def test_create_connect_account_records_the_account_s_api(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    linked = org(stripe_connect_account_id="acct_1", stripe_connect_account_api="v2")
    route = mock.post("/create-connect-account").respond(
        200, json={"organization": linked, "created": True}
    )

    result = await client.create_connect_account(
        organization_id="org_a", account_id="acct_1", account_api="v2"
    )

    assert json.loads(route.calls.last.request.content)["account_api"] == "v2"
    assert result.organization.stripe_connect_account_api == "v2"


# --- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(503, json={"error": {"code": "unavailable", "message": "x"}}),
        httpx.Response(429, json={"error": {"code": "rate_limited", "message": "x"}}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
    ],
    ids=["500", "502-html", "503", "429", "connect", "timeout", "protocol"],
)
async def test_transient_failures_are_retried_up_to_the_bound(
    client: WorkerClient, mock: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    route = mock.get("/organization/org_a").mock(side_effect=[failure] * 3)

    with pytest.raises(UpstreamUnavailable) as exc:
        await client.get_organization("org_a")

    assert route.call_count == 3
    assert exc.value.code == "upstream_unavailable"
    assert exc.value.status == 503


async def test_a_transient_failure_then_success_returns_the_answer(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.get("/organization/org_a").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(200, json={"organization": org()}),
        ]
    )

    organization = await client.get_organization("org_a")

    assert organization.id == "org_a"
    assert route.call_count == 3


async def test_writes_are_retried_with_the_same_body(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/create-connect-account").mock(
        side_effect=[
            httpx.Response(502),
            httpx.Response(200, json={"organization": org(), "created": False}),
        ]
    )

    await client.create_connect_account(organization_id="org_a", account_id="acct_1")

    first, second = (c.request.content for c in route.calls)
    assert first == second


async def test_the_attempt_bound_is_configurable(mock: respx.MockRouter) -> None:
    route = mock.get("/organization/org_a").respond(503)

    async with httpx.AsyncHTTPTransport() as transport:
        client = WorkerClient(transport, base_url=BASE, api_key=KEY, attempts=4)
        with pytest.raises(UpstreamUnavailable):
            await client.get_organization("org_a")

    assert route.call_count == 4


async def test_retries_stop_when_the_time_budget_is_spent(mock: respx.MockRouter) -> None:
    route = mock.get("/organization/org_a").respond(503)

    async with httpx.AsyncHTTPTransport() as transport:
        client = WorkerClient(transport, base_url=BASE, api_key=KEY, attempts=50, retry_budget=0)
        with pytest.raises(UpstreamUnavailable):
            await client.get_organization("org_a")

    assert route.call_count == 1


# --- refusals (never retried) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "code"),
    [
        (error(401, "invalid_session"), InvalidSession, "invalid_session"),
        (error(403, "not_a_member"), NotAMember, "not_a_member"),
        (error(404, "not_found"), NotFound, "not_found"),
        (error(409, "account_in_use"), AccountInUse, "account_in_use"),
        (error(401, "unauthorized"), UpstreamUnavailable, "upstream_unavailable"),
        (error(400, "invalid_request"), UpstreamUnavailable, "upstream_unavailable"),
        (error(403, "forbidden"), UpstreamUnavailable, "upstream_unavailable"),
        (error(409, "something_else"), UpstreamUnavailable, "upstream_unavailable"),
    ],
    ids=[
        "invalid-session",
        "not-a-member",
        "not-found",
        "account-in-use",
        "our-key-refused",
        "our-request-refused",
        "other-403",
        "other-409",
    ],
)
async def test_refusals_are_mapped_and_not_retried(
    client: WorkerClient,
    mock: respx.MockRouter,
    answer: httpx.Response,
    expected: type[ConnectError],
    code: str,
) -> None:
    route = mock.post("/create-connect-account").mock(return_value=answer)

    with pytest.raises(expected) as exc:
        await client.create_connect_account(organization_id="org_a", account_id="acct_1")

    assert type(exc.value) is expected
    assert exc.value.code == code
    assert route.call_count == 1


async def test_already_linked_carries_the_linked_organization(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.post("/create-connect-account").mock(
        return_value=error(
            409, "already_linked", organization=org(stripe_connect_account_id="acct_winner")
        )
    )

    with pytest.raises(AccountAlreadyLinked) as exc:
        await client.create_connect_account(organization_id="org_a", account_id="acct_loser")

    assert exc.value.code == "already_linked"
    assert exc.value.organization.stripe_connect_account_id == "acct_winner"


async def test_organization_by_account_is_none_when_not_found(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.get("/organization-by-account/acct_1").mock(return_value=error(404, "not_found"))

    assert await client.get_organization_by_account("acct_1") is None
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("error_body", "expected"),
    [
        ({"message": 'invalid field "cursor": x', "param": "cursor"}, BadRequest),
        # The prose alone no longer counts: only the machine-readable `param` names the cursor.
        ({"message": 'invalid field "cursor": x'}, UpstreamUnavailable),
        ({"message": 'invalid field "limit": x', "param": "limit"}, UpstreamUnavailable),
    ],
    ids=["param-cursor", "prose-only", "param-limit"],
)
async def test_only_a_400_whose_param_is_cursor_is_the_callers(
    client: WorkerClient,
    mock: respx.MockRouter,
    error_body: dict[str, str],
    expected: type[ConnectError],
) -> None:
    error = {"code": "invalid_request", **error_body}
    mock.get(url__regex=r".*/organizations\?.*").respond(400, json={"error": error})

    with pytest.raises(expected) as exc:
        await client.list_organizations(cursor="c")

    if expected is BadRequest:
        assert exc.value.code == "invalid_cursor"


async def test_update_sends_expected_account_id_when_given(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/update-organization").respond(
        200, json={"organization": org(), "applied": False}
    )

    result = await client.update_organization(
        organization_id="org_a", updates={"platform_fee_percent": 5}, expected_account_id="acct_1"
    )
    await client.update_organization(organization_id="org_a", updates={"platform_fee_percent": 5})

    first, second = (json.loads(call.request.content) for call in route.calls)
    assert first == {
        "organization_id": "org_a",
        "updates": {"platform_fee_percent": 5},
        "expected_account_id": "acct_1",
    }
    assert "expected_account_id" not in second
    assert result.applied is False


async def test_synced_updates_for_different_accounts_are_not_joined(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    release = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json={"organization": org(), "applied": True})

    route = mock.post("/update-organization").mock(side_effect=answer)
    synced = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def write(account: str) -> Any:
        return client.update_organization(
            organization_id="org_a",
            updates={"stripe_connect_status": "active"},
            synced_at=synced,
            expected_account_id=account,
        )

    calls = [asyncio.create_task(write(a)) for a in ("acct_1", "acct_1", "acct_2")]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*calls)

    sent = sorted(json.loads(call.request.content)["expected_account_id"] for call in route.calls)
    assert sent == ["acct_1", "acct_2"]


RECORD = {
    "organization_id": "org_a",
    "operation": "transfer",
    "key": "idem-1",
    "fingerprint": "fp",
    "decision": {"amount": 100},
    "stripe_object_id": "tr_1",
    "created_at": "2026-11-26T10:00:00.000Z",
    "completed_at": "2026-11-26T10:00:01.000Z",
}


async def test_claim_sends_the_record_and_parses_the_answer(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    unclaimed = {**RECORD, "stripe_object_id": None, "completed_at": None}
    log.request_id.set("req-9")
    route = mock.post("/idempotency-keys/claim").respond(
        200, json={"record": unclaimed, "created": True}
    )

    result = await client.claim_idempotency_key(
        organization_id="org_a",
        operation="transfer",
        key="idem-1",
        fingerprint="fp",
        decision={"amount": 100},
    )

    request = route.calls.last.request
    assert request.headers["X-Request-ID"] == "req-9"
    assert json.loads(request.content) == {
        "organization_id": "org_a",
        "operation": "transfer",
        "key": "idem-1",
        "fingerprint": "fp",
        "decision": {"amount": 100},
    }
    assert result.created is True
    assert result.record.stripe_object_id is None
    assert result.record.created_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


async def test_a_mismatched_completion_carries_the_record_and_is_not_retried(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/idempotency-keys/complete").mock(
        return_value=error(409, "idempotency_mismatch", record=RECORD)
    )

    with pytest.raises(IdempotencyMismatch) as exc:
        await client.complete_idempotency_key(
            organization_id="org_a", operation="transfer", key="idem-1", stripe_object_id="tr_2"
        )

    assert (exc.value.status, exc.value.code) == (409, "idempotency_conflict")
    assert exc.value.record.stripe_object_id == "tr_1"
    assert route.call_count == 1


async def test_completing_an_unknown_record_is_not_found(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.post("/idempotency-keys/complete").mock(return_value=error(404, "not_found"))

    with pytest.raises(NotFound) as exc:
        await client.complete_idempotency_key(
            organization_id="org_a", operation="payout", key="k", stripe_object_id="po_1"
        )

    assert exc.value.message == "No such idempotency record."


@pytest.mark.parametrize("released", [True, False])
async def test_release_answers_whether_it_deleted(
    client: WorkerClient, mock: respx.MockRouter, released: bool
) -> None:
    route = mock.post("/idempotency-keys/release").respond(200, json={"released": released})

    assert (
        await client.release_idempotency_key(organization_id="org_a", operation="payout", key="k")
        is released
    )
    assert json.loads(route.calls.last.request.content) == {
        "organization_id": "org_a",
        "operation": "payout",
        "key": "k",
    }


CLAIM = {
    "id": "clm_1",
    "organization_id": "org_a",
    "amount": 1000,
    "currency": "usd",
    "settled": 300,
    "open": 700,
    "cause": "refund",
    "cause_id": "re_1",
    "transfer_id": "tr_1",
    "created_at": "2026-11-26T10:00:00.000Z",
    "settlements": [
        {"key": "tr_2", "amount": 300, "kind": "transfer", "created_at": "2026-11-27T10:00:00.000Z"}
    ],
}


async def test_record_claim_sends_the_claim_and_parses_the_answer(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    log.request_id.set("req-claim")
    route = mock.post("/claims").respond(200, json={"claim": CLAIM, "created": False})

    result = await client.record_claim(
        organization_id="org_a",
        amount=1000,
        currency="usd",
        cause="refund",
        cause_id="re_1",
        transfer_id="tr_1",
    )

    request = route.calls.last.request
    assert request.headers["X-Request-ID"] == "req-claim"
    assert json.loads(request.content) == {
        "organization_id": "org_a",
        "amount": 1000,
        "currency": "usd",
        "cause": "refund",
        "cause_id": "re_1",
        "transfer_id": "tr_1",
    }
    assert result.created is False
    assert (result.claim.open, result.claim.settlements[0].key) == (700, "tr_2")
    assert result.claim.created_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


async def test_record_claim_for_an_unknown_organization_is_not_found(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.post("/claims").mock(return_value=error(404, "not_found"))

    with pytest.raises(NotFound) as exc:
        await client.record_claim(
            organization_id="org_x",
            amount=1,
            currency="usd",
            cause="manual",
            cause_id="k",
            transfer_id="tr_1",
        )

    assert exc.value.message == "Organization not found."


async def test_record_claim_is_retried_with_the_same_body(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/claims").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json={"claim": CLAIM, "created": True}),
        ]
    )

    result = await client.record_claim(
        organization_id="org_a",
        amount=1000,
        currency="usd",
        cause="dispute",
        cause_id="dp_1",
        transfer_id="tr_1",
    )

    assert result.created is True
    assert route.call_count == 2
    assert route.calls[0].request.content == route.calls[1].request.content


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({"organization_id": None}, {"state": "open", "limit": "100"}),
        (
            {"organization_id": "org/a", "state": "all", "currency": "eur", "limit": 5},
            {"organization_id": "org/a", "state": "all", "currency": "eur", "limit": "5"},
        ),
        (
            {"organization_id": None, "cursor": "abc"},
            {"state": "open", "limit": "100", "cursor": "abc"},
        ),
    ],
)
async def test_list_claims_sends_only_the_given_filters(
    client: WorkerClient, mock: respx.MockRouter, kwargs: dict[str, Any], query: dict[str, str]
) -> None:
    page = {"claims": [CLAIM], "totals": [{"currency": "usd", "open": 700}], "next_cursor": "n"}
    route = mock.get(url__regex=r".*/claims\?.*").respond(200, json=page)

    result = await client.list_claims(**kwargs)

    assert dict(route.calls.last.request.url.params) == query
    assert [c.id for c in result.claims] == ["clm_1"]
    assert (result.totals[0].currency, result.totals[0].open) == ("usd", 700)
    assert result.next_cursor == "n"


async def test_a_claims_cursor_the_worker_refuses_is_the_callers(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    refused = {"code": "invalid_request", "message": "x", "param": "cursor"}
    mock.get(url__regex=r".*/claims\?.*").respond(400, json={"error": refused})

    with pytest.raises(BadRequest) as exc:
        await client.list_claims(organization_id=None, cursor="nope")

    assert exc.value.code == "invalid_cursor"


async def test_settle_claim_sends_the_settlement_to_the_claims_path(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/claims/clm%2F1/settlements").respond(
        200, json={"claim": CLAIM, "applied": True}
    )

    result = await client.settle_claim("clm/1", key="tr_2", amount=300, kind="transfer")

    assert json.loads(route.calls.last.request.content) == {
        "key": "tr_2",
        "amount": 300,
        "kind": "transfer",
    }
    assert result.applied is True
    assert result.claim.settled == 300


async def test_a_settlement_beyond_the_claim_carries_it_and_is_not_retried(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/claims/clm_1/settlements").mock(
        return_value=error(409, "claim_exceeded", claim=CLAIM)
    )

    with pytest.raises(ClaimExceeded) as exc:
        await client.settle_claim("clm_1", key="trr_9", amount=701, kind="reversal")

    assert (exc.value.status, exc.value.code) == (409, "claim_exceeded")
    assert exc.value.claim.open == 700
    assert route.call_count == 1


async def test_settling_an_unknown_claim_is_not_found(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.post("/claims/clm_x/settlements").mock(return_value=error(404, "not_found"))

    with pytest.raises(NotFound) as exc:
        await client.settle_claim("clm_x", key="k", amount=1, kind="transfer")

    assert exc.value.message == "No such claim."


# --- answers are validated --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"organization": {"id": "org_a"}},  # no name
        {"organization": org(stripe_connect_status="paused")},
        {"organization": org(onboarding_step="somewhere")},
        {"organization": org(platform_fee_percent="lots")},
        {"org": org()},
        [org()],
    ],
    ids=["missing-field", "unknown-status", "unknown-step", "bad-fee", "wrong-key", "list"],
)
async def test_a_malformed_answer_is_upstream_unavailable_without_retrying(
    client: WorkerClient, mock: respx.MockRouter, body: Any
) -> None:
    route = mock.get("/organization/org_a").respond(200, json=body)

    with pytest.raises(UpstreamUnavailable):
        await client.get_organization("org_a")

    assert route.call_count == 1


async def test_a_malformed_user_context_is_upstream_unavailable(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.post("/verify-user-context").respond(200, json={**CONTEXT, "member_role": "superuser"})

    with pytest.raises(UpstreamUnavailable):
        await client.verify_user_context(session_token="tok", organization_id="org_a")


async def test_an_answer_that_is_not_json_is_upstream_unavailable(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.get("/organization/org_a").respond(200, text="<html>login</html>")

    with pytest.raises(UpstreamUnavailable):
        await client.get_organization("org_a")


async def test_unknown_fields_in_answers_are_ignored(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    mock.get("/organization/org_a").respond(
        200, json={"organization": org(logo="x.png"), "extra": 1}
    )

    assert (await client.get_organization("org_a")).name == "Acme"


# --- health -----------------------------------------------------------------------------------


async def test_health_passes_when_the_worker_answers(
    client: WorkerClient, mock: respx.MockRouter
) -> None:
    route = mock.get("/health").respond(200, json={"status": "ok", "d1": "ok"})

    await client.health()

    assert route.calls.last.request.headers["X-Internal-Api-Key"] == KEY


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (httpx.Response(503), "worker_unreachable"),
        (httpx.ConnectError("refused"), "worker_unreachable"),
        (error(401, "unauthorized"), "worker_refused"),
    ],
    ids=["503", "connect", "key-refused"],
)
async def test_health_failure_says_why_after_one_attempt(
    client: WorkerClient,
    mock: respx.MockRouter,
    answer: httpx.Response | Exception,
    code: str,
) -> None:
    route = mock.get("/health").mock(side_effect=[answer])

    with pytest.raises(UpstreamUnavailable) as exc:
        await client.health()

    assert exc.value.code == code
    assert route.call_count == 1
    assert KEY not in exc.value.message
