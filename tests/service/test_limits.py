"""Limits: per-user rate limits, request body limits, and a timeout on every outbound call."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker, Person
from tests.support.service import (
    FRONTEND,
    ASGIApp,
    bearer,
    make_settings,
    onboarded,
    signed,
    stream,
)

LIMITED = make_settings(
    rate_limit_reads_per_minute=4,
    rate_limit_onboarding_per_minute=3,
    rate_limit_money_per_minute=2,
)
KiB = 1024


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["request_id"] == r.headers["X-Request-ID"]
    code: str = body["error"]["code"]
    return code


async def _onboard(client: httpx.AsyncClient, person: Person, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/connect/onboard",
        json={"organization_id": "org_a"},
        headers=bearer(person.token, **headers),
    )


async def _transfer(client: httpx.AsyncClient, person: Person, key: str) -> httpx.Response:
    return await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(person.token, **{"Idempotency-Key": key}),
    )


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [LIMITED])
async def test_onboarding_past_the_limit_is_429_with_retry_after_and_reaches_no_upstream(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    for _ in range(3):
        assert (await _onboard(client, owner)).status_code == 200
    links_before = len(stripe.calls("POST", "/v1/account_links"))

    r = await _onboard(client, owner)

    assert _error(r, 429) == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60  # when the rolling minute has room again
    assert len(stripe.calls("POST", "/v1/account_links")) == links_before


@pytest.mark.parametrize("settings", [LIMITED])
async def test_dashboard_link_shares_the_onboarding_budget(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    for _ in range(3):
        assert (await _onboard(client, owner)).status_code == 200

    r = await client.post(
        "/api/connect/dashboard-link",
        json={"organization_id": "org_a"},
        headers=bearer(owner.token),
    )

    assert _error(r, 429) == "rate_limited"


@pytest.mark.parametrize("settings", [LIMITED])
async def test_the_money_routes_share_one_budget_per_user(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    admin = worker.add_person("pat", role="admin")
    assert (await _transfer(client, admin, "k-1")).status_code == 200
    fee = await client.put(
        "/api/connect/platform-fee/org_a",
        json={"platform_fee_percent": 5.0},
        headers=bearer(admin.token),
    )
    assert fee.status_code == 200, fee.text

    r = await _transfer(client, admin, "k-2")

    assert _error(r, 429) == "rate_limited"
    assert len(stripe.calls("POST", "/v1/transfers")) == 1


@pytest.mark.parametrize("settings", [LIMITED])
@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        (
            "POST",
            "/api/connect/payout",
            {"currency": "usd", "amount": 10},
            {"Idempotency-Key": "p"},
        ),
        ("PUT", "/api/connect/payout-schedule", {"interval": "daily"}, {}),
    ],
    ids=["payout", "payout-schedule"],
)
async def test_owner_money_routes_are_limited(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    method: str,
    path: str,
    body: dict[str, object],
    headers: dict[str, str],
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    owner = worker.add_person("olive", org_a="owner")
    call = bearer(owner.token, **{"X-Org-ID": "org_a", **headers})
    answers = [(await client.request(method, path, json=body, headers=call)) for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [200, 200], answers[0].text
    assert _error(answers[2], 429) == "rate_limited"


@pytest.mark.parametrize("settings", [LIMITED])
async def test_the_limit_is_per_verified_user_not_per_token(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    second_session = Person(owner.id, "tok_olive_phone", owner.email, memberships=owner.memberships)
    worker.people[second_session.token] = second_session
    for person in (owner, second_session, owner):
        assert (await _onboard(client, person)).status_code == 200

    r = await _onboard(client, second_session)

    assert _error(r, 429) == "rate_limited"


@pytest.mark.parametrize("settings", [LIMITED])
async def test_another_user_keeps_a_budget_of_their_own(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    for _ in range(4):
        await _onboard(client, owner)

    r = await _onboard(client, admin)

    assert r.status_code == 200, r.text


@pytest.mark.parametrize("settings", [LIMITED])
async def test_a_claimed_x_user_id_neither_spends_nor_escapes_a_budget(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    for _ in range(3):
        assert (await _onboard(client, owner, **{"X-User-ID": owner.id})).status_code == 200

    spoofed = await _onboard(client, owner, **{"X-User-ID": admin.id})

    assert _error(spoofed, 403) == "user_mismatch"  # the claim is refused, not trusted
    assert (await _onboard(client, admin)).status_code == 200
    assert _error(await _onboard(client, owner), 429) == "rate_limited"


@pytest.mark.parametrize("settings", [LIMITED])
async def test_reads_are_limited_on_a_budget_of_their_own(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    paths = ["/api/connect/status/org_a", "/api/connect/balance/org_a"] * 2

    answers = [await client.get(path, headers=bearer(owner.token)) for path in paths]
    refused = await client.get(
        "/api/connect/status/org_a?refresh=true", headers=bearer(owner.token)
    )

    assert {a.status_code for a in answers} == {200}
    assert _error(refused, 429) == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(stripe.calls("GET", r"/v1/accounts/.+")) == 0  # the refused refresh read nothing
    assert (await _onboard(client, owner)).status_code == 200  # onboarding counts apart


@pytest.mark.parametrize("settings", [LIMITED])
async def test_unauthenticated_calls_are_401_and_spend_nobody_s_budget(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    for _ in range(5):
        r = await client.post(
            "/api/connect/onboard", json={"organization_id": "org_a"}, headers=bearer("tok_nobody")
        )
        assert _error(r, 401) == "invalid_session"

    assert (await _onboard(client, owner)).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [make_settings(rate_limit_onboarding_per_minute=0, rate_limit_money_per_minute=0)],
)
async def test_zero_turns_the_rate_limits_off(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    answers = [await _onboard(client, owner) for _ in range(15)]

    assert {a.status_code for a in answers} == {200}


async def test_the_default_limit_allows_ten_onboarding_calls_a_minute(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    answers = [await _onboard(client, owner) for _ in range(11)]

    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60


@pytest.mark.parametrize("settings", [LIMITED])
async def test_browsers_may_read_retry_after(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")
    for _ in range(3):
        await _onboard(client, owner)

    r = await _onboard(client, owner, Origin=FRONTEND)

    assert r.status_code == 429
    exposed = r.headers["Access-Control-Expose-Headers"].lower().split(",")
    assert "retry-after" in [h.strip() for h in exposed]


# --- body limits ------------------------------------------------------------------------------


def _padded_transfer(size: int) -> bytes:
    """A valid transfer body padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"organization_id": "org_a", "amount": 1000, "currency": "usd"}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def test_a_json_body_of_exactly_64_kib_is_served(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    r = await client.post(
        "/api/connect/transfer",
        content=_padded_transfer(64 * KiB),
        headers=bearer(admin.token, **{"Idempotency-Key": "k", "Content-Type": "application/json"}),
    )

    assert r.status_code == 200, r.text


async def test_a_json_body_over_64_kib_is_413_before_anyone_is_asked(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    r = await client.post(
        "/api/connect/transfer",
        content=_padded_transfer(64 * KiB + 1),
        headers=bearer(admin.token, **{"Idempotency-Key": "k", "Content-Type": "application/json"}),
    )

    assert _error(r, 413) == "payload_too_large"
    assert worker.requests == []
    assert stripe.requests == []


async def test_a_chunked_body_over_the_limit_is_refused_before_it_is_read_in_full(
    service: ASGIApp, worker: FakeWorker
) -> None:
    worker.add_person("pat", role="admin")
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield b'{"organization_id": "org_a", "amount": 1000, "currency": "usd", "description": "'
        for n in range(1024):  # 8 MiB, if it were all read
            sent.append(n)
            yield b"x" * (8 * KiB)
        yield b'"}'

    r = await stream(
        service,
        "/api/connect/transfer",
        content=chunks(),
        headers=bearer("tok_pat", **{"Idempotency-Key": "k", "Content-Type": "application/json"}),
    )

    assert "content-length" not in r.request.headers
    assert _error(r, 413) == "payload_too_large"
    assert len(sent) <= 9  # 64 KiB is 8 chunks: the ninth passes the limit
    assert worker.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/connect/onboard"),
        ("POST", "/api/connect/payout"),
        ("PUT", "/api/connect/payout-schedule"),
        ("POST", "/api/connect/dashboard-link"),
        ("PUT", "/api/connect/platform-fee/org_a"),
    ],
)
async def test_every_json_route_has_the_body_limit(
    client: httpx.AsyncClient, worker: FakeWorker, method: str, path: str
) -> None:
    r = await client.request(
        method,
        path,
        content=b"{" + b" " * (64 * KiB) + b"}",
        headers=bearer("tok_any", **{"Content-Type": "application/json"}),
    )

    assert _error(r, 413) == "payload_too_large"
    assert worker.requests == []


async def test_the_webhook_keeps_its_own_1_mib_limit(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    event = {
        "id": "evt_big",
        "object": "event",
        "type": "payout.paid",
        "livemode": False,
        "data": {"object": {"id": "po_1", "object": "payout", "description": "x" * (200 * KiB)}},
    }
    body = json.dumps(event).encode()

    r = await client.post("/api/connect/webhook", content=body, headers=signed(body))

    assert r.status_code == 200, r.text
    assert r.json()["action"] == "logged"


# --- timeouts on every outbound call ----------------------------------------------------------


def _finite(request: httpx.Request) -> dict[str, float]:
    timeout = request.extensions["timeout"]
    assert set(timeout) == {"connect", "read", "write", "pool"}
    assert all(isinstance(v, int | float) and 0 < v <= 30 for v in timeout.values()), timeout
    return dict(timeout)


def _every_route_that_calls_stripe(
    worker: FakeWorker, stripe: FakeStripe
) -> tuple[list[tuple[str, str, dict[str, Any] | None, Person, dict[str, str]]], bytes]:
    """One call of each route that reaches Stripe (and the Worker), and a webhook event."""
    worker.add_org("org_new")
    account_id = onboarded(worker, stripe, "org_a", available=5000)
    owner = worker.add_person("olive", org_a="owner", org_new="owner")
    admin = worker.add_person("pat", role="admin")
    calls = [
        ("POST", "/api/connect/onboard", {"organization_id": "org_new"}, owner, {}),
        ("GET", "/api/connect/status/org_a?refresh=true", None, owner, {}),
        ("GET", "/api/connect/balance/org_a", None, owner, {}),
        (
            "POST",
            "/api/connect/payout",
            {"organization_id": "org_a", "currency": "usd"},
            owner,
            {"Idempotency-Key": "p"},
        ),
        (
            "POST",
            "/api/connect/transfer",
            {"organization_id": "org_a", "amount": 100, "currency": "usd"},
            admin,
            {"Idempotency-Key": "t"},
        ),
        (
            "PUT",
            "/api/connect/payout-schedule",
            {"organization_id": "org_a", "interval": "daily"},
            owner,
            {},
        ),
        ("POST", "/api/connect/dashboard-link", {"organization_id": "org_a"}, owner, {}),
    ]
    event = json.dumps(
        {
            "id": "evt_1",
            "type": "account.updated",
            "livemode": False,
            "account": account_id,
            "data": {"object": {"id": account_id, "object": "account"}},
        }
    ).encode()
    return calls, event


async def test_every_call_to_the_worker_carries_a_finite_timeout(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    calls, event = _every_route_that_calls_stripe(worker, stripe)
    for method, path, body, person, headers in calls:
        r = await client.request(method, path, json=body, headers=bearer(person.token, **headers))
        assert r.status_code == 200, (path, r.text)
    assert (
        await client.post("/api/connect/webhook", content=event, headers=signed(event))
    ).status_code == 200
    assert (await client.get("/ready")).status_code == 200

    worker_timeouts = [_finite(r) for r in worker.requests]
    assert len(worker_timeouts) >= 10
    assert len(stripe.requests) >= 8
    assert max(t["read"] for t in worker_timeouts) == 5.0
    assert max(t["connect"] for t in worker_timeouts) == 2.0
    health = [_finite(r) for r in worker.calls("health")]
    assert health == [{"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}]


async def _never_answer(_: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.usefixtures("fast_stripe_retries")
@pytest.mark.parametrize("settings", [make_settings(stripe_timeout_seconds=0.2)])
async def test_every_call_to_stripe_gives_up_at_its_timeout(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Stripe takes every request and never answers: each route that reaches it answers 503
    once stripe-python's three attempts of STRIPE_TIMEOUT_SECONDS each have run out."""
    calls, event = _every_route_that_calls_stripe(worker, stripe)
    for method in ("GET", "POST", "DELETE"):
        stripe.fail(method, r"/v1/.*", _never_answer)
    started = time.perf_counter()

    answers = await asyncio.gather(
        *(
            client.request(method, path, json=body, headers=bearer(person.token, **headers))
            for method, path, body, person, headers in calls
        ),
        client.post("/api/connect/webhook", content=event, headers=signed(event)),
    )

    assert [_error(r, 503) for r in answers] == ["upstream_unavailable"] * (len(calls) + 1)
    # Each read or write: three attempts, then given up; routes reading the same account at
    # once share one read.
    assert len(stripe.requests) % 3 == 0
    assert len(stripe.requests) <= 3 * len(answers)
    assert time.perf_counter() - started < 3.0
