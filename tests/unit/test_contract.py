"""The service's side of the Worker contract (contract/worker-internal-api.openapi.json).

What the Worker client sends must validate against the contract's request schemas; its typed
models must know exactly the contract's fields and enum values; and the fake Worker the service
tests use must answer in the contract's shapes, so the fakes cannot drift from the real Worker
(whose own tests validate its answers against the same file).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
import respx
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from connect_backend import domain
from connect_backend import worker as client_module
from connect_backend.errors import ClaimExceeded, NotFound
from connect_backend.worker import WorkerClient
from tests.service.fakes import WORKER_KEY, WORKER_URL, FakeWorker
from tests.support import payout_outcomes
from tests.support.contract import assert_response_matches, request_validator
from tests.support.recording import Recording

CONTRACT = json.loads(
    (
        Path(__file__).resolve().parents[2] / "contract" / "worker-internal-api.openapi.json"
    ).read_text()
)
SCHEMAS = CONTRACT["components"]["schemas"]


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({**CONTRACT, "$ref": f"#/components/schemas/{name}"})


def enum_values(name: str) -> set[str]:
    schema = SCHEMAS[name]
    values = schema.get("enum") or [option["const"] for option in schema.get("oneOf", [])]
    return set(values)


@pytest.mark.parametrize(
    ("model", "schema"),
    [
        (domain.Organization, "Organization"),
        (domain.User, "User"),
        (domain.Session, "Session"),
        (client_module.UserContext, "VerifyUserContextResponse"),
        (client_module.UpdateResult, "UpdateOrganizationResponse"),
        (client_module.LinkResult, "CreateConnectAccountResponse"),
        (client_module.OrganizationPage, "OrganizationPage"),
        (client_module.OrganizationCounts, "OrganizationCounts"),
        (client_module.OrganizationUpdates, "OrganizationUpdates"),
        (client_module.IdempotencyRecord, "IdempotencyRecord"),
        (client_module.ClaimResult, "ClaimIdempotencyKeyResponse"),
        (domain.Claim, "Claim"),
        (domain.ClaimSettlement, "ClaimSettlement"),
        (domain.ClaimTotal, "ClaimTotal"),
        (client_module.RecordClaimResult, "RecordClaimResponse"),
        (client_module.ClaimPage, "ClaimPage"),
        (client_module.SettleClaimResult, "SettleClaimResponse"),
    ],
)
def test_client_models_have_exactly_the_contract_fields(
    model: type[BaseModel], schema: str
) -> None:
    assert set(model.model_fields) == set(SCHEMAS[schema]["properties"])


def test_the_payout_failure_has_exactly_the_contract_fields() -> None:
    fields = {f.name for f in dataclasses.fields(domain.PayoutFailure)}
    assert fields == set(SCHEMAS["PayoutFailure"]["properties"])


@pytest.mark.parametrize(
    ("literal", "schema"),
    [
        (domain.ConnectStatus, "ConnectStatus"),
        (domain.OnboardingStep, "OnboardingStep"),
        (domain.MemberRole, "MemberRole"),
        (domain.AccountApi, "AccountApi"),
        (domain.IdempotencyOperation, "IdempotencyOperation"),
        (domain.ClaimCause, "ClaimCause"),
        (domain.SettlementKind, "SettlementKind"),
        (domain.ClaimState, "ClaimState"),
        (domain.StatusFilter, "OrganizationStatusFilter"),
        (domain.OrganizationOrder, "OrganizationOrder"),
        (domain.PayoutOutcome, "PayoutOutcome"),
    ],
)
def test_client_enums_match_the_contract(literal: Any, schema: str) -> None:
    assert set(typing.get_args(literal)) == enum_values(schema)


@pytest.mark.parametrize("field", ["platform_fee_percent", "onboarding_step"])
def test_client_defaults_are_the_contracts(field: str) -> None:
    # The Worker's own test holds the migration's DEFAULT and its constant to the same value.
    declared = SCHEMAS["Organization"]["properties"][field]["default"]
    assert domain.Organization.model_fields[field].default == declared


@pytest.fixture
def fake() -> Iterator[FakeWorker]:
    fake = FakeWorker()
    fake.add_org("org_1")
    fake.add_org(
        "org_2",
        stripe_connect_account_id="acct_old",
        stripe_connect_status="disabled",
        onboarding_step="deauthorized",
        onboarding_rejection_reason="deauthorized",
    )
    fake.add_person("ada", org_1="owner")
    with respx.mock(assert_all_called=False) as mock:
        fake.install(mock)
        yield fake


REQUESTS = {
    "/api/internal/verify-user-context": "VerifyUserContextRequest",
    "/api/internal/update-organization": "UpdateOrganizationRequest",
    "/api/internal/create-connect-account": "CreateConnectAccountRequest",
}
ANSWERS = {
    "/api/internal/verify-user-context": "VerifyUserContextResponse",
    "/api/internal/update-organization": "UpdateOrganizationResponse",
    "/api/internal/create-connect-account": "CreateConnectAccountResponse",
    "/api/internal/organization/org_1": "OrganizationResponse",
    "/api/internal/organization-by-account/acct_1": "OrganizationResponse",
    "/api/internal/health": "HealthResponse",
    "/api/internal/organizations": "OrganizationPage",
    "/api/internal/organization-counts": "OrganizationCounts",
}


async def _drive_every_endpoint(fake: FakeWorker) -> list[httpx.Response]:
    async with Recording() as recording:
        seen = recording.responses
        client = WorkerClient(recording, base_url=WORKER_URL, api_key=WORKER_KEY)
        await client.verify_user_context(session_token="tok_ada", organization_id="org_1")
        await client.verify_user_context(session_token="tok_ada", organization_id=None)
        await client.create_connect_account(organization_id="org_1", account_id="acct_1")
        await client.update_organization(
            organization_id="org_1",
            updates={
                "stripe_connect_status": "active",
                "onboarding_step": "complete",
                "onboarding_rejection_reason": None,
                "stripe_connect_requirements_deadline": datetime(2026, 12, 1, tzinfo=UTC),
            },
            synced_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        )
        await client.update_organization(
            organization_id="org_1", updates={"platform_fee_percent": 12.5}
        )
        await client.create_connect_account(
            organization_id="org_2", account_id="acct_new", replace_account_id="acct_old"
        )
        await client.get_organization("org_1")
        await client.get_organization_by_account("acct_1")
        await client.health()
        first = await client.list_organizations(limit=1)
        assert first.next_cursor is not None
        await client.list_organizations(limit=1, cursor=first.next_cursor, linked=True)
        await client.list_organizations(status="not_started", linked=False)
        stale = domain.OrganizationFilter(
            linked=True,
            unsettled=False,
            step="complete",
            synced_before=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
            name="Acme",
        )
        by_sync = await client.list_organizations(limit=1, order="synced_at", where=stale)
        await client.list_organizations(order="-synced_at", cursor=by_sync.next_cursor)
        by_deadline = await client.list_organizations(limit=1, order="deadline")
        assert by_deadline.next_cursor is not None
        await client.list_organizations(order="deadline", cursor=by_deadline.next_cursor)
        await client.count_organizations(stale)
        await client.count_organizations()
    return seen


async def test_every_request_the_client_sends_matches_the_contract(fake: FakeWorker) -> None:
    await _drive_every_endpoint(fake)
    checked = 0
    for request in fake.requests:
        assert request.headers["x-internal-api-key"] == WORKER_KEY
        schema = REQUESTS.get(request.url.path)
        if schema is not None:
            validator(schema).validate(json.loads(request.content))
            checked += 1
    assert checked == 6


def _query_parameters(path: str) -> dict[str, Draft202012Validator]:
    operation = CONTRACT["paths"][path]["get"]
    return {
        p["name"]: Draft202012Validator({**CONTRACT, **p["schema"]})
        for p in operation["parameters"]
        if p.get("in") == "query"
    }


@pytest.mark.parametrize(("endpoint", "calls"), [("organizations", 7), ("organization-counts", 2)])
async def test_every_query_the_client_sends_matches_the_contract(
    fake: FakeWorker, endpoint: str, calls: int
) -> None:
    await _drive_every_endpoint(fake)
    parameters = _query_parameters(f"/api/internal/{endpoint}")
    sent = fake.calls(endpoint)
    assert len(sent) == calls
    for request in sent:
        for name, value in request.url.params.multi_items():
            # Query values are text; the contract's integer and boolean read them as JSON does.
            typed = json.loads(value) if name in ("limit", "linked", "unsettled") else value
            parameters[name].validate(typed)
    assert {name for r in sent for name in r.url.params} == set(parameters)


async def test_the_fake_worker_answers_in_the_contract_shapes(fake: FakeWorker) -> None:
    responses = await _drive_every_endpoint(fake)
    assert len(responses) == 18
    for response in responses:
        assert response.status_code == 200
        validator(ANSWERS[response.request.url.path]).validate(response.json())


async def test_the_fake_worker_errors_match_the_contract(fake: FakeWorker) -> None:
    async with httpx.AsyncClient() as http:
        for method, path, body in [
            ("POST", "verify-user-context", {"session_token": "nope", "organization_id": None}),
            ("GET", "organization/org_missing", None),
        ]:
            response = await http.request(
                method,
                f"{WORKER_URL}/api/internal/{path}",
                json=body,
                headers={"X-Internal-Api-Key": WORKER_KEY},
            )
            assert response.status_code in (401, 404)
            validator("Error").validate(response.json())


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"organization_id": "org_2", "stripe_connect_account_id": "acct_x"},
            409,
            "already_linked",
        ),
        (
            {
                "organization_id": "org_2",
                "stripe_connect_account_id": "acct_new",
                "replace_account_id": "acct_old",
            },
            200,
            None,
        ),
        (
            {
                "organization_id": "org_2",
                "stripe_connect_account_id": "acct_new",
                "replace_account_id": "acct_wrong",
            },
            409,
            "already_linked",
        ),
        (
            {
                "organization_id": "org_1",
                "stripe_connect_account_id": "acct_b",
                "replace_account_id": "acct_a",
            },
            409,
            "not_deauthorized",
        ),
        (
            {"organization_id": "org_1", "stripe_connect_account_id": "acct_old"},
            409,
            "account_in_use",
        ),
        (
            {
                "organization_id": "org_2",
                "stripe_connect_account_id": "acct_old",
                "replace_account_id": "acct_old",
            },
            400,
            "invalid_request",
        ),
        ({"organization_id": "org_9", "stripe_connect_account_id": "acct_x"}, 404, "not_found"),
    ],
)
async def test_the_fake_worker_links_and_replaces_as_the_contract_says(
    fake: FakeWorker, body: dict[str, Any], status: int, code: str | None
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{WORKER_URL}/api/internal/create-connect-account",
            json=body,
            headers={"X-Internal-Api-Key": WORKER_KEY},
        )
    assert response.status_code == status
    assert_response_matches("/api/internal/create-connect-account", "POST", status, response.json())
    if code is not None:
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=x",
        "limit=1&limit=2",
        "cursor=nope",
        "status=paused",
        "linked=yes",
        "page=2",
    ],
)
async def test_the_fake_worker_refuses_bad_queries_as_the_contract_says(
    fake: FakeWorker, query: str
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{WORKER_URL}/api/internal/organizations?{query}",
            headers={"X-Internal-Api-Key": WORKER_KEY},
        )
    assert response.status_code == 400
    assert_response_matches("/api/internal/organizations", "GET", 400, response.json())
    assert query.split("=")[0] in response.json()["error"]["message"]


# -- claims ------------------------------------------------------------------------------

CLAIMS = "/api/internal/claims"
SETTLEMENTS = "/api/internal/claims/{id}/settlements"


def _template(request: httpx.Request) -> str:
    return SETTLEMENTS if request.url.path.endswith("/settlements") else CLAIMS


async def _drive_the_claims(fake: FakeWorker) -> list[httpx.Response]:
    """Every claims call the client makes, answered by the fake: records (new, held, unknown
    organization), settlements (applied, repeated, beyond what is open, unknown claim), and
    lists (one organization's, every one's page by page, filtered)."""
    async with Recording() as recording:
        seen = recording.responses
        client = WorkerClient(recording, base_url=WORKER_URL, api_key=WORKER_KEY)
        first = await client.record_claim(
            organization_id="org_1",
            amount=1000,
            currency="usd",
            cause="refund",
            cause_id="re_1",
            transfer_id="tr_1",
        )
        held = await client.record_claim(
            organization_id="org_1",
            amount=5,
            currency="usd",
            cause="refund",
            cause_id="re_1",
            transfer_id="tr_1",
        )
        assert (first.created, held.created, held.claim) == (True, False, first.claim)
        await client.record_claim(
            organization_id="org_2",
            amount=300,
            currency="eur",
            cause="dispute",
            cause_id="dp_1",
            transfer_id="tr_2",
        )
        with pytest.raises(NotFound):
            await client.record_claim(
                organization_id="org_9",
                amount=1,
                currency="usd",
                cause="manual",
                cause_id="k",
                transfer_id="tr_3",
            )
        claim_id = first.claim.id
        settled = await client.settle_claim(claim_id, key="tr_4", amount=400, kind="transfer")
        again = await client.settle_claim(claim_id, key="tr_4", amount=1, kind="transfer")
        assert (settled.applied, again.applied, again.claim.settled) == (True, False, 400)
        with pytest.raises(ClaimExceeded) as exceeded:
            await client.settle_claim(claim_id, key="trr_1", amount=601, kind="reversal")
        assert exceeded.value.claim.open == 600
        with pytest.raises(NotFound):
            await client.settle_claim("clm_missing", key="k", amount=1, kind="reversal")

        mine = await client.list_claims(organization_id="org_1", state="all")
        assert [c.id for c in mine.claims] == [claim_id]
        page = await client.list_claims(organization_id=None, limit=1)
        assert page.next_cursor is not None
        rest = await client.list_claims(organization_id=None, limit=1, cursor=page.next_cursor)
        assert rest.next_cursor is None
        assert [c.id for c in page.claims + rest.claims] == [claim_id, rest.claims[0].id]
        assert [(t.currency, t.open) for t in page.totals] == [("eur", 300), ("usd", 600)]
        euros = await client.list_claims(organization_id=None, currency="eur")
        assert [(t.currency, t.open) for t in euros.totals] == [("eur", 300)]
    return seen


async def test_the_fake_worker_answers_claims_in_the_contract_shapes(fake: FakeWorker) -> None:
    responses = await _drive_the_claims(fake)
    statuses = [r.status_code for r in responses]
    assert sorted(set(statuses)) == [200, 404, 409]
    assert len(responses) == 12
    for response in responses:
        template = _template(response.request)
        assert_response_matches(
            template, response.request.method, response.status_code, response.json()
        )


async def test_every_claims_request_the_client_sends_matches_the_contract(
    fake: FakeWorker,
) -> None:
    await _drive_the_claims(fake)
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 8
    for request in posts:
        request_validator(_template(request), "POST").validate(json.loads(request.content))
    parameters = _query_parameters(CLAIMS)
    sent = [r for r in fake.requests if r.method == "GET"]
    assert len(sent) == 4
    for request in sent:
        for name, value in request.url.params.multi_items():
            parameters[name].validate(int(value) if name == "limit" else value)
    assert {name for r in sent for name in r.url.params} == set(parameters)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("state=closed", "state"),
        ("currency=USD", "currency"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=nope", "cursor"),
        ("organization_id=", "organization_id"),
        ("state=open&state=all", "state"),
        ("page=2", "page"),
    ],
)
async def test_the_fake_worker_refuses_bad_claims_queries_as_the_contract_says(
    fake: FakeWorker, query: str, param: str
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{WORKER_URL}{CLAIMS}?{query}", headers={"X-Internal-Api-Key": WORKER_KEY}
        )
    assert response.status_code == 400
    assert_response_matches(CLAIMS, "GET", 400, response.json())
    assert response.json()["error"]["param"] == param


# -- payout outcomes and released settlements --------------------------------------------

PAYOUT_OUTCOME = "/api/internal/payout-outcome"
RELEASE = "/api/internal/claims/settlements/release"


async def _drive_payouts_and_releases(fake: FakeWorker) -> list[httpx.Response]:
    """The client's payout-outcome and release calls, answered by the fake."""
    t1 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    t2 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    async with Recording() as recording:
        seen = recording.responses
        client = WorkerClient(recording, base_url=WORKER_URL, api_key=WORKER_KEY)
        failed = await client.record_payout_outcome(
            organization_id="org_1",
            payout_id="po_1",
            outcome="failed",
            payout_created=t1,
            failure_code="account_closed",
            failure_message="The bank account has been closed.",
        )
        assert failed.payout_failure == domain.PayoutFailure(
            payout_id="po_1",
            failure_code="account_closed",
            failure_message="The bank account has been closed.",
            payout_created=t1,
        )
        paid = await client.record_payout_outcome(
            organization_id="org_1", payout_id="po_2", outcome="paid", payout_created=t2
        )
        assert paid.payout_failure is None
        with pytest.raises(NotFound):
            await client.record_payout_outcome(
                organization_id="org_9", payout_id="po_1", outcome="paid", payout_created=t1
            )
        claim = await client.record_claim(
            organization_id="org_1",
            amount=100,
            currency="usd",
            cause="dispute",
            cause_id="dp_1",
            transfer_id="tr_1",
        )
        await client.settle_claim(claim.claim.id, key="tr_net", amount=60, kind="transfer")
        await client.settle_claim(claim.claim.id, key="dp_won", amount=40, kind="waived")
        assert await client.release_claim_settlements(organization_id="org_1", key="tr_net") == 1
        assert await client.release_claim_settlements(organization_id="org_1", key="tr_net") == 0
    return seen


def _new_template(request: httpx.Request) -> str:
    path = request.url.path
    if path in (PAYOUT_OUTCOME, RELEASE):
        return path
    return _template(request)


async def test_the_fake_worker_answers_payouts_and_releases_in_the_contract_shapes(
    fake: FakeWorker,
) -> None:
    responses = await _drive_payouts_and_releases(fake)
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 200, 200, 200, 200]
    for response in responses:
        assert_response_matches(
            _new_template(response.request),
            response.request.method,
            response.status_code,
            response.json(),
        )


async def test_every_payout_and_release_request_the_client_sends_matches_the_contract(
    fake: FakeWorker,
) -> None:
    await _drive_payouts_and_releases(fake)
    assert len(fake.requests) == 8
    for request in fake.requests:
        request_validator(_new_template(request), "POST").validate(json.loads(request.content))


@pytest.mark.parametrize(
    ("events", "shown"),
    [(events, shown) for _, events, shown in payout_outcomes.SCENARIOS],
    ids=[name for name, _, _ in payout_outcomes.SCENARIOS],
)
async def test_the_fake_worker_orders_payout_outcomes_as_the_worker_does(
    fake: FakeWorker, events: list[payout_outcomes.Event], shown: str | None
) -> None:
    # The same scenarios run against the real Worker in tests/worker.
    async with httpx.AsyncHTTPTransport() as transport:
        client = WorkerClient(transport, base_url=WORKER_URL, api_key=WORKER_KEY)
        failure = await payout_outcomes.run(client, "org_1", events)
    assert (failure.payout_id if failure else None) == shown
    assert fake.organizations["org_1"]["payout_failure"] == (
        None if failure is None else {**dataclasses.asdict(failure), "payout_created": ANY}
    )


async def test_the_fake_worker_releases_only_that_organizations_transfer_settlements(
    fake: FakeWorker,
) -> None:
    async with httpx.AsyncHTTPTransport() as transport:
        client = WorkerClient(transport, base_url=WORKER_URL, api_key=WORKER_KEY)
        ids = []
        for org, amount in [("org_1", 300), ("org_1", 1000), ("org_2", 500)]:
            recorded = await client.record_claim(
                organization_id=org,
                amount=amount,
                currency="usd",
                cause="refund",
                cause_id=f"re_{len(ids)}",
                transfer_id="tr_0",
            )
            ids.append(recorded.claim.id)
        await client.settle_claim(ids[0], key="tr_net", amount=300, kind="transfer")
        await client.settle_claim(ids[1], key="tr_net", amount=200, kind="transfer")
        await client.settle_claim(ids[1], key="tr_net_r", amount=100, kind="reversal")
        await client.settle_claim(ids[2], key="tr_net", amount=50, kind="transfer")
        await client.settle_claim(ids[2], key="dp_won", amount=50, kind="waived")
        assert await client.release_claim_settlements(organization_id="org_1", key="tr_net") == 2
        assert await client.release_claim_settlements(organization_id="org_1", key="tr_net") == 0
        assert await client.release_claim_settlements(organization_id="org_2", key="dp_won") == 0
    assert [fake.claims[i]["settled"] for i in ids] == [0, 100, 100]
    assert [s["key"] for s in fake.claims[ids[1]]["settlements"]] == ["tr_net_r"]


# -- the requirements deadline (migrations/0009) --------------------------------------------


async def test_the_fake_worker_orders_by_deadline_as_the_worker_does() -> None:
    """The Worker's `order=deadline` (worker/test/organization-fleet.test.ts): nearest
    deadline first, none last; ties by last sync (never synced first), then id; page after
    page, whatever the page size; a cursor of another order refused."""
    fake = FakeWorker()
    rows = {
        "org_far": ("2026-12-20T00:00:00.000Z", "2026-11-01T10:00:00.000Z"),
        "org_near": ("2026-12-02T00:00:00.000Z", "2026-11-09T10:00:00.000Z"),
        "org_none_old": (None, "2026-11-01T10:00:00.000Z"),
        "org_none_never": (None, None),
        "org_tie_b": ("2026-12-05T00:00:00.000Z", "2026-11-04T10:00:00.000Z"),
        "org_tie_a": ("2026-12-05T00:00:00.000Z", "2026-11-04T10:00:00.000Z"),
        "org_tie_never": ("2026-12-05T00:00:00.000Z", None),
    }
    for org_id, (deadline, synced) in rows.items():
        fake.add_org(
            org_id,
            stripe_connect_account_id=f"acct_{org_id}",
            stripe_connect_status="active",
            onboarding_step="action_required",
            stripe_connect_requirements_deadline=deadline,
            stripe_connect_synced_at=synced,
        )
    expected = [
        "org_near",
        "org_tie_never",
        "org_tie_a",
        "org_tie_b",
        "org_far",
        "org_none_never",
        "org_none_old",
    ]
    with respx.mock(assert_all_called=False) as mock:
        fake.install(mock)
        async with Recording() as recording:
            client = WorkerClient(recording, base_url=WORKER_URL, api_key=WORKER_KEY)
            for limit in (1, 2, 3, 50):
                seen: list[str] = []
                cursor: str | None = None
                while True:
                    page = await client.list_organizations(
                        limit=limit, cursor=cursor, order="deadline"
                    )
                    seen += [o.id for o in page.organizations]
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
                assert seen == expected
            first = await client.list_organizations(limit=1, order="deadline")
            assert first.organizations[0].stripe_connect_requirements_deadline == datetime(
                2026, 12, 2, tzinfo=UTC
            )
        async with httpx.AsyncClient() as http:
            for order in ("synced_at", "-synced_at", "id"):
                response = await http.get(
                    f"{WORKER_URL}/api/internal/organizations",
                    params={"order": order, "cursor": first.next_cursor},
                    headers={"X-Internal-Api-Key": WORKER_KEY},
                )
                assert response.status_code == 400
                assert response.json()["error"]["param"] == "cursor"


@pytest.mark.parametrize(
    ("extra", "deadline"),
    [
        ({}, "2026-12-01T00:00:00.000Z"),
        ({"synced_at": None}, "2026-12-01T00:00:00.000Z"),
        ({"synced_at": "2026-11-26T10:00:00.000Z"}, "soon"),
    ],
)
async def test_the_fake_worker_takes_a_deadline_only_with_a_view(
    fake: FakeWorker, extra: dict[str, Any], deadline: str
) -> None:
    body = {
        "organization_id": "org_1",
        "updates": {"stripe_connect_requirements_deadline": deadline},
        **extra,
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{WORKER_URL}/api/internal/update-organization",
            json=body,
            headers={"X-Internal-Api-Key": WORKER_KEY},
        )
    assert response.status_code == 400
    assert_response_matches("/api/internal/update-organization", "POST", 400, response.json())
    assert response.json()["error"]["param"] == "updates.stripe_connect_requirements_deadline"
    assert fake.organizations["org_1"]["stripe_connect_requirements_deadline"] is None


async def test_the_fake_worker_stores_a_deadline_as_the_worker_does(fake: FakeWorker) -> None:
    """UTC with ms, under the view's ordering: a stale view does not overwrite it."""
    async with Recording() as recording:
        client = WorkerClient(recording, base_url=WORKER_URL, api_key=WORKER_KEY)
        written, stale = await _deadline_then_stale(client)
    assert written.applied
    assert fake.organizations["org_1"]["stripe_connect_requirements_deadline"] == (
        "2026-12-01T00:00:00.000Z"
    )
    assert not stale.applied
    assert stale.organization.stripe_connect_requirements_deadline == datetime(
        2026, 12, 1, tzinfo=UTC
    )


async def _deadline_then_stale(
    client: WorkerClient,
) -> tuple[client_module.UpdateResult, client_module.UpdateResult]:
    written = await client.update_organization(
        organization_id="org_1",
        updates={
            "stripe_connect_requirements_deadline": datetime.fromisoformat(
                "2026-12-01T01:00:00+01:00"
            )
        },
        synced_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    )
    stale = await client.update_organization(
        organization_id="org_1",
        updates={"stripe_connect_requirements_deadline": None},
        synced_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )
    return written, stale
