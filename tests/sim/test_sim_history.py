"""History for reconciliation: payout and transfer lists, Stripe's pagination, webhooks off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.sim import API_KEY, Receiver, Sim, SimFactory

AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def _payouts(sim: Sim, account_id: str, count: int) -> list[str]:
    """``count`` payouts of 1..count cents, one simulated minute apart; oldest first."""
    await sim.admin.post(f"/_sim/accounts/{account_id}/balance", json={"available": 10_000})
    made = []
    for n in range(1, count + 1):
        payout = await sim.stripe.v1.payouts.create_async(
            params={"amount": n, "currency": "usd", "metadata": {"n": str(n)}},
            options={"stripe_account": account_id},
        )
        made.append(payout.id)
        await sim.admin.post("/_sim/clock", json={"advance_seconds": 60})
    return made


async def _list(
    sim: Sim, path: str, account_id: str | None = None, **params: Any
) -> httpx.Response:
    """A raw GET of a Stripe list (the platform's, or with ``Stripe-Account``)."""
    headers = dict(AUTH)
    if account_id is not None:
        headers["Stripe-Account"] = account_id
    return await sim.admin.get(path, params=params, headers=headers)


async def test_payouts_list_newest_first_with_stripes_cursor(sim: Sim) -> None:
    account = await sim.active_account()
    made = await _payouts(sim, account.id, 5)
    newest_first = made[::-1]

    first = (await _list(sim, "/v1/payouts", account.id, limit=2)).json()
    second = (
        await _list(sim, "/v1/payouts", account.id, limit=2, starting_after=first["data"][-1]["id"])
    ).json()
    last = (
        await _list(
            sim, "/v1/payouts", account.id, limit=2, starting_after=second["data"][-1]["id"]
        )
    ).json()
    back = (
        await _list(sim, "/v1/payouts", account.id, limit=2, ending_before=second["data"][0]["id"])
    ).json()

    assert (first["object"], first["url"]) == ("list", "/v1/payouts")
    assert [p["id"] for p in first["data"]] == newest_first[:2]
    assert first["has_more"] is True
    assert [p["id"] for p in second["data"]] == newest_first[2:4]
    assert second["has_more"] is True
    assert [p["id"] for p in last["data"]] == newest_first[4:]
    assert last["has_more"] is False
    assert [p["id"] for p in back["data"]] == newest_first[:2]
    assert back["has_more"] is False


async def test_ending_before_gives_the_page_right_before_the_cursor(sim: Sim) -> None:
    account = await sim.active_account()
    made = await _payouts(sim, account.id, 5)

    page = (await _list(sim, "/v1/payouts", account.id, limit=2, ending_before=made[0])).json()

    # Newer than the oldest payout are four; the two next to it come back, more remain.
    assert [p["id"] for p in page["data"]] == [made[2], made[1]]
    assert page["has_more"] is True


async def test_payouts_list_defaults_to_ten_and_takes_up_to_a_hundred(sim: Sim) -> None:
    account = await sim.active_account()
    await _payouts(sim, account.id, 12)

    default = (await _list(sim, "/v1/payouts", account.id)).json()
    hundred = (await _list(sim, "/v1/payouts", account.id, limit=100)).json()
    too_many = await _list(sim, "/v1/payouts", account.id, limit=101)
    none = await _list(sim, "/v1/payouts", account.id, limit=0)

    assert (len(default["data"]), default["has_more"]) == (10, True)
    assert (len(hundred["data"]), hundred["has_more"]) == (12, False)
    for refused in (too_many, none):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "parameter_invalid_integer"
        assert refused.json()["error"]["param"] == "limit"


async def test_an_unknown_cursor_is_resource_missing(sim: Sim) -> None:
    account = await sim.active_account()

    answer = await _list(sim, "/v1/payouts", account.id, starting_after="po_1Nope")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "resource_missing"
    assert answer.json()["error"]["param"] == "starting_after"


async def test_listed_payouts_carry_arrival_status_and_failure(sim: Sim) -> None:
    account = await sim.active_account()
    paid, failed, waiting = await _payouts(sim, account.id, 3)
    await sim.admin.post(f"/_sim/payouts/{paid}/paid")
    await sim.admin.post(
        f"/_sim/payouts/{failed}/failed", json={"failure_code": "insufficient_funds"}
    )

    page = await sim.stripe.v1.payouts.list_async(options={"stripe_account": account.id})

    by_id = {p.id: p for p in page.data}
    assert {p.id: p.status for p in page.data} == {
        paid: "paid",
        failed: "failed",
        waiting: "pending",
    }
    assert all(p.arrival_date > p.created for p in page.data)
    assert (by_id[failed].failure_code, by_id[failed].failure_message) == (
        "insufficient_funds",
        "Your Stripe account has insufficient funds to cover the payout.",
    )
    assert by_id[paid].failure_code is None
    assert by_id[waiting].metadata.to_dict() == {"n": "3"}


async def test_payouts_list_filters_by_status_and_arrival_date(sim: Sim) -> None:
    account = await sim.active_account()
    first, second = await _payouts(sim, account.id, 2)
    await sim.admin.post(f"/_sim/payouts/{first}/failed")
    later = (await _list(sim, f"/v1/payouts/{second}", account.id)).json()["arrival_date"]

    failed = (await _list(sim, "/v1/payouts", account.id, status="failed")).json()
    arriving = (
        await _list(sim, "/v1/payouts", account.id, **{"arrival_date[gte]": str(later)})
    ).json()

    assert [p["id"] for p in failed["data"]] == [first]
    assert second in [p["id"] for p in arriving["data"]]


async def test_payouts_of_a_connected_account_are_not_the_platforms(sim: Sim) -> None:
    account = await sim.active_account()
    await _payouts(sim, account.id, 1)

    platform = (await _list(sim, "/v1/payouts")).json()

    assert platform["data"] == []


async def test_transfers_list_filters_by_destination_and_keeps_metadata(sim: Sim) -> None:
    first = await sim.active_account()
    second = await sim.active_account()
    await sim.fund_platform(10_000)
    made = []
    for n, destination in enumerate((first.id, second.id, first.id, first.id), start=1):
        transfer = await sim.stripe.v1.transfers.create_async(
            params={
                "amount": n * 100,
                "currency": "usd",
                "destination": destination,
                "metadata": {"organization_id": f"org_{n}", "idempotency_key": f"k{n}"},
            }
        )
        made.append(transfer)
        await sim.admin.post("/_sim/clock", json={"advance_seconds": 1})

    to_first = await sim.stripe.v1.transfers.list_async(
        params={"destination": first.id, "limit": 2}
    )
    rest = await sim.stripe.v1.transfers.list_async(
        params={"destination": first.id, "limit": 2, "starting_after": to_first.data[-1].id}
    )

    assert [t.id for t in to_first.data] == [made[3].id, made[2].id]
    assert to_first.has_more is True
    assert [t.id for t in rest.data] == [made[0].id]
    assert rest.has_more is False
    assert to_first.data[0].metadata.to_dict() == {
        "organization_id": "org_4",
        "idempotency_key": "k4",
    }
    assert to_first.url == "/v1/transfers"


async def test_a_new_account_holds_stripes_default_payout_schedule(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )

    assert account.settings.payouts.schedule.to_dict() == {"delay_days": 2, "interval": "daily"}


async def test_webhooks_switched_off_record_events_and_deliver_nothing(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.express_account()
    off = await sim.admin.post("/_sim/config", json={"webhooks_enabled": False})
    assert off.json()["webhooks_enabled"] is False

    await sim.onboard(account.id, "complete")
    await sim.flush()

    assert receiver.events == []
    recorded = (await sim.admin.get("/_sim/events", params={"account": account.id})).json()
    assert {e["type"] for e in recorded["data"]} == {"account.updated", "capability.updated"}
    log = (await sim.admin.get("/_sim/deliveries")).json()
    assert log["dropped"] == 2
    assert {entry["outcome"] for entry in log["data"]} == {"dropped"}


async def test_switching_webhooks_back_on_drops_what_was_held(sim: Sim, receiver: Receiver) -> None:
    account = await sim.express_account()
    await sim.admin.post("/_sim/config", json={"webhooks_enabled": False})
    await sim.onboard(account.id, "due")

    await sim.admin.post("/_sim/config", json={"webhooks_enabled": True})
    await sim.stripe.v1.accounts.update_async(account.id, params={"metadata": {"after": "on"}})
    await sim.flush()

    [delivered] = receiver.of_type("account.updated")
    assert delivered["data"]["object"]["metadata"]["after"] == "on"
    assert receiver.of_type("capability.updated") == []


async def test_switching_webhooks_off_drops_a_scheduled_redelivery(
    make_sim: SimFactory, receiver: Receiver
) -> None:
    sim = await make_sim(webhook_retry_base_s=5.0)  # the redelivery waits while we look
    account = await sim.express_account()
    receiver.refuse = 1
    await sim.stripe.v1.accounts.update_async(account.id, params={"metadata": {"a": "1"}})
    for _ in range(100):
        if receiver.attempts:
            break
        await sim.flush(timeout=0.01)

    await sim.admin.post("/_sim/config", json={"webhooks_enabled": False})
    flushed = await sim.flush()

    assert flushed["settled"] is True
    assert receiver.attempts == [("/connect", 500)]
    assert receiver.events == []
    assert (await sim.admin.get("/_sim/deliveries")).json()["dropped"] == 1


async def test_a_bad_webhooks_enabled_value_is_refused(sim: Sim) -> None:
    answer = await sim.admin.post("/_sim/config", json={"webhooks_enabled": "off"})

    assert answer.status_code == 400
    assert (await sim.admin.get("/_sim/config")).json()["webhooks_enabled"] is True


@pytest.mark.parametrize("path", ["/v1/payouts", "/v1/transfers", "/v1/events"])
async def test_every_list_filters_by_created(sim: Sim, path: str) -> None:
    account = await sim.active_account()
    await sim.fund_platform(1000)
    await sim.stripe.v1.transfers.create_async(
        params={"amount": 100, "currency": "usd", "destination": account.id}
    )
    await _payouts(sim, account.id, 1)
    now = (await sim.admin.get("/_sim/clock")).json()["now"]
    owner = account.id if path == "/v1/payouts" else None

    future = (await _list(sim, path, owner, **{"created[gt]": str(now)})).json()
    past = (await _list(sim, path, owner, **{"created[lte]": str(now)})).json()

    assert future["data"] == []
    assert past["data"]
