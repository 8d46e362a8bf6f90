"""Balance, transfers and payouts."""

from __future__ import annotations

import pytest
import stripe

from tests.sim.conftest import Receiver, Sim


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
