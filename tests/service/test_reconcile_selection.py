"""Whom `reconcile` reads (issue 23), in process over the fake Worker and the fake Stripe:
the accounts not yet settled first, then the settled ones not synced for `--stale-after`
(every one with `--all`), oldest sync first; `--max-reads` bounds a run and the summary says
what it left; a checked account's `synced_at` records the check, so the next run goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connect_backend.__main__ import _parser, main, run_reconcile
from connect_backend.reconcile import Selection
from tests.secrets_guard import COLLECTED
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import make_settings, on_the_wire, onboarded

ACCOUNT_READ = r"/v1/accounts/acct_\w+"


def ago(**span: float) -> str:
    """A D1 stamp that long ago."""
    moment = datetime.now(UTC) - timedelta(**span)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fleet(worker: FakeWorker, stripe: FakeStripe) -> None:
    """Settled accounts synced 1, 10 and 30 days ago and one never synced; accounts not yet
    settled (pending, requirements due) synced 2 hours and 20 days ago; one unlinked."""
    onboarded(worker, stripe, "org_fresh", state="active", stripe_connect_synced_at=ago(days=1))
    onboarded(worker, stripe, "org_week", state="active", stripe_connect_synced_at=ago(days=10))
    onboarded(
        worker,
        stripe,
        "org_month",
        state="rejected",
        onboarding_rejection_reason="rejected.fraud",
        stripe_connect_synced_at=ago(days=30),
    )
    onboarded(worker, stripe, "org_never", state="active")
    onboarded(worker, stripe, "org_pending", state="pending", stripe_connect_synced_at=ago(hours=2))
    onboarded(worker, stripe, "org_due", state="due", stripe_connect_synced_at=ago(days=20))
    worker.add_org("org_unlinked")


def read_order(stripe: FakeStripe) -> list[str]:
    """The organizations whose accounts were read, in the order Stripe saw the reads."""
    return [
        "org_" + r.url.path.rsplit("/", 1)[-1].removeprefix("acct_").removesuffix("0000000000")
        for r in stripe.calls("GET", ACCOUNT_READ)
    ]


async def reconciling(
    worker: FakeWorker,
    stripe: FakeStripe,
    capsys: pytest.CaptureFixture[str],
    selection: Selection | None = None,
    *,
    dry_run: bool = False,
) -> tuple[int, list[str]]:
    """`reconcile` as the command runs it, one account at a time; exit status and summary."""
    async with on_the_wire(make_settings(), stripe, worker) as settings:
        status = await run_reconcile(settings, dry_run=dry_run, concurrency=1, selection=selection)
    out = capsys.readouterr().out
    COLLECTED.add("reconcile summary", out)
    return status, out.splitlines()


@pytest.mark.usefixtures("upstreams")
async def test_a_run_reads_the_unsettled_then_the_stale_oldest_sync_first(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet(worker, stripe)

    status, lines = await reconciling(worker, stripe, capsys)

    assert status == 0
    assert lines == ["reconcile: 5 checked, 0 changed, 0 failed"]
    # Requirements due first, then pending; then the never synced, the month, the week.
    assert read_order(stripe) == ["org_due", "org_pending", "org_never", "org_month", "org_week"]


def due_by_deadline(worker: FakeWorker, stripe: FakeStripe) -> None:
    """Accounts with requirements due whose deadlines (as D1 holds them) run against their
    last syncs: the nearest deadline was synced most recently, one without a deadline the
    longest ago; a settled one never synced."""
    for org_id, deadline, synced in [
        ("org_far", ago(days=-30), ago(days=20)),
        ("org_none", None, ago(days=40)),
        ("org_near", ago(days=-1), ago(hours=1)),
        ("org_mid", ago(days=-5), ago(days=3)),
    ]:
        onboarded(
            worker,
            stripe,
            org_id,
            state="due",
            stripe_connect_requirements_deadline=deadline,
            stripe_connect_synced_at=synced,
        )
    onboarded(worker, stripe, "org_never", state="active")


@pytest.mark.usefixtures("upstreams")
async def test_requirements_due_are_read_nearest_deadline_first_under_max_reads(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    due_by_deadline(worker, stripe)

    _, lines = await reconciling(worker, stripe, capsys, Selection(max_reads=2))

    # Not the oldest syncs (org_none, org_far): the nearest deadlines.
    assert read_order(stripe) == ["org_near", "org_mid"]
    assert lines[0] == "reconcile: 2 checked, 0 changed, 0 failed"
    assert lines[-1] == (
        "left for the next run: 2 with requirements due, 0 other not yet settled, "
        "1 settled, not synced for 7 days"
    )
    [due, *_] = worker.calls("organizations")
    assert (due.url.params["step"], due.url.params["order"]) == ("action_required", "deadline")

    stripe.requests.clear()
    await reconciling(worker, stripe, capsys)
    # The due are read every run. Stripe named no deadline for the two just read, so D1 now
    # holds none for them: the one with a deadline first, then those without, oldest sync
    # first; then the settled one.
    assert read_order(stripe) == ["org_far", "org_none", "org_near", "org_mid", "org_never"]


@pytest.mark.usefixtures("upstreams")
async def test_a_run_stores_the_deadline_stripe_holds_so_the_next_run_reads_by_it(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    due_by_deadline(worker, stripe)
    # Stripe moved org_far's deadline to the nearest of all; D1 does not know yet.
    stripe.accounts["acct_far0000000000"]["requirements"]["current_deadline"] = int(
        (datetime.now(UTC) + timedelta(hours=2)).timestamp()
    )

    await reconciling(worker, stripe, capsys, Selection(every=True))
    held = worker.organizations["org_far"]["stripe_connect_requirements_deadline"]
    assert held is not None
    assert datetime.fromisoformat(held) - datetime.now(UTC) < timedelta(hours=2)
    # The others' accounts name no deadline at Stripe: the check writes that too.
    assert worker.organizations["org_near"]["stripe_connect_requirements_deadline"] is None

    stripe.requests.clear()
    await reconciling(worker, stripe, capsys, Selection(every=True, max_reads=1))
    assert read_order(stripe) == ["org_far"]


@pytest.mark.usefixtures("upstreams")
async def test_stale_after_moves_the_line_and_all_reads_every_account(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet(worker, stripe)

    await reconciling(worker, stripe, capsys, Selection(stale_after=timedelta(days=15)))
    assert read_order(stripe) == ["org_due", "org_pending", "org_never", "org_month"]

    stripe.requests.clear()
    await reconciling(worker, stripe, capsys, Selection(every=True))
    # Every account, the ones just checked too (not synced since this run began), once each,
    # oldest sync first: the two checked by the first run last.
    order = read_order(stripe)
    assert order[:4] == ["org_due", "org_pending", "org_week", "org_fresh"]
    assert sorted(order[4:]) == ["org_month", "org_never"]


@pytest.mark.usefixtures("upstreams")
async def test_max_reads_bounds_a_run_says_what_is_left_and_the_next_run_goes_on(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet(worker, stripe)

    status, lines = await reconciling(worker, stripe, capsys, Selection(max_reads=3))

    assert status == 0
    assert lines == [
        "reconcile: 3 checked, 0 changed, 0 failed",
        "stopped at --max-reads 3: read 1 with requirements due, 1 other not yet settled, "
        "1 settled, not synced for 7 days",
        "left for the next run: 0 with requirements due, 0 other not yet settled, "
        "2 settled, not synced for 7 days",
    ]
    assert read_order(stripe) == ["org_due", "org_pending", "org_never"]
    counted = worker.calls("organization-counts")
    assert [
        (r.url.params.get("step"), r.url.params.get("unsettled"), r.url.params["linked"])
        for r in counted
    ] == [("action_required", None, "true"), (None, "true", "true"), (None, "false", "true")]

    stripe.requests.clear()
    status, lines = await reconciling(worker, stripe, capsys, Selection(max_reads=3))

    # The unsettled again (they are read every run), then the stale ones the first run left.
    assert read_order(stripe) == ["org_due", "org_pending", "org_month"]
    assert lines[-1] == (
        "left for the next run: 0 with requirements due, 0 other not yet settled, "
        "1 settled, not synced for 7 days"
    )


@pytest.mark.usefixtures("upstreams")
async def test_a_dry_run_counts_what_it_read_as_still_left(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet(worker, stripe)

    _, lines = await reconciling(worker, stripe, capsys, Selection(max_reads=3), dry_run=True)

    assert worker.calls("update-organization") == []
    assert lines[-1] == (
        "left for the next run: 0 with requirements due, 0 other not yet settled, "
        "2 settled, not synced for 7 days"
    )


@pytest.mark.usefixtures("upstreams")
async def test_a_run_that_reads_them_all_counts_nothing(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet(worker, stripe)

    _, lines = await reconciling(worker, stripe, capsys, Selection(max_reads=5))

    assert lines == ["reconcile: 5 checked, 0 changed, 0 failed"]
    assert worker.calls("organization-counts") == []


@pytest.mark.usefixtures("upstreams")
async def test_when_the_worker_cannot_count_the_summary_says_so(
    worker: FakeWorker, stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet(worker, stripe)
    worker.fail_path("organization-counts", 503)

    status, lines = await reconciling(worker, stripe, capsys, Selection(max_reads=1))

    assert status == 0  # every account it read was checked
    assert lines[-1] == "left for the next run: unknown (the Worker could not count them)"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--stale-after", "7"], "--stale-after"),
        (["--stale-after", "7w"], "--stale-after"),
        (["--stale-after", "-1d"], "--stale-after"),
        (["--stale-after", "d"], "--stale-after"),
        (["--max-reads", "0"], "--max-reads"),
        (["--max-reads", "ten"], "--max-reads"),
        (["--max-reads", "-5"], "--max-reads"),
    ],
)
def test_bad_selection_options_are_refused_before_anything_runs(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["reconcile", *argv])

    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


def test_a_selection_refuses_what_the_command_line_cannot_say() -> None:
    with pytest.raises(ValueError, match="max_reads"):
        Selection(max_reads=0)
    with pytest.raises(ValueError, match="stale_after"):
        Selection(stale_after=timedelta(days=-1))


@pytest.mark.parametrize(
    ("text", "span", "described"),
    [
        ("7d", timedelta(days=7), "settled, not synced for 7 days"),
        ("1d", timedelta(days=1), "settled, not synced for 1 day"),
        ("12h", timedelta(hours=12), "settled, not synced for 12 hours"),
        ("90m", timedelta(minutes=90), "settled, not synced for 90 minutes"),
        ("0m", timedelta(0), "settled, not synced for 0 seconds"),
    ],
)
def test_stale_after_reads_days_hours_and_minutes(
    text: str, span: timedelta, described: str
) -> None:
    options = _parser().parse_args(["reconcile", "--stale-after", text, "--max-reads", "9"])

    assert options.stale_after == span
    assert options.max_reads == 9
    assert not options.all
    assert Selection(stale_after=options.stale_after).describe("stale") == described
    assert Selection(every=True).describe("stale") == "settled"
