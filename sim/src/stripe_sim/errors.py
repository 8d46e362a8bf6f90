"""Stripe's errors, in Stripe's body shape.

    StripeError                 one error answer: HTTP status + ``{"error": {...}}``
    ├── invalid_request(...)    400 invalid_request_error (parameter_* and business rules)
    ├── resource_missing(...)   404 (path) / 400 (parameter) resource_missing
    ├── authentication(...)     401, never replayed
    ├── account_access(...)     403 account_invalid, never replayed
    ├── missing_permission(...) 403, no code: a restricted key without the permission
    │                           (in access.py, with the restricted keys)
    ├── idempotency_*(...)      400 idempotency_error / 409 idempotency_key_in_use
    └── from_status(...)        any status, for fault injection (500, 429, 503, ...)

``replayable`` says whether an idempotent request that ended in this error stores it for
replay: Stripe saves a result only once the endpoint began executing, so parameter
validation, authentication and concurrency errors are not saved.
"""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An error answered to the caller in Stripe's wire format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        replayable: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.replayable = replayable
        self.headers = headers or {}

    def body(self, request_id: str | None, *, livemode: bool = False) -> dict[str, Any]:
        """Return ``{"error": {...}}`` as Stripe sends it."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        if request_id is not None and self.status != 401:
            mode = "" if livemode else "test/"
            error["request_log_url"] = f"https://dashboard.stripe.com/{mode}logs/{request_id}"
        return {"error": error}


def invalid_request(
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    status: int = 400,
    replayable: bool = True,
) -> StripeError:
    """A 400 ``invalid_request_error``."""
    return StripeError(status, message, code=code, param=param, replayable=replayable)


def parameter_missing(param: str) -> StripeError:
    """``Missing required param: amount.``"""
    return invalid_request(
        f"Missing required param: {param}.",
        code="parameter_missing",
        param=param,
        replayable=False,
    )


def parameter_unknown(param: str) -> StripeError:
    """``Received unknown parameter: foo``."""
    return invalid_request(
        f"Received unknown parameter: {param}",
        code="parameter_unknown",
        param=param,
        replayable=False,
    )


def parameter_invalid(message: str, param: str, code: str | None = None) -> StripeError:
    """A parameter that failed validation (never stored for idempotent replay)."""
    return invalid_request(message, code=code, param=param, replayable=False)


def resource_missing(kind: str, object_id: str, *, param: str, status: int = 404) -> StripeError:
    """``No such transfer: 'tr_123'``."""
    return invalid_request(
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
        status=status,
    )


def mask_key(key: str, visible: int = 4) -> str:
    """Mask a key as Stripe does: prefix, asterisks, the last characters.

    Stripe's 401 shows the last four; its 403s (no access to an account, a restricted key
    without a permission) show the last six.
    """
    for prefix in ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"):
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            return prefix + "*" * max(len(rest) - visible, 0) + rest[-visible:]
    return "*" * max(len(key) - visible, 0) + key[-visible:]


def missing_api_key() -> StripeError:
    """401 for a request without any API key."""
    return StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
        "or we can help at https://support.stripe.com/.",
        replayable=False,
        headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
    )


def invalid_api_key(key: str) -> StripeError:
    """401 for a key that is not a secret or restricted key the simulator accepts."""
    return StripeError(
        401,
        f"Invalid API Key provided: {mask_key(key)}",
        replayable=False,
        headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
    )


def account_access(key: str, account_id: str) -> StripeError:
    """403 for an account the key cannot reach: unknown, other mode, or deauthorized."""
    return StripeError(
        403,
        f"The provided key '{mask_key(key, visible=6)}' does not have access to account "
        f"'{account_id}' (or that account does not exist). Application access may "
        "have been revoked.",
        code="account_invalid",
        replayable=False,
    )


def idempotency_params_mismatch(key: str) -> StripeError:
    """The same key sent again with different parameters."""
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they "
        f"were first used with. Try using a key other than '{key}' if you meant to "
        "execute a different request.",
        type="idempotency_error",
        replayable=False,
    )


def idempotency_endpoint_mismatch(key: str, first: str, now: str) -> StripeError:
    """The same key sent again to another endpoint."""
    return StripeError(
        400,
        "Keys for idempotent requests can only be used for the same endpoint they were "
        f"first used for ('{first}' vs '{now}'). Try using a key other than '{key}' if "
        "you meant to execute a different request.",
        type="idempotency_error",
        replayable=False,
    )


def idempotency_key_in_use(key: str) -> StripeError:
    """409 while another request with the same key is still executing."""
    return StripeError(
        409,
        "There is currently another in-progress request using this Idempotent Key "
        "(that probably means you submitted twice, and the other request is still going "
        f"through): {key}. Please try again later.",
        code="idempotency_key_in_use",
        replayable=False,
    )


_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Simulated invalid request."),
    402: ("card_error", "card_declined", "Your card was declined."),
    409: (
        "invalid_request_error",
        "lock_timeout",
        "This object cannot be accessed right now because another API request or Stripe "
        "process is currently accessing it. If you see this error intermittently, retry "
        "the request.",
    ),
    429: (
        "invalid_request_error",
        "rate_limit",
        "Request rate limit exceeded. You can learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
    ),
    500: ("api_error", None, "An unknown error occurred"),
    502: ("api_error", None, "An unknown error occurred"),
    503: ("api_error", None, "The server is temporarily unavailable; please try again."),
    504: ("api_error", None, "The server timed out; please try again."),
}


def from_status(status: int) -> StripeError:
    """The error Stripe answers with this status (used by fault injection)."""
    type_, code, message = _STATUS_ERRORS.get(
        status, ("api_error", None, "An unknown error occurred")
    )
    headers: dict[str, str] = {}
    if status >= 500 or status == 409:
        headers["Stripe-Should-Retry"] = "true"
    return StripeError(status, message, type=type_, code=code, replayable=False, headers=headers)
