"""Builders for Stripe objects, shaped after Stripe's own example objects (fixtures3.json)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import Any

from stripe_sim import ids

API_VERSION = "2026-10-28.endive"

DEFAULT_CURRENCY = {
    "US": "usd", "CA": "cad", "GB": "gbp", "AU": "aud", "NZ": "nzd", "JP": "jpy",
    "SG": "sgd", "HK": "hkd", "CH": "chf", "SE": "sek", "NO": "nok", "DK": "dkk",
    "PL": "pln", "CZ": "czk", "MX": "mxn", "BR": "brl", "IN": "inr", "AE": "aed",
    "BG": "bgn", "HU": "huf", "RO": "ron", "IS": "isk", "LI": "chf",
    # Countries a US platform reaches only through cross-border payouts (recipient accounts).
    "AL": "all", "DZ": "dzd", "AO": "aoa", "AG": "xcd", "AR": "ars", "AM": "amd",
    "AZ": "azn", "BS": "bsd", "BH": "bhd", "BD": "bdt", "BJ": "xof", "BT": "btn",
    "BO": "bob", "BA": "bam", "BW": "bwp", "BN": "bnd", "KE": "kes", "LK": "lkr",
    "MY": "myr", "KW": "kwd",
}  # fmt: skip
EURO_COUNTRIES = frozenset(
    {
        "AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK",
    }
)  # fmt: skip
CAPABILITIES = frozenset(
    {
        "acss_debit_payments", "affirm_payments", "afterpay_clearpay_payments",
        "bancontact_payments", "card_issuing", "card_payments", "cartes_bancaires_payments",
        "eps_payments", "giropay_payments", "ideal_payments", "klarna_payments",
        "legacy_payments", "link_payments", "p24_payments", "sepa_debit_payments",
        "sofort_payments", "tax_reporting_us_1099_k", "tax_reporting_us_1099_misc",
        "transfers", "treasury", "us_bank_account_ach_payments",
    }
)  # fmt: skip
# Minimum payout delay per country; Stripe's standard for most countries is 2 days.
MIN_DELAY_DAYS = {"JP": 4, "BR": 30, "IN": 3}

FRESH_DUE = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]

CONTROLLERS: dict[str, dict[str, Any]] = {
    "express": {
        "fees": {"payer": "application"},
        "is_controller": True,
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": "express"},
        "type": "application",
    },
    "custom": {
        "fees": {"payer": "application"},
        "is_controller": True,
        "losses": {"payments": "application"},
        "requirement_collection": "application",
        "stripe_dashboard": {"type": "none"},
        "type": "application",
    },
    "standard": {
        "fees": {"payer": "account"},
        "is_controller": True,
        "losses": {"payments": "stripe"},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": "full"},
        "type": "application",
    },
}


def default_currency(country: str) -> str:
    """The account's default currency for its country."""
    if country in EURO_COUNTRIES:
        return "eur"
    return DEFAULT_CURRENCY.get(country, "usd")


def requirements(
    *,
    currently_due: list[str] | None = None,
    past_due: list[str] | None = None,
    eventually_due: list[str] | None = None,
    pending_verification: list[str] | None = None,
    disabled_reason: str | None = None,
    current_deadline: int | None = None,
) -> dict[str, Any]:
    """A requirements hash (account, capability or future requirements)."""
    return {
        "alternatives": [],
        "current_deadline": current_deadline,
        "currently_due": list(currently_due or []),
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": list(eventually_due or []),
        "past_due": list(past_due or []),
        "pending_verification": list(pending_verification or []),
    }


def payout_schedule(
    interval: str,
    delay_days: int,
    weekly_anchor: str | None = None,
    monthly_anchor: int | None = None,
) -> dict[str, Any]:
    """``settings.payouts.schedule`` as the account object shows it."""
    schedule: dict[str, Any] = {"delay_days": delay_days, "interval": interval}
    if interval == "weekly":
        schedule["weekly_anchor"] = weekly_anchor
    if interval == "monthly":
        schedule["monthly_anchor"] = monthly_anchor
    return schedule


def account(
    *,
    account_id: str,
    account_type: str,
    controller: dict[str, Any],
    country: str,
    created: int,
    email: str | None,
    business_name: str | None,
    capabilities: dict[str, str],
    metadata: dict[str, str],
    currency: str,
    schedule: dict[str, Any],
) -> dict[str, Any]:
    """A fresh connected account: nothing submitted, requirements past due, all disabled."""
    return {
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": business_name,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": capabilities,
        "charges_enabled": False,
        "controller": controller,
        "country": country,
        "created": created,
        "default_currency": currency,
        "details_submitted": False,
        "email": email,
        "external_accounts": {
            "data": [],
            "has_more": False,
            "object": "list",
            "total_count": 0,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": requirements(),
        "id": account_id,
        "metadata": metadata,
        "object": "account",
        "payouts_enabled": False,
        "requirements": requirements(
            currently_due=FRESH_DUE,
            past_due=FRESH_DUE,
            eventually_due=FRESH_DUE,
            disabled_reason="requirements.past_due",
        ),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": business_name, "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": schedule,
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": account_type,
    }


def platform_account(account_id: str, created: int, livemode: bool) -> dict[str, Any]:
    """The platform's own account, as ``GET /v1/account`` shows it."""
    data = account(
        account_id=account_id,
        account_type="standard",
        controller={"type": "account"},
        country="US",
        created=created,
        email="platform@example.com",
        business_name="Simulated Platform",
        capabilities={"card_payments": "active", "transfers": "active"},
        metadata={},
        currency="usd",
        schedule=payout_schedule("daily", 2),
    )
    data.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
    data["requirements"] = requirements()
    data["settings"]["dashboard"]["display_name"] = "Simulated Platform"
    del data["controller"]
    return data


def capability(
    *,
    name: str,
    account_id: str,
    status: str,
    requested_at: int,
    account_requirements: dict[str, Any],
) -> dict[str, Any]:
    """A capability object; its requirements follow the account's while it is not active."""
    if status == "active":
        reqs = requirements()
    else:
        reqs = {**account_requirements, "alternatives": [], "errors": []}
    return {
        "account": account_id,
        "future_requirements": requirements(),
        "id": name,
        "object": "capability",
        "requested": True,
        "requested_at": requested_at,
        "requirements": reqs,
        "status": status,
    }


def bank_account(account_id: str, country: str, currency: str) -> dict[str, Any]:
    """A test bank account (Stripe's test routing number, last4 6789)."""
    return {
        "account": account_id,
        "account_holder_name": None,
        "account_holder_type": None,
        "account_type": None,
        "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK",
        "country": country,
        "currency": currency,
        "default_for_currency": True,
        "fingerprint": ids.random_chars(16),
        "future_requirements": requirements(),
        "id": ids.new_id("ba"),
        "last4": "6789",
        "metadata": {},
        "object": "bank_account",
        "requirements": requirements(),
        "routing_number": "110000000",
        "status": "new",
    }


def balance_entries(amounts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """``available`` / ``pending`` lists: one entry per currency, split by source type."""
    return [
        {
            "amount": sum(amounts[currency].values()),
            "currency": currency,
            "source_types": dict(sorted(amounts[currency].items())),
        }
        for currency in sorted(amounts)
    ]


def balance(
    available: dict[str, dict[str, int]],
    pending: dict[str, dict[str, int]],
    *,
    livemode: bool,
    platform: bool,
) -> dict[str, Any]:
    """A balance object; the platform's also lists ``connect_reserved``."""
    data: dict[str, Any] = {
        "available": balance_entries(available),
        "livemode": livemode,
        "object": "balance",
        "pending": balance_entries(pending),
    }
    if platform:
        data["connect_reserved"] = [{"amount": 0, "currency": c} for c in sorted(available)]
    return data


def transfer(
    *,
    amount: int,
    currency: str,
    destination: str,
    created: int,
    livemode: bool,
    description: str | None,
    metadata: dict[str, str],
    source_transaction: str | None,
    transfer_group: str | None,
    source_type: str = "card",
) -> dict[str, Any]:
    """A transfer to a connected account."""
    transfer_id = ids.new_id("tr")
    return {
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": ids.new_id("txn"),
        "created": created,
        "currency": currency,
        "description": description,
        "destination": destination,
        "destination_payment": ids.new_id("py", 14),
        "id": transfer_id,
        "livemode": livemode,
        "metadata": metadata,
        "object": "transfer",
        "reversals": {
            "data": [],
            "has_more": False,
            "object": "list",
            "total_count": 0,
            "url": f"/v1/transfers/{transfer_id}/reversals",
        },
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": source_type,
        "transfer_group": transfer_group,
    }


def arrival_date(created: int, days: int = 2) -> int:
    """Midnight UTC ``days`` business days after ``created``, as Stripe reports it."""
    day = dt.datetime.fromtimestamp(created, tz=dt.UTC).date()
    remaining = days
    while remaining:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def payout(
    *,
    amount: int,
    currency: str,
    destination: str,
    created: int,
    livemode: bool,
    description: str | None,
    metadata: dict[str, str],
    statement_descriptor: str | None,
    method: str,
    source_type: str = "card",
) -> dict[str, Any]:
    """A manual payout to the account's bank account, starting ``pending``."""
    return {
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrival_date(created),
        "automatic": False,
        "balance_transaction": ids.new_id("txn"),
        "created": created,
        "currency": currency,
        "description": description,
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "id": ids.new_id("po"),
        "livemode": livemode,
        "metadata": metadata,
        "method": method,
        "object": "payout",
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": source_type,
        "statement_descriptor": statement_descriptor,
        "status": "pending",
        "trace_id": {"status": "pending", "value": None},
        "type": "bank_account",
    }


def charge(
    *,
    amount: int,
    currency: str,
    created: int,
    livemode: bool,
    description: str | None,
    metadata: dict[str, str],
    transfer_group: str | None,
) -> dict[str, Any]:
    """A succeeded, captured card charge on the platform (separate charges and transfers)."""
    charge_id = ids.new_id("ch")
    return {
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": ids.new_id("txn"),
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": None,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "id": charge_id,
        "livemode": livemode,
        "metadata": metadata,
        "object": "charge",
        "on_behalf_of": None,
        "paid": True,
        "payment_intent": None,
        "payment_method": ids.new_id("pm"),
        "refunded": False,
        "refunds": {
            "data": [],
            "has_more": False,
            "object": "list",
            "total_count": 0,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "source_transfer": None,
        "statement_descriptor": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": transfer_group,
    }


def refund(
    *,
    amount: int,
    charge_id: str,
    currency: str,
    created: int,
    metadata: dict[str, str],
    reason: str | None,
) -> dict[str, Any]:
    """A card refund, ``pending`` until the simulator settles it."""
    return {
        "amount": amount,
        "balance_transaction": ids.new_id("txn"),
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "failure_balance_transaction": None,
        "failure_reason": None,
        "id": ids.new_id("re"),
        "metadata": metadata,
        "object": "refund",
        "payment_intent": None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "pending",
        "transfer_reversal": None,
    }


def dispute(
    *, amount: int, charge_id: str, currency: str, created: int, livemode: bool, reason: str
) -> dict[str, Any]:
    """A dispute on a charge, awaiting the platform's response."""
    return {
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "evidence_details": {
            "due_by": created + 7 * 86_400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "id": ids.new_id("dp"),
        "is_charge_refundable": False,
        "livemode": livemode,
        "metadata": {},
        "object": "dispute",
        "payment_intent": None,
        "reason": reason,
        "status": "needs_response",
    }


def dispute_balance_transaction(
    *, dispute_id: str, charge_id: str, amount: int, fee: int, currency: str, created: int
) -> dict[str, Any]:
    """One of a dispute's ``balance_transactions``: a withdrawal (negative) or reinstatement."""
    withdrawal = amount < 0
    return {
        "amount": amount,
        "available_on": created,
        "created": created,
        "currency": currency,
        "description": f"Chargeback {'withdrawal' if withdrawal else 'reversal'} for {charge_id}",
        "fee": fee,
        "fee_details": (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Dispute fee",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
        "id": ids.new_id("txn"),
        "net": amount - fee,
        "object": "balance_transaction",
        "reporting_category": "dispute" if withdrawal else "dispute_reversal",
        "source": dispute_id,
        "status": "available",
        "type": "adjustment",
    }


def transfer_reversal(
    *, amount: int, currency: str, transfer_id: str, created: int, metadata: dict[str, str]
) -> dict[str, Any]:
    """A (partial) reversal of a transfer; the destination's payment is refunded in turn."""
    return {
        "amount": amount,
        "balance_transaction": ids.new_id("txn"),
        "created": created,
        "currency": currency,
        "destination_payment_refund": ids.new_id("pyr"),
        "id": ids.new_id("trr"),
        "metadata": metadata,
        "object": "transfer_reversal",
        "source_refund": None,
        "transfer": transfer_id,
    }


def application(application_id: str) -> dict[str, Any]:
    """The platform's Connect application (``account.application.deauthorized``)."""
    return {"id": application_id, "name": "Simulated Platform", "object": "application"}


def event(
    *,
    event_type: str,
    obj: dict[str, Any],
    created: int,
    livemode: bool,
    account_id: str | None,
    previous_attributes: dict[str, Any] | None,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """An event; ``account`` is set for events that happened on a connected account."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    evt: dict[str, Any] = {"id": ids.new_id("evt"), "object": "event"}
    if account_id is not None:
        evt["account"] = account_id
    evt.update(
        api_version=API_VERSION,
        created=created,
        data=data,
        livemode=livemode,
        pending_webhooks=0,
        request={"id": request_id, "idempotency_key": idempotency_key},
        type=event_type,
    )
    return evt


def thin_event(*, event_type: str, account_id: str, created: int, livemode: bool) -> dict[str, Any]:
    """A thin event (``v2.core.event``) about a v2 account, as an event destination receives
    it: the type and the related object to fetch, never the object itself."""
    at = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return {
        "id": ids.new_id("evt"),
        "object": "v2.core.event",
        "type": event_type,
        "created": at.replace("+00:00", "Z"),
        "livemode": livemode,
        "context": None,
        "related_object": {
            "id": account_id,
            "type": "v2.core.account",
            "url": f"/v2/core/accounts/{account_id}",
        },
    }


def diff(before: Any, after: Any) -> dict[str, Any] | None:
    """Stripe's ``previous_attributes``: the old value of every key that changed, nested."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    changed: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            nested = diff(old, new)
            changed[key] = nested if nested else old
        else:
            changed[key] = old
    return changed
