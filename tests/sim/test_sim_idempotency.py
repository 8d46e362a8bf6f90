"""Idempotency-Key: replay, conflicts, scope, and what is not saved."""

from __future__ import annotations

import asyncio

import pytest
import stripe

from tests.support.sim import API_KEY, Sim, SimFactory

CREATE = {"type": "express", "capabilities": {"transfers": {"requested": True}}}


async def test_same_key_and_parameters_replay_the_first_response(sim: Sim) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "connect-account:org_1"}
    first = await sim.stripe.v1.accounts.create_async(params=CREATE, options=options)  # type: ignore[arg-type]

    second = await sim.stripe.v1.accounts.create_async(params=CREATE, options=options)  # type: ignore[arg-type]

    assert second.to_dict() == first.to_dict()
    assert second.last_response is not None
    assert first.last_response is not None
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert second.last_response.headers["Original-Request"] == first.last_response.request_id
    assert len(sim.sim.store.accounts) == 1


async def test_same_key_with_other_parameters_is_an_idempotency_error(sim: Sim) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "key-1"}
    await sim.stripe.v1.accounts.create_async(params=CREATE, options=options)  # type: ignore[arg-type]

    with pytest.raises(stripe.IdempotencyError) as caught:
        await sim.stripe.v1.accounts.create_async(
            params={**CREATE, "email": "other@example.com"},  # type: ignore[typeddict-item]
            options=options,
        )

    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "idempotency_error"
    assert "Keys for idempotent requests can only be used with the same parameters" in str(
        caught.value.user_message
    )


async def test_same_key_on_another_endpoint_is_an_idempotency_error(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(1000)
    options: stripe.RequestOptions = {"idempotency_key": "key-2"}
    await sim.stripe.v1.accounts.create_async(params=CREATE, options=options)  # type: ignore[arg-type]

    with pytest.raises(stripe.IdempotencyError) as caught:
        await sim.stripe.v1.transfers.create_async(
            params={"amount": 10, "currency": "usd", "destination": account.id}, options=options
        )

    assert "same endpoint" in str(caught.value.user_message)


async def test_keys_are_scoped_per_connected_account(sim: Sim) -> None:
    first = await sim.active_account()
    second = await sim.active_account()
    for account in (first, second):
        await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 500})

    payouts = [
        await sim.stripe.v1.payouts.create_async(
            params={"amount": 100, "currency": "usd"},
            options={"stripe_account": account.id, "idempotency_key": "payout-1"},
        )
        for account in (first, second)
    ]

    assert payouts[0].id != payouts[1].id


async def test_parameter_errors_are_not_saved_for_replay(sim: Sim) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "key-3"}
    with pytest.raises(stripe.InvalidRequestError):
        await sim.stripe.v1.accounts.create_async(params={"type": "galactic"}, options=options)  # type: ignore[typeddict-item]

    account = await sim.stripe.v1.accounts.create_async(params={"type": "express"}, options=options)

    assert account.type == "express"


async def test_business_errors_are_replayed(sim: Sim) -> None:
    account = await sim.active_account()
    params: stripe.TransferCreateParams = {
        "amount": 100,
        "currency": "usd",
        "destination": account.id,
    }
    options: stripe.RequestOptions = {"idempotency_key": "transfer-1"}
    with pytest.raises(stripe.InvalidRequestError):
        await sim.stripe.v1.transfers.create_async(params=params, options=options)
    await sim.fund_platform(1000)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.transfers.create_async(params=params, options=options)

    assert caught.value.code == "balance_insufficient"
    assert caught.value.headers is not None
    assert caught.value.headers["Idempotent-Replayed"] == "true"


async def test_concurrent_request_with_the_same_key_gets_409(make_sim: SimFactory) -> None:
    sim = await make_sim(latency_ms=200)
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "same"}

    first, second = await asyncio.gather(
        sim.admin.post("/v1/accounts", data={"type": "express"}, headers=headers),
        sim.admin.post("/v1/accounts", data={"type": "express"}, headers=headers),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    conflict = first if first.status_code == 409 else second
    assert conflict.json()["error"]["code"] == "idempotency_key_in_use"
    assert len(sim.sim.store.accounts) == 1


DAY = 24 * 60 * 60


async def _transfer(sim: Sim, destination: str) -> stripe.Transfer:
    return await sim.stripe.v1.transfers.create_async(
        params={"amount": 100, "currency": "usd", "destination": destination},
        options={"idempotency_key": "transfer:org_1:abc"},
    )


async def test_a_key_is_still_remembered_just_before_24_hours(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(1000)
    first = await _transfer(sim, account.id)
    await sim.admin.post("/_sim/clock", json={"advance_seconds": DAY - 1})

    again = await _transfer(sim, account.id)

    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert (await sim.stripe.v1.balance.retrieve_async()).available[0].amount == 900


async def test_a_transfer_repeated_with_its_key_after_24_hours_runs_again(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.fund_platform(1000)
    first = await _transfer(sim, account.id)
    await sim.admin.post("/_sim/clock", json={"advance_seconds": DAY})

    second = await _transfer(sim, account.id)

    assert second.id != first.id
    assert second.last_response is not None
    assert "Idempotent-Replayed" not in second.last_response.headers
    assert (await sim.stripe.v1.balance.retrieve_async()).available[0].amount == 800
    listed = await sim.stripe.v1.transfers.list_async()
    assert {t.id for t in listed.data} == {first.id, second.id}


async def test_a_payout_repeated_with_its_key_after_24_hours_pays_out_again(sim: Sim) -> None:
    account = await sim.active_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/balance", json={"available": 500})
    options: stripe.RequestOptions = {
        "stripe_account": account.id,
        "idempotency_key": "payout:org_1:abc",
    }
    params: stripe.PayoutCreateParams = {"amount": 200, "currency": "usd"}
    first = await sim.stripe.v1.payouts.create_async(params=params, options=options)
    await sim.admin.post("/_sim/clock", json={"advance_seconds": DAY + 60})

    second = await sim.stripe.v1.payouts.create_async(params=params, options=options)

    assert second.id != first.id
    balance = await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})
    assert balance.available[0].amount == 100
