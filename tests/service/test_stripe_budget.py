"""The platform's Stripe budget (Stripe allows a platform about 100 requests a second live, 25
in test mode, for every call it makes): reads give way first, and a caller is charged as its
own class even when it shares another caller's read."""

from __future__ import annotations

import asyncio
import bisect
import copy
import time

import httpx
import pytest
from limits.aio.storage import MemoryStorage

from connect_backend.stripe_budget import StripeBudget, StripeClass
from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, make_settings, onboarded

TIGHT = make_settings(stripe_requests_per_second=4, rate_limit_reads_per_minute=0)


def _orgs(worker: FakeWorker, stripe: FakeStripe, n: int) -> list[str]:
    orgs = [f"org_{i}" for i in range(n)]
    for org in orgs:
        onboarded(worker, stripe, org)
    worker.add_person("olive", **dict.fromkeys(orgs, "owner"))
    return orgs


@pytest.mark.parametrize("settings", [TIGHT])
async def test_reads_past_their_share_are_429_while_money_still_moves(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    orgs = _orgs(worker, stripe, 3)
    admin = worker.add_person("pat", role="admin")

    reads = [
        await client.get(f"/api/connect/status/{org}?refresh=true", headers=bearer("tok_olive"))
        for org in orgs
    ]
    moved = await client.post(
        "/api/connect/transfer",
        json={"organization_id": orgs[0], "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "t"}),
    )

    assert [r.status_code for r in reads] == [200, 200, 429]  # reads: half of 4 a second
    assert reads[2].json()["error"]["code"] == "rate_limited"
    assert reads[2].headers["Retry-After"] == "1"
    assert moved.status_code == 200, moved.text
    assert len(stripe.calls("GET", r"/v1/accounts/.+")) == 2  # the refused read asked nothing


@pytest.mark.parametrize("settings", [TIGHT])
async def test_webhooks_wait_for_room_instead_of_failing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    orgs = _orgs(worker, stripe, 6)
    accounts = [worker.organizations[org]["stripe_connect_account_id"] for org in orgs]

    answers = await asyncio.gather(
        *(events.deliver(client, events.account_updated(acct)) for acct in accounts)
    )

    assert [a.status_code for a in answers] == [200] * 6  # 6 reads at 4 a second: some waited
    assert len(stripe.calls("GET", r"/v1/accounts/.+")) == 6


@pytest.mark.parametrize(
    "settings", [make_settings(stripe_requests_per_second=2, rate_limit_reads_per_minute=0)]
)
async def test_a_webhook_that_cannot_get_room_in_time_is_503_for_stripe_to_deliver_again(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    orgs = _orgs(worker, stripe, 12)
    accounts = [worker.organizations[org]["stripe_connect_account_id"] for org in orgs]

    answers = await asyncio.gather(
        *(events.deliver(client, events.account_updated(acct)) for acct in accounts)
    )

    codes = [a.status_code for a in answers]
    assert set(codes) == {200, 503}  # 2 a second for 2 s of waiting: not all 12
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 503} == {
        "upstream_unavailable"
    }
    assert len(stripe.calls("GET", r"/v1/accounts/.+")) == codes.count(200)


def test_the_default_budget_is_stripe_s_test_mode_one() -> None:
    assert make_settings(stripe_requests_per_second=None).stripe_budget_per_second == 20


@pytest.mark.parametrize(
    "settings", [make_settings(stripe_requests_per_second=2, rate_limit_reads_per_minute=0)]
)
async def test_a_webhook_sharing_a_member_s_refresh_is_not_refused_by_the_reads_share(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """A shared read is started by whoever asked first; a webhook that waits for it must not
    inherit a member's refusal: webhooks may use the whole budget."""
    [org] = _orgs(worker, stripe, 1)
    account = worker.organizations[org]["stripe_connect_account_id"]
    first_read, release = asyncio.Event(), asyncio.Event()

    async def held(_: httpx.Request) -> httpx.Response:
        first_read.set()
        await release.wait()
        return httpx.Response(200, json=copy.deepcopy(stripe.accounts[account]))

    stripe.fail("GET", rf"/v1/accounts/{account}", held)
    url, headers = f"/api/connect/status/{org}?refresh=true", bearer("tok_olive")
    first = asyncio.create_task(client.get(url, headers=headers))
    await first_read.wait()  # the member's read is under way: the reads' share (1/s) is spent
    second = asyncio.create_task(client.get(url, headers=headers))  # waits for the next read
    await asyncio.sleep(0.05)
    webhook = asyncio.create_task(events.deliver(client, events.account_updated(account)))
    await asyncio.sleep(0.05)
    release.set()

    assert (await first).status_code == 200
    assert (await second).status_code == 429  # the member's class: the reads' share is spent
    delivered = await webhook
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["action"] == "synced"


async def test_no_second_ever_begins_more_calls_than_the_budget() -> None:
    """Writes waiting for room, as a burst of webhooks does: in any one-second span (not only
    in the limiter's own windows) at most `per_second` of them were let through. A sliding
    window counter let up to twice as many through across its windows' boundary."""
    budget = StripeBudget(per_second=10, read_share=0.5, storage=MemoryStorage(), wait_seconds=5)
    begun: list[float] = []

    async def call() -> None:
        await budget.spend(StripeClass.EVENT)
        begun.append(time.monotonic())

    await asyncio.gather(*(call() for _ in range(35)))

    begun.sort()
    busiest = max(bisect.bisect_right(begun, t + 1.0) - i for i, t in enumerate(begun))
    assert busiest <= 10
    assert begun[-1] - begun[0] >= 2.9  # 35 calls at 10 a second: about three seconds
