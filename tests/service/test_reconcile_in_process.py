"""`python -m connect_backend reconcile`, in process over the fake Worker and the fake Stripe:
what differs from Stripe is written (ordered like webhooks), what matches is not, a failure
stops only its organization, a dry run writes nothing, the Worker's list is paged, the reads
stay within the concurrency and the platform's Stripe budget."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from connect_backend import reconcile, runtime
from connect_backend.__main__ import main, run_reconcile
from connect_backend.reconcile import Report
from connect_backend.settings import Settings
from connect_backend.stripe_budget import StripeBudget, StripeClass
from tests.secrets_guard import COLLECTED
from tests.service.fakes import FakeStripe, FakeWorker, stripe_error
from tests.support.service import make_settings, on_the_wire, onboarded

ACCOUNT_READ = r"/v1/accounts/acct_\w+"
PENDING = {"stripe_connect_status": "pending", "onboarding_step": "details_submission"}
D1_STAMP = "2026-11-26T10:00:00.000Z"

Run = Callable[..., Awaitable[tuple[int, list[str]]]]


@pytest.fixture
def run(worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]) -> Run:
    """`reconcile` as the command runs it (`run_reconcile`: the clients a replica builds, the
    summary printed); its exit status and the summary's lines."""

    async def reconciling(
        settings: Settings | None = None, *, dry_run: bool = False, concurrency: int = 4
    ) -> tuple[int, list[str]]:
        async with on_the_wire(settings or make_settings(), stripe, worker) as given:
            status = await run_reconcile(given, dry_run=dry_run, concurrency=concurrency)
        out = capsys.readouterr().out
        COLLECTED.add("reconcile summary", out)  # no secret in it either (secrets guard)
        return status, out.splitlines()

    return reconciling


async def walk(
    worker: FakeWorker, stripe: FakeStripe, settings: Settings | None = None, **options: int
) -> Report:
    """`reconcile.reconcile` itself over the clients a replica builds, with `options` (page
    size, concurrency, budget attempts) the command line does not offer."""
    async with (
        on_the_wire(settings or make_settings(), stripe, worker) as given,
        runtime.clients(given) as made,
    ):
        return await reconcile.reconcile(worker=made.worker, gateway=made.stripe, **options)


def held(worker: FakeWorker, org_id: str) -> tuple[str | None, str | None, str | None]:
    org = worker.organizations[org_id]
    return (
        org["stripe_connect_status"],
        org["onboarding_step"],
        org["onboarding_rejection_reason"],
    )


def writes(worker: FakeWorker) -> dict[str, dict[str, object]]:
    """Each `update-organization` call's body, by organization."""
    bodies = [json.loads(r.content) for r in worker.calls("update-organization")]
    return {body["organization_id"]: body for body in bodies}


def behind_stripe(worker: FakeWorker, stripe: FakeStripe) -> None:
    """org_a and org_c moved on at Stripe while D1 missed it; org_b's D1 row is current;
    org_z holds no account."""
    onboarded(worker, stripe, "org_a", state="active", **PENDING)
    onboarded(worker, stripe, "org_b", state="active", stripe_connect_synced_at=D1_STAMP)
    onboarded(worker, stripe, "org_c", state="rejected", **PENDING)
    worker.add_org("org_z")


def deauthorized_at_stripe(worker: FakeWorker, stripe: FakeStripe, org_id: str) -> str:
    """An active organization whose account no longer lets the platform in: Stripe answers
    every read with its 403 `account_invalid`."""
    account_id = onboarded(
        worker, stripe, org_id, state="active", stripe_connect_synced_at=D1_STAMP
    )
    stripe.fail(
        "GET", rf"/v1/accounts/{account_id}", lambda _: stripe_error(403, code="account_invalid")
    )
    return account_id


async def test_a_run_writes_what_differs_from_stripe_and_leaves_what_matches(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    behind_stripe(worker, stripe)

    status, lines = await run()

    assert status == 0
    assert lines == [
        "reconcile: 3 checked, 2 changed, 0 failed",
        "changed:",
        "  org_a acct_a0000000000: pending/details_submission -> active/complete",
        "  org_c acct_c0000000000: pending/details_submission -> disabled/rejected "
        "(rejected.fraud)",
    ]
    # org_b matched: the same status written again, so its synced_at records the check.
    assert writes(worker)["org_b"]["updates"] == {
        "stripe_connect_status": "active",
        "onboarding_step": "complete",
        "onboarding_rejection_reason": None,
        "stripe_connect_requirements_deadline": None,
    }
    assert str(writes(worker)["org_b"]["synced_at"]) > D1_STAMP
    assert held(worker, "org_a") == ("active", "complete", None)
    assert held(worker, "org_c") == ("disabled", "rejected", "rejected.fraud")
    assert held(worker, "org_b") == ("active", "complete", None)
    assert len(stripe.calls("GET", ACCOUNT_READ)) == 3  # org_z, unlinked, is never read
    listed = worker.calls("organizations")
    # Requirements due first (nearest deadline first), then the other unsettled, then the
    # settled ones not synced for a week, oldest sync first.
    assert [
        (
            r.url.params["linked"],
            r.url.params["order"],
            r.url.params.get("step"),
            r.url.params.get("unsettled"),
        )
        for r in listed
    ] == [
        ("true", "deadline", "action_required", None),
        ("true", "synced_at", None, "true"),
        ("true", "synced_at", None, "false"),
    ]


async def test_a_run_writes_with_the_stamp_of_its_own_read_of_stripe(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active", stripe_connect_synced_at=D1_STAMP, **PENDING)
    began = datetime.now(UTC)

    await run()

    stamp = datetime.fromisoformat(str(writes(worker)["org_a"]["synced_at"]))
    assert began.replace(microsecond=0) <= stamp <= datetime.now(UTC)


async def test_a_newer_view_in_d1_is_not_overwritten_by_a_run(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The webhooks' ordering: a view D1 holds from after the run's read stays (here, one
    stamped in the future stands for a webhook that landed while the run read Stripe)."""
    newer = "2999-01-01T00:00:00.000Z"
    account_id = onboarded(
        worker, stripe, "org_a", state="active", stripe_connect_synced_at=D1_STAMP, **PENDING
    )

    def webhook_lands_meanwhile(_: httpx.Request) -> httpx.Response:
        worker.organizations["org_a"]["stripe_connect_synced_at"] = newer
        return httpx.Response(200, json=stripe.accounts[account_id])

    stripe.fail("GET", ACCOUNT_READ, webhook_lands_meanwhile)

    status, lines = await run()

    assert status == 0
    assert set(writes(worker)) == {"org_a"}  # asked, refused by the Worker's ordering
    assert held(worker, "org_a") == ("pending", "details_submission", None)
    assert lines == ["reconcile: 1 checked, 0 changed, 0 failed"]


async def test_an_account_stripe_refuses_as_account_invalid_is_stored_deauthorized(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    deauthorized_at_stripe(worker, stripe, "org_a")

    status, lines = await run()

    assert status == 0
    assert lines[2:] == ["  org_a acct_a0000000000: active/complete -> disabled/deauthorized"]
    assert held(worker, "org_a") == ("disabled", "deauthorized", "deauthorized")
    body = writes(worker)["org_a"]
    assert body["updates"] == {
        "stripe_connect_status": "disabled",
        "onboarding_step": "deauthorized",
        "onboarding_rejection_reason": "deauthorized",
        "stripe_connect_requirements_deadline": None,  # the account's view is gone
    }
    assert str(body["synced_at"]) > D1_STAMP  # stamped when the refused read began


async def test_a_restricted_keys_refusal_is_a_failure_not_a_deauthorization(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active")
    stripe.fail("GET", ACCOUNT_READ, lambda _: stripe_error(403, message="no permission"))

    status, lines = await run()

    assert status == 1
    assert lines[-2:] == ["failed:", "  org_a acct_a0000000000: stripe_error"]
    assert writes(worker) == {}


@pytest.mark.usefixtures("fast_stripe_retries")
async def test_a_stripe_5xx_fails_its_organization_and_the_others_go_on(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    behind_stripe(worker, stripe)
    stripe.fail(
        "GET", r"/v1/accounts/acct_c0000000000", lambda _: stripe_error(500, type_="api_error")
    )

    status, lines = await run()

    assert status == 1
    assert lines == [
        "reconcile: 3 checked, 1 changed, 1 failed",
        "changed:",
        "  org_a acct_a0000000000: pending/details_submission -> active/complete",
        "failed:",
        "  org_c acct_c0000000000: stripe_error",
    ]
    assert set(writes(worker)) == {"org_a", "org_b"}  # org_b: its check recorded
    assert held(worker, "org_c") == ("pending", "details_submission", None)


async def test_a_d1_write_the_worker_refuses_fails_its_organization(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", state="active", **PENDING)
    worker.fail_path("update-organization", 503)

    status, lines = await run()

    assert status == 1
    assert lines == [
        "reconcile: 1 checked, 0 changed, 1 failed",
        "failed:",
        "  org_a acct_a0000000000: upstream_unavailable",
    ]


async def test_a_listing_the_worker_cannot_give_fails_the_run(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    behind_stripe(worker, stripe)
    worker.fail_path("organizations", 503)

    status, lines = await run()

    assert status == 1
    assert lines == [
        "reconcile: 0 checked, 0 changed, 1 failed",
        "failed:",
        "  listing organizations: upstream_unavailable",
    ]
    assert stripe.calls("GET", ACCOUNT_READ) == []


async def test_a_dry_run_reports_what_it_would_write_and_writes_nothing(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    behind_stripe(worker, stripe)
    deauthorized_at_stripe(worker, stripe, "org_d")
    before = {org_id: dict(org) for org_id, org in worker.organizations.items()}

    status, lines = await run(dry_run=True)

    assert status == 0
    assert lines == [
        "reconcile (dry run, nothing written): 4 checked, 3 would change, 0 failed",
        "would change:",
        "  org_a acct_a0000000000: pending/details_submission -> active/complete",
        "  org_c acct_c0000000000: pending/details_submission -> disabled/rejected "
        "(rejected.fraud)",
        "  org_d acct_d0000000000: active/complete -> disabled/deauthorized",
    ]
    assert worker.calls("update-organization") == []
    assert worker.organizations == before


async def test_a_run_pages_through_the_workers_list(
    upstreams: respx.MockRouter, worker: FakeWorker, stripe: FakeStripe
) -> None:
    for n in range(5):
        onboarded(worker, stripe, f"org_{n}", state="active", **PENDING)
    worker.add_org("org_unlinked")

    report = await walk(worker, stripe, page_size=2)

    listed = worker.calls("organizations")
    assert len(listed) == 5  # the due (none), the unsettled 2 + 2 + 1, then the stale (none)
    assert ["cursor" in r.url.params for r in listed] == [False, False, True, True, False]
    assert [r.url.params.get("unsettled") for r in listed] == [None] + ["true"] * 3 + ["false"]
    assert {r.url.params["limit"] for r in listed} == {"2"}
    assert report.checked == 5
    assert sorted(c.organization_id for c in report.changed) == [f"org_{n}" for n in range(5)]
    assert len(stripe.calls("GET", ACCOUNT_READ)) == 5


class InFlight:
    """Holds Stripe's account reads: the first `bound` wait for one another, then a moment
    more (any read beyond the bound would arrive meanwhile); counts the most at once."""

    def __init__(self, stripe: FakeStripe, bound: int) -> None:
        self.stripe = stripe
        self.bound = bound
        self.now = 0
        self.most = 0
        self.full = asyncio.Event()

    async def answer(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.most = max(self.most, self.now)
        if self.now >= self.bound:
            self.full.set()
        try:
            async with asyncio.timeout(3):
                await self.full.wait()
        except TimeoutError:
            pass
        for _ in range(20):  # the loop turns: a read past the bound would be here by now
            await asyncio.sleep(0)
        self.now -= 1
        account_id = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=self.stripe.accounts[account_id])


async def test_at_most_concurrency_accounts_are_read_at_once(
    run: Run, worker: FakeWorker, stripe: FakeStripe
) -> None:
    for n in range(9):
        onboarded(worker, stripe, f"org_{n}", state="active", **PENDING)
    reads = InFlight(stripe, bound=3)
    stripe.fail("GET", ACCOUNT_READ, reads.answer)

    status, lines = await run(concurrency=3)

    assert status == 0
    assert lines[0] == "reconcile: 9 checked, 9 changed, 0 failed"
    assert reads.most == 3


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The run's waits for the Stripe budget (each still waited for real)."""
    waited: list[float] = []

    async def pause(seconds: float) -> None:
        waited.append(seconds)
        await asyncio.sleep(seconds)

    monkeypatch.setattr(reconcile, "_pause", pause)
    return waited


# Two Stripe requests a second for the platform: reads may use one.
ONE_READ_A_SECOND = make_settings(stripe_requests_per_second=2)


async def test_a_read_the_budget_refuses_waits_its_retry_after_and_tries_again(
    run: Run, worker: FakeWorker, stripe: FakeStripe, pauses: list[float]
) -> None:
    onboarded(worker, stripe, "org_a", state="active", **PENDING)
    onboarded(worker, stripe, "org_b", state="active", **PENDING)

    status, lines = await run(ONE_READ_A_SECOND, concurrency=2)

    assert status == 0
    assert lines[0] == "reconcile: 2 checked, 2 changed, 0 failed"
    assert pauses != []  # the second read waited for room
    assert all(seconds >= 1 and seconds == int(seconds) for seconds in pauses)  # Retry-After
    assert len(stripe.calls("GET", ACCOUNT_READ)) == 2  # a refused read never reached Stripe


async def test_a_read_the_budget_keeps_refusing_fails_as_rate_limited(
    upstreams: respx.MockRouter, worker: FakeWorker, stripe: FakeStripe, pauses: list[float]
) -> None:
    onboarded(worker, stripe, "org_a", state="active", **PENDING)
    onboarded(worker, stripe, "org_b", state="active", **PENDING)

    report = await walk(worker, stripe, ONE_READ_A_SECOND, concurrency=1, budget_attempts=1)

    assert [(f.organization_id, f.code) for f in report.failed] == [("org_b", "rate_limited")]
    assert report.exit_status == 1
    assert pauses == []
    assert held(worker, "org_b") == ("pending", "details_submission", None)


async def test_with_redis_a_run_spends_from_the_budget_the_replicas_share(
    run: Run, worker: FakeWorker, stripe: FakeStripe, pauses: list[float], redis_url: str
) -> None:
    settings = ONE_READ_A_SECOND.model_copy(update={"redis_url": SecretStr(redis_url)})
    onboarded(worker, stripe, "org_a", state="active", **PENDING)
    # A replica's read just took this second's room for reads.
    async with runtime.open_state_store(redis_url) as replica:
        await StripeBudget(per_second=2, read_share=0.5, storage=replica.limits).spend(
            StripeClass.READ
        )

    status, _ = await run(settings)

    assert status == 0
    assert pauses != []  # the run waited for the replicas' budget, not a budget of its own
    assert held(worker, "org_a") == ("active", "complete", None)


def test_a_concurrency_out_of_bounds_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["reconcile", "--concurrency", "0"])

    assert stopped.value.code == 2
    assert "--concurrency" in capsys.readouterr().err


def test_an_invalid_configuration_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    """As the service's start-up does (`_settings_or_exit`): a clean environment, no `.env`."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "STRIPE_SECRET_KEY": "sk_test_service123",
        "STRIPE_WEBHOOK_SECRET": "whsec_test_platform",
        "WORKER_BASE_URL": "https://worker.test",
        "FRONTEND_URL": "https://app.example.com",
    }

    done = subprocess.run(
        [sys.executable, "-m", "connect_backend", "reconcile"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert re.search(r"invalid configuration: WORKER_API_KEY: is required$", line)
    assert "sk_test_service123" not in done.stderr
