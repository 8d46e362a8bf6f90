"""Onboarding status: one pure function from a Stripe account to what D1 stores and users see."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

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


class Controller(BaseModel):
    """Who is responsible for what on the account (`account.controller`, Stripe's controller
    properties). Stripe sets them on every account, those made with a legacy `type` too; the
    service reads these, never `type`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stripe_dashboard: str | None = None  # express, full or none
    requirement_collection: str | None = None  # stripe or application
    fees_payer: str | None = None  # account or application
    losses_payments: str | None = None  # stripe or application

    @property
    def express_dashboard(self) -> bool:
        """The holder logs in to the Express dashboard (a login link can be made)."""
        return self.stripe_dashboard == "express"

    @property
    def platform_collects_requirements(self) -> bool:
        """The platform, not Stripe, collects what Stripe needs (Custom-like)."""
        return self.requirement_collection == "application"

    @property
    def platform_carries_losses(self) -> bool:
        """The platform answers for the account's negative balances."""
        return self.losses_payments == "application"


class AccountSnapshot(BaseModel):
    """The part of a Stripe Account object that decides the onboarding status (read from
    Stripe's JSON by `connect_backend.stripe_objects.account_snapshot`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    controller: Controller = Field(default_factory=Controller)
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


def session_components(controller: Controller, role: str | None) -> dict[str, Any]:
    """The embedded components (and their features) an Account Session enables, chosen by the
    caller's role in the organization and by the account's controller (README, "Embedded
    onboarding"). Only owners and admins get a session at all (the route's rule).

    - `external_account_collection` (the bank account payouts go to) is on for owners; for
      admins only where Stripe insists: it "can only be false for accounts where you're
      responsible for collecting updated information" (`requirement_collection=application`).
      Onboarding always collects one: an account without a bank account cannot be paid out.
    - Standard payouts and the payout schedule follow the service's own routes (`POST /payout`,
      `PUT /payout-schedule`: owners and admins), set explicitly since Stripe's defaults turn
      them off when the platform carries the losses.
    - Instant payouts: never when the platform carries the losses (an instant payout cannot be
      taken back, and what the account cannot repay falls on the platform); otherwise owners.
    - Stripe user authentication is never disabled (allowed only for platform-collected
      requirements, and it is what keeps a stolen session from changing the bank account).
    """
    owner = role == "owner"
    bank = owner or not controller.platform_collects_requirements
    kept = {"external_account_collection": bank, "disable_stripe_user_authentication": False}
    return {
        "account_onboarding": {
            "enabled": True,
            "features": {
                "external_account_collection": True,
                "disable_stripe_user_authentication": False,
            },
        },
        "account_management": {"enabled": True, "features": dict(kept)},
        "notification_banner": {"enabled": True, "features": dict(kept)},
        "payouts": {
            "enabled": True,
            "features": {
                **kept,
                "standard_payouts": True,
                "edit_payout_schedule": True,
                "instant_payouts": owner and not controller.platform_carries_losses,
            },
        },
    }
