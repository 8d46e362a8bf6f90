"""Charges on the platform, their refunds and disputes: money coming back to the customer."""

from __future__ import annotations

import pytest
import stripe

from tests.support.sim import Receiver, Sim


async def test_a_charge_adds_its_amount_less_the_processing_fee_to_the_platform(sim: Sim) -> None:
    charge = await sim.charge(10_000, transfer_group="order_1")

    assert charge["id"].startswith("ch_")
    # 2.9 % + 30 of 100.00 is 3.20.
    assert await sim.available() == 10_000 - 320
    fetched = await sim.stripe.v1.charges.retrieve_async(charge["id"])
    assert (fetched.amount, fetched.status, fetched.transfer_group) == (
        10_000,
        "succeeded",
        "order_1",
    )
    assert (fetched.amount_refunded, fetched.refunded, fetched.disputed) == (0, False, False)
    assert fetched.balance_transaction.startswith("txn_")  # type: ignore[union-attr]


async def test_charges_list_filters_by_transfer_group(sim: Sim) -> None:
    first = await sim.charge(1000, transfer_group="order_1")
    await sim.charge(2000, transfer_group="order_2")

    listed = await sim.stripe.v1.charges.list_async(params={"transfer_group": "order_1"})

    assert [c.id for c in listed.data] == [first["id"]]


async def test_unknown_charge_is_404_resource_missing(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.charges.retrieve_async("ch_1Nope")

    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


async def test_a_partial_refund_takes_its_amount_from_the_platform(
    sim: Sim, receiver: Receiver
) -> None:
    charge = await sim.charge(10_000)
    before = await sim.available()

    refund = await sim.stripe.v1.refunds.create_async(
        params={"charge": charge["id"], "amount": 4000, "metadata": {"order": "1"}}
    )

    assert refund.id.startswith("re_")
    assert (refund.status, refund.amount, refund.charge) == ("succeeded", 4000, charge["id"])
    assert refund.metadata.to_dict() == {"order": "1"}
    assert await sim.available() == before - 4000
    fetched = await sim.stripe.v1.charges.retrieve_async(charge["id"])
    assert (fetched.amount_refunded, fetched.refunded) == (4000, False)
    assert (await sim.stripe.v1.refunds.retrieve_async(refund.id)).amount == 4000
    await sim.flush()
    [refunded] = receiver.of_type("charge.refunded")
    assert refunded["data"]["object"]["amount_refunded"] == 4000
    assert refunded["data"]["previous_attributes"]["amount_refunded"] == 0
    assert refunded["_endpoint"] == "/platform"
    [created] = receiver.of_type("refund.created")
    [updated] = receiver.of_type("refund.updated")
    assert created["data"]["object"]["id"] == updated["data"]["object"]["id"] == refund.id
    assert updated["data"]["object"]["status"] == "succeeded"
    assert updated["data"]["previous_attributes"] == {"status": "pending"}


async def test_a_refund_without_amount_refunds_all_that_is_left(sim: Sim) -> None:
    charge = await sim.charge(5000)
    await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"], "amount": 1000})

    refund = await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"]})

    assert refund.amount == 4000
    fetched = await sim.stripe.v1.charges.retrieve_async(charge["id"])
    assert (fetched.amount_refunded, fetched.refunded) == (5000, True)
    # The processing fee is not returned: 50.00 charged, 1.75 fee, 50.00 refunded.
    assert await sim.available() == -175


async def test_a_refund_beyond_what_remains_is_refused(sim: Sim) -> None:
    charge = await sim.charge(1000)
    await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"], "amount": 10})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"], "amount": 1000})

    assert caught.value.http_status == 400
    assert caught.value.param == "amount"
    assert "Refund amount ($10.00) is greater than unrefunded amount on charge ($9.90)" in str(
        caught.value.user_message
    )


async def test_refunding_a_fully_refunded_charge_is_charge_already_refunded(sim: Sim) -> None:
    charge = await sim.charge(1000)
    await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"]})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"]})

    assert caught.value.code == "charge_already_refunded"


async def test_refund_of_an_unknown_charge_is_resource_missing(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.refunds.create_async(params={"charge": "ch_1Nope"})

    assert (caught.value.http_status, caught.value.code) == (400, "resource_missing")
    assert caught.value.param == "charge"


async def test_a_failed_refund_returns_the_money_and_emits_refund_failed(
    sim: Sim, receiver: Receiver
) -> None:
    charge = await sim.charge(1000)
    refund = await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"]})
    before = await sim.available()

    answer = await sim.admin.post(
        f"/_sim/refunds/{refund.id}/failed", json={"failure_reason": "lost_or_stolen_card"}
    )

    assert answer.json()["status"] == "failed"
    assert await sim.available() == before + 1000
    fetched = await sim.stripe.v1.charges.retrieve_async(charge["id"])
    assert (fetched.amount_refunded, fetched.refunded) == (0, False)
    await sim.flush()
    [failed] = receiver.of_type("refund.failed")
    assert failed["data"]["object"]["failure_reason"] == "lost_or_stolen_card"


async def test_a_dispute_withdraws_the_amount_and_the_dispute_fee(
    sim: Sim, receiver: Receiver
) -> None:
    charge = await sim.charge(10_000)
    before = await sim.available()

    answer = await sim.admin.post(f"/_sim/charges/{charge['id']}/dispute")

    dispute = answer.json()
    assert dispute["id"].startswith("dp_")
    assert (dispute["amount"], dispute["status"], dispute["charge"]) == (
        10_000,
        "needs_response",
        charge["id"],
    )
    assert await sim.available() == before - 10_000 - 1500
    fetched = await sim.stripe.v1.disputes.retrieve_async(dispute["id"])
    [withdrawal] = fetched.balance_transactions
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-10_000, 1500, -11_500)
    assert (await sim.stripe.v1.charges.retrieve_async(charge["id"])).disputed is True
    await sim.flush()
    assert [e["type"] for e in receiver.events] == [
        "charge.succeeded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    assert all(e["_endpoint"] == "/platform" for e in receiver.events)


async def test_a_won_dispute_reinstates_the_amount_but_not_the_fee(
    sim: Sim, receiver: Receiver
) -> None:
    charge = await sim.charge(10_000)
    dispute = (await sim.admin.post(f"/_sim/charges/{charge['id']}/dispute")).json()
    before = await sim.available()

    answer = await sim.admin.post(f"/_sim/disputes/{dispute['id']}/close", json={"outcome": "won"})

    assert answer.json()["status"] == "won"
    assert await sim.available() == before + 10_000
    await sim.flush()
    [closed] = receiver.of_type("charge.dispute.closed")
    assert closed["data"]["object"]["status"] == "won"
    [reinstated] = receiver.of_type("charge.dispute.funds_reinstated")
    assert len(reinstated["data"]["object"]["balance_transactions"]) == 2


async def test_a_lost_dispute_keeps_the_money_withdrawn(sim: Sim, receiver: Receiver) -> None:
    charge = await sim.charge(10_000)
    dispute = (await sim.admin.post(f"/_sim/charges/{charge['id']}/dispute")).json()
    before = await sim.available()

    answer = await sim.admin.post(f"/_sim/disputes/{dispute['id']}/close", json={"outcome": "lost"})

    assert answer.json()["status"] == "lost"
    assert await sim.available() == before
    await sim.flush()
    [closed] = receiver.of_type("charge.dispute.closed")
    assert closed["data"]["previous_attributes"] == {"status": "needs_response"}
    assert receiver.of_type("charge.dispute.funds_reinstated") == []


async def test_a_disputed_charge_cannot_be_refunded(sim: Sim) -> None:
    charge = await sim.charge(1000)
    await sim.admin.post(f"/_sim/charges/{charge['id']}/dispute", json={"amount": 500})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"]})

    assert caught.value.code == "charge_disputed"


async def test_a_fully_refunded_charge_cannot_be_disputed(sim: Sim) -> None:
    charge = await sim.charge(1000)
    await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"]})

    answer = await sim.admin.post(f"/_sim/charges/{charge['id']}/dispute")

    assert answer.status_code == 400


async def test_disputes_list_filters_by_charge(sim: Sim) -> None:
    first = await sim.charge(1000)
    second = await sim.charge(2000)
    await sim.admin.post(f"/_sim/charges/{first['id']}/dispute")
    await sim.admin.post(f"/_sim/charges/{second['id']}/dispute")

    listed = await sim.stripe.v1.disputes.list_async(params={"charge": second["id"]})

    assert [d.amount for d in listed.data] == [2000]
