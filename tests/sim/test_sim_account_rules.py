"""Stripe's account rules on POST /v1/accounts: country, service agreement, capabilities."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.sim import Sim

TRANSFERS = {"transfers": {"requested": True}}
BOTH = {"transfers": {"requested": True}, "card_payments": {"requested": True}}
RECIPIENT = {"service_agreement": "recipient"}


async def _refused(sim: Sim, **params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.create_async(params={"type": "express", **params})  # type: ignore[typeddict-item]
    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "invalid_request_error"
    return caught.value


async def test_a_recipient_account_abroad_holds_transfers_alone(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={
            "type": "express",
            "country": "MY",
            "capabilities": TRANSFERS,
            "tos_acceptance": RECIPIENT,  # type: ignore[typeddict-item]
        }
    )

    assert account.tos_acceptance.service_agreement == "recipient"
    assert (account.country, account.default_currency) == ("MY", "myr")
    assert account.capabilities.to_dict() == {"transfers": "inactive"}


async def test_a_full_account_shows_no_service_agreement(sim: Sim) -> None:
    account = await sim.express_account()

    assert "service_agreement" not in account.tos_acceptance


async def test_a_recipient_account_cannot_request_card_payments(sim: Sim) -> None:
    error = await _refused(sim, country="GB", capabilities=BOTH, tos_acceptance=RECIPIENT)

    assert "`recipient` service agreement cannot request the `card_payments`" in str(
        error.user_message
    )


async def test_card_payments_without_transfers_is_refused(sim: Sim) -> None:
    error = await _refused(sim, capabilities={"card_payments": {"requested": True}})

    assert error.user_message == (
        "Accounts do not currently support `card_payments` without `transfers`. Please visit "
        "https://stripe.com/docs/connect/account-capabilities#card-payments for more details."
    )
    assert error.code is None


async def test_card_payments_with_transfers_is_accepted(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={"type": "express", "capabilities": BOTH}
    )

    assert account.capabilities.to_dict() == {"transfers": "inactive", "card_payments": "inactive"}


async def test_transfers_alone_on_a_standard_account_is_refused(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.create_async(
            params={"type": "standard", "capabilities": TRANSFERS}
        )

    assert caught.value.param == "requested_capabilities"
    assert "controller[stripe_dashboard][type]=full, which includes Standard accounts" in str(
        caught.value.user_message
    )


async def test_transfers_alone_needs_the_platforms_approval(sim: Sim) -> None:
    answer = await sim.admin.post(
        "/_sim/config", json={"platform": {"transfers_without_card_payments": False}}
    )
    assert answer.json()["platform"] == {
        "transfers_without_card_payments": False,
        "cross_border_payouts": True,
        "accounts_v2": True,
    }

    error = await _refused(sim, capabilities=TRANSFERS)

    assert error.user_message == (
        "Your platform needs approval for accounts to have requested the `transfers` "
        "capability without the `card_payments` capability."
    )
    both = await sim.stripe.v1.accounts.create_async(
        params={"type": "express", "capabilities": BOTH}
    )
    assert both.capabilities.to_dict()["transfers"] == "inactive"


async def test_the_recipient_agreement_is_not_for_the_platforms_own_country(sim: Sim) -> None:
    error = await _refused(sim, country="US", capabilities=TRANSFERS, tos_acceptance=RECIPIENT)

    assert error.param == "tos_acceptance[service_agreement]"
    assert "not available for accounts in US" in str(error.user_message)


async def test_a_payout_only_country_takes_no_full_agreement(sim: Sim) -> None:
    error = await _refused(sim, country="MY", capabilities=TRANSFERS)

    assert error.user_message == "The full service agreement is not supported for accounts in MY."


async def test_a_country_a_us_platform_cannot_reach_is_country_unsupported(sim: Sim) -> None:
    error = await _refused(sim, country="JM", capabilities=TRANSFERS, tos_acceptance=RECIPIENT)

    assert error.code == "country_unsupported"
    assert error.param == "country"
    assert error.user_message == (
        "Connected accounts in JM cannot be created by platforms in US. Please contact us via "
        "https://support.stripe.com/contact if you need further assistance."
    )


async def test_an_unknown_country_code_is_refused_as_unknown(sim: Sim) -> None:
    error = await _refused(sim, country="XX", capabilities=TRANSFERS)

    assert error.param == "country"
    assert str(error.user_message).startswith(
        "Country 'XX' is unknown. Try using a 2-character alphanumeric country code instead"
    )


async def test_cross_border_accounts_need_cross_border_payouts_enabled(sim: Sim) -> None:
    await sim.admin.post("/_sim/config", json={"platform": {"cross_border_payouts": False}})

    error = await _refused(sim, country="GB", capabilities=TRANSFERS, tos_acceptance=RECIPIENT)

    assert error.code == "country_unsupported"
    domestic = await sim.express_account()
    assert domestic.country == "US"


async def test_a_bad_platform_setting_changes_nothing(sim: Sim) -> None:
    answer = await sim.admin.post(
        "/_sim/config",
        json={"latency_ms": 50, "platform": {"cross_border_payouts": "no"}},
    )

    assert answer.status_code == 400
    settings = (await sim.admin.get("/_sim/config")).json()
    assert settings["latency_ms"] == 0
    assert settings["platform"]["cross_border_payouts"] is True


async def test_reset_restores_the_platforms_approvals(sim: Sim) -> None:
    await sim.admin.post("/_sim/config", json={"platform": {"cross_border_payouts": False}})

    await sim.admin.post("/_sim/reset")

    assert (await sim.admin.get("/_sim/config")).json()["platform"]["cross_border_payouts"]


async def test_adding_card_payments_to_a_recipient_account_is_refused(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={
            "type": "express",
            "country": "GB",
            "capabilities": TRANSFERS,
            "tos_acceptance": RECIPIENT,  # type: ignore[typeddict-item]
        }
    )

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.update_async(
            account.id, params={"capabilities": {"card_payments": {"requested": True}}}
        )

    assert "`recipient` service agreement" in str(caught.value.user_message)
    fetched = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert fetched.capabilities.to_dict() == {"transfers": "inactive"}


async def test_a_transfer_to_a_full_account_outside_the_region_is_refused(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={"type": "express", "country": "AU", "capabilities": TRANSFERS}
    )
    await sim.onboard(account.id)
    await sim.fund_platform(1000, "aud")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(
            params={"amount": 100, "currency": "aud", "destination": account.id}
        )

    assert caught.value.user_message == (
        "Funds can't be sent to accounts located in AU when the account is under the `full` "
        "service agreement."
    )


async def test_a_transfer_to_a_recipient_account_abroad_goes_through(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={
            "type": "express",
            "country": "AU",
            "capabilities": TRANSFERS,
            "tos_acceptance": RECIPIENT,  # type: ignore[typeddict-item]
        }
    )
    await sim.onboard(account.id)
    await sim.fund_platform(1000, "aud")

    transfer = await sim.stripe.v1.transfers.create_async(
        params={"amount": 100, "currency": "aud", "destination": account.id}
    )

    assert transfer.destination == account.id
