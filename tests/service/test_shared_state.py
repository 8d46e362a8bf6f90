"""Two service processes sharing one real Redis (`REDIS_URL`): per-user limits and refresh
reads hold across them; with Redis gone, reads and webhooks go on while money and onboarding
fail closed, and nothing is done by a refused call."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.redis_server import RedisServer
from tests.support.service import bearer, http_client, make_settings, onboarded, running
from tests.support.stripe_account import stripe_account

ACCOUNT = "acct_a0000000000"


@pytest.fixture
async def two_processes(
    redis_url: str, upstreams: respx.MockRouter, stripe: FakeStripe
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two instances of the service (as two worker processes would be), one Redis."""
    settings = make_settings(
        redis_url=SecretStr(redis_url),
        rate_limit_onboarding_per_minute=3,
        rate_limit_reads_per_minute=0,
    )
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = await stack.enter_async_context(running(settings, stripe, worker=upstreams))
            clients.append(await stack.enter_async_context(http_client(app)))
        yield clients


async def test_a_users_onboarding_limit_holds_across_processes(
    two_processes: list[httpx.AsyncClient], worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="due")
    owner = worker.add_person("olive", org_a="owner")
    one, two = two_processes

    answers = [
        await client.post(
            "/api/connect/onboard", json={"organization_id": "org_a"}, headers=bearer(owner.token)
        )
        for client in (one, two, one, two)
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["error"]["code"] == "rate_limited"


async def test_a_burst_of_refreshes_across_processes_reads_stripe_at_most_twice(
    two_processes: list[httpx.AsyncClient], worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="due", stripe_connect_status="pending")
    owner = worker.add_person("olive", org_a="owner")

    async def slowly(_: httpx.Request) -> httpx.Response:
        answer = httpx.Response(200, json=copy.deepcopy(stripe.accounts[ACCOUNT]))
        await asyncio.sleep(0.05)  # Stripe's own latency: the burst overlaps the reads
        return answer

    stripe.fail("GET", rf"/v1/accounts/{ACCOUNT}", slowly)
    url, headers = "/api/connect/status/org_a?refresh=true", bearer(owner.token)

    answers = await asyncio.gather(
        *(
            c.get(url, headers=headers)
            for c in itertools.islice(itertools.cycle(two_processes), 100)
        )
    )

    assert {r.status_code for r in answers} == {200}
    assert {r.json()["onboarding_step"] for r in answers} == {"action_required"}
    assert 1 <= len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) <= 2


async def test_a_refresh_on_another_process_never_takes_a_read_begun_before_it(
    two_processes: list[httpx.AsyncClient], worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active")
    owner = worker.add_person("olive", org_a="owner")
    first_read_arrived, release = asyncio.Event(), asyncio.Event()

    async def as_it_is_when_asked(_: httpx.Request) -> httpx.Response:
        answer = httpx.Response(200, json=copy.deepcopy(stripe.accounts[ACCOUNT]))
        first_read_arrived.set()
        await release.wait()
        return answer

    stripe.fail("GET", rf"/v1/accounts/{ACCOUNT}", as_it_is_when_asked)
    url, headers = "/api/connect/status/org_a?refresh=true", bearer(owner.token)
    one, two = two_processes
    early = asyncio.create_task(one.get(url, headers=headers))
    await first_read_arrived.wait()  # process one's read is under way …
    stripe.accounts[ACCOUNT] = stripe_account(ACCOUNT, organization_id="org_a", state="due")
    late = asyncio.create_task(two.get(url, headers=headers))  # … when the account changes
    await asyncio.sleep(0.1)
    release.set()

    assert (await early).json()["onboarding_step"] == "complete"
    assert (await late).json()["onboarding_step"] == "action_required"  # its own, later read
    assert len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) == 2


async def test_with_redis_down_reads_and_webhooks_go_on_money_and_onboarding_wait(
    two_processes: list[httpx.AsyncClient],
    worker: FakeWorker,
    stripe: FakeStripe,
    redis_server: RedisServer,
) -> None:
    onboarded(worker, stripe, "org_a", state="due", available=5000)
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("pat", role="admin")
    one, two = two_processes
    redis_server.stop()
    try:
        stripe.requests.clear()
        status = await one.get("/api/connect/status/org_a", headers=bearer(owner.token))
        refresh = await two.get(
            "/api/connect/status/org_a?refresh=true", headers=bearer(owner.token)
        )
        onboard = await one.post(
            "/api/connect/onboard", json={"organization_id": "org_a"}, headers=bearer(owner.token)
        )
        transfer = await two.post(
            "/api/connect/transfer",
            json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
            headers=bearer(admin.token, **{"Idempotency-Key": "t-1"}),
        )
        ready = await one.get("/ready")
        stripe.accounts[ACCOUNT] = stripe_account(ACCOUNT, organization_id="org_a", state="active")
        webhook = await events.deliver(two, events.account_updated(ACCOUNT))
    finally:
        redis_server.start()

    assert (status.status_code, refresh.status_code) == (200, 200)
    for refused in (onboard, transfer):
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "limits_unavailable"
        assert refused.headers["Retry-After"] == "5"
    # Nothing was done by the refused calls: no Stripe write, no link, no transfer.
    assert [r.method for r in stripe.requests] == ["GET", "GET"]  # the refresh, the webhook
    assert stripe.transfers == []
    assert (ready.status_code, ready.json()["checks"]) == (
        200,
        {"worker": "ok", "redis": "unavailable"},
    )
    assert webhook.status_code == 200
    assert worker.organizations["org_a"]["stripe_connect_status"] == "active"

    # Redis is back: so are onboarding and money (the same request, retried).
    retried = await one.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "t-1"}),
    )
    assert retried.status_code == 200, retried.text
    assert len(stripe.transfers) == 1
    assert (await two.get("/ready")).json()["checks"]["redis"] == "ok"
