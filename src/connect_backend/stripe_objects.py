"""Stripe's objects read into the service's types: the Account, balances, transfers, payouts and
payout schedules.

Each function takes an object as Stripe's JSON holds it (a dict, or a `StripeObject`'s
`to_dict()`) and returns a type of `connect_backend.domain` or `connect_backend.onboarding`.
Nothing here imports stripe-python or calls anyone: `connect_backend.stripe_gateway` fetches,
this module reads. An answer these functions cannot read raises `KeyError`, `TypeError` or
`ValueError`, which the gateway's `StripeCall` reports as Stripe's failure (502).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connect_backend.domain import (
    Balance,
    Charge,
    Dispute,
    Money,
    Payout,
    PayoutSchedule,
    Refund,
    Reversal,
    Transfer,
)
from connect_backend.onboarding import AccountSnapshot


def account_snapshot(account: Mapping[str, Any]) -> AccountSnapshot:
    """The part of a Stripe Account object that decides the onboarding status."""
    data = dict(account)
    requirements = dict(data.get("requirements") or {})
    deadline = requirements.get("current_deadline")
    if isinstance(deadline, int):
        requirements["current_deadline"] = datetime.fromtimestamp(deadline, UTC)
    data["requirements"] = requirements
    data["capabilities"] = {k: str(v) for k, v in (data.get("capabilities") or {}).items()}
    data["metadata"] = {k: str(v) for k, v in (data.get("metadata") or {}).items()}
    # `type` for accounts made with one (express, custom, standard); otherwise the
    # controller's dashboard says which the holder has (express, full, none).
    controller = data.get("controller") or {}
    dashboard = (controller.get("stripe_dashboard") or {}).get("type")
    data["dashboard"] = dashboard if isinstance(dashboard, str) else data.get("type")
    return AccountSnapshot.model_validate(data)


def payout_schedule(account: Mapping[str, Any], *, default: str) -> PayoutSchedule:
    """An Account's `settings.payouts.schedule`; `default` when Stripe names no interval."""
    held = ((account.get("settings") or {}).get("payouts") or {}).get("schedule") or {}
    return PayoutSchedule(
        interval=str(held.get("interval") or default),
        weekly_anchor=held.get("weekly_anchor"),
        monthly_anchor=held.get("monthly_anchor"),
        delay_days=held.get("delay_days"),
    )


def balance(data: Mapping[str, Any]) -> Balance:
    """A Balance object: what is available and pending, by currency and source type."""
    return Balance(available=_money(data.get("available")), pending=_money(data.get("pending")))


def transfer(data: Mapping[str, Any]) -> Transfer:
    """A Transfer, with the fee facts the service wrote in its metadata (None where absent)
    and the reversals Stripe embeds in it."""
    metadata = data.get("metadata") or {}
    embedded = data.get("reversals") or {}
    return Transfer(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        destination=str(data["destination"]),
        created=_timestamp(data.get("created")),
        amount_reversed=int(data.get("amount_reversed") or 0),
        source_transaction=_str_or_none(data.get("source_transaction")),
        transfer_group=_str_or_none(data.get("transfer_group")),
        gross_amount=_int_or_none(metadata.get("gross_amount")),
        fee_amount=_int_or_none(metadata.get("fee_amount")),
        platform_fee_percent=_percent_or_none(metadata.get("platform_fee_percent")),
        claims_settled=_int_or_none(metadata.get("claims_settled")) or 0,
        returns_for=_str_or_none(metadata.get("returns_for")),
        returns_cause_id=_str_or_none(metadata.get("cause_id")),
        reversals=tuple(reversal(r) for r in embedded.get("data") or ()),
        reversals_complete=embedded.get("has_more") is False,
    )


def reversal(data: Mapping[str, Any]) -> Reversal:
    """A TransferReversal, with the cause the service wrote in its metadata (None where absent
    or not one of the service's)."""
    metadata = data.get("metadata") or {}
    cause = metadata.get("cause")
    cause_id = metadata.get("cause_id")
    return Reversal(
        id=str(data["id"]),
        transfer_id=str(data["transfer"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        cause=cause if cause in ("refund", "dispute", "manual", "claim") else None,
        cause_id=cause_id if isinstance(cause_id, str) else None,
        created=_timestamp(data.get("created")),
    )


def charge(data: Mapping[str, Any]) -> Charge:
    """A Charge."""
    group = data.get("transfer_group")
    return Charge(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        amount_refunded=int(data.get("amount_refunded") or 0),
        transfer_group=group if isinstance(group, str) and group else None,
        disputed=data.get("disputed") is True,
        created=_timestamp(data.get("created")),
    )


def refund(data: Mapping[str, Any]) -> Refund:
    """A Refund."""
    created = data.get("created")
    return Refund(
        id=str(data["id"]),
        charge_id=str(data["charge"]),
        amount=int(data["amount"]),
        status=str(data.get("status", "pending")),
        created=created if isinstance(created, int) else 0,
    )


def dispute(data: Mapping[str, Any]) -> Dispute:
    """A Dispute."""
    return Dispute(
        id=str(data["id"]),
        charge_id=str(data["charge"]),
        amount=int(data["amount"]),
        status=str(data["status"]),
    )


def payout(data: Mapping[str, Any]) -> Payout:
    """A Payout."""
    failure_code, failure_message = data.get("failure_code"), data.get("failure_message")
    return Payout(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        status=str(data.get("status", "pending")),
        arrival_date=_timestamp(data.get("arrival_date")),
        created=_timestamp(data.get("created")),
        failure_code=failure_code if isinstance(failure_code, str) else None,
        failure_message=failure_message if isinstance(failure_message, str) else None,
    )


def _money(items: Any) -> list[Money]:
    return [
        Money(
            amount=int(i["amount"]),
            currency=str(i["currency"]),
            source_types={str(k): int(v) for k, v in (i.get("source_types") or {}).items()},
        )
        for i in items or []
    ]


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


def _percent_or_none(value: Any) -> float | None:
    """A percent the service wrote (`"12.5"`); None for anything else found in metadata."""
    try:
        percent = float(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return percent if percent is not None and 0 <= percent <= 100 else None
