"""The service's OpenAPI document, in one place: what each route answers (`responses`), the
webhook's raw request (`WEBHOOK_REQUEST`), and what every route's `auth.Requirement` reads from
the request itself, written where FastAPI would have put it had they been parameters
(`ConnectAPI.openapi`, `document`).

The document is the inventory: the frontend's types are generated from it, and tests hold every
route's answers to it (docs/security.md, API9).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from connect_backend.auth import (
    CLAIMS,
    IDEMPOTENCY_KEY,
    MAX_HEADER,
    PlatformRequirement,
    Requirement,
)
from connect_backend.schemas import (
    ErrorBody,
    StripeEventBody,
    ThinEventBody,
    ValidationErrorBody,
)

BEARER_SCHEME = "HTTPBearer"
"""The OpenAPI security scheme every route with a `Requirement` is documented under."""
IDEMPOTENCY_KEY_DOC = "Required: a retry with the same key never moves money twice."


class ConnectAPI(FastAPI):
    """FastAPI, whose OpenAPI document also says what each route's `auth.Requirement` reads
    from the request itself: the session scheme and the headers (`document`)."""

    def openapi(self) -> dict[str, Any]:
        kept = self.openapi_schema
        built = super().openapi()  # FastAPI keeps it, and makes it again if routes change
        if built is not kept:
            document(built, (r for r in self.routes if isinstance(r, APIRoute)))
        return built


def document(openapi: dict[str, Any], routes: Iterable[APIRoute]) -> None:
    """Describe in `openapi` what every route's `Requirement` reads, where FastAPI would have
    put it had they been parameters: the Bearer session scheme, `Idempotency-Key` as a
    required header parameter where the route takes one, and `X-User-ID` and `X-Org-ID` as
    optional header parameters."""
    schemes = openapi.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER_SCHEME] = {
        "type": "http",
        "description": "The Better Auth session token, verified through the Worker on every call.",
        "scheme": "bearer",
    }
    claims = [_claim_parameter(name, description) for name, description in CLAIMS.items()]
    for route in routes:
        required = [
            d.call
            for d in route.dependant.dependencies
            if isinstance(d.call, Requirement | PlatformRequirement)
        ]
        if not required:
            continue
        keyed = required[0].idempotency_key
        headers = [*([_idempotency_key_parameter()] if keyed else []), *copy.deepcopy(claims)]
        operations = openapi["paths"][route.path_format]
        for method in route.methods or ():
            operation = operations[method.lower()]
            later = {
                k: operation.pop(k)
                for k in ("parameters", "requestBody", "responses")
                if k in operation
            }
            operation["security"] = [{BEARER_SCHEME: []}]
            operation["parameters"] = [*later.pop("parameters", []), *headers]
            operation.update(later)


def _title(name: str) -> str:
    return name.replace("-", " ").title().replace(" ", "-")  # as pydantic titles an alias


def _claim_parameter(name: str, description: str) -> dict[str, Any]:
    schema = {"anyOf": [{"type": "string", "maxLength": MAX_HEADER}, {"type": "null"}]}
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {**schema, "description": description, "title": _title(name)},
        "description": description,
    }


def _idempotency_key_parameter() -> dict[str, Any]:
    return {
        "name": IDEMPOTENCY_KEY,
        "in": "header",
        "required": True,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_HEADER,
            "description": IDEMPOTENCY_KEY_DOC,
            "title": IDEMPOTENCY_KEY,
        },
        "description": IDEMPOTENCY_KEY_DOC,
    }


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place: a schema put into the OpenAPI
    document by hand (not a component) cannot refer to definitions of its own."""
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


WEBHOOK_REQUEST: dict[str, Any] = {
    # Read raw (the signature covers the exact bytes), so declared here, not parsed.
    "parameters": [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": True,
            "description": "`t=<unix time>,v1=<HMAC-SHA256 hex>[,v1=…]`, as Stripe signs.",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "description": (
            "A Stripe event (a webhook endpoint's snapshot event, or an event destination's "
            "thin `v2.core.event`), verified over its raw bytes (at most 1 MiB)."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _inlined(StripeEventBody.model_json_schema()),
                        _inlined(ThinEventBody.model_json_schema()),
                    ]
                }
            }
        },
    },
}


_REQUEST_ID: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The caller's sane X-Request-ID, else a new one; also in error bodies.",
        "schema": {"type": "string"},
    }
}
_ERRORS: dict[int, str] = {
    400: "Bad request: a stable `error.code`, e.g. `organization_mismatch`",
    401: "Missing, invalid or expired session (`missing_token`, `invalid_session`)",
    402: "Stripe declined (Stripe's own code)",
    403: "Not allowed: `forbidden`, `not_a_member`, `user_mismatch`",
    404: "The organization does not exist",
    409: "The account's state does not allow this (`not_onboarded`, `account_not_active`, …)",
    413: "The body is over the limit (`payload_too_large`)",
    422: "Validation error: `error.details` names the fields",
    429: "Rate limited (`rate_limited`): retry after `Retry-After` seconds",
    502: "Stripe failed (`stripe_error`)",
    503: "A dependency is unavailable (`upstream_unavailable`, `not_ready`)",
}


def responses(*errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: the error statuses it can return, every one an
    `ErrorBody` (422 a `ValidationErrorBody`), and `X-Request-ID` on every response."""
    documented: dict[int | str, dict[str, Any]] = {200: {"headers": _REQUEST_ID}}
    for status in errors:
        headers = dict(_REQUEST_ID)
        if status == 429:
            headers["Retry-After"] = {
                "description": "Whole seconds until the call may succeed again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        documented[status] = {
            "model": ValidationErrorBody if status == 422 else ErrorBody,
            "description": _ERRORS[status],
            "headers": headers,
        }
    return documented
