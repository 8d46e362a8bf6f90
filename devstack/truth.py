"""What D1 must hold for an account the Stripe simulator knows, and what it does hold: the
comparison the e2e fault tests, the webhook chaos test and the soak all end with."""

from __future__ import annotations

import time
from typing import Any

from connect_backend.domain import Onboarding
from connect_backend.onboarding import derive_status
from connect_backend.stripe_objects import account_snapshot, v2_account_snapshot
from stripe_sim import sign

CAPABILITIES = ("transfers",)  # the service's CONNECT_CAPABILITIES as the stack runs it


def truth(entry: dict[str, Any]) -> Onboarding:
    """D1's due view of a simulator account (`/_sim/accounts/{id}`), by the spec's table."""
    return derive_status(
        account_snapshot(entry["account"]),
        required_capabilities=CAPABILITIES,
        deauthorized=bool(entry["deauthorized"]),
    )


def truth_v2(account: dict[str, Any], *, deauthorized: bool) -> Onboarding:
    """D1's due view of an Accounts v2 account, from what Stripe shows through v2 (its
    `GET /v2/core/accounts/{id}` with `V2_INCLUDE`: the recipient capability's status and the
    requirement entries, by the README's v2 table), as a v2 integration sees it. `deauthorized`:
    the simulator's truth says the platform can no longer reach it (closed)."""
    return derive_status(
        v2_account_snapshot(account),
        required_capabilities=CAPABILITIES,
        deauthorized=deauthorized or bool(account.get("closed")),
    )


def stored(organization: dict[str, Any]) -> Onboarding:
    """What D1 holds (an organization from the Worker's internal API)."""
    return Onboarding(
        status=organization["stripe_connect_status"],
        step=organization["onboarding_step"],
        rejection_reason=organization["onboarding_rejection_reason"],
    )


def signature(body: bytes, secret: str) -> str:
    """A `Stripe-Signature` value for `body` sent now, as Stripe computes it."""
    return sign(secret, int(time.time()), body)
