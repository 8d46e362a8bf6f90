"""Balance, transfers and payouts."""

from __future__ import annotations

import pytest
import stripe

from tests.support.sim import Receiver, Sim


async def test_balance_without_stripe_account_is_the_platforms(sim: Sim) -> None:
    await sim.fund_platform(5000)

    balance = await sim.stripe.v1.balance.retrieve_async()

    assert balance.available[0].amount == 5000
    assert balance.available[0].currency == "usd"
    assert balance.available[0].source_types.card == 5000
    assert balance.pending[0].amount == 0
    assert balance.connect_reserved is not None


async def test_balance_with_stripe_account_is_the_connected_accounts(sim: Sim) -> None:
    await sim.fund_platform(5000)
    account = await sim.express_account()
    await sim.admin.post(
        f"/_sim/accounts/{account.id}/balance", json={"available": 700, "pending": 300}
    )

    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})

    assert [(b.amount, b.currency) for b in balance.available] == [(700, "usd")]
    assert [(b.amount, b.currency) for b in balance.pending] == [(300, "usd")]
    assert "connect_reserved" not in balance


async def test_transfer_moves_platform_funds_to_the_connected_account(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.active_account()
    await sim.fund_platform(10_000)

    transfer = await sim.stripe.v1.transfers.create_async(
        params={
            "amount": 9000,
            "currency": "usd",
            "destination": account.id,
            "source_transaction": "ch_3PgaxNB7WZ01zgkW0abc",
            "transfer_group": "order_42",
            "description": "payout share",
            "metadata": {"organization_id": "org_1"},
        }
    )

    assert transfer.id.startswith("tr_")
    assert (transfer.amount, transfer.destination, transfer.transfer_group) == (
        9000,
        account.id,
        "order_42",
    )
    platform = await sim.stripe.v1.balance.retrieve_async()
    connected = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert platform.available[0].amount == 1000
    assert connected.available[0].amount == 9000
    await sim.flush()
    [created] = receiver.of_type("transfer.created")
    assert created["_endpoint"] == "/platform"
    assert "account" not in created


async def test_transfer_beyond_platform_balance_is_balance_insufficient(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(100)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(
            params={"amount": 101, "currency": "usd", "destination": account.id}
        )

    assert caught.value.http_status == 400
    assert caught.value.code == "balance_insufficient"


async def test_transfer_to_an_account_without_active_transfers_is_refused(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.fund_platform(1000)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(
            params={"amount": 100, "currency": "usd", "destination": account.id}
        )

    assert caught.value.code == "insufficient_capabilities_for_transfer"


async def test_transfer_to_an_unknown_destination_is_resource_missing(sim: Sim) -> None:
    await sim.fund_platform(1000)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(
            params={"amount": 100, "currency": "usd", "destination": "acct_1Nope000000000000"}
        )

    assert caught.value.code == "resource_missing"
    assert caught.value.param == "destination"


async def test_non_integer_amount_is_parameter_invalid_integer(sim: Sim) -> None:
    account = await sim.active_account()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(
            params={"amount": "ten", "currency": "usd", "destination": account.id}  # type: ignore[typeddict-item]
        )

    assert caught.value.code == "parameter_invalid_integer"
    assert caught.value.param == "amount"


async def test_retrieve_transfer_returns_it(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(1000)
    created = await sim.stripe.v1.transfers.create_async(
        params={"amount": 100, "currency": "usd", "destination": account.id}
    )

    fetched = await sim.stripe.v1.transfers.retrieve_async(created.id)

    assert fetched.to_dict() == created.to_dict()


async def test_unknown_transfer_is_404_resource_missing(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.retrieve_async("tr_1DoesNotExist")

    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


async def test_payout_from_a_connected_account_starts_pending(sim: Sim, receiver: Receiver) -> None:
    account = await sim.active_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 2500})

    payout = await sim.stripe.v1.payouts.create_async(
        params={"amount": 2000, "currency": "usd"}, options={"stripe_account": account.id}
    )

    assert payout.id.startswith("po_")
    assert (payout.status, payout.amount, payout.automatic) == ("pending", 2000, False)
    assert payout.arrival_date > payout.created
    assert payout.destination.startswith("ba_")  # type: ignore[union-attr]
    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert balance.available[0].amount == 500
    await sim.flush()
    [created] = receiver.of_type("payout.created")
    assert created["account"] == account.id


async def test_payout_beyond_available_balance_is_balance_insufficient(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 100})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.payouts.create_async(
            params={"amount": 101, "currency": "usd"}, options={"stripe_account": account.id}
        )

    assert caught.value.code == "balance_insufficient"


async def test_payout_with_payouts_disabled_is_refused(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 100})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.payouts.create_async(
            params={"amount": 50, "currency": "usd"}, options={"stripe_account": account.id}
        )

    assert caught.value.code == "payouts_not_allowed"


async def test_paid_helper_marks_the_payout_paid_and_emits_payout_paid(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.active_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 100})
    payout = await sim.stripe.v1.payouts.create_async(
        params={"amount": 100, "currency": "usd"}, options={"stripe_account": account.id}
    )

    answer = await sim.admin.post(f"/_sim/payouts/{payout.id}/paid")
    await sim.flush()

    assert answer.json()["status"] == "paid"
    fetched = await sim.stripe.v1.payouts.retrieve_async(
        payout.id, options={"stripe_account": account.id}
    )
    assert fetched.status == "paid"
    [paid] = receiver.of_type("payout.paid")
    assert paid["data"]["object"]["id"] == payout.id
    assert paid["data"]["previous_attributes"] == {"status": "pending"}


async def test_failed_payout_returns_the_money_and_emits_payout_failed(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.active_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 100})
    payout = await sim.stripe.v1.payouts.create_async(
        params={"amount": 100, "currency": "usd"}, options={"stripe_account": account.id}
    )

    await sim.admin.post(f"/_sim/payouts/{payout.id}/failed", json={"failure_code": "no_account"})
    await sim.flush()

    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert balance.available[0].amount == 100
    [failed] = receiver.of_type("payout.failed")
    assert failed["data"]["object"]["failure_code"] == "no_account"
    assert failed["account"] == account.id


async def _fund_account(sim: Sim, account_id: str, amount: int, source_type: str) -> None:
    answer = await sim.admin.post(
        f"/_sim/accounts/{account_id}/balance",
        json={"available": amount, "source_type": source_type, "operation": "add"},
    )
    assert answer.status_code == 200, answer.text


async def test_balance_lists_each_source_type(sim: Sim) -> None:
    account = await sim.active_account()
    await _fund_account(sim, account.id, 700, "card")
    await _fund_account(sim, account.id, 300, "bank_account")

    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})

    [available] = balance.available
    assert available.amount == 1000
    assert available.source_types.to_dict() == {"bank_account": 300, "card": 700}
    truth = (await sim.admin.get(f"/_sim/accounts/{account.id}")).json()
    assert truth["balance"]["available"] == {"usd": 1000}
    assert truth["balance_by_source_type"]["available"] == {
        "usd": {"card": 700, "bank_account": 300}
    }


async def test_a_payout_draws_from_the_card_balance_by_default(sim: Sim) -> None:
    account = await sim.active_account()
    await _fund_account(sim, account.id, 100, "card")
    await _fund_account(sim, account.id, 5000, "bank_account")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.payouts.create_async(
            params={"amount": 101, "currency": "usd"}, options={"stripe_account": account.id}
        )

    assert caught.value.code == "balance_insufficient"
    assert "Your card balance is too low." in str(caught.value.user_message)


async def test_a_payout_beyond_its_source_types_balance_is_refused(sim: Sim) -> None:
    account = await sim.active_account()
    await _fund_account(sim, account.id, 5000, "card")
    await _fund_account(sim, account.id, 100, "bank_account")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.payouts.create_async(
            params={"amount": 101, "currency": "usd", "source_type": "bank_account"},
            options={"stripe_account": account.id},
        )

    assert caught.value.code == "balance_insufficient"
    assert caught.value.param == "amount"
    assert "Your bank account balance is too low." in str(caught.value.user_message)


async def test_a_payout_from_another_source_type_takes_only_from_it(sim: Sim) -> None:
    account = await sim.active_account()
    await _fund_account(sim, account.id, 500, "card")
    await _fund_account(sim, account.id, 300, "bank_account")

    payout = await sim.stripe.v1.payouts.create_async(
        params={"amount": 300, "currency": "usd", "source_type": "bank_account"},
        options={"stripe_account": account.id},
    )

    assert payout.source_type == "bank_account"
    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert balance.available[0].source_types.to_dict() == {"bank_account": 0, "card": 500}
    await sim.admin.post(f"/_sim/payouts/{payout.id}/failed")
    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert balance.available[0].source_types.to_dict() == {"bank_account": 300, "card": 500}


async def test_a_manual_payout_on_an_automatic_schedule_is_refused(sim: Sim) -> None:
    account = await sim.active_account()
    await _fund_account(sim, account.id, 500, "card")
    await sim.stripe.v1.accounts.update_async(
        account.id, params={"settings": {"payouts": {"schedule": {"interval": "daily"}}}}
    )

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.payouts.create_async(
            params={"amount": 100, "currency": "usd"}, options={"stripe_account": account.id}
        )

    assert caught.value.http_status == 400
    assert caught.value.code == "cannot_create_connect_standard_payouts_through_api"
    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert balance.available[0].amount == 500


async def test_an_unknown_failure_code_is_refused_by_the_helper(sim: Sim) -> None:
    account = await sim.active_account()
    await _fund_account(sim, account.id, 100, "card")
    payout = await sim.stripe.v1.payouts.create_async(
        params={"amount": 100, "currency": "usd"}, options={"stripe_account": account.id}
    )

    answer = await sim.admin.post(
        f"/_sim/payouts/{payout.id}/failed", json={"failure_code": "bank_on_fire"}
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "failure_code"


async def test_a_transfer_draws_from_the_platforms_balance_of_its_source_type(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.admin.post("/_sim/platform/fund", json={"amount": 500, "source_type": "bank_account"})
    params: stripe.TransferCreateParams = {
        "amount": 400,
        "currency": "usd",
        "destination": account.id,
        "source_type": "bank_account",
    }

    transfer = await sim.stripe.v1.transfers.create_async(params=params)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(params={**params, "source_type": "card"})

    assert transfer.source_type == "bank_account"
    assert caught.value.code == "balance_insufficient"
    platform = await sim.stripe.v1.balance.retrieve_async()
    connected = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert platform.available[0].source_types.to_dict() == {"bank_account": 100, "card": 0}
    assert connected.available[0].source_types.to_dict() == {"bank_account": 400, "card": 0}
