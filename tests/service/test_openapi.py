"""The OpenAPI document: every route's success model, its error statuses, headers and auth."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connect_backend.app import create_app
from tests.support.service import make_settings

AUTHORIZED = {400, 401, 403, 404, 422, 503}
EXPECTED: dict[tuple[str, str], tuple[str, set[int]]] = {
    ("get", "/health"): ("Health", set()),
    ("get", "/ready"): ("Ready", {503}),
    ("post", "/api/connect/onboard"): ("Onboard", AUTHORIZED | {409, 413, 429, 502}),
    ("get", "/api/connect/status"): ("Status", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/status/{org_id}"): ("Status", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/balance"): ("BalanceView", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/balance/{org_id}"): ("BalanceView", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/payouts"): ("PayoutHistory", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/payouts/{org_id}"): ("PayoutHistory", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/transfers"): ("TransferHistory", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/transfers/{org_id}"): ("TransferHistory", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/payout-schedule"): ("PayoutScheduleView", AUTHORIZED | {409, 429, 502}),
    ("get", "/api/connect/payout-schedule/{org_id}"): (
        "PayoutScheduleView",
        AUTHORIZED | {409, 429, 502},
    ),
    ("get", "/api/connect/organizations"): ("OrganizationList", {400, 401, 403, 422, 429, 503}),
    ("get", "/api/connect/claims"): ("ClaimList", AUTHORIZED | {429}),
    ("get", "/api/connect/claims/{org_id}"): ("ClaimList", AUTHORIZED | {429}),
    ("get", "/api/connect/open-claims"): ("ClaimList", {400, 401, 403, 422, 429, 503}),
    ("post", "/api/connect/transfer"): ("TransferView", AUTHORIZED | {402, 409, 413, 429, 502}),
    ("post", "/api/connect/transfers/{transfer_id}/reversals"): (
        "ReversalView",
        {400, 401, 403, 404, 409, 413, 422, 429, 502, 503},
    ),
    ("post", "/api/connect/payout"): ("PayoutView", AUTHORIZED | {402, 409, 413, 429, 502}),
    ("put", "/api/connect/payout-schedule"): (
        "PayoutScheduleView",
        AUTHORIZED | {409, 413, 429, 502},
    ),
    ("post", "/api/connect/dashboard-link"): ("DashboardLink", AUTHORIZED | {409, 413, 429, 502}),
    ("put", "/api/connect/platform-fee/{org_id}"): ("Status", AUTHORIZED | {413, 429}),
    ("post", "/api/connect/webhook"): ("WebhookAck", {400, 404, 409, 413, 502, 503}),
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(make_settings()).openapi()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _ref(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def _parameters(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"].lower()): p for p in operation.get("parameters", [])}


def test_every_route_is_documented(document: dict[str, Any]) -> None:
    assert set(_operations(document)) == set(EXPECTED)


@pytest.mark.parametrize(("method", "path"), list(EXPECTED))
def test_each_route_lists_its_success_model_and_the_errors_it_can_return(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation = _operations(document)[(method, path)]
    model, errors = EXPECTED[(method, path)]

    assert _ref(operation["responses"]["200"]) == model
    assert {int(s) for s in operation["responses"]} - {200} == errors
    for status in errors:
        response = operation["responses"][str(status)]
        assert _ref(response) == ("ValidationErrorBody" if status == 422 else "ErrorBody")
        assert response["description"]
    for response in operation["responses"].values():
        assert "X-Request-ID" in response["headers"]


def test_the_422_body_is_the_error_body_with_the_fields_in_details(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    error = schemas["ValidationErrorDetail"]

    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert set(error["required"]) >= {"code", "message", "details"}
    assert error["properties"]["code"]["const"] == "validation_error"
    assert error["properties"]["details"]["items"]["$ref"].endswith("/FieldError")
    assert set(schemas["FieldError"]["required"]) == {"loc", "msg", "type"}
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message"}


def test_429_documents_retry_after(document: dict[str, Any]) -> None:
    """Every authenticated route may be refused by a rate limit or the Stripe budget."""
    operations = _operations(document).values()
    limited = [op for op in operations if "429" in op["responses"]]

    assert limited == [op for op in operations if op.get("security")]
    assert len(limited) == 21
    for operation in limited:
        header = operation["responses"]["429"]["headers"]["Retry-After"]
        assert header["required"] is True
        assert header["schema"]["type"] == "integer"


def test_the_bearer_scheme_secures_every_route_but_health_ready_and_the_webhook(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]

    assert list(schemes) == ["HTTPBearer"]
    assert (schemes["HTTPBearer"]["type"], schemes["HTTPBearer"]["scheme"]) == ("http", "bearer")
    for (_, path), operation in _operations(document).items():
        public = path in ("/health", "/ready", "/api/connect/webhook")
        assert operation.get("security") == (None if public else [{"HTTPBearer": []}]), path


def test_the_organization_and_user_headers_are_documented_on_every_authorized_route(
    document: dict[str, Any],
) -> None:
    for (_, path), operation in _operations(document).items():
        if path in ("/health", "/ready", "/api/connect/webhook"):
            continue
        parameters = _parameters(operation)
        for name in ("x-org-id", "x-user-id"):
            header = parameters[("header", name)]
            assert header["required"] is False
            assert header["description"]
            assert header["schema"]["anyOf"][0]["maxLength"] == 255


@pytest.mark.parametrize("path", ["/api/connect/transfer", "/api/connect/payout"])
def test_money_moving_routes_require_an_idempotency_key(
    document: dict[str, Any], path: str
) -> None:
    header = _parameters(_operations(document)[("post", path)])[("header", "idempotency-key")]

    assert header["required"] is True
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 255)


def test_the_webhook_documents_its_signature_header_and_raw_event_body(
    document: dict[str, Any],
) -> None:
    operation = _operations(document)[("post", "/api/connect/webhook")]
    signature = _parameters(operation)[("header", "stripe-signature")]
    body = operation["requestBody"]

    assert signature["required"] is True
    assert body["required"] is True
    assert set(body["content"]["application/json"]["schema"]["required"]) == {"id", "type", "data"}


def test_the_authorization_header_is_the_security_scheme_not_a_parameter(
    document: dict[str, Any],
) -> None:
    for operation in _operations(document).values():
        assert ("header", "authorization") not in _parameters(operation)


async def test_the_served_document_is_the_same_and_holds_no_secret(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/openapi.json")

    assert r.status_code == 200
    assert r.json() == create_app(make_settings()).openapi()
    for secret in ("sk_test_service123", "whsec_test", "test-internal-key"):
        assert secret not in r.text


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in _keys(value)}
    if isinstance(node, list):
        return {k for value in node for k in _keys(value)}
    return set()


def test_bounds_are_json_schema_keywords_that_tools_understand(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    amount = schemas["TransferCreate"]["properties"]["amount"]

    assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 1, 99_999_999)
    anchor = schemas["PayoutScheduleUpdate"]["properties"]["monthly_anchor"]["anyOf"][0]
    assert (anchor["minimum"], anchor["maximum"]) == (1, 31)
    assert not _keys(schemas) & {"ge", "le", "gt", "lt"}  # pydantic's names, unknown to tools


def test_the_schema_says_which_anchor_each_payout_interval_needs(
    document: dict[str, Any],
) -> None:
    update = document["components"]["schemas"]["PayoutScheduleUpdate"]
    rules = {
        rule["if"]["properties"]["interval"]["const"]: (rule["then"], rule["else"])
        for rule in update["allOf"]
    }

    assert rules["weekly"][0]["required"] == ["weekly_anchor"]
    assert rules["weekly"][1] == {"properties": {"weekly_anchor": {"type": "null"}}}
    assert rules["monthly"][0]["required"] == ["monthly_anchor"]
    assert rules["monthly"][1] == {"properties": {"monthly_anchor": {"type": "null"}}}
    assert rules["manual"][0] == {"properties": {"delay_days": {"type": "null"}}}
    assert update["type"] == "object"  # one flat object for clients; the rules ride along
