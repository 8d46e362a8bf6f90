"""Transfers from a platform charge (``source_transaction``) and their reversals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from tests.support.sim import API_KEY, Receiver, Sim


async def _transfer(sim: Sim, account_id: str, amount: int, **params: Any) -> stripe.Transfer:
    return await sim.stripe.v1.transfers.create_async(
        params={"amount": amount, "currency": "usd", "destination": account_id, **params}
    )


async def test_a_transfer_from_a_charge_carries_the_charges_transfer_group(sim: Sim) -> None:
    account = await sim.active_account()
    charge = await sim.charge(10_000, transfer_group="order_7")

    transfer = await _transfer(sim, account.id, 9000, source_transaction=charge["id"])

    assert (transfer.source_transaction, transfer.transfer_group) == (charge["id"], "order_7")
    listed = await sim.stripe.v1.transfers.list_async(params={"transfer_group": "order_7"})
    assert [t.id for t in listed.data] == [transfer.id]


async def test_transfers_from_a_charge_may_not_exceed_what_it_leaves(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(100_000)
    charge = await sim.charge(10_000)
    await sim.stripe.v1.refunds.create_async(params={"charge": charge["id"], "amount": 1000})
    await _transfer(sim, account.id, 6000, source_transaction=charge["id"])

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await _transfer(sim, account.id, 3001, source_transaction=charge["id"])

    assert (caught.value.http_status, caught.value.param) == (400, "amount")
    await _transfer(sim, account.id, 3000, source_transaction=charge["id"])


async def test_a_transfer_from_a_charge_does_not_need_the_available_balance(sim: Sim) -> None:
    account = await sim.active_account()
    charge = await sim.charge(10_000)
    await sim.admin.post("/_sim/platform/fund", json={"amount": -9000})

    transfer = await _transfer(sim, account.id, 9000, source_transaction=charge["id"])

    assert transfer.amount == 9000
    assert await sim.available(account.id) == 9000


async def test_a_partial_reversal_moves_money_back_to_the_platform(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.active_account()
    await sim.fund_platform(10_000)
    transfer = await _transfer(sim, account.id, 9000)

    reversal = await sim.stripe.v1.transfers.reversals.create_async(
        transfer.id, params={"amount": 4000, "metadata": {"refund": "re_1"}}
    )

    assert reversal.id.startswith("trr_")
    assert (reversal.amount, reversal.transfer, reversal.source_refund) == (
        4000,
        transfer.id,
        None,
    )
    assert reversal.destination_payment_refund.startswith("pyr_")  # type: ignore[union-attr]
    assert reversal.metadata.to_dict() == {"refund": "re_1"}
    assert await sim.available() == 1000 + 4000
    assert await sim.available(account.id) == 9000 - 4000
    fetched = await sim.stripe.v1.transfers.retrieve_async(transfer.id)
    assert (fetched.amount_reversed, fetched.reversed) == (4000, False)
    assert [r.id for r in fetched.reversals.data] == [reversal.id]
    assert fetched.reversals.total_count == 1  # type: ignore[attr-defined]
    await sim.flush()
    [reversed_event] = receiver.of_type("transfer.reversed")
    assert reversed_event["_endpoint"] == "/platform"
    assert reversed_event["data"]["object"]["amount_reversed"] == 4000
    assert reversed_event["data"]["previous_attributes"] == {
        "amount_reversed": 0,
        "reversed": False,
    }
    assert receiver.of_type("transfer.updated") == []


async def test_a_reversal_without_amount_reverses_all_that_remains(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(10_000)
    transfer = await _transfer(sim, account.id, 9000)
    first = await sim.stripe.v1.transfers.reversals.create_async(
        transfer.id, params={"amount": 1000}
    )

    second = await sim.stripe.v1.transfers.reversals.create_async(transfer.id)

    assert second.amount == 8000
    fetched = await sim.stripe.v1.transfers.retrieve_async(transfer.id)
    assert (fetched.amount_reversed, fetched.reversed) == (9000, True)
    listed = await sim.stripe.v1.transfers.reversals.list_async(transfer.id)
    assert [r.id for r in listed.data] == [second.id, first.id]
    one = await sim.stripe.v1.transfers.reversals.retrieve_async(transfer.id, first.id)
    assert one.amount == 1000


async def test_a_reversal_beyond_what_remains_is_refused(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(10_000)
    transfer = await _transfer(sim, account.id, 9000)
    await sim.stripe.v1.transfers.reversals.create_async(transfer.id, params={"amount": 5000})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.reversals.create_async(transfer.id, params={"amount": 4001})

    assert (caught.value.http_status, caught.value.param) == (400, "amount")
    assert await sim.available(account.id) == 4000


async def test_reversing_a_fully_reversed_transfer_is_refused(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(1000)
    transfer = await _transfer(sim, account.id, 1000)
    await sim.stripe.v1.transfers.reversals.create_async(transfer.id)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.reversals.create_async(transfer.id)

    assert "already been fully reversed" in str(caught.value.user_message)


async def test_a_reversal_the_destination_cannot_cover_is_balance_insufficient(
    sim: Sim,
) -> None:
    account = await sim.active_account()
    charge = await sim.charge(10_000, transfer_group="order_9")
    transfer = await _transfer(sim, account.id, 9000, source_transaction=charge["id"])
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 3000})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.reversals.create_async(transfer.id)

    assert caught.value.code == "balance_insufficient"
    assert await sim.available(account.id) == 3000
    fetched = await sim.stripe.v1.transfers.retrieve_async(transfer.id)
    assert fetched.amount_reversed == 0


async def test_a_reversal_of_an_unknown_transfer_is_404(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.reversals.create_async("tr_1Nope")

    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


async def test_a_reversal_replayed_with_the_same_key_moves_money_once(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.active_account()
    await sim.fund_platform(10_000)
    transfer = await _transfer(sim, account.id, 9000)
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "reverse-order-1"}
    path = f"/v1/transfers/{transfer.id}/reversals"

    first = await sim.admin.post(path, data={"amount": "2000"}, headers=headers)
    again = await sim.admin.post(path, data={"amount": "2000"}, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert await sim.available(account.id) == 7000
    fetched = await sim.stripe.v1.transfers.retrieve_async(transfer.id)
    assert fetched.amount_reversed == 2000
    await sim.flush()
    assert len(receiver.of_type("transfer.reversed")) == 1


async def test_a_reversal_key_reused_with_other_params_is_an_idempotency_error(
    sim: Sim,
) -> None:
    account = await sim.active_account()
    await sim.fund_platform(10_000)
    transfer = await _transfer(sim, account.id, 9000)
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "reverse-order-2"}
    path = f"/v1/transfers/{transfer.id}/reversals"
    await sim.admin.post(path, data={"amount": "2000"}, headers=headers)

    other: httpx.Response = await sim.admin.post(path, data={"amount": "3000"}, headers=headers)

    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert await sim.available(account.id) == 7000
