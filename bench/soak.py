"""`python -m bench.soak [--minutes N] [--rate R] [--quick]`: the local stack under steady load.

Starts the Worker (wrangler dev, local D1), the Stripe simulator and the service (rate limits
off, injected latency as in `bench.run`), seeds owners with onboarded, active organizations
and a platform admin, funds the platform, then for N minutes sends an open-loop mix at a
steady rate: status reads and refreshes, balance reads, onboarding links, transfers with
unique Idempotency-Keys (and replays of a few), payouts, and signed `account.updated`
webhooks; meanwhile some accounts move through onboarding outcomes and payouts settle at the
simulator, whose own webhooks reach the service too. The service's RSS and open file
descriptors are sampled all along.

At the end every webhook is flushed, D1 must equal the simulator's truth for every account
(`derive_status`), money must be conserved (platform funded - transfers = platform available;
transfers - payouts = connected available), and the exit status is 1 on any failed request,
any mismatch, any error in the service's log, or an RSS slope after warm-up above
`SLOPE_LIMIT_MIB_PER_MIN` (judged when the window after warm-up is at least
`SLOPE_MIN_WINDOW_S` long, so not in `--quick`, the ~30 s smoke run for CI).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop

from bench.load import Pool, Request
from bench.procfs import group_cpu_seconds, group_rss_mib, open_fds, pid_of, rss_mib
from bench.report import fmt, machine_info, publish
from bench.run import PASSWORD, seed_organizations, unlimited_stack_config
from devstack.stack import ROOT, BetterAuth, Stack
from devstack.truth import signature, stored, truth

MARK_START = "<!-- soak:results:start -->"
MARK_END = "<!-- soak:results:end -->"
SLOPE_LIMIT_MIB_PER_MIN = 1.0
SLOPE_MIN_WINDOW_S = 120.0
CURRENCY = "usd"
PLATFORM_FUNDS = 1_000_000_000  # minor units; far more than any run transfers
PAYOUT_AMOUNT = 500
REQUEST_TIMEOUT = 30.0
DRAIN_TIMEOUT = 60.0
MAX_CONNECTIONS = 128
PROGRESS_EVERY_S = 30.0
# Share of the requests per kind (percent). A payout goes out only when the organization's
# confirmed transfers cover it (so never a 409 insufficient_balance): else a transfer is sent.
MIX = {
    "status": 26,
    "refresh": 14,
    "balance": 14,
    "onboard": 10,
    "transfer": 15,
    "replay": 2,
    "payout": 5,
    "webhook": 14,
}
# The onboarding outcomes the churned accounts go through at the simulator, in turn.
CHURN_CYCLE = ("due", "review", "complete", "reject", "complete")


@dataclass
class Org:
    """A seeded organization, its owner's session and what the soak moved to it."""

    id: str
    account: str
    owner_token: str
    churned: bool
    credited: int = 0  # confirmed transfers (net)
    debited: int = 0  # payouts sent (reserved before sending)


@dataclass
class Tally:
    """One kind of request."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, sample: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(sample)

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000


@dataclass(frozen=True)
class Sample:
    """The service process at one moment."""

    t: float  # seconds since the load started (negative: before)
    rss_mib: float  # the service's VmRSS
    fds: int  # the service's open file descriptors
    sim_mib: float  # the simulator's VmRSS
    worker_mib: float  # the Worker's: wrangler's node processes and its workerd


def _sample(pids: Mapping[str, int], t: float) -> Sample:
    service = pids["service"]
    return Sample(
        t,
        rss_mib(service),
        open_fds(service),
        rss_mib(pids["sim"]),
        group_rss_mib(pids["worker"]),
    )


def slope_mib_per_min(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute; NaN under 3 points."""
    if len(points) < 3:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return float("nan")
    cov = sum((t - mean_t) * (r - mean_r) for t, r in points)
    return cov / var * 60


# ----------------------------------------------------------------------------- seeding


@dataclass
class World:
    """Who sends what to whom."""

    orgs: list[Org]
    admin_token: str

    @property
    def stable(self) -> list[Org]:
        return [o for o in self.orgs if not o.churned]

    @property
    def churned(self) -> list[Org]:
        return [o for o in self.orgs if o.churned]


def _seed_world(stack: Stack, owners: int, per_owner: int, churned_per_owner: int) -> World:
    orgs: list[Org] = []
    for j in range(owners):
        seed = seed_organizations(stack, per_owner, name=f"soak{j}")
        for i, (org, account) in enumerate(zip(seed.orgs, seed.accounts, strict=True)):
            churned = i >= per_owner - churned_per_owner
            orgs.append(Org(org, account, seed.token, churned))
    auth = BetterAuth(stack.config.worker_url)
    try:
        admin = auth.sign_up("admin@soak.example.com", PASSWORD, "Soak Platform Admin")
    finally:
        auth.close()
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'admin@soak.example.com'")
    return World(orgs, admin.token)


# ----------------------------------------------------------------------------- the load


class Connections:
    """Keep-alive connections to the service for an open-loop sender: a request takes an idle
    one (the most recently used) or opens another, up to `limit` at once. Each is a
    `bench.load.Pool` of one raw HTTP/1.1 connection."""

    def __init__(self, base_url: str, limit: int) -> None:
        self._base_url = base_url
        self._idle: list[Pool] = []
        self._slots = asyncio.Semaphore(limit)
        self._exits = contextlib.AsyncExitStack()
        self.opened = 0  # = the most requests in flight at once

    async def send(self, request: Request) -> tuple[int, bytes] | str:
        """The status and body, or what went wrong."""
        async with self._slots:
            if self._idle:
                pool = self._idle.pop()
            else:
                pool = await self._exits.enter_async_context(Pool(self._base_url, 1))
                self.opened += 1
            answer: tuple[int, bytes] | None = None

            def keep(status: int, body: bytes) -> bool:
                nonlocal answer
                answer = (status, body)
                return True

            result = await pool.run(
                lambda _: request,
                requests=1,
                time_limit=REQUEST_TIMEOUT,
                check=keep,
                timeout=REQUEST_TIMEOUT,
            )
            self._idle.append(pool)
        if answer is None:
            return result.failure_samples[0] if result.failure_samples else "no answer"
        return answer

    async def aclose(self) -> None:
        await self._exits.aclose()


@dataclass
class Plan:
    minutes: float
    rate: float
    warmup_s: float
    sample_every_s: float
    churn_every_s: float
    seed: int


class Soak:
    """The open-loop sender, the churn at the simulator and the sampler."""

    def __init__(self, stack: Stack, world: World, plan: Plan) -> None:
        self.stack = stack
        self.c = stack.config
        self.world = world
        self.plan = plan
        self.rng = random.Random(plan.seed)  # noqa: S311 - a load mix, not a secret
        self.tallies: dict[str, Tally] = {kind: Tally() for kind in MIX}
        self.harness = Tally()  # the simulator helpers the soak calls
        self.transfers: dict[str, tuple[Request, str]] = {}  # key → (request, transfer id)
        self.transferred = 0
        self.paid_out = 0
        self.payouts: deque[str] = deque()
        self.in_transit: deque[str] = deque()
        self.churn_changes = 0
        self.samples: list[Sample] = []
        self.max_lag = 0.0
        self.unfinished = 0
        self.pids = {
            "service": pid_of(stack.service),
            "sim": pid_of(stack.sim),
            "worker": pid_of(stack.worker),
        }
        self.started = 0.0

    # ------------------------------------------------------------------ requests

    def _auth(self, token: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **more}

    def _transfer(self, n: int, org: Org) -> Request:
        body = orjson.dumps(
            {
                "organization_id": org.id,
                "amount": 1000 + self.rng.randrange(9000),
                "currency": CURRENCY,
            }
        )
        headers = self._auth(
            self.world.admin_token,
            **{"Content-Type": "application/json", "Idempotency-Key": f"soak-transfer-{n}"},
        )
        return Request("POST", "/api/connect/transfer", headers, body)

    def _webhook(self, n: int, org: Org) -> Request:
        body = orjson.dumps(
            {
                "id": f"evt_soak_{n:08d}",
                "object": "event",
                "type": "account.updated",
                "livemode": False,
                "created": int(time.time()),
                "account": org.account,
                "data": {"object": {"id": org.account, "object": "account"}},
            }
        )
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": signature(body, self.c.webhook_secret),
        }
        return Request("POST", "/api/connect/webhook", headers, body)

    def _next(self, n: int) -> tuple[str, Org, Request]:
        """Request number n: its kind, organization and the request itself."""
        rng, orgs, stable = self.rng, self.world.orgs, self.world.stable
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "replay" and not self.transfers:
            kind = "transfer"
        if kind == "payout":
            org = rng.choice(stable)
            if org.credited - org.debited < PAYOUT_AMOUNT:
                kind = "transfer"
        elif kind in ("transfer", "replay"):
            org = rng.choice(stable)
        else:
            org = rng.choice(orgs)
        auth = self._auth(org.owner_token)
        match kind:
            case "status":
                request = Request("GET", f"/api/connect/status/{org.id}", auth)
            case "refresh":
                request = Request("GET", f"/api/connect/status/{org.id}?refresh=true", auth)
            case "balance":
                request = Request("GET", f"/api/connect/balance/{org.id}", auth)
            case "onboard":
                body = orjson.dumps({"organization_id": org.id})
                request = Request(
                    "POST",
                    "/api/connect/onboard",
                    {**auth, "Content-Type": "application/json"},
                    body,
                )
            case "transfer":
                request = self._transfer(n, org)
            case "replay":
                request = self.transfers[rng.choice(list(self.transfers))][0]
            case "payout":
                org.debited += PAYOUT_AMOUNT
                body = orjson.dumps(
                    {"organization_id": org.id, "currency": CURRENCY, "amount": PAYOUT_AMOUNT}
                )
                headers = {
                    **auth,
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"soak-payout-{n}",
                }
                request = Request("POST", "/api/connect/payout", headers, body)
            case _:
                request = self._webhook(n, org)
        return kind, org, request

    def _check(self, kind: str, org: Org, request: Request, status: int, body: bytes) -> str | None:
        """None if the answer is the expected one, else why not."""
        if status != 200:
            return f"{status} {body[:300]!r}"
        data: dict[str, Any] = orjson.loads(body)
        match kind:
            case "status" | "refresh":
                if not org.churned and data.get("status") != "active":
                    return f"not active: {body[:300]!r}"
            case "balance":
                if "available" not in data:
                    return f"no balance: {body[:300]!r}"
            case "onboard":
                if not data.get("url"):
                    return f"no link: {body[:300]!r}"
            case "transfer":
                key = request.headers["Idempotency-Key"]
                net = int(data["transfer_amount"])
                if net <= 0:
                    return f"nothing moved: {body[:300]!r}"
                self.transfers[key] = (request, data["transfer_id"])
                org.credited += net
                self.transferred += net
            case "replay":
                key = request.headers["Idempotency-Key"]
                if data.get("transfer_id") != self.transfers[key][1]:
                    return f"replay of {key} made another transfer: {body[:300]!r}"
            case "payout":
                if data.get("amount") != PAYOUT_AMOUNT:
                    return f"payout of another amount: {body[:300]!r}"
                self.paid_out += PAYOUT_AMOUNT
                self.payouts.append(data["payout_id"])
            case "webhook":
                if data.get("action") != "synced":
                    return f"not synced: {body[:300]!r}"
        return None

    async def _one(
        self, connections: Connections, kind: str, org: Org, request: Request, due: float
    ) -> None:
        answer = await connections.send(request)
        latency = time.perf_counter() - due  # from when it was due: waiting counts
        tally = self.tallies[kind]
        if isinstance(answer, str):
            tally.fail(f"{request.method} {request.path}: {answer}")
            return
        try:
            problem = self._check(kind, org, request, *answer)
        except (ValueError, KeyError, TypeError) as exc:  # not the JSON the route documents
            problem = f"{type(exc).__name__} {exc}: {answer[1][:300]!r}"
        if problem is None:
            tally.latencies.append(latency)
        else:
            tally.fail(f"{request.method} {request.path}: {problem}")

    async def _drive(self, connections: Connections) -> None:
        """Send `rate` requests a second for `minutes`, each when it is due (open loop)."""
        total = round(self.plan.minutes * 60 * self.plan.rate)
        pending: set[asyncio.Task[None]] = set()
        for n in range(total):
            due = self.started + n / self.plan.rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                self.max_lag = max(self.max_lag, -wait)
            task = asyncio.create_task(self._one(connections, *self._next(n), due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            _, unfinished = await asyncio.wait(pending, timeout=DRAIN_TIMEOUT)
            for task in unfinished:
                task.cancel()
            self.unfinished = len(unfinished)

    # ------------------------------------------------------------------ background

    async def _sim_call(self, sim: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
        try:
            answer = await sim.post(path, json=body)
        except httpx.HTTPError as exc:
            self.harness.fail(f"POST {path}: {type(exc).__name__}")
            return
        if answer.status_code != 200:
            self.harness.fail(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        else:
            self.harness.latencies.append(answer.elapsed.total_seconds())

    async def _churn(self, sim: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Move the churned accounts through onboarding outcomes and settle payouts, at the
        simulator: its own account.updated, capability.updated and payout.* webhooks follow."""
        churned = self.world.churned
        for k in itertools.count():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.plan.churn_every_s)
            if stop.is_set():
                return
            if churned:
                org = churned[k % len(churned)]
                outcome = CHURN_CYCLE[(k // len(churned)) % len(CHURN_CYCLE)]
                path = f"/_sim/accounts/{org.account}/onboarding"
                await self._sim_call(sim, path, {"outcome": outcome})
                self.churn_changes += 1
            if self.in_transit:
                await self._sim_call(sim, f"/_sim/payouts/{self.in_transit.popleft()}/paid", {})
            if self.payouts:
                payout = self.payouts.popleft()
                await self._sim_call(sim, f"/_sim/payouts/{payout}/in_transit", {})
                self.in_transit.append(payout)

    async def _sampler(self, stop: asyncio.Event) -> None:
        printed = -PROGRESS_EVERY_S
        while not stop.is_set():
            sample = _sample(self.pids, time.perf_counter() - self.started)
            self.samples.append(sample)
            if sample.t - printed >= PROGRESS_EVERY_S:
                printed = sample.t
                done = sum(len(t.latencies) + t.errors for t in self.tallies.values())
                errors = sum(t.errors for t in self.tallies.values())
                print(
                    f"{sample.t:6.0f} s  {done:6d} answered  {errors} errors  "
                    f"service RSS {sample.rss_mib:6.1f} MiB, {sample.fds} fds  "
                    f"(simulator {sample.sim_mib:.0f} MiB, Worker {sample.worker_mib:.0f} MiB)",
                    flush=True,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.plan.sample_every_s)

    async def run(self) -> None:
        connections = Connections(self.c.service_url, MAX_CONNECTIONS)
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=self.c.sim_url, timeout=REQUEST_TIMEOUT) as sim:
            self.started = time.perf_counter()
            background = [
                asyncio.create_task(self._sampler(stop)),
                asyncio.create_task(self._churn(sim, stop)),
            ]
            try:
                await self._drive(connections)
            finally:
                stop.set()
                await asyncio.gather(*background)
                await connections.aclose()
        self.connections_opened = connections.opened


# ----------------------------------------------------------------------------- the end


def _available(balance: dict[str, Any]) -> int:
    """The available amount in CURRENCY of a Stripe balance object."""
    return sum(m["amount"] for m in balance["available"] if m["currency"] == CURRENCY)


@dataclass
class Final:
    """What the end checks found."""

    flush: dict[str, Any]
    mismatches: list[str]
    accounts_checked: int
    platform_before: int
    platform_after: int
    connected_before: int
    connected_after: int
    log_levels: Counter[str]
    tracebacks: int


def _connected_available(sim: httpx.Client, world: World) -> int:
    total = 0
    for org in world.orgs:
        entry = sim.get(f"/_sim/accounts/{org.account}").raise_for_status().json()
        total += int(entry["balance"]["available"].get(CURRENCY, 0))
    return total


def _log_levels(path: Path) -> tuple[Counter[str], int]:
    levels: Counter[str] = Counter()
    tracebacks = 0
    with path.open("rb") as log:
        for line in log:
            if line.startswith(b"Traceback"):
                tracebacks += 1
            if not line.startswith(b"{"):
                continue
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                if isinstance(record, dict):
                    levels[str(record.get("level"))] += 1
    return levels, tracebacks


def _final(
    stack: Stack, world: World, platform_before: int, connected_before: int
) -> tuple[Final, int]:
    c = stack.config
    with (
        httpx.Client(base_url=c.sim_url, timeout=90.0) as sim,
        httpx.Client(
            base_url=f"{c.worker_url}/api/internal",
            headers={"X-Internal-Api-Key": c.internal_api_key},
            timeout=30.0,
        ) as internal,
    ):
        flushed = sim.post("/_sim/webhooks/flush", params={"timeout": "60"})
        flush = {**flushed.json(), "status": flushed.status_code}
        mismatches = []
        for org in world.orgs:
            entry = sim.get(f"/_sim/accounts/{org.account}").raise_for_status().json()
            held = internal.get(f"/organization/{org.id}").raise_for_status().json()
            organization = held["organization"]
            want, have = truth(entry), stored(organization)
            if organization["stripe_connect_account_id"] != org.account or want != have:
                mismatches.append(
                    f"{org.id} ({org.account}): simulator says {want}, D1 holds {have} "
                    f"(account {organization['stripe_connect_account_id']})"
                )
        platform = sim.get("/_sim/platform").raise_for_status().json()
        platform_after = _available(platform["test"]["balance"])
        connected_after = _connected_available(sim, world)
    levels, tracebacks = _log_levels(stack.service.log_path)
    final = Final(
        flush=flush,
        mismatches=mismatches,
        accounts_checked=len(world.orgs),
        platform_before=platform_before,
        platform_after=platform_after,
        connected_before=connected_before,
        connected_after=connected_after,
        log_levels=levels,
        tracebacks=tracebacks,
    )
    return final, len(mismatches)


# ----------------------------------------------------------------------------- report


@dataclass
class Verdict:
    """The numbers a run is judged on, and what failed."""

    failures: list[str]
    slope: float
    slope_judged: bool


def judge(soak: Soak, final: Final, warmup_s: float) -> Verdict:
    failures = []
    errors = sum(t.errors for t in soak.tallies.values())
    if errors:
        failures.append(f"{errors} request(s) failed")
    if soak.unfinished:
        failures.append(f"{soak.unfinished} request(s) still unanswered {DRAIN_TIMEOUT:g} s after")
    if soak.harness.errors:
        failures.append(f"{soak.harness.errors} simulator helper call(s) failed")
    counts = final.flush.get("counts", {})
    if not final.flush.get("settled"):
        failures.append(f"webhooks did not settle: {final.flush}")
    if counts.get("failed_attempts") or counts.get("abandoned"):
        failures.append(f"the service refused simulator deliveries: {counts}")
    if final.mismatches:
        failures.append(f"{len(final.mismatches)} account(s) differ between D1 and Stripe")
    funded = final.platform_before + PLATFORM_FUNDS
    if funded - soak.transferred != final.platform_after:
        failures.append(
            f"platform: funded {funded} - transferred {soak.transferred} "
            f"!= available {final.platform_after}"
        )
    moved = final.connected_before + soak.transferred - soak.paid_out
    if moved != final.connected_after:
        failures.append(
            f"connected: {final.connected_before} + transferred {soak.transferred} - paid out "
            f"{soak.paid_out} != available {final.connected_after}"
        )
    if final.log_levels.get("error") or final.log_levels.get("critical") or final.tracebacks:
        failures.append(
            f"the service logged errors: {dict(final.log_levels)}, {final.tracebacks} traceback(s)"
        )
    after = [s for s in soak.samples if s.t >= warmup_s]
    slope = slope_mib_per_min([(s.t, s.rss_mib) for s in after])
    judged = len(after) >= 3 and after[-1].t - after[0].t >= SLOPE_MIN_WINDOW_S
    if judged and slope > SLOPE_LIMIT_MIB_PER_MIN:
        failures.append(
            f"RSS grows {slope:.2f} MiB/min after warm-up (limit {SLOPE_LIMIT_MIB_PER_MIN:g})"
        )
    return Verdict(failures, slope, judged)


def render(
    soak: Soak,
    final: Final,
    verdict: Verdict,
    *,
    machine: dict[str, str],
    command: str,
    started_at: str,
    load_after: str,
    start: Sample,
    end: Sample,
    cpu_ms: dict[str, float],
    elapsed_s: float,
    latency: tuple[int, int],
) -> str:
    """The soak's results section, between its markers."""
    plan = soak.plan
    total = sum(len(t.latencies) + t.errors for t in soak.tallies.values())
    errors = sum(t.errors for t in soak.tallies.values())
    after = [s for s in soak.samples if s.t >= plan.warmup_s]
    warm = after[0] if after else start
    peak_fds = max((s.fds for s in soak.samples), default=start.fds)
    peak_rss = max((s.rss_mib for s in soak.samples), default=start.rss_mib)
    counts = final.flush.get("counts", {})
    funded = final.platform_before + PLATFORM_FUNDS
    stable, churned = len(soak.world.stable), len(soak.world.churned)
    others = [
        (
            label,
            getattr(start, name),
            getattr(warm, name),
            getattr(end, name),
            max(getattr(s, name) for s in [start, *soak.samples, end]),
            slope_mib_per_min([(s.t, getattr(s, name)) for s in after]),
        )
        for label, name in (
            ("simulator", "sim_mib"),
            ("Worker (wrangler's node + workerd)", "worker_mib"),
        )
    ]
    judged = (
        f"limit {SLOPE_LIMIT_MIB_PER_MIN:g} MiB/min"
        if verdict.slope_judged
        else f"not judged: under {SLOPE_MIN_WINDOW_S:g} s after warm-up"
    )
    lines = [
        MARK_START,
        "### Latest soak run (written by `bench/soak.py`)",
        "",
        f"- Command: `{command}` (from the repository root), {started_at}; "
        f"{'PASSED' if not verdict.failures else 'FAILED'}",
        f"- Machine: {machine['nproc']} x {machine['cpu']}, {machine['memory']} RAM, "
        f"Linux {machine['kernel']}, Python {machine['python']}; load average before: "
        f"{machine['load']}, after: {load_after}; machine speed before: {machine['speed']} "
        "(`bench.report.machine_speed_ms`, lower is faster)",
        f"- Service code: {machine['service']}",
        f"- Injected latency: Worker {latency[0]} ms, simulator {latency[1]} ms; "
        f"{len(soak.world.orgs)} organizations ({stable} active throughout, {churned} moved "
        f"through onboarding outcomes every {plan.churn_every_s:g} s in turn, "
        f"{soak.churn_changes} changes)",
        f"- Load: {plan.rate:g} requests/s for {plan.minutes:g} min, open loop "
        f"({total} requests, {total / (plan.minutes * 60):.1f}/s achieved; latest start "
        f"{soak.max_lag * 1000:.0f} ms behind schedule; at most {soak.connections_opened} "
        f"requests in flight); whole run {elapsed_s:.0f} s",
        f"- **Errors: {errors}** (non-2xx or unexpected answers); unanswered: {soak.unfinished}",
        "",
        "| kind | requests | errors | share | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, tally in soak.tallies.items():
        n = len(tally.latencies) + tally.errors
        worst = max(tally.latencies, default=float("nan")) * 1000
        lines.append(
            f"| {kind} | {n} | {tally.errors} | {n / max(1, total) * 100:.0f} % "
            f"| {fmt(tally.percentile_ms(50))} | {fmt(tally.percentile_ms(99))} "
            f"| {fmt(worst)} |"
        )
    lines += [
        "",
        "Latency is measured from when a request was due, so time waiting for a connection counts.",
        "",
        f"| process | start | after warm-up ({plan.warmup_s:g} s) | end | peak "
        "| slope after warm-up |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        f"| **service RSS** (VmRSS) MiB | {start.rss_mib:.1f} | {warm.rss_mib:.1f} "
        f"| {end.rss_mib:.1f} | {peak_rss:.1f} | **{fmt(verdict.slope, 2)} MiB/min** "
        f"({judged}) |",
        f"| service open fds | {start.fds} | {warm.fds} | {end.fds} | {peak_fds} | |",
        *(
            f"| {label} RSS MiB (not judged) | {start_mib:.0f} | {warm_mib:.0f} | {end_mib:.0f} "
            f"| {peak_mib:.0f} | {fmt(slope, 1)} MiB/min |"
            for label, start_mib, warm_mib, end_mib, peak_mib, slope in others
        ),
        "",
        f"Sampled every {plan.sample_every_s:g} s ({len(soak.samples)} samples); start = after "
        "seeding, before the load; end = after the load, the webhook flush and the checks. "
        "The simulator keeps every object, event and delivery in memory by design. "
        f"CPU per request over the load: service {cpu_ms['service']:.2f} ms, simulator "
        f"{cpu_ms['sim']:.2f} ms, Worker {cpu_ms['worker']:.2f} ms.",
        "",
        "| end check | result |",
        "| --- | --- |",
        f"| webhooks flushed | {'settled' if final.flush.get('settled') else 'NOT settled'}; "
        f"simulator deliveries: {counts.get('delivered')} delivered, "
        f"{counts.get('failed_attempts')} refused, {counts.get('abandoned')} abandoned |",
        f"| D1 = simulator (`derive_status`) | {final.accounts_checked} accounts, "
        f"{len(final.mismatches)} mismatches |",
        f"| platform: funded - Σ transfers = available | {funded} - {soak.transferred} = "
        f"{funded - soak.transferred}; available {final.platform_after} |",
        f"| connected: Σ transfers - Σ payouts = Σ available | {final.connected_before} + "
        f"{soak.transferred} - {soak.paid_out} = "
        f"{final.connected_before + soak.transferred - soak.paid_out}; "
        f"available {final.connected_after} |",
        f"| transfers / idempotent replays / payouts | {len(soak.transfers)} / "
        f"{len(soak.tallies['replay'].latencies)} (same transfer each time) / "
        f"{soak.paid_out // PAYOUT_AMOUNT} |",
        f"| service log | {dict(sorted(final.log_levels.items()))}, "
        f"{final.tracebacks} tracebacks |",
    ]
    samples = [s for t in soak.tallies.values() for s in t.samples] + soak.harness.samples
    problems = verdict.failures + final.mismatches[:10] + samples[:10]
    if problems:
        lines += ["", "Failures:", "", *(f"- `{p}`" for p in problems)]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run: about 30 s of load")
    parser.add_argument("--minutes", type=float, help="how long the load lasts (default 5)")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second (40)")
    parser.add_argument("--owners", type=int, help="owners to seed (4; --quick 2)")
    parser.add_argument("--orgs", type=int, help="organizations per owner (4; --quick 3)")
    parser.add_argument("--churned", type=int, default=1, help="of them churned per owner (1)")
    parser.add_argument("--warmup", type=float, help="seconds before the RSS slope counts (60)")
    parser.add_argument("--sim-latency-ms", type=int, default=50)
    parser.add_argument("--worker-latency-ms", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="of the request mix")
    parser.add_argument("--output", type=Path, help="Markdown file to write the results into")
    parser.add_argument("--no-output", action="store_true", help="write no Markdown")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; 1 if any check failed."""
    args = _parse(argv)
    quick: bool = args.quick
    command = shlex.join([".venv/bin/python", "-m", "bench.soak", *(argv or sys.argv[1:])])
    plan = Plan(
        minutes=args.minutes or (0.5 if quick else 5.0),
        rate=args.rate,
        warmup_s=args.warmup if args.warmup is not None else (10.0 if quick else 60.0),
        sample_every_s=2.0 if quick else 5.0,
        churn_every_s=2.0 if quick else 3.0,
        seed=args.seed,
    )
    if plan.rate <= 0 or plan.minutes <= 0:
        raise SystemExit("--rate and --minutes must be positive")
    output: Path | None = args.output or (None if quick else ROOT / "docs" / "benchmarks.md")
    if args.no_output:
        output = None

    machine = machine_info()
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    state_dir = Path(tempfile.mkdtemp(prefix="connect-soak-"))
    config = unlimited_stack_config(
        state_dir, sim_latency_ms=args.sim_latency_ms, worker_latency_ms=args.worker_latency_ms
    )
    stack = Stack(config)
    wall = time.perf_counter()
    try:
        print(f"Starting the stack in {state_dir} …", flush=True)
        stack.start()
        world = _seed_world(
            stack,
            owners=args.owners or (2 if quick else 4),
            per_owner=args.orgs or (3 if quick else 4),
            churned_per_owner=args.churned,
        )
        with httpx.Client(base_url=config.sim_url, timeout=30.0) as sim:
            platform = sim.get("/_sim/platform").raise_for_status().json()
            platform_before = _available(platform["test"]["balance"])
            sim.post(
                "/_sim/platform/fund", json={"amount": PLATFORM_FUNDS, "currency": CURRENCY}
            ).raise_for_status()
            connected_before = _connected_available(sim, world)
        print(
            f"Seeded {len(world.orgs)} organizations ({len(world.churned)} churned); "
            f"{plan.rate:g} requests/s for {plan.minutes:g} min …",
            flush=True,
        )
        soak = Soak(stack, world, plan)
        pids = soak.pids
        start = _sample(pids, -1.0)
        cpu_before = {name: group_cpu_seconds(pid) for name, pid in pids.items()}
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(soak.run())
        cpu_after = {name: group_cpu_seconds(pid) for name, pid in pids.items()}
        done = max(1, sum(len(t.latencies) + t.errors for t in soak.tallies.values()))
        cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 / done for name in pids}
        print("Load done; flushing webhooks and checking …", flush=True)
        final, _ = _final(stack, world, platform_before, connected_before)
        end = _sample(pids, time.perf_counter() - soak.started)
        if not stack.service.running:
            raise RuntimeError(f"the service died:\n{stack.service.tail()}")
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)

    verdict = judge(soak, final, plan.warmup_s)
    section = render(
        soak,
        final,
        verdict,
        machine=machine,
        command=command,
        started_at=started_at,
        load_after=load_after,
        start=start,
        end=end,
        cpu_ms=cpu_ms,
        elapsed_s=time.perf_counter() - wall,
        latency=(args.worker_latency_ms, args.sim_latency_ms),
    )
    publish(
        section,
        markers=(MARK_START, MARK_END),
        output=output,
        json_path=args.json,
        raw=lambda: {
            "command": command,
            "started_at": started_at,
            "machine": machine,
            "plan": asdict(plan),
            "failures": verdict.failures,
            "rss_slope_mib_per_min": verdict.slope,
            "kinds": {
                kind: {
                    "requests": len(t.latencies) + t.errors,
                    "errors": t.errors,
                    "p50_ms": t.percentile_ms(50),
                    "p99_ms": t.percentile_ms(99),
                    "failure_samples": t.samples,
                }
                for kind, t in soak.tallies.items()
            },
            "samples": [asdict(s) for s in [start, *soak.samples, end]],
            "cpu_ms_per_request": cpu_ms,
            "final": {**asdict(final), "log_levels": dict(final.log_levels)},
            "transferred": soak.transferred,
            "paid_out": soak.paid_out,
        },
        took_s=time.perf_counter() - wall,
    )
    for failure in verdict.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if verdict.failures else 0


if __name__ == "__main__":
    sys.exit(main())
