"""Faults on every route, across real processes: the Worker (behind devstack's fault proxy)
failing, rate limiting, resetting or closing connections, down (connections refused, as when
it is stopped), hung or slow; and Stripe (the simulator) failing, rate limiting, hung or
losing its answer; at every step of each flow.

Each case: break one step, call the route, expect a stable error (never a 500); heal; call
again the way a client retries (same Idempotency-Key), expect success and no partial state
left behind: one Stripe account per organization, money moved once, D1 equal to Stripe.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from devstack.stack import BetterAuth, Member, Stack
from devstack.truth import stored, truth
from tests.e2e.faults import (
    Faults,
    assert_error,
    fault_stack_config,
    make_platform_admin,
    signed,
)
from tests.support.stack import auth, better_auth_api, d1_org, settle

pytestmark = pytest.mark.e2e

PASSWORD = "faults-password-123"
UNAVAILABLE = (503, "upstream_unavailable")
STRIPE_ERROR = (502, "stripe_error")
OK = (200, None)
WORKER_TIMEOUT = 2.0  # the service's, per attempt (3 attempts)
STRIPE_TIMEOUT = 2.0  # the service's, per attempt (stripe-python: 3 attempts)
_serial = itertools.count(1)


# ----------------------------------------------------------------------------- the stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = fault_stack_config(
        tmp_path_factory.mktemp("faults"),
        WORKER_TIMEOUT_SECONDS=str(WORKER_TIMEOUT),
        STRIPE_TIMEOUT_SECONDS=str(STRIPE_TIMEOUT),
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


@pytest.fixture(scope="module")
def platform_admin(stack: Stack, better_auth: BetterAuth) -> Member:
    return make_platform_admin(stack, better_auth)


@dataclass
class Active:
    """One organization onboarded and active, with money to pay out, shared by the cases."""

    org_id: str
    account_id: str
    owner: Member


@pytest.fixture(scope="module")
def founder(better_auth: BetterAuth) -> Member:
    """Owns every organization the cases create."""
    return better_auth.sign_up("founder@faults.test", PASSWORD, "Founder")


@pytest.fixture(scope="module")
def active(stack: Stack, better_auth: BetterAuth, platform_admin: Member) -> Active:
    owner = better_auth.sign_up("active@faults.test", PASSWORD, "Active Owner")
    org_id = better_auth.create_organization(owner, "Active", "active")
    c = stack.config
    with (
        httpx.Client(base_url=c.service_url, timeout=30) as service,
        httpx.Client(base_url=c.sim_url, timeout=30) as sim,
    ):
        onboarded = service.post(
            "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
        )
        assert onboarded.status_code == 200, onboarded.text
        account_id = onboarded.json()["account_id"]
        sim.post(f"/_sim/accounts/{account_id}/onboarding", json={"outcome": "complete"})
        assert sim.post("/_sim/webhooks/flush", params={"timeout": "20"}).status_code == 200
        sim.post("/_sim/platform/fund", json={"amount": 100_000_000, "currency": "usd"})
        seeded = service.post(
            "/api/connect/transfer",
            json={"organization_id": org_id, "amount": 1_000_000, "currency": "usd"},
            headers=auth(platform_admin, **{"Idempotency-Key": "seed"}),
        )
        assert seeded.status_code == 200, seeded.text
    return Active(org_id, account_id, owner)


@pytest.fixture
async def faults(stack: Stack, sim: httpx.AsyncClient) -> AsyncIterator[Faults]:
    control = Faults(stack, sim)
    await control.heal()
    yield control
    await control.heal()
    await control.aclose()


# ----------------------------------------------------------------------------- the flows


@dataclass
class Target:
    """What one case acts on: an organization, its account, fresh sessions, a retry key."""

    org_id: str
    account_id: str | None
    owner: Member
    admin: Member
    key: str


@dataclass
class World:
    stack: Stack
    service: httpx.AsyncClient
    sim: httpx.AsyncClient
    internal: httpx.AsyncClient
    better_auth: BetterAuth
    founder: Member
    admin: Member
    active: Active

    async def new_org(self, *, onboard: bool) -> Target:
        """An organization of its own; with `onboard`, its account exists (pending)."""
        n = next(_serial)
        org_id = self.better_auth.create_organization(self.founder, f"Case {n}", f"case-{n}")
        target = Target(org_id, None, self.founder, self.admin, f"case-{n}")
        if onboard:
            target.account_id = (await call(self, "onboard", target)).json()["account_id"]
        return target

    def shared(self) -> Target:
        """The active organization, with sessions no cache has seen yet."""
        n = next(_serial)
        owner = self.better_auth.sign_in(self.active.owner.email, PASSWORD)
        admin = self.better_auth.sign_in(self.admin.email, self.admin.password)
        return Target(self.active.org_id, self.active.account_id, owner, admin, f"case-{n}")

    async def balance(self, account_id: str) -> int:
        entry = (await self.sim.get(f"/_sim/accounts/{account_id}")).json()
        available: int = entry["balance"]["available"].get("usd", 0)
        return available

    async def accounts_of(self, org_id: str) -> list[str]:
        """Every Stripe account the simulator holds for the organization."""
        entries = (await self.sim.get("/_sim/accounts")).json()["data"]
        return [
            e["id"]
            for e in entries
            if e["account"].get("metadata", {}).get("organization_id") == org_id
        ]


@pytest.fixture
def world(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    better_auth: BetterAuth,
    founder: Member,
    platform_admin: Member,
    active: Active,
) -> World:
    return World(stack, service, sim, internal, better_auth, founder, platform_admin, active)


Route = Callable[[World, Target], Awaitable[httpx.Response]]


async def _webhook(w: World, t: Target) -> httpx.Response:
    events = await w.sim.get(
        "/_sim/events", params={"account": t.account_id, "type": "account.updated", "limit": "1"}
    )
    event = events.json()["data"][-1]
    body = orjson.dumps(event)
    return await w.service.post(
        "/api/connect/webhook", content=body, headers=signed(body, w.stack.config.webhook_secret)
    )


ROUTES: dict[str, Route] = {
    "onboard": lambda w, t: w.service.post(
        "/api/connect/onboard", json={"organization_id": t.org_id}, headers=auth(t.owner)
    ),
    "status": lambda w, t: w.service.get(f"/api/connect/status/{t.org_id}", headers=auth(t.owner)),
    "refresh": lambda w, t: w.service.get(
        f"/api/connect/status/{t.org_id}", params={"refresh": "true"}, headers=auth(t.owner)
    ),
    "balance": lambda w, t: w.service.get(
        f"/api/connect/balance/{t.org_id}", headers=auth(t.owner)
    ),
    "transfer": lambda w, t: w.service.post(
        "/api/connect/transfer",
        json={"organization_id": t.org_id, "amount": 1_000, "currency": "usd"},
        headers=auth(t.admin, **{"Idempotency-Key": t.key}),
    ),
    "payout": lambda w, t: w.service.post(
        "/api/connect/payout",
        json={"organization_id": t.org_id, "currency": "usd", "amount": 100},
        headers=auth(t.owner, **{"Idempotency-Key": t.key}),
    ),
    "payout_schedule": lambda w, t: w.service.put(
        "/api/connect/payout-schedule",
        json={"organization_id": t.org_id, "interval": "weekly", "weekly_anchor": "friday"},
        headers=auth(t.owner),
    ),
    "dashboard_link": lambda w, t: w.service.post(
        "/api/connect/dashboard-link", json={"organization_id": t.org_id}, headers=auth(t.owner)
    ),
    "platform_fee": lambda w, t: w.service.put(
        f"/api/connect/platform-fee/{t.org_id}",
        json={"platform_fee_percent": 12.5},
        headers=auth(t.admin),
    ),
    "webhook": _webhook,
}
# Routes that act on an organization of their own (their state is what the case checks).
# Routes whose cases need an organization of their own: onboarding makes an account, a sync
# needs D1 behind Stripe, and an automatic payout schedule would make Stripe refuse the
# shared organization's payouts (it accepts payouts through the API on a manual one only).
OWN_ORG = {"onboard": False, "refresh": True, "webhook": True, "payout_schedule": True}
SYNCS = {"refresh", "webhook"}


async def call(w: World, route: str, t: Target) -> httpx.Response:
    return await ROUTES[route](w, t)


async def prepare(w: World, route: str) -> Target:
    if route in OWN_ORG:
        target = await w.new_org(onboard=OWN_ORG[route])
        if route in SYNCS:
            assert target.account_id is not None
            # Something for the call to sync: Stripe moves on, and D1 is left one step behind
            # (the simulator's own events are let in first, then D1 is set back), since a
            # sync that finds D1 current writes nothing and would never reach the write.
            changed = await w.sim.post(
                f"/_sim/accounts/{target.account_id}/onboarding", json={"outcome": "due"}
            )
            assert changed.status_code == 200, changed.text
            await settle(w.sim)
            behind = await w.internal.post(
                "/update-organization",
                json={
                    "organization_id": target.org_id,
                    "updates": {
                        "stripe_connect_status": "pending",
                        "onboarding_step": "details_submission",
                    },
                },
            )
            assert behind.status_code == 200, behind.text
        # A session no cache has seen with this organization yet.
        target.owner = w.better_auth.sign_in(w.founder.email, PASSWORD)
        return target
    return w.shared()


@dataclass
class Before:
    balance: int | None = None


async def observe(w: World, route: str, t: Target) -> Before:
    if route in ("transfer", "payout") and t.account_id is not None:
        return Before(balance=await w.balance(t.account_id))
    return Before()


async def made_with_key(w: World, t: Target, kind: str) -> list[dict[str, Any]]:
    """The transfers (or the account's payouts) Stripe holds made with the case's key."""
    headers = {"Authorization": f"Bearer {w.stack.config.stripe_secret_key}"}
    if kind == "payouts":
        headers["Stripe-Account"] = str(t.account_id)
    page = await w.sim.get(f"/v1/{kind}", params={"limit": "100"}, headers=headers)
    made: list[dict[str, Any]] = [
        item for item in page.json()["data"] if item["metadata"].get("idempotency_key") == t.key
    ]
    return made


async def check_recovered(
    w: World,
    route: str,
    t: Target,
    before: Before,
    first: httpx.Response,
    retry: httpx.Response,
    *,
    alone: bool = True,
) -> None:
    """What the retry after healing must show: success and nothing half done.

    `alone`: no other case moved this account's money meanwhile, so its balance tells too.
    """
    assert retry.status_code == 200, retry.text
    if first.status_code == 200 and route in ("transfer", "payout"):
        assert first.json() == retry.json()  # the fault was absorbed; the retry replays it
    if route == "onboard":
        accounts = await w.accounts_of(t.org_id)
        assert accounts == [retry.json()["account_id"]], accounts
        assert (await d1_org(w.internal, t.org_id))["stripe_connect_account_id"] == accounts[0]
    elif route in ("refresh", "webhook"):
        assert t.account_id is not None
        entry = (await w.sim.get(f"/_sim/accounts/{t.account_id}")).json()
        assert stored(await d1_org(w.internal, t.org_id)) == truth(entry)
    elif route == "transfer":
        made = await made_with_key(w, t, "transfers")
        assert [m["id"] for m in made] == [retry.json()["transfer_id"]]  # once, not twice
        if alone:
            assert t.account_id is not None
            assert before.balance is not None
            moved = await w.balance(t.account_id) - before.balance
            assert moved == retry.json()["transfer_amount"]
    elif route == "payout":
        made = await made_with_key(w, t, "payouts")
        assert [m["id"] for m in made] == [retry.json()["payout_id"]]
        if alone:
            assert t.account_id is not None
            assert before.balance is not None
            assert before.balance - await w.balance(t.account_id) == 100
    elif route == "payout_schedule":
        entry = (await w.sim.get(f"/_sim/accounts/{t.account_id}")).json()
        assert entry["account"]["settings"]["payouts"]["schedule"]["interval"] == "weekly"
    elif route == "platform_fee":
        assert (await d1_org(w.internal, t.org_id))["platform_fee_percent"] == 12.5


# ----------------------------------------------------------------------------- the cases

WORKER_PATHS = {
    "verify": "/api/internal/verify-user-context",
    "read_org": "/api/internal/organization/",  # what a cached session reads instead
    "link": "/api/internal/create-connect-account",
    "update": "/api/internal/update-organization",
    "by_account": "/api/internal/organization-by-account",
    "claim": "/api/internal/idempotency-keys/claim",  # the money's Idempotency-Key, recorded
    "complete": "/api/internal/idempotency-keys/complete",
}
WORKER_FAULTS: dict[str, dict[str, Any]] = {
    "500": {"fault": "status", "status": 500},
    "429": {"fault": "status", "status": 429},
    "reset": {"fault": "reset"},
    "close": {"fault": "close"},
    "500_after": {"fault": "status", "status": 500, "when": "after"},
}
STRIPE_STEPS = {
    "create": ("POST", "/v1/accounts"),
    "link": ("POST", "/v1/account_links"),
    "retrieve": ("GET", "/v1/accounts/{account}"),
    "balance": ("GET", "/v1/balance"),
    "transfer": ("POST", "/v1/transfers"),
    "payout": ("POST", "/v1/payouts"),
    "schedule": ("POST", "/v1/accounts/{account}"),
    "login_link": ("POST", "/v1/accounts/{account}/login_links"),
}
# fault → (rule, the route's answer)
STRIPE_FAULTS: dict[str, tuple[dict[str, Any], tuple[int, str | None]]] = {
    "500": ({"status": 500}, STRIPE_ERROR),  # stripe-python retries twice, then gives up
    "429": ({"status": 429}, UNAVAILABLE),
    # The call ran at Stripe, the answer was lost: a rate-limit answer is not retried by
    # stripe-python, so the caller sees it; a 500 is, and the retry's key replays the result.
    "429_after": ({"status": 429, "when": "after", "count": 1}, UNAVAILABLE),
    "500_after": ({"status": 500, "when": "after", "count": 1}, OK),
}

FLOWS: dict[str, tuple[list[str], list[str]]] = {  # route → (Worker steps, Stripe steps)
    "onboard": (["verify", "link"], ["create", "link"]),
    "status": (["verify", "read_org"], []),
    "refresh": (["verify", "update"], ["retrieve"]),
    "balance": (["verify"], ["balance"]),
    "transfer": (["verify", "claim", "complete"], ["transfer"]),  # money: always verified
    "payout": (["verify", "claim", "complete"], ["balance", "payout"]),
    "payout_schedule": (["verify"], ["schedule"]),
    "dashboard_link": (["verify"], ["retrieve", "login_link"]),
    "platform_fee": (["verify", "update"], []),
    "webhook": (["by_account", "update"], ["retrieve"]),
}
CREATES = {"create", "transfer", "payout"}


def _worker_cases() -> Iterator[Any]:
    """A 5xx and a reset at every step of every flow (and a lost answer after every write);
    every fault at each kind of step once."""
    seen: set[str] = set()
    for route, (steps, _) in FLOWS.items():
        for step in steps:
            kinds = ["500", "reset"] if step in seen else list(WORKER_FAULTS)
            if step in ("link", "update", "claim", "complete") and "500_after" not in kinds:
                kinds.append("500_after")
            seen.add(step)
            for fault in kinds:
                yield pytest.param(route, step, fault, id=f"{route}-{step}-{fault}")


def _stripe_cases() -> Iterator[Any]:
    for route, (_, steps) in FLOWS.items():
        for step in steps:
            for fault in STRIPE_FAULTS:
                if fault.endswith("_after") and step not in CREATES:
                    continue
                yield pytest.param(route, step, fault, id=f"{route}-{step}-{fault}")


async def _cache_session(w: World, route: str, t: Target) -> None:
    """Call once, so that the next call reads the organization instead of the session."""
    warm = await w.service.get(f"/api/connect/status/{t.org_id}", headers=auth(t.owner))
    assert warm.status_code == 200, warm.text


@pytest.mark.parametrize(("route", "step", "fault"), list(_worker_cases()))
async def test_worker_failing_at_each_step(
    world: World, faults: Faults, route: str, step: str, fault: str
) -> None:
    target = await prepare(world, route)
    if step == "read_org":
        await _cache_session(world, route, target)
    before = await observe(world, route, target)
    await faults.worker_rules({"path_prefix": WORKER_PATHS[step], **WORKER_FAULTS[fault]})

    first = await call(world, route, target)
    assert_error(first, *UNAVAILABLE)

    await faults.heal()
    retry = await call(world, route, target)
    await check_recovered(world, route, target, before, first, retry)


@pytest.mark.parametrize(("route", "step", "fault"), list(_stripe_cases()))
async def test_stripe_failing_at_each_step(
    world: World, faults: Faults, route: str, step: str, fault: str
) -> None:
    target = await prepare(world, route)
    before = await observe(world, route, target)
    method, path = STRIPE_STEPS[step]
    rule, expected = STRIPE_FAULTS[fault]
    path = path.format(account=target.account_id)
    await faults.stripe(faults=[{"path_prefix": path, "method": method, **rule}])

    first = await call(world, route, target)
    if expected == OK:
        assert first.status_code == 200, first.text
    else:
        assert_error(first, *expected)

    await faults.heal()
    retry = await call(world, route, target)
    await check_recovered(world, route, target, before, first, retry)


# What a restricted key without a permission meets (Stripe's 403, no `account_invalid`): a 502
# with an error log, nothing written, and never "deauthorized"; the retry after the key has
# its permission back goes through.
DENIED = {
    "refresh": "GET /v1/accounts/*",
    "webhook": "GET /v1/accounts/*",
    "balance": "GET /v1/balance",
    "transfer": "POST /v1/transfers",
    "payout": "POST /v1/payouts",
    "onboard": "POST /v1/account_links",
}


@pytest.mark.parametrize("route", list(DENIED))
async def test_a_restricted_key_without_a_permission(
    world: World, faults: Faults, route: str
) -> None:
    target = await prepare(world, route)
    before = await observe(world, route, target)
    d1_before = await d1_org(world.internal, target.org_id)
    await faults.deny(DENIED[route])

    first = await call(world, route, target)

    assert_error(first, *STRIPE_ERROR)
    d1_after = await d1_org(world.internal, target.org_id)
    assert d1_after["onboarding_step"] != "deauthorized"
    if route in ("refresh", "webhook"):
        assert stored(d1_after) == stored(d1_before)  # nothing written
    await faults.heal()
    retry = await call(world, route, target)
    await check_recovered(world, route, target, before, first, retry)


@pytest.mark.parametrize("route", list(FLOWS))
async def test_worker_refusing_connections(world: World, faults: Faults, route: str) -> None:
    target = await prepare(world, route)
    before = await observe(world, route, target)
    await faults.worker_down()

    first = await call(world, route, target)
    assert_error(first, *UNAVAILABLE)

    await faults.worker_down(False)
    retry = await call(world, route, target)
    await check_recovered(world, route, target, before, first, retry)


# ----------------------------------------------------------------------------- slow and stopped


async def _storm(
    world: World, routes: list[str], targets: dict[str, Target]
) -> tuple[dict[str, httpx.Response], float]:
    started = time.monotonic()
    answers = await asyncio.gather(*(call(world, route, targets[route]) for route in routes))
    return dict(zip(routes, answers, strict=True)), time.monotonic() - started


@pytest.mark.parametrize(
    ("held", "routes"),
    [
        pytest.param(["verify", "by_account"], list(FLOWS), id="first-step"),
        pytest.param(
            ["link", "update"], ["onboard", "refresh", "platform_fee", "webhook"], id="writes"
        ),
    ],
)
async def test_a_worker_that_never_answers_is_a_503_not_a_hang(
    world: World, faults: Faults, held: list[str], routes: list[str]
) -> None:
    targets = {route: await prepare(world, route) for route in routes}
    befores = {route: await observe(world, route, targets[route]) for route in routes}
    await faults.worker_rules(
        *({"path_prefix": WORKER_PATHS[step], "fault": "timeout", "hold_s": 60} for step in held)
    )

    answers, took = await _storm(world, routes, targets)
    for answer in answers.values():
        assert_error(answer, *UNAVAILABLE)
    assert took < 3 * WORKER_TIMEOUT + 5, took  # the Worker client's timeouts, not the hold

    await faults.heal()
    for route in routes:
        retry = await call(world, route, targets[route])
        await check_recovered(
            world, route, targets[route], befores[route], answers[route], retry, alone=False
        )


async def test_a_stripe_that_never_answers_is_a_503_not_a_hang(
    world: World, faults: Faults
) -> None:
    """Every answer stalls past the timeout. A read fails (503); a create retried by
    stripe-python with the same key replays the first, which ran: 200, and made once."""
    routes = [route for route, (_, steps) in FLOWS.items() if steps]
    targets = {route: await prepare(world, route) for route in routes}
    befores = {route: await observe(world, route, targets[route]) for route in routes}
    await faults.stripe(timeout_rate=1.0, timeout_seconds=STRIPE_TIMEOUT + 3)

    answers, took = await _storm(world, routes, targets)
    for route, answer in answers.items():
        reads = any(STRIPE_STEPS[step][0] == "GET" for step in FLOWS[route][1])
        if reads:
            assert_error(answer, *UNAVAILABLE)
        else:
            assert answer.status_code == 200, (route, answer.text)
    assert took < 3 * STRIPE_TIMEOUT + 6, took

    await faults.heal()
    for route in routes:
        retry = await call(world, route, targets[route])
        await check_recovered(
            world, route, targets[route], befores[route], answers[route], retry, alone=False
        )


async def test_a_slow_worker_below_the_timeout_only_slows_every_route(
    world: World, faults: Faults
) -> None:
    routes = list(FLOWS)
    targets = {route: await prepare(world, route) for route in routes}
    befores = {route: await observe(world, route, targets[route]) for route in routes}
    await faults.worker_rules({"fault": "latency", "latency_ms": 400, "jitter_ms": 200}, seed=5)

    answers, took = await _storm(world, routes, targets)
    assert took >= 0.4
    assert {route: a.status_code for route, a in answers.items()} == dict.fromkeys(routes, 200)

    await faults.heal()
    for route in routes:
        retry = await call(world, route, targets[route])
        await check_recovered(
            world, route, targets[route], befores[route], answers[route], retry, alone=False
        )


async def test_another_admin_onboarding_after_a_lost_link_finds_the_first_account(
    world: World, faults: Faults
) -> None:
    target = await world.new_org(onboard=False)
    colleague = world.better_auth.sign_up(f"admin-{target.key}@faults.test", PASSWORD, "Admin")
    world.better_auth.add_member(world.founder, colleague, target.org_id, "admin")
    await faults.worker_rules({"path_prefix": WORKER_PATHS["link"], "fault": "status"})
    assert_error(await call(world, "onboard", target), *UNAVAILABLE)
    await faults.heal()

    retry = await world.service.post(
        "/api/connect/onboard", json={"organization_id": target.org_id}, headers=auth(colleague)
    )

    assert retry.status_code == 200, retry.text
    assert await world.accounts_of(target.org_id) == [retry.json()["account_id"]]


async def test_every_refused_delivery_was_delivered_again(sim: httpx.AsyncClient) -> None:
    """Last: all the webhooks the cases above refused have since been acknowledged."""
    await settle(sim, timeout=60.0)
    counts = (await sim.get("/_sim/deliveries")).json()["counts"]
    assert counts["pending"] == 0
    assert counts["abandoned"] == 0
