"""`derive_status`: the product spec's onboarding-status table, row by row.

Accounts are Stripe's own example Account object (`EXAMPLE`, tests/support/stripe_account.py),
changed only where a row needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connect_backend.domain import NOT_STARTED, Onboarding
from connect_backend.onboarding import AccountSnapshot, derive_status
from connect_backend.stripe_objects import CONTROLLERS, account_snapshot
from tests.support.stripe_account import example_account, stripe_account

EXAMPLE = example_account()  # never changed: each change is made on a copy


def account(
    *,
    payouts_enabled: bool | None = None,
    details_submitted: bool | None = None,
    capabilities: dict[str, str] | None = None,
    **requirements: Any,
) -> AccountSnapshot:
    """Stripe's example account with the given changes (requirements by keyword)."""
    data = example_account()
    if payouts_enabled is not None:
        data["payouts_enabled"] = payouts_enabled
    if details_submitted is not None:
        data["details_submitted"] = details_submitted
    if capabilities is not None:
        data["capabilities"] = capabilities
    data["requirements"].update(requirements)
    return account_snapshot(data)


def active(**requirements: Any) -> AccountSnapshot:
    """An account that can receive transfers and pay out, with nothing due unless given."""
    base: dict[str, Any] = {"currently_due": [], "past_due": [], "disabled_reason": None}
    return account(
        payouts_enabled=True,
        details_submitted=True,
        capabilities={"transfers": "active", "card_payments": "active"},
        **{**base, **requirements},
    )


def derive(snapshot: AccountSnapshot | None, **kwargs: Any) -> Onboarding:
    return derive_status(
        snapshot, required_capabilities=kwargs.pop("caps", ("transfers",)), **kwargs
    )


def test_stripes_example_account_is_pending_details_submission() -> None:
    # As Stripe shows it: nothing submitted yet, payouts off, much currently due.
    assert derive(account_snapshot(EXAMPLE)) == Onboarding(
        status="pending", step="details_submission", rejection_reason=None
    )


def test_no_account_is_not_started() -> None:
    assert derive(None) == NOT_STARTED == Onboarding(None, "account_creation", None)


def test_no_account_stays_not_started_even_if_flagged_deauthorized() -> None:
    assert derive(None, deauthorized=True) == NOT_STARTED


@pytest.mark.parametrize(
    "snapshot",
    [active(), account(disabled_reason="rejected.fraud")],
    ids=["otherwise-active", "otherwise-rejected"],
)
def test_deauthorized_account_is_disabled_whatever_else_it_says(
    snapshot: AccountSnapshot,
) -> None:
    assert derive(snapshot, deauthorized=True) == Onboarding(
        "disabled", "deauthorized", "deauthorized"
    )


@pytest.mark.parametrize(
    "reason", ["rejected.fraud", "rejected.terms_of_service", "rejected.listed", "rejected.other"]
)
def test_rejected_account_is_disabled_with_the_reason(reason: str) -> None:
    assert derive(account(disabled_reason=reason)) == Onboarding("disabled", "rejected", reason)


def test_rejection_wins_over_an_active_account() -> None:
    assert derive(active(disabled_reason="rejected.fraud")) == Onboarding(
        "disabled", "rejected", "rejected.fraud"
    )


@pytest.mark.parametrize("reason", ["listed", "platform_paused"])
def test_listed_or_paused_account_is_disabled_under_review(reason: str) -> None:
    assert derive(account(disabled_reason=reason, details_submitted=True)) == Onboarding(
        "disabled", "under_review", reason
    )


@pytest.mark.parametrize(
    "reason",
    ["requirements.past_due", "requirements.pending_verification", "under_review", "other"],
)
def test_other_disabled_reasons_do_not_disable_by_themselves(reason: str) -> None:
    assert derive(account(disabled_reason=reason, details_submitted=False)).status == "pending"


def test_active_account_with_nothing_due_is_complete() -> None:
    assert derive(active()) == Onboarding("active", "complete", None)


def test_only_eventually_due_requirements_leave_an_active_account_complete() -> None:
    snapshot = active(eventually_due=["individual.id_number"], pending_verification=["x"])
    assert derive(snapshot) == Onboarding("active", "complete", None)


@pytest.mark.parametrize(
    "due",
    [{"currently_due": ["external_account"]}, {"past_due": ["tos_acceptance.date"]}],
    ids=["currently-due", "past-due"],
)
def test_active_account_with_something_due_needs_action(due: dict[str, list[str]]) -> None:
    assert derive(active(**due)) == Onboarding("active", "action_required", None)


def test_payouts_disabled_is_not_active() -> None:
    snapshot = account(
        payouts_enabled=False,
        details_submitted=True,
        capabilities={"transfers": "active"},
        currently_due=[],
        disabled_reason=None,
    )
    assert derive(snapshot) == Onboarding("pending", "under_review", None)


@pytest.mark.parametrize("state", ["inactive", "pending", "unrequested"])
def test_a_required_capability_that_is_not_active_is_not_active(state: str) -> None:
    snapshot = account(
        payouts_enabled=True,
        details_submitted=True,
        capabilities={"transfers": state},
        currently_due=[],
        disabled_reason=None,
    )
    assert derive(snapshot).status == "pending"


def test_a_required_capability_missing_from_the_account_is_not_active() -> None:
    snapshot = active()
    assert derive(snapshot, caps=("transfers", "tax_reporting_us_1099_k")).status == "pending"


def test_every_required_capability_must_be_active() -> None:
    snapshot = account(
        payouts_enabled=True,
        details_submitted=True,
        capabilities={"transfers": "active", "card_payments": "inactive"},
        currently_due=[],
        disabled_reason=None,
    )
    assert derive(snapshot, caps=("transfers",)).status == "active"
    assert derive(snapshot, caps=("transfers", "card_payments")).status == "pending"


def test_details_not_submitted_is_pending_details_submission() -> None:
    snapshot = account(details_submitted=False, currently_due=["external_account"])
    assert derive(snapshot) == Onboarding("pending", "details_submission", None)


@pytest.mark.parametrize(
    "due",
    [{"currently_due": ["individual.verification.document"]}, {"past_due": ["external_account"]}],
    ids=["currently-due", "past-due"],
)
def test_submitted_but_something_due_is_pending_action_required(
    due: dict[str, list[str]],
) -> None:
    base: dict[str, Any] = {"currently_due": [], "past_due": [], "disabled_reason": None}
    snapshot = account(details_submitted=True, **{**base, **due})
    assert derive(snapshot) == Onboarding("pending", "action_required", None)


def test_submitted_with_nothing_due_is_pending_under_review() -> None:
    snapshot = account(
        details_submitted=True,
        currently_due=[],
        past_due=[],
        disabled_reason="requirements.pending_verification",
        pending_verification=["individual.id_number"],
    )
    assert derive(snapshot) == Onboarding("pending", "under_review", None)


def test_snapshot_reads_the_deadline_as_utc_and_ignores_unknown_fields() -> None:
    data = example_account()
    data["requirements"]["current_deadline"] = 1767225600
    data["a_field_stripe_adds_later"] = {"x": 1}

    snapshot = account_snapshot(data)

    assert snapshot.requirements.current_deadline == datetime(2026, 1, 1, tzinfo=UTC)
    assert snapshot.id == EXAMPLE["id"]
    assert snapshot.capabilities == {"card_payments": "active", "transfers": "active"}
    assert snapshot.requirements.currently_due == EXAMPLE["requirements"]["currently_due"]


def test_snapshot_of_an_account_with_null_sections_uses_empty_defaults() -> None:
    data = example_account()
    data.update(requirements=None, capabilities=None, metadata=None)

    snapshot = account_snapshot(data)

    assert (snapshot.capabilities, snapshot.metadata) == ({}, {})
    assert snapshot.requirements.currently_due == []
    assert derive(snapshot) == Onboarding("pending", "details_submission", None)


@pytest.mark.parametrize(
    ("legacy_type", "controller"),
    [
        ("express", {"type": "application"}),  # a legacy account answered without properties
        ("express", {"type": "application", **CONTROLLERS["express"]}),
        ("custom", {"type": "application", **CONTROLLERS["custom"]}),
        ("none", {"type": "application", **CONTROLLERS["express"]}),
        ("none", {"type": "application", **CONTROLLERS["custom"]}),
    ],
)
@pytest.mark.parametrize("state", ["new", "due", "active", "rejected"])
def test_legacy_and_controller_accounts_in_one_state_get_one_status(
    legacy_type: str, controller: dict[str, Any], state: str
) -> None:
    """The status reads requirements and capabilities: the same for an account made with a
    legacy `type` and one made with controller properties, whichever they are."""
    reference = derive_status(
        account_snapshot(stripe_account("acct_1", state=state)),
        required_capabilities=["transfers"],
    )
    data = stripe_account("acct_1", state=state)
    data.update(type=legacy_type, controller=controller)

    snapshot = account_snapshot(data)

    assert derive_status(snapshot, required_capabilities=["transfers"]) == reference
    expected_step = {"new": "details_submission", "due": "action_required"}.get(state)
    if expected_step is not None:
        assert reference.step == expected_step


@pytest.mark.parametrize(
    ("legacy_type", "controller", "expected"),
    [
        ("express", {"type": "application"}, CONTROLLERS["express"]),
        ("custom", {"type": "application"}, CONTROLLERS["custom"]),
        ("standard", {"type": "account"}, CONTROLLERS["standard"]),
        ("none", {"type": "application", **CONTROLLERS["custom"]}, CONTROLLERS["custom"]),
        # Stripe's properties win over the type beside them.
        ("express", {"type": "application", **CONTROLLERS["custom"]}, CONTROLLERS["custom"]),
    ],
)
def test_the_controller_is_read_from_stripe_s_properties_else_the_legacy_equivalent(
    legacy_type: str, controller: dict[str, Any], expected: dict[str, Any]
) -> None:
    data = stripe_account("acct_1")
    data.update(type=legacy_type, controller=controller)

    held = account_snapshot(data).controller

    assert held.stripe_dashboard == expected["stripe_dashboard"]["type"]
    assert held.requirement_collection == expected["requirement_collection"]
    assert held.fees_payer == expected["fees"]["payer"]
    assert held.losses_payments == expected["losses"]["payments"]
