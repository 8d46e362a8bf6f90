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
from connect_backend.onboarding import AccountSnapshot, Controller, Requirements

CONTROLLERS: dict[str, dict[str, Any]] = {
    "express": {
        "stripe_dashboard": {"type": "express"},
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
    },
    "custom": {
        "stripe_dashboard": {"type": "none"},
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "application",
    },
    "standard": {
        "stripe_dashboard": {"type": "full"},
        "fees": {"payer": "account"},
        "losses": {"payments": "stripe"},
        "requirement_collection": "stripe",
    },
}
"""Stripe's controller properties for each legacy account type, as Stripe documents the
equivalence (https://docs.stripe.com/connect/migrate-to-controller-properties): the
parameters new accounts are created with (`express` by default, `custom` with
`CONNECT_ACCOUNT_TYPE=custom`), and how an account Stripe answers without them is read."""


def controller(account: Mapping[str, Any]) -> Controller:
    """The account's controller properties; for an answer without them (Stripe sets them on
    every account, legacy ones too), the legacy `type`'s equivalent."""
    held = account.get("controller") or {}
    legacy = CONTROLLERS.get(str(account.get("type")), {})

    def pick(name: str, key: str | None) -> str | None:
        for source in (held, legacy):
            value = source.get(name)
            if key is not None:
                value = value.get(key) if isinstance(value, Mapping) else None
            if isinstance(value, str):
                return value
        return None

    return Controller(
        stripe_dashboard=pick("stripe_dashboard", "type"),
        requirement_collection=pick("requirement_collection", None),
        fees_payer=pick("fees", "payer"),
        losses_payments=pick("losses", "payments"),
    )


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
    data["controller"] = controller(account)
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


V2_INCLUDE = ["configuration.recipient", "requirements", "defaults"]
"""What a v2 Account read asks Stripe to include (it answers only the id and a few fields
without `include`)."""

_REJECTED_PREFIX = "rejected_"


def v2_account_params(
    *, organization_id: str, organization_name: str, country: str, dashboard: str
) -> dict[str, Any]:
    """The parameters of an Accounts v2 account made for an organization: the `recipient`
    configuration with its `stripe_balance.stripe_transfers` capability, the given dashboard,
    the platform collecting fees and carrying losses (`StripeGateway.create_account_v2`)."""
    return {
        "display_name": organization_name,
        "dashboard": dashboard,
        "identity": {"country": country.lower()},
        "defaults": {
            "responsibilities": {
                "fees_collector": "application",
                "losses_collector": "application",
            }
        },
        "configuration": {
            "recipient": {
                "capabilities": {"stripe_balance": {"stripe_transfers": {"requested": True}}}
            }
        },
        "metadata": {"organization_id": organization_id},
        "include": V2_INCLUDE,
    }


def v2_account_snapshot(account: Mapping[str, Any]) -> AccountSnapshot:
    """A v2 Account (recipient configuration) read into the same snapshot as a v1 account, so
    one status rule serves both (README, "Accounts v2": the table of v2 field → status/step).

    - `transfers` is the recipient's `stripe_balance.stripe_transfers` capability status
      (`active`, `pending`, `restricted`, `rejected`, `unsupported`), payouts are enabled when
      its `stripe_balance.payouts` capability is `active`;
    - requirement entries awaiting the user are due (`past_due`, `currently_due`,
      `eventually_due` by their `minimum_deadline.status`), those awaiting Stripe pending
      verification; the details are submitted once no entry requested for
      `routine_onboarding` awaits the user;
    - a capability rejected (`status_details` code `rejected_fraud`, …) gives v1's
      `disabled_reason` `rejected.fraud`, …; the summary's deadline is the current deadline.
    """
    recipient = ((account.get("configuration") or {}).get("recipient") or {}).get(
        "capabilities"
    ) or {}
    balance = recipient.get("stripe_balance") or {}
    transfers = balance.get("stripe_transfers") or {}
    payouts = balance.get("payouts") or {}
    requirements = account.get("requirements") or {}
    due: dict[str, list[str]] = {"currently_due": [], "past_due": [], "eventually_due": []}
    pending: list[str] = []
    onboarding_due = False
    for entry in requirements.get("entries") or []:
        description = str(entry.get("description") or "")
        if entry.get("awaiting_action_from") == "stripe":
            pending.append(description)
            continue
        deadline = str((entry.get("minimum_deadline") or {}).get("status") or "currently_due")
        due.setdefault(deadline, []).append(description)
        reasons = {r.get("code") for r in entry.get("requested_reasons") or []}
        if deadline != "eventually_due" and "routine_onboarding" in reasons:
            onboarding_due = True
    reason = None
    for detail in transfers.get("status_details") or []:
        code = str(detail.get("code") or "")
        if code.startswith(_REJECTED_PREFIX):
            reason = "rejected." + code.removeprefix(_REJECTED_PREFIX)
    deadline_at = ((requirements.get("summary") or {}).get("minimum_deadline") or {}).get("time")
    responsibilities = (account.get("defaults") or {}).get("responsibilities") or {}
    dashboard = account.get("dashboard")
    return AccountSnapshot(
        id=str(account["id"]),
        controller=Controller(
            stripe_dashboard=dashboard if isinstance(dashboard, str) else None,
            # v2 has no requirement_collection: Stripe collects through its onboarding.
            requirement_collection="stripe",
            fees_payer=_str_or_none(responsibilities.get("fees_collector")),
            losses_payments=_str_or_none(responsibilities.get("losses_collector")),
        ),
        email=_str_or_none(account.get("contact_email")),
        charges_enabled=False,  # a recipient takes no payments
        payouts_enabled=payouts.get("status") == "active",
        details_submitted=not onboarding_due,
        capabilities={"transfers": str(transfers.get("status") or "pending")},
        requirements=Requirements(
            currently_due=due["currently_due"],
            past_due=due["past_due"],
            eventually_due=due["eventually_due"],
            pending_verification=pending,
            disabled_reason=reason,
            current_deadline=datetime.fromisoformat(deadline_at) if deadline_at else None,
        ),
        metadata={str(k): str(v) for k, v in (account.get("metadata") or {}).items()},
    )
