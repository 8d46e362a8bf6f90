"""``/_sim/requests``: the Stripe API calls the simulator received, counted per method, path
and ``Stripe-Account``, filtered and reset."""

from __future__ import annotations

from typing import Any

from tests.support.sim import API_KEY, Sim

AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def _counts(sim: Sim, **filters: str) -> dict[str, Any]:
    answer = await sim.admin.get("/_sim/requests", params=filters)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_calls_are_counted_per_method_path_and_stripe_account(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.stripe.v1.accounts.retrieve_async(account.id)
    await sim.stripe.v1.accounts.retrieve_async(account.id)
    await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})

    counts = await _counts(sim)

    assert counts["data"] == [
        {"method": "POST", "path": "/v1/accounts", "stripe_account": None, "count": 1},
        {"method": "GET", "path": f"/v1/accounts/{account.id}", "stripe_account": None, "count": 2},
        {"method": "GET", "path": "/v1/balance", "stripe_account": account.id, "count": 1},
    ]
    assert counts["total"] == 4


async def test_refused_calls_count_too(sim: Sim) -> None:
    await sim.admin.get("/v1/balance")  # no API key: 401
    await sim.admin.get("/v1/charges_galore", headers=AUTH)  # unknown route: 404

    counts = await _counts(sim)

    assert [(row["path"], row["count"]) for row in counts["data"]] == [
        ("/v1/balance", 1),
        ("/v1/charges_galore", 1),
    ]


async def test_helpers_and_hosted_pages_are_not_counted(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.onboard(account.id)
    await sim.admin.get(f"/_sim/accounts/{account.id}")
    await sim.admin.get("/setup/s/acct_unknown/token")

    counts = await _counts(sim)

    assert [(row["method"], row["path"]) for row in counts["data"]] == [("POST", "/v1/accounts")]


async def test_filters_keep_the_calls_that_match_method_and_path(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.stripe.v1.accounts.retrieve_async(account.id)
    await sim.stripe.v1.accounts.update_async(account.id, params={"metadata": {"k": "v"}})

    by_method = await _counts(sim, method="get")
    by_path = await _counts(sim, path=f"/v1/accounts/{account.id}")
    by_both = await _counts(sim, method="POST", path=f"/v1/accounts/{account.id}")

    assert [row["method"] for row in by_method["data"]] == ["GET"]
    assert [row["method"] for row in by_path["data"]] == ["GET", "POST"]
    assert by_both["data"] == [
        {"method": "POST", "path": f"/v1/accounts/{account.id}", "stripe_account": None, "count": 1}
    ]
    assert by_both["total"] == 1


async def test_filter_by_stripe_account(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.stripe.v1.balance.retrieve_async()
    await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account.id})

    counts = await _counts(sim, stripe_account=account.id)

    assert [(row["path"], row["count"]) for row in counts["data"]] == [("/v1/balance", 1)]


async def test_delete_answers_the_counts_then_starts_from_zero(sim: Sim) -> None:
    await sim.stripe.v1.balance.retrieve_async()

    cleared = await sim.admin.delete("/_sim/requests")
    after = await _counts(sim)
    await sim.stripe.v1.balance.retrieve_async()
    counted_again = await _counts(sim)

    assert cleared.status_code == 200
    assert cleared.json()["total"] == 1
    assert after == {"data": [], "total": 0}
    assert counted_again["total"] == 1


async def test_reset_forgets_the_counts(sim: Sim) -> None:
    await sim.stripe.v1.balance.retrieve_async()

    await sim.admin.post("/_sim/reset")

    assert await _counts(sim) == {"data": [], "total": 0}
