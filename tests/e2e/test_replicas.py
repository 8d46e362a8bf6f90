"""The service as two replicas behind HAProxy, sharing one Redis (`REDIS_URL`), across real
processes: a user's limits hold whichever replica answers, concurrent onboards make one
account, a burst of refreshes reads Stripe at most twice, and Redis going away and coming
back does what README's "Processes and replicas" says, with nothing lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import BetterAuth, Member, Stack, StackConfig
from devstack.truth import stored, truth
from tests.support.stack import auth, better_auth_api, d1_org, settle

pytestmark = pytest.mark.e2e

ONBOARDING_PER_MINUTE = 10  # the default


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("replicas-shared"),
        replicas=2,
        sim_args=["--webhook-retry-base", "0.2", "--webhook-max-attempts", "12"],
        service_env={
            # The per-user limits are the defaults (they are what is under test); the Stripe
            # budget is shared but out of the way.
            "STRIPE_REQUESTS_PER_SECOND": "1000",
        },
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


_serial = iter(range(1, 10**6))


def new_org(better_auth: BetterAuth, *, admins: int = 0) -> tuple[str, list[Member]]:
    """An organization: its owner first, then `admins` members with the admin role."""
    n = next(_serial)
    owner = better_auth.sign_up(f"owner{n}@replicas.test", "owner-password-123", f"Owner {n}")
    org_id = better_auth.create_organization(owner, f"Replicated {n}", f"replicated-{n}")
    people = [owner]
    for k in range(admins):
        admin = better_auth.sign_up(f"admin{n}-{k}@replicas.test", "admin-password-123", "Admin")
        better_auth.add_member(owner, admin, org_id, "admin")
        people.append(admin)
    return org_id, people


async def onboard(service: httpx.AsyncClient, org_id: str, who: Member) -> httpx.Response:
    return await service.post(
        "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(who)
    )


async def test_a_users_limit_holds_whichever_replica_answers(
    service: httpx.AsyncClient, better_auth: BetterAuth
) -> None:
    org_id, (owner,) = new_org(better_auth)

    answers = [await onboard(service, org_id, owner) for _ in range(ONBOARDING_PER_MINUTE + 1)]

    assert [a.status_code for a in answers] == [200] * ONBOARDING_PER_MINUTE + [429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    # Round robin: both replicas counted this user's calls into one limit.
    served = Counter(a.headers["X-Replica"] for a in answers)
    assert sorted(served.values()) == [5, 6]


async def test_fifty_concurrent_onboards_over_both_replicas_make_one_account(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, better_auth: BetterAuth
) -> None:
    # Five admins of one organization, each within their own limit: fifty onboards at once.
    org_id, people = new_org(better_auth, admins=4)

    answers = await asyncio.gather(
        *(onboard(service, org_id, who) for who in people for _ in range(ONBOARDING_PER_MINUTE))
    )

    assert {a.status_code for a in answers} == {200}, {a.text for a in answers}
    assert {a.headers["X-Replica"] for a in answers} == {"replica-0", "replica-1"}
    assert len({a.json()["account_id"] for a in answers}) == 1
    accounts = (await sim.get("/_sim/accounts")).json()["data"]
    made = [a for a in accounts if a["account"]["metadata"].get("organization_id") == org_id]
    assert len(made) == 1


async def test_a_burst_of_refreshes_over_both_replicas_reads_stripe_at_most_twice(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, better_auth: BetterAuth
) -> None:
    org_id, (owner,) = new_org(better_auth)
    account_id = (await onboard(service, org_id, owner)).json()["account_id"]
    await settle(sim)
    url = f"/api/connect/status/{org_id}"
    for _ in range(4):  # each replica has verified the session once (its session cache)
        assert (await service.get(url, headers=auth(owner))).status_code == 200
    read = {"method": "GET", "path": f"/v1/accounts/{account_id}"}
    # Stripe's latency for an account read, long enough that the whole burst (100 requests
    # through HAProxy, on a busy 2-core machine) arrives while the first read is under way:
    # a request that arrives after the second read began waits for a third (README, "Shared
    # reads"), so a burst spread wider than one read's time may cost more than two.
    await sim.post("/_sim/config", json={"latency_ms": 1500})
    try:
        before = (await sim.get("/_sim/requests", params=read)).json()["total"]
        answers = await asyncio.gather(
            *(service.get(f"{url}?refresh=true", headers=auth(owner)) for _ in range(100))
        )
        after = (await sim.get("/_sim/requests", params=read)).json()["total"]
    finally:
        await sim.post("/_sim/config", json={"latency_ms": 0})

    assert {a.status_code for a in answers} == {200}
    assert {a.headers["X-Replica"] for a in answers} == {"replica-0", "replica-1"}
    assert 1 <= after - before <= 2


async def test_redis_stopped_and_started_mid_run(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    better_auth: BetterAuth,
) -> None:
    org_id, (owner,) = new_org(better_auth)
    platform_admin = better_auth.sign_up("root@replicas.test", "admin-password-123", "Root")
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'root@replicas.test'")
    link = (await onboard(service, org_id, owner)).json()
    account_id = link["account_id"]
    await settle(sim)
    funded = await sim.post("/_sim/platform/fund", json={"amount": 100_000, "currency": "usd"})
    assert funded.status_code == 200, funded.text
    transfer = {"organization_id": org_id, "amount": 1_000, "currency": "usd"}
    key = {"Idempotency-Key": f"redis-down-{org_id}"}

    transfers = {"method": "POST", "path": "/v1/transfers"}
    transfers_before = (await sim.get("/_sim/requests", params=transfers)).json()["total"]
    stack.stop_redis()
    try:
        reads = [
            await service.get(f"/api/connect/status/{org_id}{query}", headers=auth(owner))
            for query in ("", "?refresh=true") * 2
        ]
        refused = [
            await onboard(service, org_id, owner),
            await service.post(
                "/api/connect/transfer", json=transfer, headers=auth(platform_admin, **key)
            ),
        ]
        ready = [(await service.get("/ready")).json() for _ in range(2)]
        # Stripe finishes onboarding meanwhile: its webhook must still reach D1.
        completed = await sim.post(
            f"/_sim/accounts/{account_id}/onboarding", json={"outcome": "complete"}
        )
        assert completed.status_code == 200, completed.text
        await settle(sim)
        during = stored(await d1_org(internal, org_id))
        transfers_during = (await sim.get("/_sim/requests", params=transfers)).json()["total"]
    finally:
        stack.start_redis()

    assert [r.status_code for r in reads] == [200] * 4
    for answer in refused:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "limits_unavailable"
    assert [r["checks"] for r in ready] == [{"worker": "ok", "redis": "unavailable"}] * 2
    truth_now = truth((await sim.get(f"/_sim/accounts/{account_id}")).json())
    assert during == truth_now  # the webhook went on without Redis
    assert transfers_during == transfers_before  # Stripe was not asked to move money

    # Redis is back: the same transfer, retried, moves the money once.
    retried = await service.post(
        "/api/connect/transfer", json=transfer, headers=auth(platform_admin, **key)
    )
    assert retried.status_code == 200, retried.text
    again = await service.post(
        "/api/connect/transfer", json=transfer, headers=auth(platform_admin, **key)
    )
    assert again.json()["transfer_id"] == retried.json()["transfer_id"]
    assert (await onboard(service, org_id, owner)).status_code == 200
    deliveries = (await sim.get("/_sim/deliveries")).json()["data"]
    assert all(d["status"] != 500 for d in deliveries)
