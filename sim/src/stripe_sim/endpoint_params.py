"""The parameters each ``/v1`` endpoint accepts, as :mod:`stripe_sim.param_specs` specs.

Unknown parameters are refused with ``parameter_unknown``; see ``param_specs.py`` for the
rest, and ``form_decoding.py`` for how a call's form becomes the nested values checked here.
"""

from __future__ import annotations

from stripe_sim import objects
from stripe_sim.param_specs import (
    EXPAND,
    Anything,
    Bool,
    Enum,
    Int,
    IntOrEnum,
    IntRange,
    ListOf,
    MapOf,
    Metadata,
    Obj,
    Str,
    Url,
)

SCHEDULE = Obj(
    {
        "delay_days": IntOrEnum(Int(minimum=0, maximum=365), "minimum"),
        "interval": Enum("manual", "daily", "weekly", "monthly"),
        "monthly_anchor": Int(minimum=1, maximum=31),
        "weekly_anchor": Enum(
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
        ),
    }
)
SETTINGS = Obj(
    {
        "payouts": Obj(
            {
                "schedule": SCHEDULE,
                "statement_descriptor": Str(22),
                "debit_negative_balances": Bool(),
            }
        ),
        "payments": Obj({"statement_descriptor": Str(22)}),
        "dashboard": Obj({"display_name": Str(), "timezone": Str()}),
        "branding": Anything(),
        "card_payments": Anything(),
    }
)
BUSINESS_PROFILE = Obj(
    {
        name: Str()
        for name in (
            "name", "url", "mcc", "product_description", "support_email",
            "support_phone", "support_url",
        )
    }
    | {"support_address": Anything(), "annual_revenue": Anything()}
)  # fmt: skip
CAPABILITIES = MapOf(Obj({"requested": Bool()}), keys=objects.CAPABILITIES)
TOS = Obj(
    {
        "date": Int(minimum=0),
        "ip": Str(),
        "user_agent": Str(),
        "service_agreement": Enum("full", "recipient"),
    }
)
ACCOUNT_COMMON = {
    "business_profile": BUSINESS_PROFILE,
    "business_type": Enum("company", "government_entity", "individual", "non_profit"),
    "capabilities": CAPABILITIES,
    "company": Anything(),
    "individual": Anything(),
    "default_currency": Str(3),
    "email": Str(),
    "external_account": Anything(),
    "metadata": Metadata(),
    "settings": SETTINGS,
    "tos_acceptance": TOS,
    "expand": EXPAND,
}
ACCOUNT_CREATE = Obj(
    ACCOUNT_COMMON
    | {
        "type": Enum("custom", "express", "standard"),
        "country": Str(2),
        "controller": Obj(
            {
                "fees": Obj({"payer": Enum("account", "application")}),
                "losses": Obj({"payments": Enum("application", "stripe")}),
                "requirement_collection": Enum("application", "stripe"),
                "stripe_dashboard": Obj({"type": Enum("express", "full", "none")}),
            }
        ),
    }
)
ACCOUNT_UPDATE = Obj(ACCOUNT_COMMON)
ACCOUNT_LINK_CREATE = Obj(
    {
        "account": Str(),
        "refresh_url": Url(),
        "return_url": Url(),
        "type": Enum("account_onboarding", "account_update"),
        "collect": Enum("currently_due", "eventually_due"),
        "collection_options": Obj(
            {
                "fields": Enum("currently_due", "eventually_due"),
                "future_requirements": Enum("include", "omit"),
            }
        ),
        "expand": EXPAND,
    },
    required=("account", "type"),
)
_EMBEDDED_FEATURES = {
    "disable_stripe_user_authentication": Bool(),
    "external_account_collection": Bool(),
}


def _component(**features: Bool) -> Obj:
    return Obj(
        {"enabled": Bool(), "features": Obj(_EMBEDDED_FEATURES | features)},
        required=("enabled",),
    )


ACCOUNT_SESSION_CREATE = Obj(
    {
        "account": Str(),
        "components": Obj(
            {
                "account_onboarding": _component(),
                "account_management": _component(),
                "notification_banner": _component(),
                "payouts": _component(
                    edit_payout_schedule=Bool(), instant_payouts=Bool(), standard_payouts=Bool()
                ),
            }
        ),
        "expand": EXPAND,
    },
    required=("account", "components"),
)
TRANSFER_CREATE = Obj(
    {
        "amount": Int(minimum=1),
        "currency": Str(3),
        "destination": Str(),
        "description": Str(),
        "metadata": Metadata(),
        "source_transaction": Str(),
        "source_type": Enum("bank_account", "card", "fpx"),
        "transfer_group": Str(),
        "expand": EXPAND,
    },
    required=("amount", "currency", "destination"),
)
PAYOUT_CREATE = Obj(
    {
        "amount": Int(minimum=1),
        "currency": Str(3),
        "description": Str(),
        "destination": Str(),
        "metadata": Metadata(),
        "method": Enum("instant", "standard"),
        "source_type": Enum("bank_account", "card", "fpx"),
        "statement_descriptor": Str(22),
        "expand": EXPAND,
    },
    required=("amount", "currency"),
)
RETRIEVE = Obj({"expand": EXPAND})
LIST = Obj(
    {
        "limit": Int(minimum=1, maximum=100),
        "starting_after": Str(),
        "ending_before": Str(),
        "created": IntRange(),
        "expand": EXPAND,
    }
)
EVENT_LIST = Obj(LIST.fields | {"type": Str(), "types": ListOf(Str())})
TRANSFER_LIST = Obj(LIST.fields | {"destination": Str(), "transfer_group": Str()})
PAYOUT_LIST = Obj(
    LIST.fields
    | {
        "arrival_date": IntRange(),
        "destination": Str(),
        "status": Enum("canceled", "failed", "in_transit", "paid", "pending"),
    }
)
REVERSAL_CREATE = Obj(
    {
        "amount": Int(minimum=1),
        "description": Str(),
        "metadata": Metadata(),
        "refund_application_fee": Bool(),
        "expand": EXPAND,
    }
)
REFUND_CREATE = Obj(
    {
        "charge": Str(),
        "amount": Int(minimum=1),
        "metadata": Metadata(),
        "reason": Enum("duplicate", "fraudulent", "requested_by_customer"),
        "expand": EXPAND,
    },
    required=("charge",),
)
CHARGE_LIST = Obj(LIST.fields | {"transfer_group": Str()})
REFUND_LIST = Obj(LIST.fields | {"charge": Str()})
DISPUTE_LIST = Obj(LIST.fields | {"charge": Str()})
