"""Accounts: create, retrieve, update, and Stripe's validation."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.sim import Receiver, Sim


async def test_new_express_account_looks_freshly_created(sim: Sim) -> None:
    account = await sim.express_account()

    assert account.id.startswith("acct_")
    assert len(account.id) == 21
    assert account.type == "express"
    assert account.controller.stripe_dashboard.type == "express"
    assert (account.details_submitted, account.charges_enabled, account.payouts_enabled) == (
        False,
        False,
        False,
    )
    assert account.capabilities.to_dict() == {"transfers": "inactive"}
    assert account.requirements.currently_due
    assert account.requirements.disabled_reason == "requirements.past_due"
    assert account.metadata.to_dict() == {"organization_id": "org_1"}
    assert account.business_profile.name == "Acme Org"
    assert account.settings.payouts.schedule.interval == "manual"


async def test_controller_properties_of_express_give_an_express_account(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
                "stripe_dashboard": {"type": "express"},
            },
            "capabilities": {"transfers": {"requested": True}},
        }
    )

    assert account.type == "express"
    assert account.controller.requirement_collection == "stripe"


async def test_retrieve_returns_the_created_account(sim: Sim) -> None:
    created = await sim.express_account()

    fetched = await sim.stripe.v1.accounts.retrieve_async(created.id)

    assert fetched.to_dict() == created.to_dict()


async def test_update_sets_a_weekly_payout_schedule(sim: Sim) -> None:
    account = await sim.express_account()

    updated = await sim.stripe.v1.accounts.update_async(
        account.id,
        params={
            "settings": {"payouts": {"schedule": {"interval": "weekly", "weekly_anchor": "friday"}}}
        },
    )

    assert updated.settings.payouts.schedule.to_dict() == {
        "delay_days": 2,
        "interval": "weekly",
        "weekly_anchor": "friday",
    }


async def test_weekly_schedule_without_anchor_is_a_missing_parameter(sim: Sim) -> None:
    account = await sim.express_account()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.update_async(
            account.id, params={"settings": {"payouts": {"schedule": {"interval": "weekly"}}}}
        )

    assert caught.value.http_status == 400
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "settings[payouts][schedule][weekly_anchor]"


async def test_monthly_anchor_out_of_range_is_rejected(sim: Sim) -> None:
    account = await sim.express_account()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.update_async(
            account.id,
            params={
                "settings": {"payouts": {"schedule": {"interval": "monthly", "monthly_anchor": 32}}}
            },
        )

    assert caught.value.param == "settings[payouts][schedule][monthly_anchor]"


async def test_unknown_interval_is_rejected(sim: Sim) -> None:
    account = await sim.express_account()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.update_async(
            account.id,
            params={"settings": {"payouts": {"schedule": {"interval": "hourly"}}}},  # type: ignore[typeddict-item]
        )

    assert caught.value.param == "settings[payouts][schedule][interval]"
    assert "must be one of daily, manual, monthly, or weekly" in str(caught.value.user_message)


async def test_unknown_parameter_is_rejected(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.create_async(params={"type": "express", "colour": "red"})  # type: ignore[typeddict-unknown-key]

    assert caught.value.code == "parameter_unknown"
    assert caught.value.param == "colour"


async def test_update_emits_account_updated_with_previous_attributes(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.express_account()

    await sim.stripe.v1.accounts.update_async(account.id, params={"metadata": {"tier": "gold"}})
    await sim.flush()

    [event] = receiver.of_type("account.updated")
    assert event["account"] == account.id
    assert event["data"]["object"]["metadata"] == {"organization_id": "org_1", "tier": "gold"}
    assert event["data"]["previous_attributes"] == {"metadata": {"tier": None}}
    assert event["_endpoint"] == "/connect"


async def test_retrieving_an_unknown_account_is_a_permission_error(sim: Sim) -> None:
    with pytest.raises(stripe.PermissionError) as caught:
        await sim.stripe.v1.accounts.retrieve_async("acct_1DoesNotExist000")

    assert caught.value.http_status == 403
    assert caught.value.json_body["error"]["code"] == "account_invalid"


CUSTOM_LIKE = {
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "requirement_collection": "application",
    "stripe_dashboard": {"type": "none"},
}


@pytest.mark.parametrize(
    ("params", "shown", "fees", "losses"),
    [
        ({"controller": CUSTOM_LIKE}, "custom", "application", "application"),
        # Nothing given: Stripe's defaults, which are the Standard account's properties.
        ({"capabilities": {"card_payments": {"requested": True}}}, "standard", "account", "stripe"),
        # Stripe carries the losses on an Express dashboard account: no legacy type has this.
        (
            {
                "controller": {
                    "fees": {"payer": "application"},
                    "stripe_dashboard": {"type": "express"},
                }
            },
            "none",
            "application",
            "stripe",
        ),
    ],
    ids=["custom", "defaults", "no-legacy-equivalent"],
)
async def test_controller_properties_and_their_legacy_equivalents(
    sim: Sim, params: dict[str, Any], shown: str, fees: str, losses: str
) -> None:
    capabilities = {"transfers": {"requested": True}, **params.pop("capabilities", {})}

    account = await sim.stripe.v1.accounts.create_async(
        params={"capabilities": capabilities, **params}
    )

    assert account.type == shown
    assert (account.controller.fees.payer, account.controller.losses.payments) == (fees, losses)


async def test_losses_on_the_platform_need_the_platform_to_pay_the_fees(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sim.stripe.v1.accounts.create_async(
            params={
                "controller": {
                    "fees": {"payer": "account"},
                    "losses": {"payments": "application"},
                    "stripe_dashboard": {"type": "express"},
                },
            }
        )

    assert refused.value.param == "controller[fees][payer]"


async def test_platform_requirement_collection_needs_no_stripe_dashboard(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sim.stripe.v1.accounts.create_async(
            params={
                "controller": {
                    "fees": {"payer": "application"},
                    "losses": {"payments": "application"},
                    "requirement_collection": "application",
                    "stripe_dashboard": {"type": "express"},
                },
            }
        )

    assert refused.value.param == "controller[stripe_dashboard][type]"


async def test_type_and_controller_together_are_refused(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sim.stripe.v1.accounts.create_async(
            params={"type": "express", "controller": {"stripe_dashboard": {"type": "express"}}}
        )

    assert refused.value.param == "controller"
