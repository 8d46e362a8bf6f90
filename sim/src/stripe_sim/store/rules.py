"""Pure rules shared by the store's parts: parameter checks the way Stripe makes them.

No state and no I/O: each function takes values and returns values or raises Stripe's error.
"""

from __future__ import annotations

import copy

from stripe_sim import objects
from stripe_sim.errors import invalid_request, parameter_invalid, parameter_missing
from stripe_sim.store.records import Json


def currency(value: str) -> str:
    """A lower-case three-letter currency, or Stripe's ``Invalid currency`` error."""
    lowered = value.lower()
    if len(lowered) != 3 or not lowered.isalpha():
        raise parameter_invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: usd, "
            "aed, aud, brl, cad, chf, czk, dkk, eur, gbp, hkd, inr, jpy, mxn, nok, nzd, pln, "
            "sek, sgd, ...",
            "currency",
        )
    return lowered


def merge_metadata(current: dict[str, str], update: dict[str, str | None] | None) -> Json:
    """Stripe's metadata update: ``""`` deletes a key, ``metadata=""`` clears all."""
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def deep_merge(target: Json, patch: Json) -> None:
    """Merge ``patch`` into ``target`` in place, hash by hash."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = value


def min_delay(country: str) -> int:
    """The shortest payout delay Stripe allows for accounts in this country."""
    return objects.MIN_DELAY_DAYS.get(country, 2)


def resolve_controller(account_type: str | None, controller: Json | None) -> tuple[str, Json]:
    """``type`` (legacy) or ``controller`` properties → (type shown, controller hash)."""
    if account_type is not None and controller:
        raise invalid_request(
            "You may not specify both `type` and `controller` when creating an account.",
            param="controller",
        )
    if account_type is not None:
        return account_type, copy.deepcopy(objects.CONTROLLERS[account_type])
    if not controller:
        return "standard", copy.deepcopy(objects.CONTROLLERS["standard"])
    fees = (controller.get("fees") or {}).get("payer") or "account"
    losses = (controller.get("losses") or {}).get("payments") or "stripe"
    collection = controller.get("requirement_collection") or "stripe"
    dashboard = (controller.get("stripe_dashboard") or {}).get("type") or "full"
    if losses == "application" and fees != "application":
        # API reference, `controller.fees.payer`: "Setting `controller.losses.payments=application`
        # requires `controller.fees.payer=application`."
        raise invalid_request(
            "Setting `controller[losses][payments]=application` requires "
            "`controller[fees][payer]=application`.",
            param="controller[fees][payer]",
        )
    if collection == "application" and dashboard != "none":
        raise invalid_request(
            "When `controller[requirement_collection]` is `application`, "
            "`controller[stripe_dashboard][type]` must be `none`.",
            param="controller[stripe_dashboard][type]",
        )
    resolved: Json = {
        "fees": {"payer": fees},
        "is_controller": True,
        "losses": {"payments": losses},
        "requirement_collection": collection,
        "stripe_dashboard": {"type": dashboard},
        "type": "application",
    }
    shown = "none"
    for legacy, shape in objects.CONTROLLERS.items():
        if shape == resolved:
            shown = legacy
    return shown, resolved


def payout_schedule(current: Json, wanted: Json, country: str) -> Json:
    """Validate ``settings[payouts][schedule]`` the way Stripe does and return the new one."""
    base = "settings[payouts][schedule]"
    interval = wanted.get("interval") or current["interval"]
    interval_changed = interval != current["interval"]
    weekly = wanted.get("weekly_anchor")
    monthly = wanted.get("monthly_anchor")
    if weekly is not None and interval != "weekly":
        raise parameter_invalid(
            "You can only set `weekly_anchor` when `interval` is `weekly`.",
            f"{base}[weekly_anchor]",
        )
    if monthly is not None and interval != "monthly":
        raise parameter_invalid(
            "You can only set `monthly_anchor` when `interval` is `monthly`.",
            f"{base}[monthly_anchor]",
        )
    if interval == "weekly":
        weekly = weekly or (None if interval_changed else current.get("weekly_anchor"))
        if weekly is None:
            raise parameter_missing(f"{base}[weekly_anchor]")
    if interval == "monthly":
        monthly = monthly or (None if interval_changed else current.get("monthly_anchor"))
        if monthly is None:
            raise parameter_missing(f"{base}[monthly_anchor]")
    minimum = min_delay(country)
    delay = wanted.get("delay_days")
    if delay == "minimum" or delay is None:
        delay = minimum if delay == "minimum" else current["delay_days"]
    if not isinstance(delay, int) or delay < minimum:
        raise parameter_invalid(
            f"The `delay_days` for accounts in {country} must be at least {minimum} "
            "(or `minimum`).",
            f"{base}[delay_days]",
        )
    return objects.payout_schedule(interval, delay, weekly, monthly)
