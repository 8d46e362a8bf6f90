"""The session cache through the routes: what it saves (a session check per token,
organization and TTL) and what it never skips (the role, `X-User-ID`, and every route that
writes or hands out a link)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import respx

from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, http_client, make_settings, running
from tests.support.session_clock import Clock


@pytest.fixture
def worker() -> FakeWorker:
    fake = FakeWorker()
    fake.add_org("org_a")
    fake.add_org("org_b")
    fake.add_person("olive", org_a="owner", org_b="member")
    fake.add_person("otto")
    return fake


@asynccontextmanager
async def service(worker: FakeWorker, *, ttl: float) -> AsyncIterator[httpx.AsyncClient]:
    """The service with a `ttl` session cache, over the fake Worker and Stripe."""
    with respx.mock(using="httpx", assert_all_mocked=True, assert_all_called=False) as mock:
        mock.route(host="service").pass_through()
        worker.install(mock)
        async with (
            running(make_settings(session_cache_ttl_seconds=ttl), FakeStripe(), worker=mock) as app,
            http_client(app) as http,
        ):
            yield http


@pytest.fixture
async def client(worker: FakeWorker) -> AsyncIterator[httpx.AsyncClient]:
    async with service(worker, ttl=10) as http:
        yield http


async def _status(client: httpx.AsyncClient, token: str, org_id: str = "org_a") -> httpx.Response:
    return await client.get(f"/api/connect/status/{org_id}", headers=bearer(token))


async def test_within_the_ttl_the_session_is_not_verified_again(
    client: httpx.AsyncClient, worker: FakeWorker, clock: Clock
) -> None:
    first = await _status(client, "tok_olive")
    clock.now += 5
    second = await _status(client, "tok_olive")

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(worker.calls("verify-user-context")) == 1


async def test_within_the_ttl_the_organization_is_still_read_fresh(
    client: httpx.AsyncClient, worker: FakeWorker, clock: Clock
) -> None:
    await _status(client, "tok_olive")
    worker.organizations["org_a"]["platform_fee_percent"] = 25.0

    r = await _status(client, "tok_olive")

    assert r.json()["platform_fee_percent"] == 25.0
    assert len(worker.calls("organization/org_a")) == 1


async def test_after_the_ttl_the_session_is_verified_again(
    client: httpx.AsyncClient, worker: FakeWorker, clock: Clock
) -> None:
    await _status(client, "tok_olive")
    clock.now += 10.5
    del worker.people["tok_olive"]  # signed out meanwhile

    r = await _status(client, "tok_olive")

    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_session"
    assert len(worker.calls("verify-user-context")) == 2


async def test_an_invalid_token_is_verified_every_time(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    answers = [await _status(client, "tok_nobody") for _ in range(3)]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert len(worker.calls("verify-user-context")) == 3


async def test_a_refused_membership_is_verified_every_time(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    answers = [await _status(client, "tok_otto") for _ in range(2)]

    assert [a.json()["error"]["code"] for a in answers] == ["not_a_member", "not_a_member"]
    assert len(worker.calls("verify-user-context")) == 2


async def test_a_user_mismatch_is_not_cached(client: httpx.AsyncClient, worker: FakeWorker) -> None:
    spoofed = await client.get(
        "/api/connect/status/org_a", headers=bearer("tok_olive", **{"X-User-ID": "usr_x"})
    )
    honest = await _status(client, "tok_olive")

    assert (spoofed.status_code, honest.status_code) == (403, 200)
    assert len(worker.calls("verify-user-context")) == 2


async def test_a_cached_session_still_checks_x_user_id(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    await _status(client, "tok_olive")

    r = await client.get(
        "/api/connect/status/org_a", headers=bearer("tok_olive", **{"X-User-ID": "usr_x"})
    )

    assert r.status_code == 403
    assert r.json()["error"]["code"] == "user_mismatch"


async def test_a_cached_session_still_checks_the_role(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    await _status(client, "tok_olive", "org_b")  # a member of org_b

    r = await client.get("/api/connect/balance/org_b", headers=bearer("tok_olive"))

    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert len(worker.calls("verify-user-context")) == 1


async def test_the_cache_is_per_organization(client: httpx.AsyncClient, worker: FakeWorker) -> None:
    await _status(client, "tok_olive", "org_a")
    await _status(client, "tok_olive", "org_b")

    bodies = [r.content for r in worker.calls("verify-user-context")]
    assert bodies == [
        b'{"session_token":"tok_olive","organization_id":"org_a"}',
        b'{"session_token":"tok_olive","organization_id":"org_b"}',
    ]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/connect/dashboard-link", {"organization_id": "org_a"}),
        ("POST", "/api/connect/onboard", {"organization_id": "org_a"}),
        ("PUT", "/api/connect/payout-schedule", {"organization_id": "org_a", "interval": "daily"}),
    ],
)
async def test_a_signed_out_owner_gets_no_link_and_changes_nothing(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    clock: Clock,
    method: str,
    path: str,
    body: dict[str, str],
) -> None:
    """A cached check stands for reads only: a login link opens the Express dashboard, and
    onboarding and the schedule write to Stripe."""
    worker.organizations["org_a"].update(
        stripe_connect_account_id="acct_olive", stripe_connect_status="active"
    )
    assert (await _status(client, "tok_olive")).status_code == 200  # cached now
    del worker.people["tok_olive"]  # signed out
    clock.now += 1

    r = await client.request(method, path, json=body, headers=bearer("tok_olive"))

    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_session"
    assert len(worker.calls("verify-user-context")) == 2


async def test_with_ttl_zero_every_call_is_verified(worker: FakeWorker) -> None:
    async with service(worker, ttl=0) as http:
        answers = [await _status(http, "tok_olive") for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    assert len(worker.calls("verify-user-context")) == 2
    assert worker.calls("organization/org_a") == []
