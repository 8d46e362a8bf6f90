"""Stripe Event objects shaped like Stripe's own (`event` in the API fixtures), and delivery."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import orjson

from tests.support.service import WEBHOOK_SECRET, signed
from tests.support.stripe_account import stripe_account

API_VERSION = "2026-10-28.endive"
_ids = itertools.count(1)


def event(
    type_: str,
    obj: dict[str, Any],
    *,
    account: str | None = None,
    livemode: bool = False,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Event; `account` is set for events of a connected account (Connect endpoint)."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    evt: dict[str, Any] = {
        "id": f"evt_1Test{next(_ids):018d}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
    if account is not None:
        evt["account"] = account
    return evt


def account_updated(
    account_id: str, *, state: str = "new", organization_id: str | None = None, **kw: Any
) -> dict[str, Any]:
    """`account.updated` carrying a snapshot of the account in `state`."""
    snapshot = stripe_account(account_id, organization_id=organization_id, state=state)
    return event(
        "account.updated",
        snapshot,
        account=account_id,
        previous_attributes={"details_submitted": False},
        **kw,
    )


def capability_updated(account_id: str, **kw: Any) -> dict[str, Any]:
    capability = {
        "id": "transfers",
        "object": "capability",
        "account": account_id,
        "requested": True,
        "requested_at": 1764150000,
        "status": "active",
        "requirements": {"currently_due": [], "past_due": [], "disabled_reason": None},
    }
    return event("capability.updated", capability, account=account_id, **kw)


def external_account_created(account_id: str, **kw: Any) -> dict[str, Any]:
    bank_account = {
        "id": "ba_1Test",
        "object": "bank_account",
        "account": account_id,
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": "usd",
        "last4": "6789",
        "status": "new",
    }
    return event("account.external_account.created", bank_account, account=account_id, **kw)


def person_updated(account_id: str, **kw: Any) -> dict[str, Any]:
    person = {
        "id": "person_1Test",
        "object": "person",
        "account": account_id,
        "first_name": "Jenny",
        "last_name": "Rosen",
        "verification": {"status": "verified"},
    }
    return event("person.updated", person, account=account_id, **kw)


def deauthorized(account_id: str, **kw: Any) -> dict[str, Any]:
    application = {"id": "ca_1Test", "object": "application", "name": "Platform"}
    return event("account.application.deauthorized", application, account=account_id, **kw)


def payout_event(type_: str, account_id: str, **kw: Any) -> dict[str, Any]:
    payout = {
        "id": "po_1Test",
        "object": "payout",
        "amount": 1200,
        "currency": "usd",
        "status": "paid" if type_ == "payout.paid" else "failed",
        "failure_code": "account_closed" if type_ == "payout.failed" else None,
        "arrival_date": 1764300000,
    }
    return event(type_, payout, account=account_id, **kw)


def transfer_reversed(account_id: str, **kw: Any) -> dict[str, Any]:
    transfer = {
        "id": "tr_1Test",
        "object": "transfer",
        "amount": 900,
        "amount_reversed": 900,
        "currency": "usd",
        "destination": account_id,
        "reversed": True,
    }
    # A platform event: transfers are the platform's objects, so no `account`.
    return event("transfer.reversed", transfer, **kw)


def encode(evt: dict[str, Any]) -> bytes:
    return orjson.dumps(evt)


async def deliver(
    client: httpx.AsyncClient,
    evt: dict[str, Any] | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    at: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST an event to the webhook as Stripe does: raw body, signed with `secret` at `at`."""
    body = evt if isinstance(evt, bytes) else encode(evt)
    sent = {**signed(body, secret=secret, at=at), **(headers or {})}
    return await client.post("/api/connect/webhook", content=body, headers=sent)
