"""The service's errors: every expected failure is a `ConnectError` with a status and a code.

    ConnectError                      any expected failure; never a 500
    ├── BadRequest (400)              organization_mismatch, invalid_redirect_url, …
    ├── Unauthorized (401)
    │   └── InvalidSession            missing_token, invalid_session
    ├── Forbidden (403)               forbidden, user_mismatch
    │   └── NotAMember                not_a_member
    ├── NotFound (404)                not_found
    ├── Conflict (409)                not_onboarded, account_not_active, insufficient_balance, …
    │   ├── AccountAlreadyLinked      already_linked (carries the linked organization)
    │   ├── AccountInUse              account_in_use
    │   ├── NotDeauthorized           not_deauthorized (carries the organization)
    │   ├── IdempotencyMismatch       idempotency_conflict (the key's record names another object)
    │   ├── ClaimExceeded             claim_exceeded (more than the claim has open; carries it)
    │   └── AccountInaccessible       account_inaccessible (deauthorized from the platform)
    ├── RateLimited (429)             rate_limited (with Retry-After)
    ├── StripeFailure (502, or Stripe's own 4xx where the caller can act)
    └── UpstreamUnavailable (503)     upstream_unavailable: the Worker (or Stripe) cannot answer

    starlette's HTTPException
    └── MalformedBody (400)           duplicate_json_key: raised while FastAPI reads a body

One body for every error, `{"error": {"code", "message", "request_id"[, "details"]}}`:
`error_response` builds it, and `install_handlers` makes it the answer to these errors, to
validation errors and to Starlette's own HTTP errors (404, 405, 413 …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from connect_backend import log
from connect_backend.domain import Claim, IdempotencyRecord, Organization


class ConnectError(Exception):
    """Base of every expected failure: an HTTP status, a stable code and a safe message."""

    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status_code or self.status_code
        self.details = details
        self.headers = dict(headers or {})


class BadRequest(ConnectError):
    """The request cannot be served as sent."""


class Unauthorized(ConnectError):
    """No valid credentials."""

    status_code = 401
    default_code = "unauthorized"


class InvalidSession(Unauthorized):
    """The session token is unknown, expired or revoked."""

    default_code = "invalid_session"


class Forbidden(ConnectError):
    """Authenticated, but not allowed to do this."""

    status_code = 403
    default_code = "forbidden"


class NotAMember(Forbidden):
    """The user is not a member of the organization (or it does not exist)."""

    default_code = "not_a_member"


class NotFound(ConnectError):
    """No such resource."""

    status_code = 404
    default_code = "not_found"


class Conflict(ConnectError):
    """The resource's state does not allow the operation."""

    status_code = 409
    default_code = "conflict"


class AccountAlreadyLinked(Conflict):
    """The organization already holds another Stripe account (which it carries)."""

    default_code = "already_linked"

    def __init__(self, message: str, *, organization: Organization) -> None:
        super().__init__(message)
        self.organization = organization


class AccountInUse(Conflict):
    """The Stripe account is linked to another organization."""

    default_code = "account_in_use"


class NotDeauthorized(Conflict):
    """A replacement found the organization not holding that account deauthorized (carried)."""

    default_code = "not_deauthorized"

    def __init__(self, message: str, *, organization: Organization) -> None:
        super().__init__(message)
        self.organization = organization


class IdempotencyMismatch(Conflict):
    """An idempotency key's record already names another Stripe object (which it carries)."""

    default_code = "idempotency_conflict"

    def __init__(self, message: str, *, record: IdempotencyRecord) -> None:
        super().__init__(message)
        self.record = record


class ClaimExceeded(Conflict):
    """A settlement asked for more than the claim has open (the claim, as D1 holds it, carried)."""

    default_code = "claim_exceeded"

    def __init__(self, message: str, *, claim: Claim) -> None:
        super().__init__(message)
        self.claim = claim


class AccountInaccessible(Conflict):
    """Stripe no longer lets the platform read or act on the account (deauthorized)."""

    default_code = "account_inaccessible"


class RateLimited(ConnectError):
    """The caller spent their budget for this kind of call; `Retry-After` says when to retry."""

    status_code = 429
    default_code = "rate_limited"


class StripeFailure(ConnectError):
    """Stripe refused or failed; 502 unless Stripe's answer is one the caller can act on."""

    status_code = 502
    default_code = "stripe_error"


class UpstreamUnavailable(ConnectError):
    """A dependency (the Worker, or Stripe's network) cannot answer now; try again later."""

    status_code = 503
    default_code = "upstream_unavailable"


_PORTABLE: Mapping[str, type[ConnectError]] = {
    cls.__name__: cls
    for cls in (
        ConnectError,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        AccountInaccessible,
        RateLimited,
        StripeFailure,
        UpstreamUnavailable,
    )
}
"""The errors that travel between processes as they are (`to_bytes`); those carrying more
than a message (an `Organization`) do not."""


def to_bytes(error: Exception) -> bytes | None:
    """An expected error as bytes another process can raise again (`from_bytes`); None for
    any other exception."""
    if not isinstance(error, ConnectError) or type(error).__name__ not in _PORTABLE:
        return None
    return orjson.dumps(
        {
            "type": type(error).__name__,
            "message": error.message,
            "code": error.code,
            "status": error.status,
            "details": error.details,
            "headers": error.headers,
        }
    )


def from_bytes(data: bytes) -> ConnectError:
    """The error `to_bytes` wrote."""
    fields = orjson.loads(data)
    cls = _PORTABLE.get(fields["type"], ConnectError)
    return cls(
        fields["message"],
        code=fields["code"],
        status_code=fields["status"],
        details=fields["details"],
        headers=fields["headers"],
    )


class MalformedBody(HTTPException):
    """A request body refused while FastAPI reads it (`json_body`): FastAPI lets only an
    `HTTPException` out of its body reading (any other becomes its own 400 without a code),
    so this one is one, carrying the service's code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(400, message)
        self.code = code


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The one error body: `{"error": {"code", "message", "request_id"[, "details"]}}`."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": log.request_id.get()}
    if details is not None:
        error["details"] = details
    return Response(
        orjson.dumps({"error": error}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def install_handlers(app: FastAPI) -> None:
    """Answer `ConnectError`, validation errors and HTTP errors with the one error body."""

    @app.exception_handler(ConnectError)
    async def _connect_error(_: Request, exc: ConnectError) -> Response:
        return error_response(
            exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        # The offending value itself is not echoed: it may be a secret pasted in error.
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(422, "validation_error", "The request is invalid.", details=details)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if isinstance(exc, MalformedBody):
            return error_response(exc.status_code, exc.code, exc.detail)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            headers = {**(headers or {})}
            headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)


def _allowed_methods(request: Request, starlettes: str) -> str:
    """Every method the API documents at the request's path: Starlette's 405 names only the
    methods of the first route there (`starlettes`), and a path may have several (`GET` and
    `PUT /payout-schedule`). A path the API does not document keeps Starlette's answer."""
    paths: dict[str, dict[str, Any]] = request.app.openapi()["paths"]
    methods = {
        method.upper()
        for template, operations in paths.items()
        if compile_path(template)[0].match(request.url.path)
        for method in operations
    }
    if "GET" in methods:
        methods.add("HEAD")  # served wherever GET is, as Starlette does
    return ", ".join(sorted(methods)) if methods else starlettes
