"""`python -m bench.run [--quick]`: throughput and latency of the service on the local stack.

Starts the Worker (wrangler dev, local D1), the Stripe simulator and the service with injected
latency at the simulator and the Worker, seeds an owner with onboarded, active organizations,
then drives each scenario at several concurrencies with a bounded async load generator and
reports, per point, the ratio to the ideal the injected latency allows and the service's own
overhead. `--workers N` runs the service as N uvicorn worker processes (WEB_CONCURRENCY),
`--replicas N` as N replicas behind HAProxy sharing Redis; the CPU of every process counts.
`--quick` is a smoke run for CI (tiny counts, under a minute): it exits non-zero if any
request failed. A full run writes its table into docs/benchmarks.md. Issue 21's money paths
(`transfer`, `transfer replay`, `history`: `MONEY`) run only when named in `--scenarios`
(`seed_money` makes the stack ready for them); of them, the light upstreams serve the history.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import httpx
import orjson
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from bench import light, wrk
from bench.load import Check, Pool, Request, RequestFactory, Result
from bench.procfs import group_cpu_seconds, group_peak_rss_mib, pid_of
from bench.report import fmt, machine_info, machine_speed_ms, publish
from devstack.procs import Process
from devstack.stack import ROOT, BetterAuth, Stack, StackConfig
from devstack.truth import signature

PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway local account
MARK_START = "<!-- bench:results:start -->"
MARK_END = "<!-- bench:results:end -->"
METRICS = "METRICS_TOKEN"
"""The service's metrics are on (a token for this run) so each point counts its upstream calls."""
DEFAULT_ORGS = 256
"""Organizations a full run spreads its load over: at 200 concurrent, each request does its own
Worker and Stripe reads (with 10, about twenty share each read: `SHARED`)."""
SEED_TRANSFERS = 3
"""Transfers `seed_money` makes to each organization (the history's items; the replay's key is
the first's)."""
SEED_REVERSED = 100
"""Taken back of each organization's first seeded transfer, so each history page holds a
transfer with a reversal embedded."""
TRANSFER_AMOUNT = 1000
"""Gross of every transfer (10.00 USD: 9.00 sent at the default 10 % fee)."""
CLIENTS = {"raw": "raw HTTP/1.1 on asyncio streams", "httpx": "httpx.AsyncClient"}


@dataclass(frozen=True)
class Scenario:
    """A route under load, and the upstream calls one request makes: steps in series, the
    calls of one step at once (`("W", "S")` is the Worker and Stripe asked together)."""

    name: str
    steps: tuple[tuple[Literal["W", "S"], ...], ...]
    describe: str
    orgs: int = 0
    """Spread over this many organizations (0: every seeded one)."""
    route: str = ""
    """The requests of this scenario (its name when empty)."""
    via_service: bool = True
    """False for the references that call an upstream straight (no calls of the service's)."""
    money: bool = False
    """Moves or reads platform money: on the stack, needs `seed_money` (a platform admin, the
    platform funded at the simulator, transfers to every organization)."""
    light: bool = True
    """Whether `bench.light`'s stand-ins serve it (`--upstreams light`)."""

    @property
    def requests_of(self) -> str:
        return self.route or self.name

    def calls(self, hop: Literal["W", "S"]) -> int:
        """The calls to the Worker (W) or Stripe (S) one request makes on its own."""
        return sum(step.count(hop) for step in self.steps)

    def ideal_ms(self, worker_ms: float, sim_ms: float) -> float:
        """The request's latency if the service took no time of its own."""
        ms = {"W": worker_ms, "S": sim_ms}
        return sum(max(ms[hop] for hop in step) for step in self.steps)

    @property
    def upstream(self) -> str:
        """`W+S` in series, `W|S` at once; `-` for none."""
        return "+".join("|".join(step) for step in self.steps) or "-"


SCENARIOS = (
    Scenario("status", (("W",),), "GET /status/{org}: session check or D1 read"),
    Scenario(
        "refresh",
        (("W",), ("S",)),
        "GET /status/{org}?refresh=true: D1, Stripe (D1 is current: no write)",
    ),
    Scenario("onboard", (("W",), ("S",)), "POST /onboard (account exists): D1, account link"),
    Scenario(
        "webhook",
        (("W", "S"),),
        "POST /webhook account.updated: D1 and Stripe at once (D1 is current: no write)",
    ),
)
SHARED_ORGS = 10
SHARED = (
    Scenario(
        "status shared",
        (("W",),),
        f"status over {SHARED_ORGS} organizations only: concurrent reads of one organization "
        "share one Worker read (`coalesce.py`)",
        orgs=SHARED_ORGS,
        route="status",
    ),
    Scenario(
        "refresh shared",
        (("W",), ("S",)),
        f"refresh over {SHARED_ORGS} organizations only: concurrent reads share the Worker's and "
        "Stripe's",
        orgs=SHARED_ORGS,
        route="refresh",
    ),
)
"""The figures of earlier rounds' default (10 organizations): requests share reads, so these
measure coalescing, not what a request costs. Named rows of their own, never the headline."""
REFERENCES = (
    Scenario(
        "sim alone",
        (("S",),),
        "GET /v1/accounts/{id} straight at the simulator",
        via_service=False,
    ),
    Scenario(
        "worker alone",
        (("W",),),
        "GET /api/internal/organization/{id} straight at the Worker",
        via_service=False,
    ),
    Scenario("health", (), "GET /health: the service with no upstream call"),
)
MONEY = (
    Scenario(
        "transfer",
        (("W",), ("W",), ("W",), ("S",), ("W",)),
        "POST /transfer, a new Idempotency-Key each: session check, the organization's open "
        "claims (none: nothing to settle), claim the key, Stripe transfer, complete the key",
        money=True,
        light=False,
    ),
    Scenario(
        "transfer replay",
        (("W",), ("W",), ("W",)),
        "POST /transfer with a key already used for the same request: session check, open "
        "claims, the key's record (completed: its transfer is the answer, Stripe is not asked)",
        money=True,
        light=False,
    ),
    Scenario(
        "history",
        (("W",), ("S",)),
        f"GET /transfers/{{org}} (the owner): session check or D1 read, Stripe's transfers to "
        f"the account ({SEED_TRANSFERS} each, the first partly reversed)",
        money=True,
    ),
)
"""Issue 21's money paths: opt-in (`--scenarios`), never in the default run nor in `--quick`."""


@dataclass
class Point:
    """One scenario at one concurrency."""

    scenario: str
    upstream: str
    concurrency: int
    requests: int
    failed: int
    throughput: float
    ideal_throughput: float
    p50_ms: float
    p99_ms: float
    ideal_ms: float
    cpu_ms: dict[str, float]
    failure_samples: list[str]
    orgs: int = 0
    worker_calls: float = float("nan")
    """Worker calls per request the service made (its metrics), NaN when not counted."""
    stripe_calls: float = float("nan")
    own_worker_calls: int = 0
    """What one request calls on its own, none shared."""
    own_stripe_calls: int = 0

    @property
    def shared(self) -> bool:
        """Whether requests shared reads: fewer upstream calls than each makes on its own."""
        return self.worker_calls < 0.98 * self.own_worker_calls or (
            self.stripe_calls < 0.98 * self.own_stripe_calls
        )

    @property
    def ratio(self) -> float:
        return self.throughput / self.ideal_throughput if self.ideal_throughput else float("nan")

    @property
    def overhead_ms(self) -> float:
        return self.p50_ms - self.ideal_ms


# ----------------------------------------------------------------------------- processes


def _start_timed(process: Process, base_url: str) -> float:
    """Start one service process; seconds from process start to `/health` answering 200."""
    url = f"{base_url}/health"
    started = time.perf_counter()
    process.start()
    with httpx.Client(timeout=1.0) as http:
        while time.perf_counter() - started < 60:
            try:
                if http.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if not process.running:
                break
            time.sleep(0.005)
    raise RuntimeError(f"{process.name} did not start:\n{process.tail()}")


def start_service(stack: Stack, *, starts: int) -> list[float]:
    """Start the service as the stack is configured, and its start-up times: `starts` starts
    of the one process (each after stopping the last), or one start of each replica, then
    Redis and the balancer around them. Returns once every process is ready."""
    c = stack.config
    if not c.replicas:
        startup = []
        for attempt in range(starts):
            if attempt:
                stack.service.stop()
            startup.append(_start_timed(stack.service, c.service_url))
        stack.service.wait_http(f"{c.service_url}/ready")
        return startup
    stack.start_redis()
    startup = [
        _start_timed(replica, stack.replica_url(index))
        for index, replica in enumerate(stack.replicas)
    ]
    for index, replica in enumerate(stack.replicas):
        replica.wait_http(f"{stack.replica_url(index)}/ready")
    stack.start_balancer()
    return startup


# ----------------------------------------------------------------------------- seeding


@dataclass
class Seed:
    """An owner and their onboarded, active organizations."""

    token: str
    orgs: list[str]
    accounts: list[str]
    money: MoneySeed | None = None


@dataclass(frozen=True)
class MoneySeed:
    """What the money scenarios need besides the organizations (`seed_money`)."""

    admin_token: str
    """A platform admin's session (only platform admins move platform money)."""
    run: str
    """This run's own prefix of every Idempotency-Key the benchmark sends."""

    def seeded_key(self, org: int, transfer: int) -> str:
        """The Idempotency-Key of the `transfer`-th seeded transfer to the `org`-th organization."""
        return f"bench-{self.run}-seed-{org}-{transfer}"

    def new_key(self, n: int) -> str:
        """The `n`-th measured transfer's key: each request numbered `n` is a new transfer."""
        return f"bench-{self.run}-{n}"


def light_upstreams(stack: Stack, *, organizations: int, worker_ms: float, sim_ms: float) -> Seed:
    """Put `bench.light`'s stand-ins where the stack's Worker and simulator would listen."""
    c = stack.config
    logs = c.state_dir / "logs"
    common = [sys.executable, "-m", "bench.light"]
    stack.worker = Process(
        "worker-light",
        [*common, "worker", "--port", str(c.worker_port), "--latency-ms", str(worker_ms),
         "--orgs", str(organizations), "--api-key", c.internal_api_key],
        log_path=logs / "worker-light.log",
        cwd=ROOT,
    )  # fmt: skip
    stack.sim = Process(
        "stripe-light",
        [*common, "stripe", "--port", str(c.sim_port), "--latency-ms", str(sim_ms)],
        log_path=logs / "stripe-light.log",
        cwd=ROOT,
    )
    stack.worker.start()
    stack.sim.start()
    stack.worker.wait_http(
        f"{c.worker_url}/api/internal/health", headers={"X-Internal-Api-Key": c.internal_api_key}
    )
    stack.sim.wait_http(f"{c.sim_url}/v1/accounts/{light.account_id(0)}")
    return Seed(
        light.TOKEN,
        [light.org_id(n) for n in range(organizations)],
        [light.account_id(n) for n in range(organizations)],
    )


def seed_organizations(stack: Stack, organizations: int, *, name: str = "bench") -> Seed:
    """Sign up `owner@{name}.example.com` with `organizations` onboarded, active ones."""
    c = stack.config
    auth = BetterAuth(c.worker_url)
    try:
        owner = auth.sign_up(f"owner@{name}.example.com", PASSWORD, f"{name.title()} Owner")
        orgs = [
            auth.create_organization(owner, f"{name.title()} {i}", f"{name}-{i}")
            for i in range(organizations)
        ]
    finally:
        auth.close()
    headers = {"Authorization": f"Bearer {owner.token}"}
    accounts = []
    with httpx.Client(timeout=30.0) as http:
        for org in orgs:
            answer = http.post(
                f"{c.service_url}/api/connect/onboard",
                json={"organization_id": org},
                headers=headers,
            )
            answer.raise_for_status()
            account = answer.json()["account_id"]
            accounts.append(account)
            done = http.post(
                f"{c.sim_url}/_sim/accounts/{account}/onboarding", json={"outcome": "complete"}
            )
            done.raise_for_status()
            status = http.get(
                f"{c.service_url}/api/connect/status/{org}?refresh=true", headers=headers
            )
            status.raise_for_status()
            if status.json()["status"] != "active":
                raise RuntimeError(f"seeding: {org} is not active: {status.text}")
        # The simulator delivers its own account.updated events; let them land first.
        http.post(f"{c.sim_url}/_sim/webhooks/flush?timeout=20")
    return Seed(owner.token, orgs, accounts)


def seed_money(stack: Stack, seed: Seed, *, concurrency: int = 16) -> Seed:
    """Make ready for the money scenarios: a platform admin (`admin@bench.example.com`, made one
    in D1 as an operator would), the platform funded at the simulator, then `SEED_TRANSFERS`
    transfers to each organization through the service, the first of each partly reversed
    (`SEED_REVERSED`). The reversals must be Stripe's (the account's balance covers them): a
    claim recorded instead would be settled by the next transfers, and the transfer scenario
    would measure settlements."""
    c = stack.config
    auth = BetterAuth(c.worker_url)
    try:
        admin = auth.sign_up("admin@bench.example.com", PASSWORD, "Bench Admin")
    finally:
        auth.close()
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'admin@bench.example.com'")
    money = MoneySeed(admin.token, secrets.token_hex(4))
    # Every measured transfer included, far below what this puts in.
    funded = httpx.post(
        f"{c.sim_url}/_sim/platform/fund", json={"amount": 10_000_000_000, "currency": "usd"}
    )
    funded.raise_for_status()

    async def seed_org(http: httpx.AsyncClient, gate: asyncio.Semaphore, index: int) -> None:
        org = seed.orgs[index]
        async with gate:
            for number in range(SEED_TRANSFERS):
                made = await http.post(
                    "/api/connect/transfer",
                    json={"organization_id": org, "amount": TRANSFER_AMOUNT, "currency": "usd"},
                    headers={"Idempotency-Key": money.seeded_key(index, number)},
                )
                if made.status_code != 200 or made.json()["transfer_id"] is None:
                    raise RuntimeError(f"seeding: a transfer to {org}: {made.text}")
                if number:
                    continue
                reversed_ = await http.post(
                    f"/api/connect/transfers/{made.json()['transfer_id']}/reversals",
                    json={"amount": SEED_REVERSED},
                    headers={"Idempotency-Key": f"bench-{money.run}-reversal-{index}"},
                )
                if reversed_.status_code != 200 or reversed_.json()["reversal_id"] is None:
                    raise RuntimeError(f"seeding: a reversal for {org}: {reversed_.text}")

    async def seed_all() -> None:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(
            base_url=c.service_url,
            timeout=60.0,
            headers={"Authorization": f"Bearer {admin.token}"},
        ) as http:
            async with asyncio.TaskGroup() as group:
                for index in range(len(seed.orgs)):
                    group.create_task(seed_org(http, gate, index))
            # The simulator's transfer and reversal events: let them land first.
            await http.post(f"{c.sim_url}/_sim/webhooks/flush?timeout=60")

    asyncio.run(seed_all())
    return dataclasses.replace(seed, money=money)


# ----------------------------------------------------------------------------- requests


def _factories(stack: Stack, seed: Seed) -> dict[str, tuple[str, RequestFactory, Check]]:
    """Per scenario: the base URL, the request builder and the answer check."""
    c = stack.config
    auth = {"Authorization": f"Bearer {seed.token}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    orgs, accounts, k = seed.orgs, seed.accounts, len(seed.orgs)

    def ok(needle: bytes) -> Check:
        return lambda status, body: status == 200 and needle in body

    def webhook(n: int) -> Request:
        account = accounts[n % k]
        body = orjson.dumps(
            {
                "id": f"evt_bench_{n:08d}",
                "object": "event",
                "type": "account.updated",
                "livemode": False,
                "created": int(time.time()),
                "account": account,
                "data": {"object": {"id": account, "object": "account"}},
            }
        )
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": signature(body, c.webhook_secret),
        }
        return Request("POST", "/api/connect/webhook", headers, body)

    return {
        "status": (
            c.service_url,
            lambda n: Request("GET", f"/api/connect/status/{orgs[n % k]}", auth),
            ok(b'"status":"active"'),
        ),
        "refresh": (
            c.service_url,
            lambda n: Request("GET", f"/api/connect/status/{orgs[n % k]}?refresh=true", auth),
            ok(b'"status":"active"'),
        ),
        "onboard": (
            c.service_url,
            lambda n: Request(
                "POST",
                "/api/connect/onboard",
                json_auth,
                orjson.dumps({"organization_id": orgs[n % k]}),
            ),
            ok(b'"url"'),
        ),
        "webhook": (c.service_url, webhook, ok(b'"synced"')),
        "sim alone": (
            c.sim_url,
            lambda n: Request(
                "GET",
                f"/v1/accounts/{accounts[n % k]}",
                {"Authorization": f"Bearer {c.stripe_secret_key}"},
            ),
            ok(b'"charges_enabled"'),
        ),
        "worker alone": (
            c.worker_url,
            lambda n: Request(
                "GET",
                f"/api/internal/organization/{orgs[n % k]}",
                {"X-Internal-Api-Key": c.internal_api_key},
            ),
            ok(b'"organization"'),
        ),
        "health": (c.service_url, lambda n: Request("GET", "/health"), ok(b'"ok"')),
        "history": (
            c.service_url,
            lambda n: Request("GET", f"/api/connect/transfers/{orgs[n % k]}", auth),
            lambda status, body: status == 200 and b'"reversals":[{' in body,
        ),
        **(_money_factories(c.service_url, seed) if seed.money is not None else {}),
    }


def _money_factories(service_url: str, seed: Seed) -> dict[str, tuple[str, RequestFactory, Check]]:
    """The transfers' requests (`seed_money` made their organizations ready)."""
    assert seed.money is not None
    money = seed.money
    orgs, k = seed.orgs, len(seed.orgs)
    admin = {"Authorization": f"Bearer {money.admin_token}", "Content-Type": "application/json"}

    def transfer(org: int, key: str) -> Request:
        body = {"organization_id": orgs[org], "amount": TRANSFER_AMOUNT, "currency": "usd"}
        return Request(
            "POST", "/api/connect/transfer", {**admin, "Idempotency-Key": key}, orjson.dumps(body)
        )

    def made(status: int, body: bytes) -> bool:
        # 900 of the 1000 sent (the default 10 % fee), nothing settled: a transfer of its own.
        return status == 200 and b'"transfer_id":"tr_' in body and b'"claims_settled":0' in body

    return {
        "transfer": (service_url, lambda n: transfer(n % k, money.new_key(n)), made),
        "transfer replay": (
            service_url,
            lambda n: transfer(n % k, money.seeded_key(n % k, 0)),
            made,
        ),
    }


# ----------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Plan:
    """How much load: concurrencies, requests per point and the bounds."""

    concurrencies: tuple[int, ...]
    per_connection: int
    min_requests: int
    max_requests: int
    time_limit: float
    client: Literal["raw", "httpx"]
    references: bool
    profile_dir: Path | None = None

    def requests(self, concurrency: int) -> int:
        return max(self.min_requests, min(self.max_requests, concurrency * self.per_connection))


def cpu_groups(stack: Stack) -> dict[str, list[int]]:
    """The process groups whose CPU each column counts: every process of the service (uvicorn's
    workers share their supervisor's group; each replica is a group), HAProxy and Redis with
    replicas, the simulator, the Worker (wrangler and its workerd)."""
    groups = {"service": [pid_of(process) for process in stack.service_processes]}
    if stack.balancer is not None and stack.redis is not None:
        groups["haproxy"] = [pid_of(stack.balancer)]
        groups["redis"] = [pid_of(stack.redis)]
    groups["sim"] = [pid_of(stack.sim)]
    groups["worker"] = [pid_of(stack.worker)]
    return groups


def _cpu_seconds(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(group_cpu_seconds(pgid) for pgid in pgids) for name, pgids in groups.items()}


def metrics_urls(stack: Stack) -> list[str]:
    """Where each service process's metrics are scraped: the one process (its workers sum
    there) or each replica."""
    c = stack.config
    if c.replicas:
        return [f"{stack.replica_url(i)}/metrics" for i in range(c.replicas)]
    return [f"{c.service_url}/metrics"]


async def upstream_calls(http: httpx.AsyncClient, urls: Sequence[str]) -> dict[str, float]:
    """The service's calls to each upstream so far (`connect_upstream_requests_total`, every
    operation and outcome), summed over `urls`."""
    calls: dict[str, float] = {"worker": 0.0, "stripe": 0.0}
    for url in urls:
        answer = await http.get(url)
        answer.raise_for_status()
        for family in text_string_to_metric_families(answer.text):
            if family.name != "connect_upstream_requests":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    upstream = sample.labels.get("upstream", "")
                    calls[upstream] = calls.get(upstream, 0.0) + sample.value
    return calls


def _scenario_factory(
    stack: Stack, seed: Seed, scenario: Scenario
) -> tuple[str, RequestFactory, Check]:
    """The scenario's base URL, request builder and check, over its organizations."""
    if scenario.orgs:
        seed = dataclasses.replace(
            seed, orgs=seed.orgs[: scenario.orgs], accounts=seed.accounts[: scenario.orgs]
        )
    return _factories(stack, seed)[scenario.requests_of]


async def _measure(
    stack: Stack,
    seed: Seed,
    plan: Plan,
    scenarios: Sequence[Scenario],
    worker_ms: float,
    sim_ms: float,
    progress: Callable[[Point], None],
) -> list[Point]:
    groups = cpu_groups(stack)
    urls = metrics_urls(stack)
    points: list[Point] = []
    numbered = 0
    scrape = httpx.AsyncClient(
        timeout=30.0, headers={"Authorization": f"Bearer {stack.config.service_env[METRICS]}"}
    )
    async with scrape:
        for scenario in scenarios:
            base_url, make, check = _scenario_factory(stack, seed, scenario)
            ideal_ms = scenario.ideal_ms(worker_ms, sim_ms)
            for concurrency in plan.concurrencies:
                async with Pool(base_url, concurrency, client=plan.client) as pool:
                    warm = await pool.run(
                        make, requests=concurrency, time_limit=plan.time_limit, check=check,
                        first=numbered,
                    )  # fmt: skip
                    numbered += concurrency
                    calls_before = await upstream_calls(scrape, urls)
                    before = _cpu_seconds(groups)
                    profiler = _profile(stack, plan, f"{scenario.name}-c{concurrency}")
                    result = await pool.run(
                        make,
                        requests=plan.requests(concurrency),
                        time_limit=plan.time_limit,
                        check=check,
                        first=numbered,
                    )
                    numbered += plan.requests(concurrency)
                    after = _cpu_seconds(groups)
                    _stop_profile(profiler)
                    calls_after = await upstream_calls(scrape, urls)
                point = _point(scenario, concurrency, result, warm, ideal_ms, before, after)
                _count_calls(point, scenario, calls_before, calls_after, len(seed.orgs))
                progress(point)
                points.append(point)
    return points


def _profile(stack: Stack, plan: Plan, name: str) -> subprocess.Popen[bytes] | None:
    """With `--profile DIR`: py-spy sampling the service (and its workers) while the point runs,
    its collapsed stacks written to `DIR/<name>.txt`. Its own CPU makes such a run's figures
    a little worse: profile and measure in separate runs."""
    if plan.profile_dir is None:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("--profile: py-spy is not on PATH")
    plan.profile_dir.mkdir(parents=True, exist_ok=True)
    out = plan.profile_dir / f"{name.replace(' ', '-')}.txt"
    return subprocess.Popen(  # noqa: S603 - a fixed command line
        [spy, "record", "--pid", str(pid_of(stack.service_processes[0])), "--subprocesses",
         "--nonblocking", "--rate", "200", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop_profile(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        profiler.wait(timeout=60)


def _count_calls(
    point: Point,
    scenario: Scenario,
    before: dict[str, float],
    after: dict[str, float],
    seeded: int,
) -> None:
    done = max(1, point.requests)
    point.orgs = scenario.orgs or seeded
    if not scenario.via_service:
        return  # NaN: the service made no calls for these requests
    point.worker_calls = (after["worker"] - before["worker"]) / done
    point.stripe_calls = (after["stripe"] - before["stripe"]) / done
    point.own_worker_calls = scenario.calls("W")
    point.own_stripe_calls = scenario.calls("S")


def _point(
    scenario: Scenario,
    concurrency: int,
    result: Result,
    warm: Result,
    ideal_ms: float,
    before: dict[str, float],
    after: dict[str, float],
) -> Point:
    done = max(1, result.completed + result.failures)
    cpu = {name: (after[name] - before[name]) * 1000 / done for name in before}
    cpu["client"] = result.client_cpu * 1000 / done
    return Point(
        scenario=scenario.name,
        upstream=scenario.upstream,
        concurrency=concurrency,
        requests=result.completed + result.failures,
        failed=result.failures + warm.failures,
        throughput=result.throughput,
        ideal_throughput=concurrency * 1000 / ideal_ms if ideal_ms else 0.0,
        p50_ms=result.percentile(50) * 1000,
        p99_ms=result.percentile(99) * 1000,
        ideal_ms=ideal_ms,
        cpu_ms=cpu,
        failure_samples=warm.failure_samples + result.failure_samples,
    )


@dataclass
class WrkPoint:
    """One scenario driven by wrk: its latency distribution, CPU and upstream calls."""

    scenario: str
    connections: int
    orgs: int
    result: wrk.WrkResult
    cpu_ms: dict[str, float]
    worker_calls: float
    stripe_calls: float


def _wrk_requests(make: RequestFactory, orgs: int, scenario: Scenario) -> list[Request]:
    """The requests wrk cycles through: one per organization (a webhook's four per account,
    each its own event)."""
    count = orgs * (4 if scenario.requests_of == "webhook" else 1)
    return [make(n) for n in range(count)]


def measure_wrk(
    stack: Stack, seed: Seed, scenarios: Sequence[Scenario], *, connections: int, seconds: float
) -> list[WrkPoint]:
    """Each scenario at `connections` under wrk, for `seconds` (after a 2-second warm-up)."""
    groups = cpu_groups(stack)
    urls = metrics_urls(stack)
    token = stack.config.service_env[METRICS]
    points = []

    async def calls() -> dict[str, float]:
        async with httpx.AsyncClient(
            timeout=30.0, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            return await upstream_calls(http, urls)

    for scenario in scenarios:
        base_url, make, _ = _scenario_factory(stack, seed, scenario)
        orgs = scenario.orgs or len(seed.orgs)
        requests = _wrk_requests(make, orgs, scenario)
        wrk.run(base_url, requests, connections=connections, seconds=2)
        calls_before = asyncio.run(calls())
        before = _cpu_seconds(groups)
        result = wrk.run(base_url, requests, connections=connections, seconds=seconds)
        after = _cpu_seconds(groups)
        calls_after = asyncio.run(calls())
        done = max(1, result.requests)
        cpu = {name: (after[name] - before[name]) * 1000 / done for name in before}
        cpu["client"] = result.client_cpu_s * 1000 / done
        point = WrkPoint(
            scenario=scenario.name,
            connections=connections,
            orgs=orgs,
            result=result,
            cpu_ms=cpu,
            worker_calls=(calls_after["worker"] - calls_before["worker"]) / done,
            stripe_calls=(calls_after["stripe"] - calls_before["stripe"]) / done,
        )
        r = result
        print(
            f"{'wrk ' + scenario.name:>16} c={connections:<4} n={r.requests:<6} "
            f"failed={r.failed:<3} {r.throughput:8.1f}/s p50 {r.percentiles_ms[50]:7.1f} "
            f"p99 {r.percentiles_ms[99]:7.1f} max {r.max_ms:7.1f} ms W/req "
            f"{point.worker_calls:.2f} S/req {point.stripe_calls:.2f} cpu ms/req "
            + " ".join(f"{name} {ms:.2f}" for name, ms in cpu.items()),
            flush=True,
        )
        points.append(point)
    return points


def render_wrk(points: Sequence[WrkPoint]) -> list[str]:
    """The wrk table: the latency distribution at the headline points."""
    if not points:
        return []
    cpu_columns = list(points[0].cpu_ms)
    quantiles = wrk.PERCENTILES
    lines = [
        "",
        "Under wrk (`wrk -t 2`, a Lua script cycling through one pre-built request per "
        "organization, a webhook's four signed events per account), after a 2-second warm-up; "
        "client = wrk's CPU:",
        "",
        "| scenario | conc. | orgs | requests | failed | req/s | "
        + " | ".join(f"p{q:g} ms" for q in quantiles)
        + " | max ms | p99/p50 | W calls/req | S calls/req | CPU ms/req "
        + " | ".join(cpu_columns)
        + " |",
        "| --- " + "| ---: " * (10 + len(quantiles) + len(cpu_columns) - 1) + "|",
    ]
    for p in points:
        r = p.result
        lines.append(
            f"| {p.scenario} | {p.connections} | {p.orgs} | {r.requests} | {r.failed} "
            f"| {fmt(r.throughput, 0)} | "
            + " | ".join(fmt(r.percentiles_ms[q]) for q in quantiles)
            + f" | {fmt(r.max_ms)} | {fmt(r.percentiles_ms[99] / r.percentiles_ms[50])} "
            f"| {fmt(p.worker_calls, 2)} | {fmt(p.stripe_calls, 2)} | "
            + " | ".join(fmt(p.cpu_ms[c], 2) for c in cpu_columns)
            + " |"
        )
    return lines


# ----------------------------------------------------------------------------- report


def unlimited_stack_config(
    state_dir: Path,
    *,
    sim_latency_ms: int,
    worker_latency_ms: int,
    service_env: dict[str, str] | None = None,
    replicas: int = 0,
    workers: int = 1,
) -> StackConfig:
    """A stack whose service has its limits off: a few load users make thousands of calls a
    minute, far past Stripe's test-mode budget (the simulator has none), every refresh reads
    Stripe, and we measure the service, not its limits."""
    return StackConfig(
        state_dir=state_dir,
        sim_latency_ms=sim_latency_ms,
        worker_latency_ms=worker_latency_ms,
        replicas=replicas,
        workers=workers,
        service_env={
            "RATE_LIMIT_READS_PER_MINUTE": "0",
            "RATE_LIMIT_ONBOARDING_PER_MINUTE": "0",
            "RATE_LIMIT_MONEY_PER_MINUTE": "0",
            "STRIPE_REQUESTS_PER_SECOND": "0",
            METRICS: secrets.token_urlsafe(32),
            **(service_env or {}),
        },
    )


UPSTREAMS = {
    "stack": "the local stack: the Worker on `wrangler dev` (workerd, local D1), the Stripe "
    "simulator",
    "light": "`bench.light`'s stand-ins for the Worker and Stripe (a few calls, no rules, a "
    "fraction of the CPU)",
}


def describe_service(workers: int, replicas: int) -> str:
    """How the service ran, in words for the report."""
    each = (
        f"`WEB_CONCURRENCY={workers}` (uvicorn worker processes under one supervisor)"
        if workers > 1
        else "`WEB_CONCURRENCY=1` (one process)"
    )
    if not replicas:
        return f"one service process, {each}"
    return (
        f"{replicas} replicas behind HAProxy (round robin, keep-alive), sharing one Redis; "
        f"each {each}"
    )


def render(
    points: Sequence[Point],
    *,
    upstreams: str,
    machine: dict[str, str],
    command: str,
    started_at: str,
    worker_ms: float,
    sim_ms: float,
    startup_s: Sequence[float],
    peak_rss_mib: float,
    client: str,
    workers: int = 1,
    replicas: int = 0,
    wrk_points: Sequence[WrkPoint] = (),
) -> str:
    """The results section, between its markers."""
    startup = sorted(startup_s)
    cpu_columns = list(points[0].cpu_ms) if points else ["service", "sim", "worker", "client"]
    lines = [
        MARK_START,
        "## Results (latest run, written by `bench/run.py`)",
        "",
        f"- Command: `{command}` (from the repository root), {started_at}",
        f"- Machine: {machine['nproc']} x {machine['cpu']}, {machine['memory']} RAM, "
        f"Linux {machine['kernel']}, Python {machine['python']}; "
        f"load average before the run: {machine['load']}",
        f"- Machine speed (`bench.report.machine_speed_ms`, a fixed piece of Python work, lower "
        f"is faster): {machine['speed']} before the run, {machine.get('speed_after', '-')} after",
        f"- Service code: {machine['service']}",
        f"- Service processes: {describe_service(workers, replicas)}",
        f"- Upstreams: {UPSTREAMS[upstreams]}",
        f"- Injected latency: Worker (W) {worker_ms:g} ms on every `/api/internal/*` call, "
        f"Stripe (S) {sim_ms:g} ms on every call",
        f"- Client: `{client}` ({CLIENTS[client]}, uvloop), "
        "one keep-alive connection per concurrent request; each point is preceded by one "
        "unmeasured request per connection",
        f"- Service start-up (process start → `/health` 200): "
        f"{' / '.join(f'{s * 1000:.0f}' for s in startup)} ms over {len(startup)} start(s)"
        f"{' (one per replica)' if replicas else ''}; "
        f"peak RSS (VmHWM) of its largest process after the whole run: {peak_rss_mib:.1f} MiB",
        "",
        "ideal = what the injected latency allows: latency = the sum of the upstream steps "
        "(W+S in series, W|S at once; a scenario's D1 is current, so a sync writes nothing), "
        "throughput = concurrency / that latency. overhead = p50 - ideal latency. "
        "CPU = CPU time per request of each process group (service = all its processes, "
        "every uvicorn worker and every replica; simulator; Worker = wrangler + workerd; "
        "the load generator)."
        + (
            " haproxy and redis are the balancer's and Redis's own; HAProxy's health checks "
            "(`GET /ready` on each replica every 400 ms, each a Worker call) count in the "
            "service's and the Worker's CPU."
            if replicas
            else ""
        )
        + " failed includes the warm-up requests.",
        "",
        "orgs = organizations the load is spread over; W, S calls/req = the service's calls to "
        "the Worker and to Stripe per request (its `connect_upstream_requests_total`); "
        "**shared** = fewer calls than each request makes on its own: requests shared reads "
        "(`coalesce.py`), so that row measures coalescing, not what a request costs.",
        "",
        "| scenario | upstream | orgs | conc. | requests | failed | req/s | ideal req/s | ratio "
        "| p50 ms | p99 ms | ideal ms | overhead ms | W calls/req | S calls/req | reads "
        "| CPU ms/req " + " | ".join(cpu_columns) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | --- " + "| ---: " * len(cpu_columns) + "|",
    ]
    for p in points:
        ideal = bool(p.ideal_ms)
        reads = "-" if p.worker_calls != p.worker_calls else ("**shared**" if p.shared else "own")
        lines.append(
            f"| {p.scenario} | {p.upstream} | {p.orgs} | {p.concurrency} | {p.requests} "
            f"| {p.failed} "
            f"| {fmt(p.throughput, 0)} | {fmt(p.ideal_throughput, 0) if ideal else '-'} "
            f"| {fmt(p.ratio, 2) if ideal else '-'} | {fmt(p.p50_ms)} | {fmt(p.p99_ms)} "
            f"| {fmt(p.ideal_ms, 0)} | {fmt(p.overhead_ms)} | {fmt(p.worker_calls, 2)} "
            f"| {fmt(p.stripe_calls, 2)} | {reads} | "
            + " | ".join(fmt(p.cpu_ms[column], 2) for column in cpu_columns)
            + " |"
        )
    lines += render_wrk(wrk_points)
    failures = [s for p in points for s in p.failure_samples]
    failures += [
        f"wrk {w.scenario}: {w.result.failed} failed" for w in wrk_points if w.result.failed
    ]
    if failures:
        lines += ["", "Failures (first few):", "", *(f"- `{s}`" for s in failures[:10])]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny counts, < 60 s")
    parser.add_argument("--sim-latency-ms", type=int, default=50)
    parser.add_argument("--worker-latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", help="comma-separated, e.g. 1,10,50,200")
    parser.add_argument("--scenarios", help="comma-separated subset of " + ", ".join(
        s.name for s in (*SCENARIOS, *SHARED, *REFERENCES))
        + "; opt-in: " + ", ".join(s.name for s in MONEY) + " (history only with "
        "--upstreams light)")  # fmt: skip
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument(
        "--upstreams",
        choices=tuple(UPSTREAMS),
        default="stack",
        help="the real local Worker and the simulator, or bench.light's stand-ins",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=1,
        help="uvicorn worker processes per service process (WEB_CONCURRENCY=N; default 1)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        metavar="N",
        help="run the service as N replicas behind HAProxy, sharing Redis (0: one process)",
    )
    parser.add_argument(
        "--orgs",
        type=int,
        help=f"organizations to spread the load over (default {DEFAULT_ORGS}; --quick: 2)",
    )
    parser.add_argument(
        "--wrk",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also drive the headline points (the scenarios at the highest concurrency) with "
        "wrk (default: on in a full run when wrk is installed, off with --quick)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the service with py-spy (on PATH) during each point; collapsed stacks "
        "into DIR (for `python -m bench.profile DIR`)",
    )
    parser.add_argument("--wrk-seconds", type=float, default=10.0, help="seconds per wrk point")
    parser.add_argument("--time-limit", type=float, help="seconds per point, at most")
    parser.add_argument("--output", type=Path, help="Markdown file to write the results into")
    parser.add_argument("--no-output", action="store_true", help="write no Markdown")
    parser.add_argument(
        "--requests",
        type=int,
        metavar="N",
        help="requests per point, whatever the concurrency (a longer, steadier measurement; "
        "--time-limit still bounds it)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--service-env", action="append", default=[], metavar="NAME=VALUE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 if any request failed."""
    args = _parse(argv)
    quick: bool = args.quick
    command = shlex.join([".venv/bin/python", "-m", "bench.run", *(argv or sys.argv[1:])])
    concurrencies = args.concurrency or ("1,10" if quick else "1,10,50,200")
    plan = Plan(
        concurrencies=tuple(int(c) for c in concurrencies.split(",")),
        per_connection=3 if quick else 15,
        min_requests=args.requests or (10 if quick else 50),
        max_requests=args.requests or (30 if quick else 3000),
        time_limit=args.time_limit or (4.0 if quick else 20.0),
        client=args.client,
        references=not quick,
        profile_dir=args.profile,
    )  # fmt: skip
    every = (*SCENARIOS, *SHARED, *REFERENCES, *MONEY)
    chosen: tuple[Scenario, ...] = (
        (*SCENARIOS, *SHARED, *REFERENCES) if plan.references else SCENARIOS
    )
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        unknown = wanted - {s.name for s in every}
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        chosen = tuple(s for s in every if s.name in wanted)
    heavy = [s.name for s in chosen if not s.light]
    if heavy and args.upstreams == "light":
        raise SystemExit(
            f"{', '.join(heavy)}: not with --upstreams light (bench.light serves no platform "
            "admin, claims nor idempotency records: that would be a second Worker); run them "
            "on the stack (--upstreams stack)"
        )
    money = any(s.money for s in chosen)
    use_wrk: bool = args.wrk if args.wrk is not None else not quick and wrk.available() is not None
    if use_wrk and wrk.available() is None:
        raise SystemExit("--wrk: wrk is not installed (./scripts/bootstrap installs it)")
    output: Path | None = args.output or (None if quick else ROOT / "docs" / "benchmarks.md")
    if args.no_output:
        output = None

    machine = machine_info()
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    state_dir = Path(tempfile.mkdtemp(prefix="connect-bench-"))
    service_env = dict(item.split("=", 1) for item in args.service_env)
    config = unlimited_stack_config(
        state_dir,
        sim_latency_ms=args.sim_latency_ms,
        worker_latency_ms=args.worker_latency_ms,
        # A --service-env can turn the rate limits back on.
        service_env=service_env,
        replicas=args.replicas,
        workers=args.workers,
    )
    stack = Stack(config)
    wall = time.perf_counter()

    def progress(p: Point) -> None:
        print(
            f"{p.scenario:>12} c={p.concurrency:<4} n={p.requests:<5} failed={p.failed:<3} "
            f"{p.throughput:8.1f}/s (ideal {p.ideal_throughput:8.1f}, ratio {p.ratio:4.2f}) "
            f"p50 {p.p50_ms:7.1f} p99 {p.p99_ms:7.1f} ms (ideal {p.ideal_ms:g}) "
            f"orgs {p.orgs} W/req {p.worker_calls:.2f} S/req {p.stripe_calls:.2f}"
            f"{' SHARED' if p.shared else ''} cpu ms/req "
            + " ".join(f"{name} {ms:.2f}" for name, ms in p.cpu_ms.items()),
            flush=True,
        )

    try:
        print(f"Starting the stack in {state_dir} …", flush=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        organizations = args.orgs or (2 if quick else DEFAULT_ORGS)
        if any(s.orgs > organizations for s in chosen):
            chosen = tuple(s for s in chosen if s.orgs <= organizations)
        seed: Seed | None = None
        if args.upstreams == "light":
            seed = light_upstreams(
                stack,
                organizations=organizations,
                worker_ms=args.worker_latency_ms,
                sim_ms=args.sim_latency_ms,
            )
        else:
            stack.migrate()
            stack.start_worker()
            stack.sim.start()
            stack.sim.wait_http(f"{config.sim_url}/_sim/health")
        startup = start_service(stack, starts=1 if quick else 3)
        seed = seed or seed_organizations(stack, organizations)
        if money and args.upstreams == "stack":
            seed = seed_money(stack, seed)
        print(f"Seeded {len(seed.orgs)} active organizations; measuring …", flush=True)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            points = runner.run(
                _measure(
                    stack,
                    seed,
                    plan,
                    chosen,
                    args.worker_latency_ms,
                    args.sim_latency_ms,
                    progress,
                )
            )
        wrk_points = (
            measure_wrk(
                stack,
                seed,
                [s for s in chosen if s in SCENARIOS],
                connections=max(plan.concurrencies),
                seconds=min(args.wrk_seconds, plan.time_limit),
            )
            if use_wrk
            else []
        )
        serving = stack.service_processes
        peak_rss = max(group_peak_rss_mib(pid_of(process)) for process in serving)
        for process in stack.parts:
            if not process.running:
                raise RuntimeError(f"{process.name} died:\n{process.tail()}")
    finally:
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    machine["speed_after"] = f"{machine_speed_ms():.0f} ms"

    section = render(
        points,
        upstreams=args.upstreams,
        machine=machine,
        command=command,
        started_at=started_at,
        worker_ms=args.worker_latency_ms,
        sim_ms=args.sim_latency_ms,
        startup_s=startup,
        peak_rss_mib=peak_rss,
        client=plan.client,
        workers=args.workers,
        replicas=args.replicas,
        wrk_points=wrk_points,
    )
    publish(
        section,
        markers=(MARK_START, MARK_END),
        output=output,
        json_path=args.json,
        raw=lambda: {
            "machine": machine,
            "command": command,
            "started_at": started_at,
            "workers": args.workers,
            "replicas": args.replicas,
            "startup_s": startup,
            "peak_rss_mib": peak_rss,
            "points": [
                {**asdict(p), "ratio": p.ratio, "overhead_ms": p.overhead_ms, "shared": p.shared}
                for p in points
            ],
            "wrk": [asdict(p) for p in wrk_points],
        },
        took_s=time.perf_counter() - wall,
    )
    failed = sum(p.failed for p in points) + sum(p.result.failed for p in wrk_points)
    if failed:
        print(f"FAILED: {failed} request(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
