"""Onboarding status: one pure function from a Stripe account to what D1 stores and users see."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from connect_backend.domain import DEAUTHORIZED, NOT_STARTED, Onboarding


class Requirements(BaseModel):
    """What Stripe still needs from the account (`account.requirements`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    currently_due: list[str] = Field(default_factory=list)
    past_due: list[str] = Field(default_factory=list)
    eventually_due: list[str] = Field(default_factory=list)
    pending_verification: list[str] = Field(default_factory=list)
    disabled_reason: str | None = None
    current_deadline: datetime | None = Field(
        default=None, description="When what is currently due must be provided (UTC)."
    )


class AccountSnapshot(BaseModel):
    """The part of a Stripe Account object that decides the onboarding status (read from
    Stripe's JSON by `connect_backend.stripe_objects.account_snapshot`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    type: str | None = None
    dashboard: str | None = None  # the Stripe dashboard the account's holder uses
    email: str | None = None
    charges_enabled: bool = False
    payouts_enabled: bool = False
    details_submitted: bool = False
    capabilities: dict[str, str] = Field(default_factory=dict)
    requirements: Requirements = Field(default_factory=Requirements)
    metadata: dict[str, str] = Field(default_factory=dict)


def derive_status(
    account: AccountSnapshot | None,
    *,
    required_capabilities: Collection[str],
    deauthorized: bool = False,
) -> Onboarding:
    """The product spec's status table, first matching row wins."""
    if account is None:
        return NOT_STARTED
    if deauthorized:
        return DEAUTHORIZED
    reqs = account.requirements
    reason = reqs.disabled_reason
    if reason is not None and reason.startswith("rejected."):
        return Onboarding(status="disabled", step="rejected", rejection_reason=reason)
    if reason in ("listed", "platform_paused"):
        return Onboarding(status="disabled", step="under_review", rejection_reason=reason)
    something_due = bool(reqs.currently_due or reqs.past_due)
    active = account.payouts_enabled and all(
        account.capabilities.get(name) == "active" for name in required_capabilities
    )
    if active:
        return Onboarding(status="active", step="action_required" if something_due else "complete")
    if not account.details_submitted:
        return Onboarding(status="pending", step="details_submission")
    if something_due:
        return Onboarding(status="pending", step="action_required")
    return Onboarding(status="pending", step="under_review")
