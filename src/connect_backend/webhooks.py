"""Stripe's deliveries, verified: from the raw body of a request, its `Event`.

The signature is checked by stripe-python's own verifier (`WebhookSignature.verify_header`),
tried with each configured secret; which secrets, and the time window in both directions
(stripe-python only refuses a timestamp that is too old), are the service's. Nothing here
parses the signature itself or computes an HMAC.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import stripe
from fastapi import Request
from pydantic import ValidationError

from connect_backend import metrics
from connect_backend.errors import BadRequest
from connect_backend.schemas import StripeEventBody, ThinEventBody
from connect_backend.settings import Settings
from connect_backend.stripe_gateway import StripeGateway

MAX_BODY = 1024 * 1024
"""The largest delivery accepted (413 above it)."""

_TIMESTAMP_DIGITS = 12  # a Unix time in seconds, for the next 30,000 years
_FAR_FUTURE = 10**_TIMESTAMP_DIGITS


@dataclass(frozen=True, slots=True)
class Event:
    """A verified Stripe event: what the service reads of it."""

    id: str
    type: str
    livemode: bool
    created: datetime | None  # when Stripe made the event
    account_id: str | None
    object: dict[str, Any]
    thin: bool = False  # an event destination's thin event: only the type and the object's id


def verify(body: bytes, header: str | None, secrets: Sequence[str], *, tolerance: int) -> None:
    """Accept the body when its `Stripe-Signature` matches one of `secrets` and its time is
    within `tolerance` seconds of now, either way; else 400 `missing_signature` or
    `invalid_signature`."""
    if not header:
        raise BadRequest("The Stripe-Signature header is missing.", code="missing_signature")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body, header, secret)
        except stripe.SignatureVerificationError:
            continue
        except (TypeError, ValueError):
            # What stripe-python cannot read at all (a body that is not UTF-8, a signature
            # that is not ASCII, a timestamp past Python's integer limit) matches no secret.
            break
        if not _recent(header, tolerance, now=time.time()):
            raise BadRequest(
                "The signature's timestamp is outside the tolerance.", code="invalid_signature"
            )
        return
    raise BadRequest("No signature matches.", code="invalid_signature")


def _recent(header: str, tolerance: int, *, now: float) -> bool:
    # The header is authentic by now; its `t` is the first, as stripe-python reads it.
    for item in header.split(","):
        name, _, value = item.partition("=")
        if name == "t":
            if not (value.isascii() and value.isdigit() and len(value) <= _TIMESTAMP_DIGITS):
                return False
            return abs(int(now) - int(value)) <= tolerance
    return False


def parse(body: bytes) -> Event:
    """The event in a verified body; 400 `invalid_payload` when it is not one."""
    try:
        sent = StripeEventBody.model_validate_json(body)
    except ValidationError:
        raise BadRequest("The body is not a Stripe event.", code="invalid_payload") from None
    obj = sent.data.object
    candidates = (
        sent.account,
        obj.get("account"),
        obj.get("id") if obj.get("object") == "account" else None,
    )
    account_id = next((c for c in candidates if isinstance(c, str) and c.startswith("acct_")), None)
    created = sent.created
    return Event(
        id=sent.id,
        type=sent.type,
        livemode=sent.livemode,
        created=(
            datetime.fromtimestamp(created, UTC)
            if created is not None and 0 <= created < _FAR_FUTURE
            else None
        ),
        account_id=account_id,
        object=obj,
    )


def is_thin(body: bytes) -> bool:
    """Whether the body is a thin event (`"object": "v2.core.event"`), before verification:
    only which verifier reads it depends on this."""
    try:
        sent = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(sent, dict) and sent.get("object") == "v2.core.event"


def verify_thin(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int,
    gateway: StripeGateway,
) -> Event:
    """A thin event, verified and parsed by stripe-python's `parse_event_notification` with
    each secret in turn, within `tolerance` both ways (as `verify`); the account it is about
    when its related object is a v2 account."""
    if not header:
        raise BadRequest("The Stripe-Signature header is missing.", code="missing_signature")
    for secret in secrets:
        try:
            notice = gateway.parse_event_notification(body, header, secret, tolerance=tolerance)
        except stripe.SignatureVerificationError:
            continue
        except KeyError:  # authentic, but without an id or a type
            raise BadRequest("The body is not a Stripe event.", code="invalid_payload") from None
        except (TypeError, ValueError):
            break  # a signature stripe-python cannot read at all matches no secret (as `verify`)
        if not _recent(header, tolerance, now=time.time()):
            raise BadRequest(
                "The signature's timestamp is outside the tolerance.", code="invalid_signature"
            )
        try:  # authentic: now held to the shape the OpenAPI document gives it, as `parse` does
            ThinEventBody.model_validate_json(body)
        except ValidationError:
            raise BadRequest("The body is not a Stripe event.", code="invalid_payload") from None
        about = notice.related_id if notice.related_type == "v2.core.account" else None
        return Event(
            id=notice.id,
            type=notice.type,
            livemode=notice.livemode,
            created=notice.created,
            account_id=about if about and about.startswith("acct_") else None,
            object={},
            thin=True,
        )
    raise BadRequest("No signature matches.", code="invalid_signature")


async def verified_event(request: Request, settings: Settings, gateway: StripeGateway) -> Event:
    """The event of a delivery whose signature matched; 400 otherwise (`verify`,
    `verify_thin`, `parse`)."""
    body = await request.body()  # at most MAX_BODY: RequestContext refuses more with 413
    try:
        if is_thin(body):
            return verify_thin(
                body,
                request.headers.get("stripe-signature"),
                settings.webhook_secrets,
                tolerance=settings.webhook_tolerance_seconds,
                gateway=gateway,
            )
        verify(
            body,
            request.headers.get("stripe-signature"),
            settings.webhook_secrets,
            tolerance=settings.webhook_tolerance_seconds,
        )
        return parse(body)
    except BadRequest:
        metrics.count_webhook("unverified", "refused")
        raise
