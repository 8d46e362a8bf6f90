"""Webhook chaos across real processes: many accounts changing at Stripe (the simulator),
thousands of deliveries, duplicates and reordering, while the Worker (behind devstack's fault
proxy) fails, resets, stalls and goes away, and Stripe fails and rate-limits account reads.

The simulator delivers every event and redelivers each refused one with backoff, as Stripe
does; the test also re-posts signed copies of the recorded events, shuffled and duplicated,
until each is acknowledged. Then every account changes once more (its last word) while every
D1 write is refused, so that only redelivery can bring D1 there; the faults heal, every
delivery settles, and D1 must equal what the simulator holds for every account (by
`derive_status`), with every event acknowledged: nothing lost. (A service that answered 2xx
without D1 holding the result leaves accounts behind here: 7 of 20, tried once.)

It runs twice: with one service process, and with two replicas behind HAProxy sharing Redis,
one of which is killed mid-storm and started again (a crash, then a redeploy).

The money storm (issue 21), on the same stacks: charges with transfers, then partial refunds
and disputes (lost, won, left open; some closed before the service saw them open) while the
same faults rage (claim writes and Stripe's reversals among them), shuffled duplicated copies,
the next transfers of organizations that owe claims, a replica killed; then `reconcile --money`
must find 0 mismatches, what each transfer gave back must be the policy by the test's own
arithmetic, and no reversal, give-back or claim may exist twice for its cause. Larger:
`CHAOS_MONEY_ORGS=12 CHAOS_MONEY_CHARGES=5 pytest -s tests/e2e/test_webhook_chaos.py -k money`.

CI-sized by default; a larger run: `CHAOS_ACCOUNTS=100 CHAOS_CHANGES=40 pytest -s
tests/e2e/test_webhook_chaos.py` (`CHAOS_SEED` picks another storm). `-s` shows the counts.
The proxy's and the simulator's fault draws are seeded; which request meets which draw still
depends on timing, so two runs differ in their counts, not in their outcome.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from connect_backend.domain import Onboarding
from connect_backend.stripe_objects import V2_INCLUDE
from devstack.procs import Process
from devstack.stack import BetterAuth, Stack
from devstack.truth import stored, truth, truth_v2
from tests.e2e.faults import Faults, fault_stack_config, signed
from tests.support.stack import (
    add_event_destination,
    auth,
    better_auth_api,
    d1_org,
    linked_v1_account,
    linked_v2_account,
)

pytestmark = pytest.mark.e2e

ACCOUNTS = int(os.environ.get("CHAOS_ACCOUNTS", "20"))
CHANGES = int(os.environ.get("CHAOS_CHANGES", "28"))  # per account
SEED = int(os.environ.get("CHAOS_SEED", "5"))
DEAUTHORIZED_SHARE = 0.1  # of the accounts end disconnected from the platform
LAST_WORD = 1  # changes per account after the copies were posted
LAST_WORD_BROWNOUT = 2.0  # seconds every D1 write is refused after the last word
REPOST_CONCURRENCY = 16
MANY = 10**9  # a rule `count` to read back how often it fired
# The fleet, in turn: a legacy-type v1 account (`type=express`, made at Stripe and linked, as
# before issue 22), a v1 account with controller properties (onboarded through the service,
# its default), an Accounts v2 account (made at Stripe and linked as v2; its changes reach the
# service as thin events through an event destination).
KINDS = ("v1-legacy", "v1-controller", "v2")
# The flush waits grow with the storm (seconds per 560 planned changes, the CI size's).
SIZE = max(1.0, ACCOUNTS * CHANGES / 560)
ACCOUNT_READ = re.compile(r"^/(v1|v2/core)/accounts/acct_[^/]+$")

# Every Worker call the webhook makes (organization-by-account, update-organization, and
# create-connect-account when it re-links) meets these, drawn from the proxy's seeded RNG.
WORKER_CHAOS: list[dict[str, Any]] = [
    {"path_prefix": "/api/internal/", "fault": "latency", "latency_ms": 2, "jitter_ms": 20},
    {"path_prefix": "/api/internal/", "fault": "timeout", "rate": 0.004},
    {"path_prefix": "/api/internal/", "fault": "status", "status": 500, "rate": 0.15},
    {"path_prefix": "/api/internal/", "fault": "status", "status": 429, "rate": 0.05},
    {"path_prefix": "/api/internal/", "fault": "reset", "rate": 0.05},
    {"path_prefix": "/api/internal/", "fault": "close", "rate": 0.03},
    # D1 took the write, the answer was lost.
    {"path_prefix": "/api/internal/update-organization", "fault": "status", "when": "after",
     "status": 500, "rate": 0.05},
]  # fmt: skip
# A brown-out now and then: every write refused for a moment.
BROWNOUT = {"path_prefix": "/api/internal/update-organization", "fault": "status", "status": 503}
# Stripe's account reads: 500s (stripe-python retries them) and 429s (it does not).
STRIPE_CHAOS: list[dict[str, Any]] = [
    {"path_prefix": prefix, "method": "GET", "status": status, "rate": rate, "count": MANY}
    for prefix in ("/v1/accounts/", "/v2/core/accounts/")
    for status, rate in ((500, 0.1), (429, 0.08))
]
PATCHES: list[dict[str, Any]] = [
    {"requirements": {"disabled_reason": "listed"}},
    {"requirements": {"disabled_reason": "platform_paused"}},
    {"requirements": {"disabled_reason": None, "currently_due": [], "past_due": []}},
    {"requirements": {"currently_due": ["external_account"]}},
    {"requirements": {"past_due": ["individual.id_number"]}},
    {"payouts_enabled": False},
    {"payouts_enabled": True},
    {"capabilities": {"transfers": "pending"}},
    {"capabilities": {"transfers": "active"}},
    {"capabilities": {"transfers": "inactive"}},
    {"details_submitted": False},
]
OUTCOMES = ["complete", "due", "review", "reject"]
REJECTIONS = ["rejected.fraud", "rejected.terms_of_service", "rejected.listed", "rejected.other"]


@pytest.fixture(scope="module", params=[0, 2], ids=["one-process", "two-replicas"])
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    config = fault_stack_config(
        tmp_path_factory.mktemp("chaos"),
        # Redeliveries back off from 0.1 s, doubling; 16 attempts outlast any storm here.
        sim_args=["--webhook-retry-base", "0.1", "--webhook-max-attempts", "16"],
        replicas=request.param,
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


@pytest.fixture
async def faults(stack: Stack, sim: httpx.AsyncClient) -> AsyncIterator[Faults]:
    control = Faults(stack, sim)
    await control.heal()
    yield control
    await control.heal()
    await control.aclose()


@dataclass
class Report:
    """The storm's numbers."""

    accounts: int = 0
    changes: int = 0
    events: int = 0
    reposts: int = 0
    duplicates: int = 0
    repost_answers: Counter[int] = field(default_factory=Counter)
    reposted_again: int = 0
    brownouts: int = 0
    outage_s: float = 0.0
    delivery_counts: dict[str, int] = field(default_factory=dict)
    delivery_statuses: Counter[str] = field(default_factory=Counter)
    worker_faults: dict[str, int] = field(default_factory=dict)
    stripe_faults: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    budget: Counter[str] = field(default_factory=Counter)  # the Stripe budget's log events
    replica_down_s: float = 0.0  # how long a replica was dead mid-storm (with replicas)
    kinds: Counter[str] = field(default_factory=Counter)  # accounts per kind
    kind_events: Counter[str] = field(default_factory=Counter)  # events per kind (thin apart)
    kind_mismatches: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)  # deauthorized (v2: closed) per kind
    thin_acknowledged: int = 0  # thin events the event destination's deliveries had acknowledged
    thin_synced: int = 0  # thin events the service synced from (its log lines)
    account_reads: Counter[str] = field(default_factory=Counter)  # GETs at Stripe, by API
    peak_rss_kib: dict[str, list[int]] = field(default_factory=dict)  # per process, per life

    @property
    def deliveries(self) -> int:
        """Deliveries the service handled: the simulator's (acknowledged or refused) and the
        posts of signed copies (re-posts included)."""
        c = self.delivery_counts
        return c["delivered"] + c["failed_attempts"] + self.reposts + self.reposted_again

    def text(self) -> str:
        c = self.delivery_counts
        by_sim = c["delivered"] + c["failed_attempts"]
        posted = self.reposts + self.reposted_again
        refused = self.reposts - self.repost_answers[200]
        worker = {k: n for k, n in self.worker_faults.items() if k != "latency"}
        injected = sum(worker.values()) + sum(self.stripe_faults.values())
        reads = sum(self.account_reads.values())
        rss = ", ".join(
            f"{name} " + " then ".join(f"{kib / 1024:.0f}" for kib in lives) + " MiB"
            for name, lives in self.peak_rss_kib.items()
        )
        return "\n".join(
            [
                f"webhook chaos (seed {SEED}): {self.accounts} accounts, {self.changes} changes "
                f"at Stripe -> {self.events} events",
                "  fleet: "
                + ", ".join(
                    f"{kind} {self.kinds[kind]} ({self.kind_events[kind]} events, "
                    f"{self.ended[kind]} {'closed' if kind == 'v2' else 'deauthorized'}, "
                    f"{self.kind_mismatches[kind]} mismatches)"
                    for kind in KINDS
                )
                + f"; v2 thin events {self.kind_events['v2 thin']}: {self.thin_acknowledged} "
                f"acknowledged by the event destination, {self.thin_synced} synced by the service",
                f"  deliveries: {by_sim + posted} = {by_sim} by the simulator "
                f"({c['delivered']} acknowledged + {c['failed_attempts']} refused, each "
                f"redelivered with backoff) + {posted} posts of signed copies "
                f"({self.reposts} shuffled, {self.duplicates} of them duplicates; {refused} "
                f"refused, posted again until acknowledged: {self.reposted_again} posts)",
                f"  pending {c['pending']}, abandoned {c['abandoned']}; answers: simulator "
                f"{dict(sorted(self.delivery_statuses.items()))}, copies "
                f"{dict(sorted(self.repost_answers.items()))}",
                f"  faults injected: {injected} = Worker {sum(worker.values())} {worker} "
                f"+ Stripe {sum(self.stripe_faults.values())} {self.stripe_faults}; "
                f"{self.brownouts} write brown-outs (0.4 s of 503s), a {self.outage_s:.1f} s "
                f"outage (connections refused); {self.worker_faults.get('latency', 0)} Worker "
                "calls delayed 2-22 ms",
                f"  Stripe account reads (every GET of an account, failed ones too): {reads} "
                f"{dict(sorted(self.account_reads.items()))} for {self.deliveries} deliveries "
                f"= {reads / max(1, self.deliveries):.2f} per delivery",
                f"  peak RSS (VmHWM) per service process: {rss}",
                f"  mismatches (D1 vs derive_status of the simulator's account): "
                f"{len(self.mismatches)} of {self.accounts}",
                "  took: "
                + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items()),
            ]
        )


@dataclass
class Account:
    org_id: str
    account_id: str
    rng: random.Random
    kind: str = "v1-controller"


async def _onboard_all(
    service: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    better_auth: BetterAuth,
    count: int,
) -> list[Account]:
    """`count` organizations, their accounts of each kind in turn (`KINDS`): the v1 controller
    ones onboarded through the service, the others made at Stripe and linked in D1."""
    owner = better_auth.sign_up("chaos@storm.test", "chaos-password-123", "Storm Owner")
    org_ids = [
        better_auth.create_organization(owner, f"Storm {n}", f"storm-{n}") for n in range(count)
    ]
    gate = asyncio.Semaphore(8)

    async def through_service(org_id: str) -> str:
        for _ in range(10):
            response = await service.post(
                "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
            )
            if response.status_code != 503:
                break
            # The platform's Stripe budget (test mode: 20 a second) is spent for now:
            # onboarding is safe to repeat, as a browser would after a moment.
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        assert response.status_code == 200, response.text
        account_id: str = response.json()["account_id"]
        return account_id

    async def onboard(n: int, org_id: str) -> Account:
        kind = KINDS[n % len(KINDS)]
        async with gate:
            if kind == "v1-legacy":
                account_id = await linked_v1_account(stripe_api, internal, org_id, type="express")
            elif kind == "v2":
                account_id = await linked_v2_account(stripe_api, internal, org_id)
            else:
                account_id = await through_service(org_id)
        return Account(org_id, account_id, random.Random(SEED * 7919 + n), kind)

    return list(await asyncio.gather(*(onboard(n, o) for n, o in enumerate(org_ids))))


async def _change(
    sim: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    account: Account,
    changes: int,
    deauthorize: bool,
) -> int:
    """Move one account through onboarding outcomes and patches; how many changes were made.
    `deauthorize`: then the account leaves the platform (a v2 account: the platform closes
    it, which only a thin event announces)."""
    made = 0
    for _ in range(changes):
        rng = account.rng
        if rng.random() < 0.4:
            outcome = rng.choice(OUTCOMES)
            body: dict[str, Any] = {"outcome": outcome}
            if outcome == "reject":
                body["reason"] = rng.choice(REJECTIONS)
            response = await sim.post(f"/_sim/accounts/{account.account_id}/onboarding", json=body)
        else:
            response = await sim.post(
                f"/_sim/accounts/{account.account_id}/patch", json=rng.choice(PATCHES)
            )
        assert response.status_code == 200, response.text
        made += 1
        await asyncio.sleep(rng.uniform(0, 0.03))
    if deauthorize:
        if account.kind == "v2":
            response = await stripe_api.post(f"/v2/core/accounts/{account.account_id}/close")
        else:
            response = await sim.post(f"/_sim/accounts/{account.account_id}/deauthorize")
        assert response.status_code == 200, response.text
        made += 1
    return made


def _about(event: dict[str, Any]) -> str | None:
    """The account an event is about: a v1 event's `account`, a thin event's related object."""
    related = event.get("related_object") or {}
    account: str | None = event.get("account") or related.get("id")
    return account


async def _events(
    sim: httpx.AsyncClient, accounts: list[Account], *, since: set[str] | None = None
) -> list[dict[str, Any]]:
    """The events the simulator recorded about these accounts (but not those in `since`),
    thin events among them."""
    mine = {a.account_id for a in accounts}
    recorded = (await sim.get("/_sim/events", params={"limit": "1000000"})).json()["data"]
    return [e for e in recorded if _about(e) in mine and e["id"] not in (since or ())]


async def _flush(sim: httpx.AsyncClient, seconds: float) -> None:
    """Wait until the simulator has delivered everything (and had it acknowledged), for at
    most `seconds` times the storm's size."""
    waited = seconds * SIZE
    settled = await sim.post(
        "/_sim/webhooks/flush", params={"timeout": str(waited)}, timeout=waited + 30
    )
    assert settled.status_code == 200, settled.text


async def _truth(
    sim: httpx.AsyncClient, stripe_api: httpx.AsyncClient, account: Account
) -> Onboarding:
    """What D1 must hold for the account: `derive_status` of the simulator's account; for a
    v2 account, of what Stripe shows through v2 (the view the service is to follow)."""
    entry = (await sim.get(f"/_sim/accounts/{account.account_id}")).json()
    if account.kind != "v2":
        return truth(entry)
    include = {f"include[{n}]": name for n, name in enumerate(V2_INCLUDE)}
    shown = await stripe_api.get(f"/v2/core/accounts/{account.account_id}", params=include)
    assert shown.status_code == 200, shown.text
    return truth_v2(shown.json(), deauthorized=bool(entry["deauthorized"]))


async def _account_reads(sim: httpx.AsyncClient) -> Counter[str]:
    """The reads of single accounts the simulator has counted so far, by API (`v1`, `v2`)."""
    rows = (await sim.get("/_sim/requests", params={"method": "GET"})).json()["data"]
    reads: Counter[str] = Counter()
    for row in rows:
        matched = ACCOUNT_READ.match(row["path"])
        if matched:
            reads["v1" if matched.group(1) == "v1" else "v2"] += row["count"]
    return reads


async def _brownouts(
    faults: Faults,
    stop: asyncio.Event,
    report: Report,
    *,
    brownout: dict[str, Any] = BROWNOUT,
    rules: list[dict[str, Any]] = WORKER_CHAOS,
) -> Report:
    """Now and then, refuse every D1 write (`brownout`'s) for a moment; once, refuse every
    connection. The report, counted."""
    outage_done = False
    while not stop.is_set():
        await asyncio.sleep(1.2)
        if stop.is_set():
            return report
        if not outage_done:
            started = time.monotonic()
            await faults.worker_down()
            await asyncio.sleep(1.5)
            await faults.worker_down(False)
            report.outage_s = time.monotonic() - started
            outage_done = True
            continue
        await faults.worker_rules(brownout, *rules)
        await asyncio.sleep(0.4)
        await faults.worker_rules(*rules)
        report.brownouts += 1
    return report


async def _crash_and_redeploy(stack: Stack, report: Report) -> None:
    """Mid-storm, kill a replica (SIGKILL: requests in flight on it are lost), then start it
    again, as a crash and the redeploy after it would."""
    await asyncio.sleep(1.0)
    started = time.monotonic()
    _peak_rss(stack.replicas[1], report)  # its first life's
    stack.kill_replica(1)
    await asyncio.sleep(1.5)
    await asyncio.to_thread(stack.start_replica, 1)
    report.replica_down_s = time.monotonic() - started


def _peak_rss(process: Process, report: Report) -> None:
    """Note the running process's peak memory so far (each life of a restarted one apart)."""
    kib = process.peak_rss_kib()
    if kib is not None:
        report.peak_rss_kib.setdefault(process.name, []).append(kib)


async def _post(service: httpx.AsyncClient, event: dict[str, Any], secret: str) -> int:
    body = orjson.dumps(event)
    try:
        response = await service.post(
            "/api/connect/webhook", content=body, headers=signed(body, secret)
        )
    except httpx.TransportError:
        return 0  # no answer: counted as refused, posted again
    return response.status_code


async def _repost(
    service: httpx.AsyncClient, copies: list[dict[str, Any]], secret: str, report: Report
) -> list[dict[str, Any]]:
    """Post every copy (bounded concurrency); the ones not acknowledged."""
    gate = asyncio.Semaphore(REPOST_CONCURRENCY)

    async def one(event: dict[str, Any]) -> tuple[dict[str, Any], int]:
        async with gate:
            return event, await _post(service, event, secret)

    refused = []
    for event, status in await asyncio.gather(*(one(e) for e in copies)):
        report.repost_answers[status] += 1
        if not 200 <= status < 300:
            refused.append(event)
    return refused


@pytest.fixture
async def event_destination(stack: Stack, sim: httpx.AsyncClient) -> AsyncIterator[str]:
    """The platform's event destination for v2 accounts' thin events, to the service's webhook
    route (beside the snapshot endpoints), for one test: its id."""
    endpoint_id = await add_event_destination(
        sim, stack.config.service_url, stack.config.webhook_secret
    )
    yield endpoint_id
    await sim.delete(f"/_sim/webhook_endpoints/{endpoint_id}")


async def test_webhook_storm_leaves_d1_equal_to_stripe(
    stack: Stack,
    better_auth: BetterAuth,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    internal: httpx.AsyncClient,
    faults: Faults,
    event_destination: str,
) -> None:
    report = Report(accounts=ACCOUNTS)
    secret = stack.config.webhook_secret
    began = time.monotonic()
    accounts = await _onboard_all(service, stripe_api, internal, better_auth, ACCOUNTS)
    report.kinds = Counter(a.kind for a in accounts)
    await _flush(sim, 30)
    before = (await sim.get("/_sim/deliveries")).json()["counts"]
    onboarding = {e["id"] for e in await _events(sim, accounts)}  # e.g. the email prefilled
    reads_before = await _account_reads(sim)
    report.timings["set-up"] = time.monotonic() - began

    # The storm, while the Worker and Stripe fail: changes at Stripe; shuffled, duplicated
    # copies of their events on top of the simulator's own (re)deliveries; then each
    # account's last word (the state D1 must end in), whose deliveries meet the faults too
    # and which no copy covers: an event acknowledged but not applied would show.
    started = time.monotonic()
    await faults.worker_rules(*WORKER_CHAOS, seed=SEED)
    await faults.stripe(faults=STRIPE_CHAOS, latency_jitter_ms=10, seed=SEED)
    stop = asyncio.Event()
    brownouts = asyncio.create_task(_brownouts(faults, stop, report))
    crash = (
        asyncio.create_task(_crash_and_redeploy(stack, report)) if stack.config.replicas else None
    )
    made = await asyncio.gather(
        *(_change(sim, stripe_api, a, CHANGES - LAST_WORD, False) for a in accounts)
    )
    report.timings["changes"] = time.monotonic() - started
    events = await _events(sim, accounts, since=onboarding)
    rng = random.Random(SEED)
    copies = events + rng.sample(events, len(events) // 2)
    rng.shuffle(copies)
    report.reposts, report.duplicates = len(copies), len(copies) - len(events)
    reposting = time.monotonic()
    refused = await _repost(service, copies, secret, report)
    # What the service refused is posted again, as Stripe would, until acknowledged; and
    # the simulator's redeliveries settle: nothing from before the last word is left.
    for _ in range(20):
        if not refused:
            break
        report.reposted_again += len(refused)
        refused = await _repost(service, refused, secret, Report())
    assert refused == [], f"{len(refused)} copies never acknowledged"
    await _flush(sim, 120)
    report.timings["re-posts"] = time.monotonic() - reposting
    stop.set()
    await brownouts
    if crash is not None:
        await crash
    # The last word's first deliveries all meet a brown-out: only redelivery can apply them.
    # A share of each kind leaves the platform (v2 accounts: closed, told by thin events only).
    await faults.worker_rules(BROWNOUT, *WORKER_CHAOS)
    leaving: set[int] = set()
    for kind in KINDS:
        of_kind = [n for n, a in enumerate(accounts) if a.kind == kind]
        share = max(1, round(len(of_kind) * DEAUTHORIZED_SHARE)) if of_kind else 0
        leaving.update(rng.sample(of_kind, share))
        report.ended[kind] = share
    made += await asyncio.gather(
        *(_change(sim, stripe_api, a, LAST_WORD, n in leaving) for n, a in enumerate(accounts))
    )
    report.changes = sum(made)
    await asyncio.sleep(LAST_WORD_BROWNOUT)
    await faults.worker_rules(*WORKER_CHAOS)
    await asyncio.sleep(1.0)
    report.timings["storm"] = time.monotonic() - started

    # Heal: the simulator redelivers what the last word's deliveries were refused.
    healed = time.monotonic()
    proxy = await faults.worker.state()
    report.worker_faults = proxy["stats"]["faults"]
    chaos = (await sim.get("/_sim/config")).json()
    report.stripe_faults = {
        f"{rule['path_prefix']} {rule['status']}": MANY - rule["count"] for rule in chaos["faults"]
    }
    await faults.heal()
    await _flush(sim, 180)
    report.timings["settle"] = time.monotonic() - healed

    events = await _events(sim, accounts, since=onboarding)
    report.events = len(events)
    kind_of = {a.account_id: a.kind for a in accounts}
    thin_ids = {e["id"] for e in events if e["object"] == "v2.core.event"}
    report.kind_events = Counter(
        "v2 thin" if e["id"] in thin_ids else kind_of[str(_about(e))] for e in events
    )
    deliveries = (await sim.get("/_sim/deliveries")).json()
    counts = deliveries["counts"]
    report.delivery_counts = {
        k: counts[k] - before.get(k, 0) for k in ("delivered", "failed_attempts")
    }
    report.delivery_counts |= {k: counts[k] for k in ("pending", "abandoned")}
    ids = {e["id"] for e in events}
    mine = [d for d in deliveries["data"] if d["event_id"] in ids]
    report.delivery_statuses = Counter(str(d["status"] or d["error"]) for d in mine)
    report.thin_acknowledged = sum(
        1 for d in mine if d["event_id"] in thin_ids and d["status"] and 200 <= d["status"] < 300
    )
    reads = await _account_reads(sim)
    report.account_reads = Counter({api: reads[api] - reads_before[api] for api in reads})
    apis: set[tuple[str, str]] = set()
    for account in accounts:
        organization = await d1_org(internal, account.org_id)
        apis.add((account.kind, organization["stripe_connect_account_api"]))
        held = stored(organization)
        due = await _truth(sim, stripe_api, account)
        if held != due:
            report.kind_mismatches[account.kind] += 1
            report.mismatches.append(
                f"{account.kind} {account.account_id}: D1 {held}, Stripe {due}"
            )
    report.timings["total"] = time.monotonic() - began
    logs = [p.log_path.read_text() for p in stack.service_processes]
    for event in ("stripe.budget.waited", "stripe.budget.refused"):
        report.budget[event] = sum(log.count(f'"event":"{event}"') for log in logs)
    report.thin_synced = sum(
        1
        for log in logs
        for line in log.splitlines()
        if '"event":"webhook.synced"' in line and '"event_type":"v2.core.account' in line
    )
    for process in stack.service_processes:
        _peak_rss(process, report)
    print("\n" + report.text())
    print(f"  the platform's Stripe budget (test mode, 20/s): {dict(report.budget)}")
    if stack.config.replicas:
        print(f"  replica-1 killed mid-storm, back after {report.replica_down_s:.1f} s")
        assert report.replica_down_s > 0

    assert report.mismatches == []
    # Each kind is what it was made as: D1 uses v2 for the v2 accounts, v1 for the others.
    assert apis == {("v1-legacy", "v1"), ("v1-controller", "v1"), ("v2", "v2")}
    assert (counts["pending"], counts["abandoned"]) == (0, 0)
    assert report.delivery_counts["delivered"] == report.events  # each acknowledged, once
    assert report.delivery_counts["failed_attempts"] > 0  # the storm did make Stripe redeliver
    assert "500" not in report.delivery_statuses  # refusals are 502/503, never a crash
    assert 500 not in report.repost_answers
    # The v2 accounts' changes reached the service as thin events, which it verified and
    # synced from by reading the accounts through v2 (the closed ones it can only learn so).
    assert report.kind_events["v2 thin"] > 0
    assert report.thin_acknowledged == report.kind_events["v2 thin"]
    assert report.thin_synced > 0
    assert report.account_reads["v2"] > 0
    # The storm met the platform's Stripe budget: webhooks waited for room (and the few that
    # could not get it in time were refused and delivered again), and still nothing was lost.
    assert report.budget["stripe.budget.waited"] > 0


# --- money comes back, under the same storm (issue 21) ---------------------------------------

MONEY_ORGS = int(os.environ.get("CHAOS_MONEY_ORGS", "5"))
MONEY_CHARGES = int(os.environ.get("CHAOS_MONEY_CHARGES", "3"))  # per organization
MONEY_PAID_OUT_SHARE = 0.4  # of the organizations pay everything out first: their refunds claim
MONEY_EVENTS = (
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.closed",
    "charge.dispute.funds_reinstated",
)
# The money path's Stripe calls meet faults too: its reads fail (stripe-python retries 500s,
# not 429s), reversals and give-backs are made but their answer is lost (`after`: the keyed
# retry replays them) or refused before anything happens.
MONEY_STRIPE_CHAOS: list[dict[str, Any]] = [
    {"path_prefix": "/v1/charges", "method": "GET", "status": 500, "rate": 0.1, "count": MANY},
    {"path_prefix": "/v1/charges", "method": "GET", "status": 429, "rate": 0.05, "count": MANY},
    {"path_prefix": "/v1/refunds", "method": "GET", "status": 500, "rate": 0.1, "count": MANY},
    {"path_prefix": "/v1/disputes", "method": "GET", "status": 429, "rate": 0.05, "count": MANY},
    {"path_prefix": "/v1/transfers", "method": "GET", "status": 500, "rate": 0.1, "count": MANY},
    {"path_prefix": "/v1/transfers", "method": "GET", "status": 429, "rate": 0.05, "count": MANY},
    {"path_prefix": "/v1/transfers", "method": "POST", "status": 500, "rate": 0.1,
     "when": "after", "count": MANY},
    {"path_prefix": "/v1/transfers", "method": "POST", "status": 429, "rate": 0.05,
     "count": MANY},
]  # fmt: skip
# D1 took the claim (or its settlement), the answer was lost; and now and then every claim write
# is refused for a moment.
MONEY_WORKER_CHAOS: list[dict[str, Any]] = [
    *WORKER_CHAOS,
    {"path_prefix": "/api/internal/claims", "method": "POST", "fault": "status", "when": "after",
     "status": 500, "rate": 0.1},
]  # fmt: skip
CLAIMS_BROWNOUT = {"path_prefix": "/api/internal/claims", "fault": "status", "status": 503}


@dataclass
class Paid:
    """A charge and the transfer the service made from it."""

    org: int
    charge_id: str
    gross: int
    transfer_id: str
    earned: int


@dataclass
class MoneyReport:
    orgs: int = 0
    charges: int = 0
    refunds: int = 0
    disputes: Counter[str] = field(default_factory=Counter)
    events: int = 0
    delivered: int = 0
    refused: int = 0
    reposts: int = 0
    duplicates: int = 0
    reposted_again: int = 0
    repost_answers: Counter[int] = field(default_factory=Counter)
    delivery_statuses: Counter[str] = field(default_factory=Counter)
    brownouts: int = 0
    outage_s: float = 0.0
    replica_down_s: float = 0.0
    worker_faults: dict[str, int] = field(default_factory=dict)
    stripe_faults: int = 0
    reversals: Counter[str] = field(default_factory=Counter)  # by cause
    reversed_amount: int = 0
    give_backs: int = 0
    give_backs_of_claims: int = 0  # give-backs of (also) what a claim had collected
    claims: int = 0
    claimed: int = 0
    claims_settled_by_transfer: int = 0
    reconcile: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        posted = self.reposts + self.reposted_again
        return "\n".join(
            [
                f"money storm (seed {SEED}): {self.orgs} organizations, {self.charges} charges "
                f"with a transfer each; {self.refunds} refunds, disputes "
                f"{dict(sorted(self.disputes.items()))} -> {self.events} events",
                f"  deliveries: {self.delivered + self.refused + posted} = "
                f"{self.delivered + self.refused} by the simulator ({self.delivered} "
                f"acknowledged + {self.refused} refused and redelivered) + {posted} posts of "
                f"signed copies ({self.reposts} shuffled, {self.duplicates} duplicates; "
                f"{self.reposted_again} posted again until acknowledged)",
                f"  answers: simulator {dict(sorted(self.delivery_statuses.items()))}, copies "
                f"{dict(sorted(self.repost_answers.items()))}",
                f"  faults injected: Worker {sum(self.worker_faults.values())} "
                f"{self.worker_faults} + Stripe {self.stripe_faults}; {self.brownouts} claim-write "
                f"brown-outs, a {self.outage_s:.1f} s outage"
                + (
                    f"; replica-1 killed, back after {self.replica_down_s:.1f} s"
                    if self.replica_down_s
                    else ""
                ),
                f"  at Stripe: reversals {dict(sorted(self.reversals.items()))} "
                f"({self.reversed_amount} in all), {self.give_backs} won-dispute give-backs "
                f"({self.give_backs_of_claims} of them of what a claim had collected); "
                f"each at most once per (cause, cause id, transfer)",
                f"  claims: {self.claims} ({self.claimed} in all), "
                f"{self.claims_settled_by_transfer} settled by the next transfers; none settled "
                "beyond its amount",
                f"  reconcile --money: {self.reconcile}",
                "  took: "
                + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items()),
            ]
        )


def clawback(earned: int, charged: int, taken: int) -> int:
    """The test's own statement of the default policy: round_half_up(earned * taken / charged),
    taken at most the charge (refunds and a dispute count alike)."""
    taken = min(taken, charged)
    return (2 * earned * taken + charged) // (2 * charged)


async def _money_orgs(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, better_auth: BetterAuth
) -> tuple[Any, list[tuple[str, str]]]:
    """Organizations onboarded through the service, their accounts completed at Stripe: the
    owner, and (organization id, account id) for each."""
    owner = better_auth.sign_up("money@storm.test", "money-password-123", "Money Owner")
    orgs: list[tuple[str, str]] = []
    for n in range(MONEY_ORGS):
        org_id = better_auth.create_organization(owner, f"Money {n}", f"money-{n}")
        answer = await service.post(
            "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
        )
        assert answer.status_code == 200, answer.text
        account_id = answer.json()["account_id"]
        done = await sim.post(
            f"/_sim/accounts/{account_id}/onboarding", json={"outcome": "complete"}
        )
        assert done.status_code == 200, done.text
        orgs.append((org_id, account_id))
    return owner, orgs


async def _charge_and_transfer(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, admin: Any, org_id: str, gross: int
) -> dict[str, Any]:
    charge = await sim.post("/_sim/charges", json={"amount": gross, "currency": "usd"})
    assert charge.status_code == 200, charge.text
    charge_id = charge.json()["id"]
    request = {
        "organization_id": org_id,
        "amount": gross,
        "currency": "usd",
        "source_transaction": charge_id,
    }
    # Under the storm's faults the answer may be a 503 or 502, a lost connection, or 409
    # `claims_changed`: sent again with the same key, as a client does, until it is made.
    for _ in range(40):
        try:
            made = await service.post(
                "/api/connect/transfer",
                json=request,
                headers=auth(admin, **{"Idempotency-Key": f"money-{charge_id}"}),
            )
        except httpx.TransportError:
            continue
        retry = made.status_code in (502, 503) or (
            made.status_code == 409 and made.json()["error"]["code"] == "claims_changed"
        )
        if not retry:
            break
        await asyncio.sleep(0.2)
    assert made.status_code == 200, made.text
    body: dict[str, Any] = made.json() | {"charge_id": charge_id}
    return body


async def _stripe_form(
    sim: httpx.AsyncClient, key: str, path: str, data: dict[str, Any]
) -> dict[str, Any]:
    """A call to the simulator's Stripe API as the platform (form-encoded, as Stripe takes it)."""
    response = await sim.post(path, data=data, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _money_moves(
    sim: httpx.AsyncClient,
    key: str,
    paid: Paid,
    rng: random.Random,
    report: MoneyReport,
    *,
    won_later: bool = False,
) -> tuple[str, str] | None:
    """What happens to one charge at Stripe, seeded: partial refunds; a dispute lost, won or
    left open; or refunds and then a dispute of what they left. A dispute to close later (once
    its opening was handled: its reversal made, then given back or kept), with its outcome.
    `won_later`: a dispute of part of the charge, won after the next transfer settled its
    claim."""
    left = paid.gross
    if won_later:
        opened = await sim.post(
            f"/_sim/charges/{paid.charge_id}/dispute", json={"amount": rng.randint(1, left)}
        )
        assert opened.status_code == 200, opened.text
        report.disputes["won"] += 1
        return opened.json()["id"], "won"
    plan = rng.choice(["refunds", "refunds", "dispute", "refund-then-dispute"])
    if plan in ("refunds", "refund-then-dispute"):
        for _ in range(rng.randint(1, 3) if plan == "refunds" else 1):
            amount = min(left, rng.randint(1, max(1, paid.gross // 2)))
            await _stripe_form(
                sim, key, "/v1/refunds", {"charge": paid.charge_id, "amount": amount}
            )
            report.refunds += 1
            left -= amount
            await asyncio.sleep(rng.uniform(0, 0.05))
            if left == 0:
                return None
    if plan == "refunds":
        return None
    amount = left if rng.random() < 0.5 else rng.randint(1, left)
    opened = await sim.post(f"/_sim/charges/{paid.charge_id}/dispute", json={"amount": amount})
    assert opened.status_code == 200, opened.text
    await asyncio.sleep(rng.uniform(0, 0.1))
    outcome = rng.choice(["won", "lost", "open"])
    report.disputes[outcome] += 1
    if outcome == "open":
        return None
    if rng.random() < 0.5:
        return opened.json()["id"], outcome  # closed once its opening was handled
    await _close(sim, opened.json()["id"], outcome)  # closed before the service saw it open
    return None


async def _close(sim: httpx.AsyncClient, dispute_id: str, outcome: str) -> None:
    closed = await sim.post(f"/_sim/disputes/{dispute_id}/close", json={"outcome": outcome})
    assert closed.status_code == 200, closed.text


async def _money_events(sim: httpx.AsyncClient, charges: set[str]) -> list[dict[str, Any]]:
    recorded = (await sim.get("/_sim/events", params={"limit": "100000"})).json()["data"]
    found = []
    for event in recorded:
        if event["type"] not in MONEY_EVENTS:
            continue
        obj = event["data"]["object"]
        charge_id = obj["id"] if obj.get("object") == "charge" else obj.get("charge")
        if charge_id in charges:
            found.append(event)
    return found


async def test_money_storm_takes_back_exactly_the_policy_once(
    stack: Stack,
    better_auth: BetterAuth,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    faults: Faults,
) -> None:
    """Charges with transfers, then partial refunds and disputes (lost, won, open) at Stripe
    while the Worker and Stripe fail (claims' writes too), copies posted shuffled and
    duplicated, a replica killed (with replicas); the organizations that paid out (and so owe
    claims) get a next transfer mid-storm (and one after it while a claim is open), and one
    dispute each of theirs is won after that transfer settled its claim. Then `reconcile
    --money` finds 0 mismatches, what was taken from each transfer is the test's own statement
    of the policy, no reversal or give-back was made twice and no claim settled beyond its
    amount."""
    report = MoneyReport(orgs=MONEY_ORGS)
    secret, key = stack.config.webhook_secret, stack.config.stripe_secret_key
    began = time.monotonic()
    admin = better_auth.sign_up("money-admin@storm.test", "admin-password-123", "Money Admin")
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'money-admin@storm.test'")
    owner, orgs = await _money_orgs(service, sim, better_auth)
    funded = await sim.post("/_sim/platform/fund", json={"amount": 10_000_000, "currency": "usd"})
    assert funded.status_code == 200, funded.text
    rng = random.Random(SEED * 104_729)
    paid: list[Paid] = []
    for n, (org_id, _) in enumerate(orgs):
        for _ in range(MONEY_CHARGES):
            gross = rng.randint(101, 50_000)
            made = await _charge_and_transfer(service, sim, admin, org_id, gross)
            paid.append(
                Paid(n, made["charge_id"], gross, made["transfer_id"], made["transfer_amount"])
            )
    paid_out = rng.sample(range(MONEY_ORGS), round(MONEY_ORGS * MONEY_PAID_OUT_SHARE))
    for n in paid_out:
        payout = await service.post(
            "/api/connect/payout",
            json={"organization_id": orgs[n][0], "currency": "usd"},
            headers=auth(owner, **{"Idempotency-Key": f"money-payout-{n}"}),
        )
        assert payout.status_code == 200, payout.text
    report.charges = len(paid)
    settled = await sim.post("/_sim/webhooks/flush", params={"timeout": "60"})
    assert settled.status_code == 200, settled.text
    report.timings["set-up"] = time.monotonic() - began

    # The storm.
    started = time.monotonic()
    await faults.worker_rules(*MONEY_WORKER_CHAOS, seed=SEED)
    await faults.stripe(faults=MONEY_STRIPE_CHAOS, latency_jitter_ms=10, seed=SEED)
    stop = asyncio.Event()
    brownouts = asyncio.create_task(
        _brownouts(faults, stop, Report(), brownout=CLAIMS_BROWNOUT, rules=MONEY_WORKER_CHAOS)
    )
    crash_report = Report()
    crash = (
        asyncio.create_task(_crash_and_redeploy(stack, crash_report))
        if stack.config.replicas
        else None
    )
    later = await asyncio.gather(
        *(
            _money_moves(
                sim,
                key,
                p,
                random.Random(SEED * 31 + i),
                report,
                # The first charge of each organization that paid out: its dispute is claimed,
                # the claim settled from the next transfer, then the dispute is won.
                won_later=p.org in paid_out and i % MONEY_CHARGES == 0,
            )
            for i, p in enumerate(paid)
        )
    )
    charges = {p.charge_id for p in paid}
    events = await _money_events(sim, charges)
    await _storm_copies(service, events, secret, rng, report)
    # The organizations that paid out owe claims now: their next transfers, under the same
    # faults, go out net of them (a dispute won later sends back what they collected).
    for n in paid_out:
        # Large enough that its net (90 %) settles every claim the organization can owe.
        gross = MONEY_CHARGES * 50_000
        made = await _charge_and_transfer(service, sim, admin, orgs[n][0], gross)
        report.claims_settled_by_transfer += made["claims_settled"]
    # The disputes left to close: the service has handled their opening by now.
    await asyncio.gather(*(_close(sim, *closing) for closing in later if closing is not None))
    seen = {e["id"] for e in events}
    await _storm_copies(
        service, [e for e in await _money_events(sim, charges) if e["id"] not in seen], secret,
        rng, report,
    )  # fmt: skip
    stop.set()
    brownouts_report = await brownouts
    if crash is not None:
        await crash
        report.replica_down_s = crash_report.replica_down_s
        assert report.replica_down_s > 0
    report.timings["storm"] = time.monotonic() - started

    healed = time.monotonic()
    proxy = await faults.worker.state()
    report.worker_faults = {k: n for k, n in proxy["stats"]["faults"].items() if k != "latency"}
    chaos = (await sim.get("/_sim/config")).json()
    report.stripe_faults = sum(MANY - rule["count"] for rule in chaos["faults"])
    report.brownouts, report.outage_s = brownouts_report.brownouts, brownouts_report.outage_s
    await faults.heal()
    settled = await sim.post("/_sim/webhooks/flush", params={"timeout": "180"})
    assert settled.status_code == 200, settled.text
    report.timings["settle"] = time.monotonic() - healed

    events = await _money_events(sim, {p.charge_id for p in paid})
    report.events = len(events)
    deliveries = (await sim.get("/_sim/deliveries")).json()
    counts = deliveries["counts"]
    ids = {e["id"] for e in events}
    mine = [d for d in deliveries["data"] if d["event_id"] in ids]
    report.delivery_statuses = Counter(str(d["status"] or d["error"]) for d in mine)
    report.delivered = sum(1 for d in mine if d["status"] and 200 <= d["status"] < 300)
    report.refused = len(mine) - report.delivered
    assert report.delivered == report.events  # each money event acknowledged, once
    # (the transfer.* events of the reversals and give-backs are delivered too, not counted)
    assert (counts["pending"], counts["abandoned"]) == (0, 0)
    assert "500" not in report.delivery_statuses  # refusals are 4xx/502/503, never a crash
    assert 500 not in report.repost_answers

    # Each organization that still owes a claim gets a next transfer: it settles them first.
    for org_id, _ in orgs:
        open_claims = await _claims(service, owner, org_id)
        if any(c["open"] for c in open_claims):
            made = await _charge_and_transfer(service, sim, admin, org_id, 60_000)
            report.claims_settled_by_transfer += made["claims_settled"]
            assert made["claims_settled"] == min(54_000, sum(c["open"] for c in open_claims))

    run = await asyncio.to_thread(stack.reconcile, "--money")
    report.reconcile = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    assert [line for line in run.stdout.splitlines() if line.startswith("mismatch")] == []
    assert ", 0 mismatches;" in report.reconcile

    # Counted at Stripe (the simulator) and in D1: nothing twice, and the policy exactly.
    headers = {"Authorization": f"Bearer {key}"}
    claims: list[dict[str, Any]] = []
    for org_id, _ in orgs:
        claims += await _claims(service, owner, org_id)
    report.claims = len(claims)
    report.claimed = sum(c["amount"] for c in claims)
    assert all(0 <= c["settled"] <= c["amount"] for c in claims)
    assert all(sum(s["amount"] for s in c["settlements"]) == c["settled"] for c in claims)
    claim_causes = Counter((c["cause"], c["cause_id"], c["transfer_id"]) for c in claims)
    assert max(claim_causes.values(), default=0) <= 1
    for p in paid:
        transfer = (await sim.get(f"/v1/transfers/{p.transfer_id}", headers=headers)).json()
        listed = await sim.get(
            f"/v1/transfers/{p.transfer_id}/reversals", params={"limit": 100}, headers=headers
        )
        held = listed.json()["data"]
        assert len(held) == transfer["reversals"]["total_count"]
        causes = Counter(
            (r["metadata"].get("cause"), r["metadata"].get("cause_id"), p.transfer_id) for r in held
        )
        assert max(causes.values(), default=0) <= 1, causes
        report.reversals.update(r["metadata"].get("cause") for r in held)
        report.reversed_amount += sum(r["amount"] for r in held)
        group = await sim.get(
            "/v1/transfers", params={"transfer_group": p.charge_id, "limit": 100}, headers=headers
        )
        back = [
            t for t in group.json()["data"] if t["metadata"].get("returns_for") == p.transfer_id
        ]
        assert len({t["metadata"]["cause_id"] for t in back}) == len(back)  # once per dispute
        report.give_backs += len(back)
        took = sum(r["amount"] for r in held if r["metadata"].get("cause") == "dispute")
        report.give_backs_of_claims += sum(t["amount"] for t in back) > took

        # What the policy says the organization owes back, by the test's own arithmetic.
        charge = (await sim.get(f"/v1/charges/{p.charge_id}", headers=headers)).json()
        taken = charge["amount_refunded"]
        if charge["disputed"]:
            disputes = await sim.get(
                "/v1/disputes", params={"charge": p.charge_id}, headers=headers
            )
            taken += sum(d["amount"] for d in disputes.json()["data"] if d["status"] != "won")
        owed = clawback(p.earned, p.gross, taken)
        by_cause = sum(r["amount"] for r in held if r["metadata"].get("cause") != "claim")
        mine = [c for c in claims if c["transfer_id"] == p.transfer_id]
        waived = sum(s["amount"] for c in mine for s in c["settlements"] if s["kind"] == "waived")
        got = by_cause - sum(t["amount"] for t in back) + sum(c["amount"] for c in mine) - waived
        assert got == owed, (p, owed, got)

    report.timings["total"] = time.monotonic() - began
    print("\n" + report.text())
    # Each organization that paid out had a dispute won after its claim was collected.
    assert report.give_backs_of_claims >= len(paid_out)


async def _storm_copies(
    service: httpx.AsyncClient,
    events: list[dict[str, Any]],
    secret: str,
    rng: random.Random,
    report: MoneyReport,
) -> None:
    """Signed copies of `events`, half of them twice, shuffled, posted (each refused one again
    until acknowledged), counted into `report`."""
    copies = events + rng.sample(events, len(events) // 2)
    rng.shuffle(copies)
    report.reposts += len(copies)
    report.duplicates += len(copies) - len(events)
    answers = Report()
    refused = await _repost(service, copies, secret, answers)
    report.repost_answers.update(answers.repost_answers)
    for _ in range(20):
        if not refused:
            break
        report.reposted_again += len(refused)
        refused = await _repost(service, refused, secret, Report())
    assert refused == [], f"{len(refused)} copies never acknowledged"


async def _claims(service: httpx.AsyncClient, owner: Any, org_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"state": "all", "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = await service.get(
            f"/api/connect/claims/{org_id}", params=params, headers=auth(owner)
        )
        assert page.status_code == 200, page.text
        found += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found
