"""A burst of `account.updated` against the platform's Stripe budget (issue 23).

Stripe changes requirements platform-wide now and then (a regulator's new rule) and then sends
one `account.updated` per connected account at once. Each delivery makes the service read the
account from Stripe, and the platform's Stripe budget (`stripe_budget.py`, shared through
Redis by the two replicas here) must hold: a webhook waits for room up to its bound, then is
refused 503 with `Retry-After`, and Stripe delivers it again later (the simulator redelivers
with backoff, as Stripe does for up to three days in live mode).

The stack: two replicas behind HAProxy sharing Redis (as the chaos file's `two-replicas`),
the simulator delivering up to `DELIVERIES_AT_ONCE` webhooks at once. N organizations are
seeded in mixed states (`devstack.fleet`: the simulator's accounts and D1's rows agree; no
delivery pending), one more organization is onboarded through the service for a user whose
status reads meet the burst (and four more begin onboarding as it begins), then
`/_sim/requirements/change` makes a new requirement due on every fleet account at the same
moment. The test checks, at the simulator (Stripe's side):
no window of one second (or five) held more account reads than the budget allows; every refused
delivery was a 503 with `Retry-After`, never a 500; every event acknowledged exactly once, none
abandoned; D1 equal to Stripe's truth for every account. It prints the numbers (`-s`).

What the budget allows in a window: `limits`' moving window (in Redis) lets at most
`per_second` calls begin in any one-second span at the service
(`tests/service/test_stripe_budget.py::test_no_second_ever_begins_more_calls_than_the_budget`).
At Stripe a call arrives a little after it took room (stripe-python, the event loop of a busy
process): a k-second span at the simulator holds calls begun within k + d seconds, d the most
any call took to leave, so at most `per_second * (k + 1)` while d stays under a second. A
second test runs the same burst with the budget off: nothing is refused (so the first test's
refusal assertion would fail) and a second holds more reads than the rate (in every run so far
more than twice the rate, breaking the bound).

CI-sized by default (100 accounts); larger: `BURST_ACCOUNTS=1000 pytest -s
tests/e2e/test_webhook_burst.py`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import httpx
import pytest

from connect_backend.settings import Settings
from devstack.fleet import ID_PREFIX, seed_fleet
from devstack.stack import Stack, StackConfig
from devstack.truth import stored, truth
from tests.support.stack import auth, better_auth_api, d1_org, settle

pytestmark = pytest.mark.e2e

ACCOUNTS = int(os.environ.get("BURST_ACCOUNTS", "100"))
DELIVERIES_AT_ONCE = 64
"""The simulator's deliveries on the wire at once (`--webhook-workers`): Stripe sends a burst
far faster than 20 a second, so more arrive together than the budget lets read in 2 s."""
RETRY_BASE = 0.5  # seconds before the first redelivery, doubling (Stripe: hours, for 3 days)
MAX_ATTEMPTS = 14  # 0.5 s doubling: the 14th attempt comes after about 68 min
BUDGET_WAIT = 2.0  # seconds a webhook waits for room (StripeBudget's default wait)
NEW_REQUIREMENT = {
    "currently_due": ["company.tax_id"],
    "eventually_due": ["company.tax_id"],
}
READ_PATH = "/v1/accounts/"
NEWCOMERS = 4  # organizations that begin onboarding (Stripe writes) as the burst begins


SIM_ARGS = [
    *("--webhook-retry-base", str(RETRY_BASE)),
    *("--webhook-max-attempts", str(MAX_ATTEMPTS)),
    *("--webhook-workers", str(DELIVERIES_AT_ONCE)),
]
# The user's status reads are bounded by the platform's budget only, not per user.
NO_USER_LIMITS = {"RATE_LIMIT_READS_PER_MINUTE": "0", "RATE_LIMIT_ONBOARDING_PER_MINUTE": "0"}
WINDOWS = (1.0, 5.0)  # seconds: the windows whose reads are counted


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two replicas sharing Redis behind HAProxy, the budget test mode's own."""
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("burst"),
        replicas=2,
        sim_args=SIM_ARGS,
        service_env=NO_USER_LIMITS,
    )
    with Stack(config) as running:
        yield running


def budget_of(env: dict[str, str]) -> int:
    """The platform's Stripe requests a second as the service reads its settings from `env`
    (`STRIPE_REQUESTS_PER_SECOND` unset: test mode's default). With Redis, as here, every
    process of every replica spends from this one budget."""
    with mock.patch.dict(os.environ, env):
        settings = Settings(_env_file=None)
    return settings.stripe_budget_per_second


def peak(times: list[float], seconds: float) -> int:
    """The most calls in any window of `seconds` (sliding: one begins at each call)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


@dataclass
class Report:
    accounts: int = 0
    events: int = 0
    attempts: int = 0
    first_acks: int = 0
    retried: int = 0  # deliveries that needed one retry or more
    max_retries: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)  # the refusals' Retry-After
    reads: int = 0
    peaks: dict[float, int] = field(default_factory=dict)
    budget: int = 0
    changed: int = 0  # organizations whose D1 row the burst changed
    user_reads: Counter[int] = field(default_factory=Counter)
    user_d1_reads: Counter[int] = field(default_factory=Counter)
    onboards: Counter[int] = field(default_factory=Counter)  # started as the burst began
    timings: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        windows = ", ".join(f"{n} in {s:g} s" for s, n in self.peaks.items())
        return "\n".join(
            [
                f"webhook burst: {self.accounts} accounts -> {self.events} account.updated "
                f"at once; {self.attempts} delivery attempts {dict(sorted(self.answers.items()))}"
                f", Retry-After of the refusals {dict(sorted(self.retry_after.items()))}",
                f"  acknowledged at the first attempt: {self.first_acks}; needed >= 1 retry: "
                f"{self.retried}; most retries of one delivery: {self.max_retries}",
                f"  Stripe account reads: {self.reads}; at most {windows} (budget {self.budget}/s)",
                f"  D1 rows the burst changed: {self.changed}; a user's status reads meanwhile:"
                f" refresh {dict(self.user_reads)}, D1 {dict(self.user_d1_reads)}; "
                f"onboardings begun with the burst: {dict(self.onboards)}",
                "  took: " + ", ".join(f"{k} {s:.1f} s" for k, s in self.timings.items()),
            ]
        )


async def _fleet(stack: Stack, sim: httpx.AsyncClient) -> list[dict[str, Any]]:
    """`ACCOUNTS` organizations in mixed states; the simulator's entries of their accounts."""
    await asyncio.to_thread(seed_fleet, stack, ACCOUNTS)
    return [
        e
        for e in (await sim.get("/_sim/accounts")).json()["data"]
        if e["account"]["metadata"].get("organization_id", "").startswith(ID_PREFIX)
    ]


async def _burst(
    sim: httpx.AsyncClient,
    fleet: list[dict[str, Any]],
    per_second: int,
    fired: asyncio.Event | None = None,
) -> set[str]:
    """A new requirement due on every fleet account at once (`fired` set once the events are
    queued); waits until every delivery is acknowledged or given up; the ids of the
    `account.updated` events."""
    changed = await sim.post(
        "/_sim/requirements/change",
        json={"requirements": NEW_REQUIREMENT, "accounts": [e["account"]["id"] for e in fleet]},
    )
    assert changed.status_code == 200, changed.text
    event_ids = set(changed.json()["events"])
    if fired is not None:
        fired.set()
    # At the budget the reads alone take len / per_second seconds; the backoff between
    # redeliveries adds up to as much again: four times that, and a margin.
    bound = 4 * len(event_ids) / max(per_second, 1) + 60
    settled = await sim.post(
        "/_sim/webhooks/flush", params={"timeout": str(bound)}, timeout=bound + 10
    )
    assert settled.status_code == 200, settled.text
    return event_ids


async def _read_times(sim: httpx.AsyncClient) -> list[float]:
    """When each account read reached Stripe (the simulator) since its counts were reset."""
    answer = await sim.get(
        "/_sim/requests/times", params={"method": "GET", "path_prefix": READ_PATH}
    )
    assert answer.status_code == 200, answer.text
    times: list[float] = answer.json()["data"]
    return times


async def _poll_status(
    service: httpx.AsyncClient,
    url: str,
    owner: Any,
    fired: asyncio.Event,
    stop: asyncio.Event,
    report: Report,
) -> None:
    """A user looking at their status while the burst runs: a Stripe refresh and a D1 read,
    every 0.2 s."""
    await fired.wait()
    while not stop.is_set():
        fresh = await service.get(f"{url}?refresh=true", headers=auth(owner))
        report.user_reads[fresh.status_code] += 1
        if fresh.status_code == 429:
            assert fresh.headers["Retry-After"].isdigit(), fresh.headers
        held = await service.get(url, headers=auth(owner))
        report.user_d1_reads[held.status_code] += 1
        await asyncio.sleep(0.2)


async def _onboard_during(
    service: httpx.AsyncClient, org_ids: list[str], owner: Any, fired: asyncio.Event
) -> Counter[int]:
    """Organizations onboarding (Stripe writes) as the burst begins, once each, together: the
    answers."""
    await fired.wait()

    async def one(org_id: str) -> int:
        answer = await service.post(
            "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
        )
        if answer.status_code == 503:
            assert answer.headers["Retry-After"].isdigit(), answer.headers
        return answer.status_code

    return Counter(await asyncio.gather(*(one(o) for o in org_ids)))


async def test_a_burst_of_account_updated_stays_within_the_stripe_budget(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
) -> None:
    per_second = budget_of(stack.service_env())
    assert per_second > 0, "the burst needs the platform's Stripe budget on"
    report = Report(accounts=ACCOUNTS, budget=per_second)
    began = time.monotonic()

    # Set up: a fleet in mixed states (nothing pending), and one user's organization.
    fleet = await _fleet(stack, sim)
    with better_auth_api(stack.config.worker_url) as better_auth:
        owner = better_auth.sign_up("owner@burst.test", "burst-password-123", "Burst Owner")
        org_id = better_auth.create_organization(owner, "Burst Owner Org", "burst-owner")
        newcomers = [
            better_auth.create_organization(owner, f"Burst New {n}", f"burst-new-{n}")
            for n in range(NEWCOMERS)
        ]
    onboarded = await service.post(
        "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
    )
    assert onboarded.status_code == 200, onboarded.text
    mine = onboarded.json()["account_id"]
    completed = await sim.post(f"/_sim/accounts/{mine}/onboarding", json={"outcome": "complete"})
    assert completed.status_code == 200, completed.text
    await settle(sim, timeout=30.0)
    before = {e["account"]["metadata"]["organization_id"]: e for e in fleet}
    held_before = {o: stored(await d1_org(internal, o)) for o in before}
    assert all(held_before[o] == truth(e) for o, e in before.items())  # settled: D1 = Stripe
    await sim.delete("/_sim/requests")
    report.timings["set-up"] = time.monotonic() - began

    # The burst, while the user reads their status and others onboard.
    started = time.monotonic()
    fired, stop = asyncio.Event(), asyncio.Event()
    user = asyncio.create_task(
        _poll_status(service, f"/api/connect/status/{org_id}", owner, fired, stop, report)
    )
    onboarding = asyncio.create_task(_onboard_during(service, newcomers, owner, fired))
    try:
        event_ids = await _burst(sim, fleet, per_second, fired)
    finally:
        stop.set()
        fired.set()
        await asyncio.wait_for(user, 30)
        report.onboards = await asyncio.wait_for(onboarding, 60)
    report.timings["burst until every delivery settled"] = time.monotonic() - started

    # Every event acknowledged once; refusals 503 with Retry-After, never a 500.
    report.events = len(event_ids)
    assert report.events == len(fleet)  # each account changed: one account.updated each
    deliveries = (await sim.get("/_sim/deliveries")).json()
    assert (deliveries["counts"]["pending"], deliveries["counts"]["abandoned"]) == (0, 0)
    attempts = [d for d in deliveries["data"] if d["event_id"] in event_ids]
    report.attempts = len(attempts)
    report.answers = Counter(str(d["status"] or d["error"]) for d in attempts)
    acked = Counter(d["event_id"] for d in attempts if d["status"] == 200)
    assert set(acked) == event_ids
    assert set(acked.values()) == {1}, "each acknowledged once"
    refused = [d for d in attempts if d["status"] != 200]
    assert {d["status"] for d in refused} <= {503}, report.answers  # never a 500
    assert all(d["retry_after"] is not None and d["retry_after"].isdigit() for d in refused)
    report.retry_after = Counter(str(d["retry_after"]) for d in refused)
    tries = {d["event_id"]: d["attempt"] for d in attempts if d["status"] == 200}
    report.first_acks = sum(1 for n in tries.values() if n == 1)
    report.retried = sum(1 for n in tries.values() if n > 1)
    report.max_retries = max(tries.values()) - 1
    # More arrived at once than the budget lets read while a webhook waits: refused, and
    # delivered again.
    assert report.retried > 0, report.text()
    assert len(refused) >= report.retried

    # Stripe never saw more account reads in a window than the budget allows.
    times = await _read_times(sim)
    report.reads = len(times)
    report.peaks = {seconds: peak(times, seconds) for seconds in WINDOWS}
    assert report.reads >= report.events  # one read per acknowledged delivery at least
    for seconds, most in report.peaks.items():
        assert most <= per_second * (seconds + 1), report.text()

    # D1 is Stripe's truth for every account; the burst did change some.
    for org, entry in before.items():
        now = (await sim.get(f"/_sim/accounts/{entry['account']['id']}")).json()
        held = stored(await d1_org(internal, org))
        assert held == truth(now), (org, held, truth(now))
        report.changed += held != held_before[org]
    assert report.changed > 0
    # The user's D1 reads were served throughout; onboarding was served or refused 503
    # (Retry-After checked), never a 500.
    assert set(report.user_d1_reads) == {200}
    assert set(report.user_reads) <= {200, 429}, report.user_reads
    assert set(report.onboards) <= {200, 503}, report.onboards
    report.timings["total"] = time.monotonic() - began
    print("\n" + report.text())


@pytest.fixture(scope="module")
def unbudgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One service process with the platform's Stripe budget off."""
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("burst-unbudgeted"),
        sim_args=SIM_ARGS,
        service_env={**NO_USER_LIMITS, "STRIPE_REQUESTS_PER_SECOND": "0"},
    )
    with Stack(config) as running:
        yield running


async def test_without_the_budget_nothing_is_refused_and_reads_exceed_it(unbudgeted: Stack) -> None:
    """The control: the same burst, the budget off. No delivery is refused and Stripe sees
    more reads in a second than the budget's rate: what the first test asserts holds because
    of the budget."""
    env = {k: v for k, v in unbudgeted.service_env().items() if k != "STRIPE_REQUESTS_PER_SECOND"}
    per_second = budget_of(env)  # what the budget would have been
    async with httpx.AsyncClient(base_url=unbudgeted.config.sim_url, timeout=30.0) as sim:
        fleet = await _fleet(unbudgeted, sim)
        await sim.delete("/_sim/requests")
        started = time.monotonic()
        event_ids = await _burst(sim, fleet, 0)
        took = time.monotonic() - started
        counts = (await sim.get("/_sim/deliveries")).json()["counts"]
        times = await _read_times(sim)
    most = peak(times, 1.0)
    print(
        f"\nwithout the budget: {len(event_ids)} account.updated, {counts}, "
        f"{len(times)} reads, at most {most} in 1 s (the budget: {per_second}/s), {took:.1f} s"
    )
    # Nothing refused (the first test's refusal assertion fails without the budget), and more
    # reads in a second than the budget's rate. (Its bound, twice the rate, broken too in every
    # run so far: 69 to 178 against 40; not asserted, as how fast one process reads on a busy
    # machine is not the budget's doing.)
    assert counts["failed_attempts"] == 0
    assert most > per_second
