"""Latency and fault injection, and resetting the simulator."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.sim import API_KEY, Sim, SimFactory

AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def test_latency_is_added_to_every_v1_call(make_sim: SimFactory) -> None:
    sim = await make_sim(latency_ms=150)

    started = time.monotonic()
    await sim.stripe.v1.balance.retrieve_async()
    elapsed = time.monotonic() - started

    assert 0.15 <= elapsed < 1.0


async def test_latency_can_be_changed_at_run_time(sim: Sim) -> None:
    await sim.admin.post("/_sim/config", json={"latency_ms": 120})

    started = time.monotonic()
    await sim.stripe.v1.balance.retrieve_async()

    assert time.monotonic() - started >= 0.12


async def test_fault_rule_answers_429_as_a_rate_limit_error(sim: Sim) -> None:
    await sim.admin.post(
        "/_sim/config",
        json={"faults": [{"path_prefix": "/v1/accounts", "method": "GET", "status": 429}]},
    )
    account = await sim.express_account()  # POST: not matched

    with pytest.raises(stripe.RateLimitError) as caught:
        await sim.stripe.v1.accounts.retrieve_async(account.id)

    assert caught.value.http_status == 429
    assert caught.value.json_body["error"]["code"] == "rate_limit"


async def test_fault_rule_with_count_fires_that_many_times(sim: Sim) -> None:
    await sim.admin.post("/_sim/config", json={"faults": [{"status": 500, "count": 2}]})

    statuses = [(await sim.admin.get("/v1/balance", headers=AUTH)).status_code for _ in range(3)]

    assert statuses == [500, 500, 200]


async def test_fault_rate_is_reproducible_with_a_seed(sim: Sim) -> None:
    async def run() -> list[int]:
        await sim.admin.post(
            "/_sim/config", json={"seed": 7, "faults": [{"status": 503, "rate": 0.5}]}
        )
        return [(await sim.admin.get("/v1/balance", headers=AUTH)).status_code for _ in range(12)]

    first, second = await run(), await run()

    assert first == second
    assert set(first) == {200, 503}


async def test_after_fault_runs_the_call_and_a_retry_replays_its_result(sim: Sim) -> None:
    await sim.admin.post(
        "/_sim/config",
        json={
            "faults": [{"path_prefix": "/v1/accounts", "status": 500, "count": 1, "when": "after"}]
        },
    )
    options: stripe.RequestOptions = {"idempotency_key": "connect-account:org_9"}

    with pytest.raises(stripe.APIError):
        await sim.stripe.v1.accounts.create_async(params={"type": "express"}, options=options)
    account = await sim.stripe.v1.accounts.create_async(params={"type": "express"}, options=options)

    assert list(sim.sim.store.accounts) == [account.id]


async def test_timeout_rate_stalls_the_answer(sim: Sim) -> None:
    await sim.admin.post("/_sim/config", json={"timeout_rate": 1.0, "timeout_seconds": 0.3})

    started = time.monotonic()
    answer = await sim.admin.get("/v1/balance", headers=AUTH)

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_bad_config_is_refused_and_changes_nothing(sim: Sim) -> None:
    answer = await sim.admin.post(
        "/_sim/config", json={"latency_ms": 50, "faults": [{"status": 500, "rate": 2}]}
    )

    assert answer.status_code == 400
    assert (await sim.admin.get("/_sim/config")).json()["latency_ms"] == 0


async def test_reset_forgets_accounts_money_and_faults(sim: Sim) -> None:
    await sim.express_account()
    await sim.fund_platform(100)
    await sim.admin.post("/_sim/config", json={"faults": [{"status": 500, "path_prefix": "/v1/x"}]})

    await sim.admin.post("/_sim/reset")

    truth = (await sim.admin.get("/_sim/accounts")).json()
    balance = await sim.stripe.v1.balance.retrieve_async()
    assert truth["count"] == 0
    assert balance.available[0].amount == 0
    assert (await sim.admin.get("/_sim/config")).json()["faults"] == []
