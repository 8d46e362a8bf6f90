"""`POST /api/connect/webhook`: Stripe's deliveries, verified over the raw body.

The answer is 2xx only once D1 holds the result; when the Worker or Stripe fails the answer
is 5xx and Stripe delivers again. Handling an event twice, or out of order, changes nothing:
the account is always re-read from Stripe and D1 keeps the newest view (`synced_at`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request

from connect_backend import accounts, log
from connect_backend.deps import SettingsDep, StripeDep, WorkerDep
from connect_backend.errors import (
    BadRequest,
)
from connect_backend.onboarding import DEAUTHORIZED
from connect_backend.schemas import WebhookAck, responses

MAX_BODY = 1024 * 1024
ACCOUNT_EVENTS = ("account.updated", "capability.updated")
ACCOUNT_EVENT_PREFIXES = ("account.external_account.", "person.")
DEAUTHORIZED_EVENT = "account.application.deauthorized"

router = APIRouter(prefix="/api/connect", tags=["webhooks"])


def verify_signature(
    body: bytes, header: str | None, secrets: Sequence[str], *, tolerance: int, now: float
) -> None:
    """Accept the body if any `v1` signature matches any secret within the time tolerance."""
    if not header:
        raise BadRequest("The Stripe-Signature header is missing.", code="missing_signature")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise BadRequest("The Stripe-Signature header is malformed.", code="invalid_signature")
    if abs(now - timestamp) > tolerance:
        raise BadRequest(
            "The signature's timestamp is outside the tolerance.", code="invalid_signature"
        )
    signed = str(timestamp).encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return
    raise BadRequest("No signature matches.", code="invalid_signature")


def _event(body: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The body is not JSON.", code="invalid_payload") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
        or not isinstance(event["data"].get("object"), dict)
    ):
        raise BadRequest("The body is not a Stripe event.", code="invalid_payload")
    return event


def account_of(event: dict[str, Any]) -> str | None:
    """The connected account an event is about."""
    obj = event["data"]["object"]
    candidates = (
        event.get("account"),
        obj.get("account"),
        obj.get("id") if obj.get("object") == "account" else None,
    )
    return next((c for c in candidates if isinstance(c, str) and c.startswith("acct_")), None)


@router.post(
    "/webhook",
    response_model=WebhookAck,
    responses=responses(400, 404, 409, 413, 502, 503),
    openapi_extra={
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
            "description": "A Stripe event, verified over its raw bytes (at most 1 MiB).",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["id", "type", "data"],
                        "properties": {
                            "id": {"type": "string"},
                            "type": {"type": "string"},
                            "livemode": {"type": "boolean"},
                            "account": {"type": "string"},
                            "data": {
                                "type": "object",
                                "required": ["object"],
                                "properties": {"object": {"type": "object"}},
                            },
                        },
                    }
                }
            },
        },
    },
)
async def webhook(
    request: Request, settings: SettingsDep, worker: WorkerDep, stripe: StripeDep
) -> WebhookAck:
    """Verify a Stripe delivery and bring D1 up to date with what it announces."""
    body = await request.body()  # at most MAX_BODY: RequestContext refuses more with 413
    verify_signature(
        body,
        request.headers.get("stripe-signature"),
        settings.webhook_secrets,
        tolerance=settings.webhook_tolerance_seconds,
        now=time.time(),
    )
    event = _event(body)
    event_id, kind = event["id"], event["type"]
    account_id = account_of(event)
    fields = {"event_id": event_id, "event_type": kind, "account_id": account_id}
    if bool(event.get("livemode")) != settings.livemode:
        log.info("webhook.ignored.livemode", **fields)
        return WebhookAck(event_id=event_id, action="ignored")
    is_account_event = kind in ACCOUNT_EVENTS or kind.startswith(ACCOUNT_EVENT_PREFIXES)
    if account_id is None or not (is_account_event or kind == DEAUTHORIZED_EVENT):
        obj = event["data"]["object"]
        log.info(
            "webhook.logged",
            **fields,
            amount=obj.get("amount"),
            currency=obj.get("currency"),
            object_id=obj.get("id"),
        )
        return WebhookAck(event_id=event_id, action="logged")

    if kind == DEAUTHORIZED_EVENT:
        organization = await worker.get_organization_by_account(account_id)
        if organization is None:
            log.warning("webhook.unlinked", **fields)
            return WebhookAck(event_id=event_id, action="unlinked")
        log.organization_id.set(organization.id)
        # Stamped now, so it always applies: no later view of the account can exist, since
        # the platform can no longer read it.
        await accounts.store_onboarding(
            organization, DEAUTHORIZED, datetime.now(UTC), worker=worker
        )
        log.info("webhook.deauthorized", **fields)
        return WebhookAck(event_id=event_id, action="deauthorized")

    if await accounts.sync_from_event(account_id, worker=worker, gateway=stripe) is None:
        log.warning("webhook.unlinked", **fields)
        return WebhookAck(event_id=event_id, action="unlinked")
    log.info("webhook.synced", **fields)
    return WebhookAck(event_id=event_id, action="synced")
