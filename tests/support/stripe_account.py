"""Stripe's Account object for tests, from one source: Stripe's own example account
(`stripe_account.json`, the `account` resource of Stripe's OpenAPI `fixtures3.json`).

`example_account()` is that example, unchanged; `stripe_account(...)` is the Express account
the fake Stripe (tests/service/fakes.py) holds, built from it in one of a few states.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from connect_backend.stripe_objects import CONTROLLERS

EXAMPLE_PATH = Path(__file__).with_name("stripe_account.json")


@cache
def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))
    return data


def example_account() -> dict[str, Any]:
    """Stripe's example Account object (a fresh copy: change it freely)."""
    return copy.deepcopy(_example())


def stripe_account(
    account_id: str,
    *,
    organization_id: str | None = None,
    state: str = "new",
    capabilities: tuple[str, ...] = ("transfers",),
) -> dict[str, Any]:
    """An Express account of the platform's, Stripe's example changed into one of a few states:
    `new` (nothing submitted), `active`, `due` (a document due) or `rejected`."""
    requirements: dict[str, Any] = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    account = example_account()
    account["settings"]["payouts"]["schedule"] = {"interval": "manual", "delay_days": 2}
    account["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
    account.update(
        {
            "id": account_id,
            "type": "express",
            "country": "US",
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "created": 1764150000,
            "default_currency": "usd",
            "email": "owner@example.com",
            "capabilities": dict.fromkeys(capabilities, "inactive"),
            "metadata": {"organization_id": organization_id} if organization_id else {},
            "requirements": requirements,
            "future_requirements": dict(requirements),
            # What Stripe shows on an account made with `type=express` (its controller
            # properties are set on every account: the migration guide to them).
            "controller": {"is_controller": True, "type": "application", **CONTROLLERS["express"]},
        }
    )
    if state == "new":
        requirements["currently_due"] = ["external_account", "tos_acceptance.date"]
        requirements["disabled_reason"] = "requirements.past_due"
    elif state == "active":
        account.update(
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            capabilities=dict.fromkeys(capabilities, "active"),
        )
    elif state == "due":
        account["details_submitted"] = True
        requirements["currently_due"] = ["individual.verification.document"]
    elif state == "rejected":
        account["details_submitted"] = True
        requirements["disabled_reason"] = "rejected.fraud"
    return account
