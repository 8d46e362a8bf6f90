"""Stripe's errors as the service's, in one place (as httpx keeps `map_httpcore_exceptions`
beside its hierarchy): the tables of Stripe's refusals a caller can act on, the service's own
sentence for each, and `StripeCall`, the context every request of
`connect_backend.stripe_gateway` runs in. It spends the platform's budget, times the call for
the metrics, and turns what the call raised into a `connect_backend.errors` error:

    stripe.IdempotencyError              Conflict (409) idempotency_conflict
    error.code `account_invalid`         AccountInaccessible (409): deauthorized
    any other stripe.PermissionError     StripeFailure (502): the platform's key
    FeatureNotEnabledError on a v2 call  Conflict (409) accounts_v2_not_enabled: the key's
                                         platform cannot use Accounts v2
    APIConnectionError, RateLimitError   UpstreamUnavailable (503)
    stripe.CardError                     402, Stripe's code or card_error
    InvalidRequestError it can act on    BadRequest (400) or Conflict (409): `ACTIONABLE`,
                                         else `ACTIONABLE_PARAMS` by the parameter named
    any other Stripe error               StripeFailure (502) stripe_error
    an answer that cannot be read        StripeFailure (502) stripe_error
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal, NoReturn

import stripe

from connect_backend import log, metrics
from connect_backend.errors import (
    AccountInaccessible,
    BadRequest,
    Conflict,
    ConnectError,
    StripeFailure,
    UpstreamUnavailable,
)
from connect_backend.stripe_budget import StripeBudget, stripe_class

# Stripe's v2 refusal (`error.type` `feature_not_enabled`, stripe-python's
# `FeatureNotEnabledError`) of a platform that cannot use Accounts v2: the operator's to fix.
ACCOUNTS_V2_NOT_ENABLED = "accounts_v2_not_enabled"

# Stripe's refusals the caller can act on: Stripe's code → (status, the service's code); a
# refusal without a code is read by the parameter it names. Everything else is a 502
# `stripe_error` (503 when Stripe cannot be reached).
ACTIONABLE: Mapping[str, tuple[Literal[400, 409], str]] = {
    "balance_insufficient": (409, "balance_insufficient"),
    "insufficient_funds": (409, "insufficient_funds"),
    "amount_too_small": (400, "amount_too_small"),
    "amount_too_large": (400, "amount_too_large"),
    "resource_missing": (400, "resource_missing"),
    "payouts_not_allowed": (409, "payouts_not_allowed"),
    "transfers_not_allowed": (409, "transfers_not_allowed"),
    "country_unsupported": (400, "country_not_supported"),
    # Stripe pays such an account out on its schedule: switch it to manual to pay out now.
    "cannot_create_connect_standard_payouts_through_api": (409, "automatic_payouts"),
}
ACTIONABLE_PARAMS: Mapping[str, tuple[Literal[400, 409], str]] = {
    "country": (400, "country_not_supported"),
    "tos_acceptance": (400, "service_agreement_not_supported"),
    "capabilities": (409, "capabilities_not_allowed"),
    "requested_capabilities": (409, "capabilities_not_allowed"),
    "destination": (409, "transfers_not_supported"),
}
# The service's own sentence for every code it maps (Stripe's text, which may name its request,
# accounts or objects, is logged as `stripe_message`, never shown to the caller).
MESSAGES: Mapping[str, str] = {
    "balance_insufficient": "The platform's Stripe balance is too low for this transfer.",
    "insufficient_balance": "The account's available balance is too low for this payout.",
    "insufficient_funds": "There are not enough funds at Stripe for this operation.",
    "amount_too_small": "The amount is below Stripe's minimum for this operation.",
    "amount_too_large": "The amount is above Stripe's maximum for this operation.",
    "resource_missing": "Something the request names does not exist at Stripe.",
    "payouts_not_allowed": "Stripe does not allow payouts from this account now.",
    "transfers_not_allowed": "Stripe does not allow transfers to this account now.",
    "invalid_cursor": "The cursor is not one this list gave out.",
    "country_not_supported": "Stripe does not let this platform create accounts there.",
    "service_agreement_not_supported": (
        "Stripe refused the service agreement for an account in that country."
    ),
    "capabilities_not_allowed": (
        "Stripe does not allow the requested capabilities for this platform's accounts "
        "(it may need Stripe's approval)."
    ),
    "transfers_not_supported": (
        "Stripe does not allow transfers to this account (its country and service agreement)."
    ),
    "automatic_payouts": (
        "This account is paid out automatically on its schedule; set the payout schedule to "
        "manual to pay out now."
    ),
    ACCOUNTS_V2_NOT_ENABLED: (
        "Accounts v2 is not enabled for this platform's Stripe key: set "
        "CONNECT_ACCOUNTS_API=v1, or have Stripe enable Accounts v2 for the platform."
    ),
}


class StripeCall:
    """One Stripe call: room in the platform's budget first; then stripe-python's exceptions
    turned into the service's errors, in one place (`rename` gives a Stripe code the
    service's own name for this operation)."""

    def __init__(
        self, operation: str, *, budget: StripeBudget | None, rename: Mapping[str, str]
    ) -> None:
        self.operation = operation
        self.budget = budget
        self.rename = rename
        self.started = 0.0

    async def __aenter__(self) -> None:
        if self.budget is not None:
            await self.budget.spend(stripe_class.get())
        self.started = time.perf_counter()  # Stripe's time, not the budget's wait

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: Any
    ) -> Literal[False]:
        seconds = time.perf_counter() - self.started
        metrics.observe_upstream("stripe", self.operation, _outcome(exc), seconds)
        if isinstance(exc, stripe.StripeError):
            raise_mapped(self.operation, exc, self.rename)
        if isinstance(exc, AttributeError | KeyError | TypeError | ValueError):
            # An answer we cannot read is Stripe's failure (502), not a crash of ours (500).
            log.error("stripe.bad_answer", operation=self.operation, error=type(exc).__name__)
            raise StripeFailure("Stripe gave an unexpected answer.") from None
        return False


def cursor_refusal(starting_after: str | None) -> Mapping[str, str]:
    """For a list call given `starting_after`, Stripe's `resource_missing` means the cursor
    names nothing in this list: the service's `invalid_cursor`, as the Worker's lists say."""
    return {"resource_missing": "invalid_cursor"} if starting_after is not None else {}


def _outcome(exc: BaseException | None) -> str:
    """A Stripe call's outcome as a metric label."""
    if exc is None:
        return "ok"
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return "unavailable"
    status = exc.http_status if isinstance(exc, stripe.StripeError) else None
    if status is not None and 400 <= status < 500:
        return "refused"
    return "unavailable" if status is not None and status >= 500 else "error"


def _stripe_code(exc: stripe.StripeError) -> str | None:
    """Stripe's error code: stripe-python leaves `.code` empty on some errors (a 403's, say),
    so the answer's own `error.code` counts too."""
    if exc.code:
        return exc.code
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _stripe_param(exc: stripe.StripeError) -> str | None:
    param = getattr(exc, "param", None)
    return param.split("[", 1)[0] if isinstance(param, str) and param else None


def raise_mapped(operation: str, exc: stripe.StripeError, rename: Mapping[str, str]) -> NoReturn:
    code = _stripe_code(exc)
    fields = {
        "operation": operation,
        "status": exc.http_status,
        "stripe_code": code,
        "stripe_param": getattr(exc, "param", None),
        "stripe_request_id": exc.request_id,
        "stripe_message": exc.user_message,
    }
    if isinstance(exc, stripe.IdempotencyError):
        log.warning("stripe.idempotency_conflict", **fields)
        raise Conflict(
            "This Idempotency-Key was already used with other parameters.",
            code="idempotency_conflict",
        ) from None
    if code == "account_invalid":
        # Stripe's own answer for an account the platform can no longer reach (deauthorized):
        # the only Stripe error that may mark an organization `deauthorized`.
        log.warning("stripe.account_inaccessible", **fields)
        raise AccountInaccessible(
            "The platform can no longer access this Stripe account."
        ) from None
    if isinstance(exc, stripe.FeatureNotEnabledError) and operation.startswith("v2."):
        # stripe-python raises it for a v2 answer of `error.type` `feature_not_enabled`
        # (whatever its status): this platform's key cannot use Accounts v2. The operator
        # chose CONNECT_ACCOUNTS_API=v2; nothing was made at Stripe.
        log.error("stripe.accounts_v2_not_enabled", **fields)
        raise Conflict(MESSAGES[ACCOUNTS_V2_NOT_ENABLED], code=ACCOUNTS_V2_NOT_ENABLED) from None
    if isinstance(exc, stripe.PermissionError):
        # Any other refusal of access is ours to fix (a restricted key without a permission,
        # say): nothing about the account is concluded from it.
        log.error("stripe.permission_denied", **fields)
        raise StripeFailure("Stripe refused the platform's key for this request.") from None
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        log.warning("stripe.unavailable", **fields)
        raise UpstreamUnavailable("Stripe cannot be reached right now; try again.") from None
    if isinstance(exc, stripe.CardError):
        log.info("stripe.refused", **fields)
        raise ConnectError(
            "The card was declined.", code=code or "card_error", status_code=402
        ) from None
    if isinstance(exc, stripe.InvalidRequestError):
        param = _stripe_param(exc)
        refusal = ACTIONABLE.get(code) if code else ACTIONABLE_PARAMS.get(param or "")
        if refusal is not None:
            status, ours = refusal
            ours = rename.get(code or "", ours)
            log.info("stripe.refused", **fields)
            raise (BadRequest if status == 400 else Conflict)(
                MESSAGES.get(ours, "Stripe refused the request."),
                code=ours,
            ) from None
    log.error("stripe.failed", **fields)
    raise StripeFailure("Stripe could not complete the request.") from None
