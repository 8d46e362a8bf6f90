"""Webhook delivery: signatures, routing, redelivery with backoff, the delivery log."""

from __future__ import annotations

import time

import stripe

from stripe_sim import WebhookEndpointConfig, sign
from tests.support.sim import PLATFORM_SECRET, Receiver, Sim, SimFactory, bind_free_port


async def test_refused_delivery_is_delivered_again(sim: Sim, receiver: Receiver) -> None:
    account = await sim.express_account()
    receiver.refuse = 2

    started = time.monotonic()
    await sim.onboard(account.id, "complete")
    flushed = await sim.flush()

    assert flushed["settled"] is True
    statuses = [status for path, status in receiver.attempts if path == "/connect"]
    assert statuses.count(500) == 2
    assert len(receiver.of_type("account.updated")) == 1
    assert len(receiver.of_type("capability.updated")) == 1
    assert time.monotonic() - started >= 0.05  # waited at least the first backoff
    log = (await sim.admin.get("/_sim/deliveries")).json()
    assert log["counts"] == {"delivered": 2, "failed_attempts": 2, "pending": 0, "abandoned": 0}
    assert {entry["outcome"] for entry in log["data"]} == {"retry_scheduled", "delivered"}


async def test_delivery_is_abandoned_after_max_attempts(
    make_sim: SimFactory, receiver: Receiver
) -> None:
    sim = await make_sim(webhook_max_attempts=3)
    account = await sim.express_account()
    receiver.refuse = 100

    await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")
    flushed = await sim.flush()

    assert flushed["settled"] is True
    assert flushed["counts"]["abandoned"] == 1
    assert [
        entry["attempt"] for entry in (await sim.admin.get("/_sim/deliveries")).json()["data"]
    ] == [
        1,
        2,
        3,
    ]


async def test_unreachable_endpoint_counts_as_a_failed_attempt(make_sim: SimFactory) -> None:
    closed = bind_free_port()
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    sim = await make_sim(
        webhooks=[WebhookEndpointConfig(url=f"http://127.0.0.1:{port}/hook", secret="whsec_x")],
        webhook_max_attempts=2,
    )
    await sim.fund_platform(100)
    account = await sim.active_account()

    await sim.stripe.v1.transfers.create_async(
        params={"amount": 100, "currency": "usd", "destination": account.id}
    )
    await sim.flush()

    entries = (await sim.admin.get("/_sim/deliveries")).json()["data"]
    assert [e["error"] for e in entries] == ["ConnectError", "ConnectError"]
    assert entries[-1]["outcome"] == "abandoned"


async def test_flush_answers_504_while_deliveries_are_still_pending(
    make_sim: SimFactory, receiver: Receiver
) -> None:
    sim = await make_sim(webhook_retry_base_s=10)
    account = await sim.express_account()
    receiver.refuse = 1

    await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")
    answer = await sim.admin.post("/_sim/webhooks/flush", params={"timeout": 0.2})

    assert answer.status_code == 504
    assert answer.json()["counts"]["pending"] == 1


async def test_event_is_retrievable_and_tracks_pending_webhooks(
    sim: Sim, receiver: Receiver
) -> None:
    await sim.fund_platform(100)
    account = await sim.active_account()
    await sim.stripe.v1.transfers.create_async(
        params={"amount": 100, "currency": "usd", "destination": account.id}
    )
    await sim.flush()
    [delivered] = receiver.of_type("transfer.created")

    event = await sim.stripe.v1.events.retrieve_async(delivered["id"])

    assert delivered["pending_webhooks"] == 1  # as sent
    assert event.pending_webhooks == 0  # once acknowledged
    assert event.request.id is not None
    assert event.request.id.startswith("req_")


def test_signature_matches_stripe_python_verification() -> None:
    body = b'{"id": "evt_1", "object": "event"}'
    header = sign(PLATFORM_SECRET, int(time.time()), body)

    event = stripe.Webhook.construct_event(body.decode(), header, PLATFORM_SECRET)

    assert event.id == "evt_1"


async def test_connect_events_are_listed_with_stripe_account(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.onboard(account.id, "complete")

    platform_events = await sim.stripe.v1.events.list_async()
    connect_events = await sim.stripe.v1.events.list_async(
        params={"type": "capability.updated"}, options={"stripe_account": account.id}
    )

    assert platform_events.data == []
    assert [e.type for e in connect_events.data] == ["capability.updated"]
