"""`/_sim/requirements/change` (a platform-wide requirements change: one `account.updated` per
account, queued at once), `/_sim/requests/times` (when Stripe saw each call) and the delivery
log's `retry_after`."""

from __future__ import annotations

import time
from typing import Any

from tests.support.sim import Receiver, Sim

NEW_DUE = {"currently_due": ["company.tax_id"], "eventually_due": ["company.tax_id"]}


async def _change(sim: Sim, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = await sim.admin.post("/_sim/requirements/change", json=body)
    return answer.status_code, answer.json()


async def test_a_requirements_change_updates_every_reachable_account_with_one_event_each(
    sim: Sim, receiver: Receiver
) -> None:
    accounts = [await sim.express_account() for _ in range(3)]
    await sim.admin.post(f"/_sim/accounts/{accounts[2].id}/deauthorize")
    await sim.flush()
    receiver.events.clear()

    status, body = await _change(sim, {"requirements": NEW_DUE})
    await sim.flush()

    assert status == 200, body
    assert body["accounts"] == 2  # the deauthorized one is not the platform's any more
    updated = receiver.of_type("account.updated")
    assert sorted(e["account"] for e in updated) == sorted(a.id for a in accounts[:2])
    assert sorted(e["id"] for e in updated) == sorted(body["events"])
    for event in updated:
        assert event["data"]["object"]["requirements"]["currently_due"] == ["company.tax_id"]
        assert "requirements" in event["data"]["previous_attributes"]
    entry = (await sim.admin.get(f"/_sim/accounts/{accounts[0].id}")).json()
    assert entry["account"]["requirements"]["currently_due"] == ["company.tax_id"]
    assert entry["account"]["requirements"]["eventually_due"] == ["company.tax_id"]


async def test_a_change_can_name_its_accounts_and_changes_nothing_twice(
    sim: Sim, receiver: Receiver
) -> None:
    one, other = await sim.express_account(), await sim.express_account()

    status, body = await _change(sim, {"requirements": NEW_DUE, "accounts": [one.id]})
    again_status, again = await _change(sim, {"requirements": NEW_DUE, "accounts": [one.id]})

    assert (status, body["accounts"], len(body["events"])) == (200, 1, 1)
    assert (again_status, again["events"]) == (200, [])  # nothing changed: no event
    entry = (await sim.admin.get(f"/_sim/accounts/{other.id}")).json()
    assert entry["account"]["requirements"]["currently_due"] != ["company.tax_id"]


async def test_a_bad_change_is_refused_and_changes_nothing(sim: Sim) -> None:
    account = await sim.express_account()
    before = (await sim.admin.get(f"/_sim/accounts/{account.id}")).json()

    for body in (
        {},
        {"requirements": ["company.tax_id"]},
        {"requirements": NEW_DUE, "capabilities": {"transfers": "inactive"}},
        {"requirements": NEW_DUE, "accounts": "all"},
        {"requirements": NEW_DUE, "accounts": [account.id, "acct_missing"]},
    ):
        status, answer = await _change(sim, body)
        assert status == 400, (body, answer)
        assert answer["error"]["message"]

    after = (await sim.admin.get(f"/_sim/accounts/{account.id}")).json()
    assert after == before


async def test_request_times_say_when_each_call_arrived(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.admin.delete("/_sim/requests")
    started = time.time()
    await sim.stripe.v1.accounts.retrieve_async(account.id)
    await sim.stripe.v1.accounts.retrieve_async(account.id)
    await sim.stripe.v1.balance.retrieve_async()
    ended = time.time()

    reads = (
        await sim.admin.get(
            "/_sim/requests/times", params={"method": "get", "path_prefix": "/v1/accounts/"}
        )
    ).json()
    every = (await sim.admin.get("/_sim/requests/times")).json()

    assert reads["count"] == 2
    assert all(started <= at <= ended for at in reads["data"])
    assert reads["data"] == sorted(reads["data"])
    assert every["count"] == 3
    await sim.admin.delete("/_sim/requests")
    assert (await sim.admin.get("/_sim/requests/times")).json()["count"] == 0


async def test_the_delivery_log_keeps_a_refusals_retry_after(sim: Sim, receiver: Receiver) -> None:
    account = await sim.express_account()
    receiver.refuse, receiver.refuse_status, receiver.retry_after = 1, 503, "1"

    await sim.onboard(account.id, "complete")
    await sim.flush()

    log = (await sim.admin.get("/_sim/deliveries")).json()["data"]
    refused = [entry for entry in log if entry["status"] == 503]
    assert [entry["retry_after"] for entry in refused] == ["1"]
    assert all(entry["retry_after"] is None for entry in log if entry["status"] == 200)
