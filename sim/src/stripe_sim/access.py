"""Restricted keys that lack permissions: ``/_sim/config`` ``restricted_keys``.

A restricted key (``rk_test_…``/``rk_live_…``) is configured with the calls it may not
make, as ``"METHOD /path"`` patterns where ``*`` stands for one path segment (or, as the
method, any method): ``"GET /v1/accounts/*"`` denies retrieving any account, not listing
them (``"GET /v1/accounts"``) and not their capabilities (``"GET /v1/accounts/*/*"``). A
denied call is answered as Stripe answers a restricted key without the permission: 403
``invalid_request_error`` with no code, naming the permission that would allow it. Keys not
configured here may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_sim.errors import StripeError, mask_key

# The permission Stripe names for each endpoint. rak_accounts_kyc_basic_read and
# rak_balance_read appear in Stripe's answers; the others follow the same rak_<object>_<read|
# write> pattern.
PERMISSIONS: dict[tuple[str, str], str] = {
    ("POST", "/v1/accounts"): "rak_accounts_kyc_basic_write",
    ("GET", "/v1/accounts"): "rak_accounts_kyc_basic_read",
    ("GET", "/v1/accounts/{account}"): "rak_accounts_kyc_basic_read",
    ("POST", "/v1/accounts/{account}"): "rak_accounts_kyc_basic_write",
    ("GET", "/v1/accounts/{account}/capabilities"): "rak_accounts_kyc_basic_read",
    ("GET", "/v1/accounts/{account}/capabilities/{capability}"): "rak_accounts_kyc_basic_read",
    ("POST", "/v1/accounts/{account}/login_links"): "rak_login_link_write",
    ("GET", "/v1/account"): "rak_accounts_kyc_basic_read",
    ("POST", "/v1/account_links"): "rak_account_link_write",
    ("POST", "/v1/account_sessions"): "rak_account_session_write",
    ("POST", "/v2/core/accounts"): "rak_accounts_kyc_basic_write",
    ("GET", "/v2/core/accounts/{id}"): "rak_accounts_kyc_basic_read",
    ("POST", "/v2/core/accounts/{id}/close"): "rak_accounts_kyc_basic_write",
    ("POST", "/v2/core/account_links"): "rak_account_link_write",
    ("GET", "/v1/balance"): "rak_balance_read",
    ("POST", "/v1/transfers"): "rak_transfer_write",
    ("GET", "/v1/transfers"): "rak_transfer_read",
    ("GET", "/v1/transfers/{id}"): "rak_transfer_read",
    ("POST", "/v1/transfers/{id}/reversals"): "rak_transfer_write",
    ("GET", "/v1/transfers/{id}/reversals"): "rak_transfer_read",
    ("GET", "/v1/transfers/{id}/reversals/{reversal}"): "rak_transfer_read",
    ("GET", "/v1/charges"): "rak_charge_read",
    ("GET", "/v1/charges/{id}"): "rak_charge_read",
    ("POST", "/v1/refunds"): "rak_refund_write",
    ("GET", "/v1/refunds"): "rak_refund_read",
    ("GET", "/v1/refunds/{id}"): "rak_refund_read",
    ("GET", "/v1/disputes"): "rak_dispute_read",
    ("GET", "/v1/disputes/{id}"): "rak_dispute_read",
    ("POST", "/v1/payouts"): "rak_payout_write",
    ("GET", "/v1/payouts"): "rak_payout_read",
    ("GET", "/v1/payouts/{id}"): "rak_payout_read",
    ("GET", "/v1/events"): "rak_event_read",
    ("GET", "/v1/events/{id}"): "rak_event_read",
}


@dataclass(frozen=True)
class CallPattern:
    """``"GET /v1/accounts/*"``: a method (or ``*``) and a path, ``*`` one segment."""

    method: str
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, text: object) -> CallPattern:
        if not isinstance(text, str):
            raise ValueError("a deny entry must be a string such as 'GET /v1/accounts/*'")
        method, _, path = text.strip().partition(" ")
        path = path.strip()
        if not method or not path.startswith("/"):
            raise ValueError(f"deny entry {text!r} must read 'METHOD /path'")
        return cls(method.upper(), tuple(path.strip("/").split("/")))

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        segments = tuple(path.strip("/").split("/"))
        return len(segments) == len(self.segments) and all(
            want in ("*", got) for want, got in zip(self.segments, segments, strict=True)
        )

    def __str__(self) -> str:
        return f"{self.method} /{'/'.join(self.segments)}"


@dataclass
class RestrictedKey:
    """One restricted key and the calls it is denied."""

    deny: tuple[CallPattern, ...]

    def denies(self, method: str, path: str) -> bool:
        return any(pattern.matches(method, path) for pattern in self.deny)


class Permissions:
    """The configured restricted keys, checked on every ``/v1`` call."""

    def __init__(self) -> None:
        self.keys: dict[str, RestrictedKey] = {}

    @staticmethod
    def parse(raw: object) -> dict[str, RestrictedKey]:
        """A ``restricted_keys`` body → keys; raises ValueError (nothing changes)."""
        if not isinstance(raw, dict):
            raise ValueError("restricted_keys must be an object of key → {deny: [...]}")
        keys: dict[str, RestrictedKey] = {}
        for key, settings in raw.items():
            if not key.startswith(("rk_test_", "rk_live_")):
                raise ValueError(f"restricted_keys: {key[:8]}… is not a restricted key (rk_)")
            if not isinstance(settings, dict) or set(settings) - {"deny"}:
                raise ValueError("restricted_keys: each key takes {deny: [...]}")
            deny = settings.get("deny", [])
            if not isinstance(deny, list):
                raise ValueError("restricted_keys: deny must be a list")
            keys[key] = RestrictedKey(tuple(CallPattern.parse(entry) for entry in deny))
        return keys

    def to_json(self) -> dict[str, Any]:
        return {
            key: {"deny": [str(pattern) for pattern in restricted.deny]}
            for key, restricted in self.keys.items()
        }

    def check(
        self, key: str, method: str, path: str, *, permission: str | None, account_id: str
    ) -> None:
        """Raise Stripe's 403 when ``key`` is a restricted key denied this call."""
        restricted = self.keys.get(key)
        if restricted is not None and permission and restricted.denies(method, path):
            raise missing_permission(key, account_id, permission)


def missing_permission(key: str, account_id: str, permission: str) -> StripeError:
    """403 for a restricted key without the permission the endpoint needs."""
    return StripeError(
        403,
        f"The provided key '{mask_key(key, visible=6)}' does not have the required "
        f"permissions for this endpoint on account '{account_id}'. Having the "
        f"'{permission}' permission would allow this request to continue.",
        replayable=False,
    )
