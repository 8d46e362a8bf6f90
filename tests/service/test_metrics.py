"""`GET /metrics`, read with prometheus-client's own parser after known traffic: requests by
route template, method and status; upstream calls by outcome; webhook deliveries by event type
and outcome (a refused one too); status writes; rate-limit and Stripe-budget refusals; the
session cache. Only a bearer of `METRICS_TOKEN` may scrape, and the labels stay bounded.

The metrics are the process's own (prometheus-client's registry), shared by every test: each
test reads what its traffic added."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from connect_backend.settings import Settings
from tests.service.events import account_updated, deliver, encode
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, http_client, make_settings, onboarded, running

TOKEN = "metrics-token-for-the-tests-0123456789"

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def settings() -> Settings:
    return make_settings(
        metrics_token=TOKEN, rate_limit_reads_per_minute=5, session_cache_ttl_seconds=10
    )


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics", headers=bearer(TOKEN))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one series grew between two scrapes."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def answered(before: Samples, after: Samples, status: str) -> float:
    """How many more status reads (`GET /api/connect/status/{org_id}`) answered `status`."""
    route = {"route": "/api/connect/status/{org_id}", "method": "GET"}
    return grew(before, after, "connect_http_requests_total", **route, status=status)


def called(before: Samples, after: Samples, upstream: str, operation: str, outcome: str) -> float:
    """How many more calls of one upstream operation ended in `outcome`."""
    labels = {"upstream": upstream, "operation": operation, "outcome": outcome}
    return grew(before, after, "connect_upstream_requests_total", **labels)


async def test_without_a_token_configured_metrics_are_off(
    upstreams: respx.MockRouter, stripe: FakeStripe
) -> None:
    async with (
        running(make_settings(), stripe, worker=upstreams) as app,
        http_client(app) as client,
    ):
        answer = await client.get("/metrics", headers=bearer(TOKEN))

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert "connect_" not in answer.text


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
    ids=["none", "wrong", "basic", "longer", "empty"],
)
async def test_a_scrape_without_the_token_is_refused(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    answer = await client.get("/metrics", headers=headers)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "unauthorized"
    assert "connect_" not in answer.text


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    member = worker.add_person("mia", org_a="member")
    before = await scrape(client)

    for _ in range(3):
        read = await client.get("/api/connect/status/org_a", headers=bearer(member.token))
        assert read.is_success
    await client.get("/api/connect/status/org_zz", headers=bearer(member.token))  # not a member
    await client.get("/nowhere/org_a")

    after = await scrape(client)
    assert answered(before, after, "200") == 3
    assert answered(before, after, "403") == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert grew(before, after, "connect_http_requests_total", **unmatched) == 1
    latency = {"route": "/api/connect/status/{org_id}", "method": "GET"}
    assert grew(before, after, "connect_http_request_duration_seconds_count", **latency) == 4
    # The first call checks the session (and reads the organization) in one Worker call; the
    # next two find the session cached and read only the organization.
    assert called(before, after, "worker", "verify-user-context", "ok") == 1
    assert called(before, after, "worker", "verify-user-context", "refused") == 1  # not a member
    assert called(before, after, "worker", "organization", "ok") == 2
    assert grew(before, after, "connect_session_cache_lookups_total", result="hit") == 2
    assert grew(before, after, "connect_session_cache_lookups_total", result="miss") == 2


async def test_a_refresh_counts_its_stripe_read_and_status_write(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(
        worker,
        stripe,
        "org_a",
        stripe_connect_status="pending",
        onboarding_step="details_submission",
    )
    owner = worker.add_person("olive", org_a="owner")
    before = await scrape(client)

    answer = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))
    again = await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(owner.token))

    assert answer.json()["status"] == again.json()["status"] == "active"
    after = await scrape(client)
    # Every refresh reads Stripe anew.
    assert called(before, after, "stripe", "accounts.retrieve", "ok") == 2
    timed = {"upstream": "stripe", "operation": "accounts.retrieve"}
    assert grew(before, after, "connect_upstream_request_duration_seconds_count", **timed) >= 1
    assert grew(before, after, "connect_status_writes_total", result="written") == 1
    assert grew(before, after, "connect_status_writes_total", result="unchanged") == 1


async def test_webhooks_are_counted_by_event_type_and_outcome(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", stripe_connect_status="pending")
    before = await scrape(client)

    synced = await deliver(client, account_updated(account_id, state="active"))
    refused = await client.post(
        "/api/connect/webhook",
        content=encode(account_updated(account_id)),
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    worker.fail_path(f"organization-by-account/{account_id}", 503)
    failed = await deliver(client, account_updated(account_id, state="active"))

    assert (synced.status_code, refused.status_code, failed.status_code) == (200, 400, 503)
    after = await scrape(client)
    events = "connect_webhook_events_total"
    assert grew(before, after, events, event_type="account.updated", outcome="synced") == 1
    assert grew(before, after, events, event_type="unverified", outcome="refused") == 1
    assert grew(before, after, events, event_type="account.updated", outcome="failed") == 1
    assert called(before, after, "worker", "organization-by-account", "unavailable") == 1


async def test_a_worker_outage_shows_as_unavailable_and_as_503s(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    member = worker.add_person("mia", org_a="member")
    worker.fail_path("verify-user-context", 503)
    before = await scrape(client)

    answer = await client.get("/api/connect/status/org_a", headers=bearer(member.token))

    assert answer.status_code == 503
    after = await scrape(client)
    assert called(before, after, "worker", "verify-user-context", "unavailable") == 1
    assert answered(before, after, "503") == 1


async def test_rate_limit_refusals_are_counted(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    member = worker.add_person("mia", org_a="member")
    before = await scrape(client)

    answers = [
        await client.get("/api/connect/status/org_a", headers=bearer(member.token))
        for _ in range(6)
    ]

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    after = await scrape(client)
    assert grew(before, after, "connect_rate_limited_total", group="reads") == 1
    assert answered(before, after, "429") == 1


async def test_labels_stay_bounded_over_a_thousand_organizations(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    series_before = len(await scrape(client))
    people = []
    for n in range(1000):
        worker.add_org(f"org_{n:04d}")
        people.append(worker.add_person(f"p{n:04d}", **{f"org_{n:04d}": "member"}))

    async def read(n: int) -> int:
        path = f"/api/connect/status/org_{n:04d}"
        return (await client.get(path, headers=bearer(people[n].token))).status_code

    for batch in range(0, 1000, 100):
        statuses = await asyncio.gather(*(read(n) for n in range(batch, batch + 100)))
        assert set(statuses) == {200}

    after = await scrape(client)
    labels = {value for (_, pairs) in after for _, value in pairs}
    ids = {f"org_{n:04d}" for n in range(1000)} | {f"p{n:04d}" for n in range(1000)}
    assert not [v for v in labels if any(i in v for i in ids)]
    # The thousand organizations added a handful of series (at most the new statuses' and
    # buckets'), not a thousand.
    assert len(after) - series_before < 50


@pytest.mark.parametrize(
    "settings",
    [
        make_settings(
            metrics_token=TOKEN, stripe_requests_per_second=4, rate_limit_reads_per_minute=0
        )
    ],
)
async def test_stripe_budget_refusals_and_waits_are_counted(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    orgs = [f"org_{n}" for n in range(6)]
    accounts = [onboarded(worker, stripe, org) for org in orgs]
    worker.add_person("olive", **dict.fromkeys(orgs, "owner"))
    before = await scrape(client)

    reads = [
        await client.get(f"/api/connect/status/{org}?refresh=true", headers=bearer("tok_olive"))
        for org in orgs[:3]
    ]
    deliveries = await asyncio.gather(*(deliver(client, account_updated(a)) for a in accounts))

    assert [r.status_code for r in reads] == [200, 200, 429]  # reads: half of 4 a second
    assert {d.status_code for d in deliveries} == {200}  # 6 reads at 4 a second: some waited
    after = await scrape(client)
    assert grew(before, after, "connect_stripe_budget_refusals_total", kind="read") == 1
    assert grew(before, after, "connect_stripe_budget_waits_total", kind="event") >= 1
