"""`python -m bench.run [--quick]`: throughput and latency of the service on the local stack.

Starts the Worker (wrangler dev, local D1), the Stripe simulator and the service with injected
latency at the simulator and the Worker, seeds an owner with onboarded, active organizations,
then drives each scenario at several concurrencies with a bounded async load generator and
reports, per point, the ratio to the ideal the injected latency allows and the service's own
overhead. `--workers N` runs the service as N uvicorn worker processes (WEB_CONCURRENCY),
`--replicas N` as N replicas behind HAProxy sharing Redis; the CPU of every process counts.
`--quick` is a smoke run for CI (tiny counts, under a minute): it exits non-zero if any
request failed. A full run writes its table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shlex
import shutil
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

from bench import light
from bench.load import Check, Pool, Request, RequestFactory, Result
from bench.procfs import group_cpu_seconds, group_peak_rss_mib, pid_of
from bench.report import fmt, machine_info, publish
from devstack.procs import Process
from devstack.stack import ROOT, BetterAuth, Stack, StackConfig
from devstack.truth import signature

PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway local account
MARK_START = "<!-- bench:results:start -->"
MARK_END = "<!-- bench:results:end -->"
CLIENTS = {"raw": "raw HTTP/1.1 on asyncio streams", "httpx": "httpx.AsyncClient"}


@dataclass(frozen=True)
class Scenario:
    """A route under load, and the upstream calls one request makes: steps in series, the
    calls of one step at once (`("W", "S")` is the Worker and Stripe asked together)."""

    name: str
    steps: tuple[tuple[Literal["W", "S"], ...], ...]
    describe: str

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
REFERENCES = (
    Scenario("sim alone", (("S",),), "GET /v1/accounts/{id} straight at the simulator"),
    Scenario(
        "worker alone", (("W",),), "GET /api/internal/organization/{id} straight at the Worker"
    ),
    Scenario("health", (), "GET /health: the service with no upstream call"),
)


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


async def _measure(
    stack: Stack,
    seed: Seed,
    plan: Plan,
    scenarios: Sequence[Scenario],
    worker_ms: float,
    sim_ms: float,
    progress: Callable[[Point], None],
) -> list[Point]:
    factories = _factories(stack, seed)
    groups = cpu_groups(stack)
    points: list[Point] = []
    numbered = 0
    for scenario in scenarios:
        base_url, make, check = factories[scenario.name]
        ideal_ms = scenario.ideal_ms(worker_ms, sim_ms)
        for concurrency in plan.concurrencies:
            async with Pool(base_url, concurrency, client=plan.client) as pool:
                warm = await pool.run(
                    make, requests=concurrency, time_limit=plan.time_limit, check=check,
                    first=numbered,
                )  # fmt: skip
                numbered += concurrency
                before = _cpu_seconds(groups)
                result = await pool.run(
                    make,
                    requests=plan.requests(concurrency),
                    time_limit=plan.time_limit,
                    check=check,
                    first=numbered,
                )
                numbered += plan.requests(concurrency)
                after = _cpu_seconds(groups)
            point = _point(scenario, concurrency, result, warm, ideal_ms, before, after)
            progress(point)
            points.append(point)
    return points


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
        "| scenario | upstream | conc. | requests | failed | req/s | ideal req/s | ratio "
        "| p50 ms | p99 ms | ideal ms | overhead ms | CPU ms/req " + " | ".join(cpu_columns) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        + "| ---: " * len(cpu_columns)
        + "|",
    ]
    for p in points:
        ideal = bool(p.ideal_ms)
        lines.append(
            f"| {p.scenario} | {p.upstream} | {p.concurrency} | {p.requests} | {p.failed} "
            f"| {fmt(p.throughput, 0)} | {fmt(p.ideal_throughput, 0) if ideal else '-'} "
            f"| {fmt(p.ratio, 2) if ideal else '-'} | {fmt(p.p50_ms)} | {fmt(p.p99_ms)} "
            f"| {fmt(p.ideal_ms, 0)} | {fmt(p.overhead_ms)} | "
            + " | ".join(fmt(p.cpu_ms[column], 2) for column in cpu_columns)
            + " |"
        )
    failures = [s for p in points for s in p.failure_samples]
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
        s.name for s in (*SCENARIOS, *REFERENCES)))  # fmt: skip
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
    parser.add_argument("--orgs", type=int, help="organizations to spread the load over")
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
    )  # fmt: skip
    chosen: tuple[Scenario, ...] = (*SCENARIOS, *REFERENCES) if plan.references else SCENARIOS
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        chosen = tuple(s for s in (*SCENARIOS, *REFERENCES) if s.name in wanted)
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
            f"p50 {p.p50_ms:7.1f} p99 {p.p99_ms:7.1f} ms (ideal {p.ideal_ms:g}) cpu ms/req "
            + " ".join(f"{name} {ms:.2f}" for name, ms in p.cpu_ms.items()),
            flush=True,
        )

    try:
        print(f"Starting the stack in {state_dir} …", flush=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        organizations = args.orgs or (2 if quick else 10)
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
        serving = stack.service_processes
        peak_rss = max(group_peak_rss_mib(pid_of(process)) for process in serving)
        for process in stack.parts:
            if not process.running:
                raise RuntimeError(f"{process.name} died:\n{process.tail()}")
    finally:
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)

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
                {**asdict(p), "ratio": p.ratio, "overhead_ms": p.overhead_ms} for p in points
            ],
        },
        took_s=time.perf_counter() - wall,
    )
    failed = sum(p.failed for p in points)
    if failed:
        print(f"FAILED: {failed} request(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
