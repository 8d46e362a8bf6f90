"""Reconciliation: D1 brought up to date with Stripe for the organizations it chooses, without
waiting for a webhook (`python -m connect_backend reconcile`).

Webhooks alone are not trusted: an endpoint disabled or misconfigured, a signing secret
rotated wrongly, or deliveries Stripe gave up on leave D1 behind Stripe until the account
changes again. A run reads accounts from Stripe again and stores what each says through the
path a webhook's sync takes (`accounts.store_read`): the derived status, or `deauthorized` on
Stripe's `account_invalid`. D1 is written even when it already holds that status, so its
`synced_at` records the check.

Whom a run reads (`Selection`), in this order, each walked from the Worker's list, never an
organization synced since the run began:
- the accounts with requirements due (`step=action_required`: Stripe disables them at a
  deadline), nearest requirements deadline first (`order=deadline`: D1 holds the deadline of
  the last sync; those without one last), ties oldest sync first;
- the other accounts not yet settled (`unsettled=true`: pending, under review), oldest sync
  first (`order=synced_at`, as the next);
- the settled ones not synced for `stale_after` (7 days unless told); with `every`, all of
  them.
At 10,000 organizations a read of each is far past a small platform's monthly allocation of
reads on behalf of connected accounts (docs/operations.md, "The reconcile cron job"):
`max_reads` bounds a run, and what it left is counted (one Worker call per kind) for the
summary; the next run starts with it, since it is now the oldest.

Safe while webhooks arrive: every write, a run's or a webhook's, carries the moment its view
of the account was taken (the read's `seen_at`; for a deauthorized account, when the refused
read began), and the Worker applies a write only when D1 holds no newer view. Whichever of a
run's write and a webhook's lands last, D1 keeps the newer view: a run never undoes a newer
webhook, and a late webhook never undoes a newer run. Unlike a webhook's sync (README, "A
sync that changes nothing writes nothing"), a run writes the status D1 already holds too: the
write only moves `synced_at` to the run's read, which is what the next run's choice reads, and
a view older than that read can no longer land over it.

Gentle with Stripe: the run's calls are reads (`StripeClass.READ`), which may use only the
read share of the platform's Stripe budget and are refused first, so money, onboarding and
webhooks keep the rest. A read the budget refuses waits the `Retry-After` it names and tries
again, at most `BUDGET_ATTEMPTS` times; at most `concurrency` accounts are read at once.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from connect_backend import accounts, log
from connect_backend.domain import (
    AccountApi,
    Onboarding,
    Organization,
    OrganizationFilter,
    OrganizationOrder,
)
from connect_backend.errors import ConnectError, RateLimited
from connect_backend.stripe_budget import StripeClass, stripe_class
from connect_backend.stripe_gateway import AccountRead, StripeGateway
from connect_backend.worker import WorkerClient

DEFAULT_CONCURRENCY = 4
"""Accounts read from Stripe at once, unless told."""
PAGE_SIZE = 100
"""Organizations asked of the Worker a page (it allows 1..200)."""
BUDGET_ATTEMPTS = 10
"""How often one account's read is tried while the platform's Stripe budget refuses it."""
_pause = asyncio.sleep  # the wait for the budget's Retry-After (tests watch it)

DEFAULT_STALE_AFTER = timedelta(days=7)
"""A settled account not synced for this long is read again, unless told."""

_Linked = tuple[Organization, str]
"""An organization and the Stripe account it holds."""

Kind = Literal["due", "unsettled", "stale"]
"""Why an account was chosen: requirements due (`action_required`: Stripe disables it at a
deadline), otherwise not yet settled (pending, under review), or settled but not synced for a
while (with `every`: not synced since the run began)."""
KINDS: tuple[Kind, ...] = ("due", "unsettled", "stale")
ORDERS: dict[Kind, OrganizationOrder] = {
    "due": "deadline",
    "unsettled": "synced_at",
    "stale": "synced_at",
}
"""In which order each kind is read: requirements due by nearest deadline (then oldest sync),
the others oldest sync first."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Whom a run reads: every account not yet settled (those with requirements due first,
    nearest deadline first), then the settled ones not synced for `stale_after` (with
    `every`, all of them), oldest sync first; at most `max_reads` in all (None: no bound)."""

    stale_after: timedelta = DEFAULT_STALE_AFTER
    every: bool = False
    max_reads: int | None = None

    def __post_init__(self) -> None:
        if self.stale_after < timedelta(0):
            raise ValueError("stale_after must not be negative")
        if self.max_reads is not None and self.max_reads < 1:
            raise ValueError("max_reads must be 1 or more")

    def filters(self, started_at: datetime) -> dict[Kind, OrganizationFilter]:
        """The Worker's filters for each kind, for a run that began at `started_at`."""
        settled_before = started_at if self.every else started_at - self.stale_after
        return {
            "due": OrganizationFilter(step="action_required", synced_before=started_at),
            "unsettled": OrganizationFilter(unsettled=True, synced_before=started_at),
            "stale": OrganizationFilter(unsettled=False, synced_before=settled_before),
        }

    def describe(self, kind: Kind) -> str:
        """The kind as the summary names it."""
        if kind == "due":
            return "with requirements due"
        if kind == "unsettled":
            return "other not yet settled"
        if self.every:
            return "settled"
        return f"settled, not synced for {_duration(self.stale_after)}"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


@dataclass(frozen=True, slots=True)
class Change:
    """An organization whose status D1 held differently from Stripe's."""

    organization_id: str
    account_id: str
    before: Onboarding
    after: Onboarding


@dataclass(frozen=True, slots=True)
class Failure:
    """An organization that could not be checked (or, with no organization, the listing),
    with the error code that stopped it."""

    organization_id: str | None
    account_id: str | None
    code: str


@dataclass
class Report:
    """What a run found: the organizations checked, those changed (or that would be, in a
    dry run) and those that failed."""

    dry_run: bool = False
    checked: int = 0
    changed: list[Change] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    read: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    """Accounts read, by why they were chosen."""
    left: dict[Kind, int] | None = None
    """What a run stopped by `max_reads` left for the next one, by kind (None: it stopped
    for no bound, or the count failed)."""
    stopped_at_max: bool = False

    @property
    def exit_status(self) -> int:
        """0 when nothing failed, else 1."""
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        """The summary, for people: the totals, then each change and each failure."""
        verb = "would change" if self.dry_run else "changed"
        heading = "reconcile (dry run, nothing written)" if self.dry_run else "reconcile"
        lines = [
            f"{heading}: {self.checked} checked, {len(self.changed)} {verb}, "
            f"{len(self.failed)} failed"
        ]
        if self.stopped_at_max:
            read = ", ".join(f"{self.read[k]} {self.selection.describe(k)}" for k in KINDS)
            lines.append(f"stopped at --max-reads {self.selection.max_reads}: read {read}")
            if self.left is None:
                lines.append("left for the next run: unknown (the Worker could not count them)")
            else:
                left = ", ".join(f"{self.left[k]} {self.selection.describe(k)}" for k in KINDS)
                lines.append(f"left for the next run: {left}")
        if self.changed:
            lines.append(f"{verb}:")
            lines += [
                f"  {c.organization_id} {c.account_id}: {_shown(c.before)} -> {_shown(c.after)}"
                for c in sorted(self.changed, key=lambda c: c.organization_id)
            ]
        if self.failed:
            lines.append("failed:")
            lines += [
                f"  {f.organization_id} {f.account_id}: {f.code}"
                if f.organization_id is not None
                else f"  listing organizations: {f.code}"
                for f in sorted(self.failed, key=lambda f: f.organization_id or "")
            ]
        return lines


def _shown(onboarding: Onboarding) -> str:
    shown = f"{onboarding.status or 'none'}/{onboarding.step}"
    reason = onboarding.rejection_reason
    return f"{shown} ({reason})" if reason and reason != onboarding.step else shown


async def reconcile(
    *,
    worker: WorkerClient,
    gateway: StripeGateway,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    page_size: int = PAGE_SIZE,
    budget_attempts: int = BUDGET_ATTEMPTS,
    selection: Selection | None = None,
) -> Report:
    """Check the organizations `selection` chooses (by default the unsettled and the stale)
    against Stripe and bring D1 up to date (with `dry_run`, only report what would be
    written); what was found.

    A failure of one organization is reported and the others go on; a listing the Worker
    cannot continue ends the walk (also reported)."""
    if concurrency < 1 or budget_attempts < 1:
        raise ValueError("concurrency and budget_attempts must be 1 or more")
    run = _Run(
        worker,
        gateway,
        dry_run=dry_run,
        budget_attempts=budget_attempts,
        selection=selection or Selection(),
    )
    # A task of its own: the context the run sets (its Stripe class, its request id) stays
    # in it, not in the caller's.
    return await asyncio.create_task(run.walk(concurrency=concurrency, page_size=page_size))


class _Run:
    """One reconciliation: the checkers share its report."""

    def __init__(
        self,
        worker: WorkerClient,
        gateway: StripeGateway,
        *,
        dry_run: bool,
        budget_attempts: int,
        selection: Selection,
    ) -> None:
        self.worker = worker
        self.gateway = gateway
        self.budget_attempts = budget_attempts
        self.selection = selection
        self.started_at = datetime.now(UTC)
        self.report = Report(dry_run=dry_run, selection=selection)

    async def walk(self, *, concurrency: int, page_size: int) -> Report:
        stripe_class.set(StripeClass.READ)
        log.request_id.set(f"reconcile-{uuid.uuid4().hex[:12]}")
        selection = self.selection
        log.info(
            "reconcile.started",
            dry_run=self.report.dry_run,
            concurrency=concurrency,
            stale_after_seconds=int(selection.stale_after.total_seconds()),
            every=selection.every,
            max_reads=selection.max_reads,
        )
        # The listing runs ahead of the checkers by at most `concurrency` organizations: a
        # row is checked soon after the Worker gave it, and memory stays bounded.
        queue: asyncio.Queue[tuple[Kind, _Linked] | None] = asyncio.Queue(maxsize=concurrency)
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(self._checking(queue))
            try:
                await self._choose(queue, page_size)
            except Exception as exc:  # reported; the checks under way finish
                self._failed(None, None, exc)
            for _ in range(concurrency):
                await queue.put(None)
        report = self.report
        if report.stopped_at_max:
            report.left = await self._left()
        log.info(
            "reconcile.done",
            dry_run=report.dry_run,
            checked=report.checked,
            changed=len(report.changed),
            failed=len(report.failed),
            read_due=report.read["due"],
            read_unsettled=report.read["unsettled"],
            read_stale=report.read["stale"],
            left=report.left,
        )
        return report

    async def _choose(
        self, queue: asyncio.Queue[tuple[Kind, _Linked] | None], page_size: int
    ) -> None:
        """Queue the accounts to read, kind after kind, until `max_reads` are chosen."""
        bound = self.selection.max_reads
        chosen: set[str] = set()  # a row whose sync moved it during the walk is read once
        for kind, where in self.selection.filters(self.started_at).items():
            async for linked in self._linked(where, page_size, ORDERS[kind]):
                if linked[0].id in chosen:
                    continue
                if bound is not None and len(chosen) >= bound:
                    self.report.stopped_at_max = True
                    return
                chosen.add(linked[0].id)
                await queue.put((kind, linked))

    async def _linked(
        self, where: OrganizationFilter, page_size: int, order: OrganizationOrder
    ) -> AsyncIterator[_Linked]:
        """The organizations `where` passes that hold a Stripe account, with their account,
        in `order`, page after page."""
        cursor: str | None = None
        while True:
            page = await self.worker.list_organizations(
                limit=page_size, cursor=cursor, linked=True, order=order, where=where
            )
            for organization in page.organizations:
                if organization.stripe_connect_account_id is not None:
                    yield organization, organization.stripe_connect_account_id
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _left(self) -> dict[Kind, int] | None:
        """What the run left, by kind: what the filters still pass (in a dry run, less what
        was read, since nothing was written); None when the Worker cannot count."""
        counted: dict[Kind, int] = {}
        try:
            for kind, where in self.selection.filters(self.started_at).items():
                counts = await self.worker.count_organizations(replace(where, linked=True))
                counted[kind] = counts.total
        except ConnectError as exc:
            log.warning("reconcile.left.uncounted", code=exc.code)
            return None
        counted["unsettled"] -= counted["due"]  # the due are unsettled too: counted once
        read = self.report.read
        return {k: max(counted[k] - (read[k] if self.report.dry_run else 0), 0) for k in KINDS}

    async def _checking(self, queue: asyncio.Queue[tuple[Kind, _Linked] | None]) -> None:
        while (chosen := await queue.get()) is not None:
            kind, linked = chosen
            self.report.read[kind] += 1
            await self._check(*linked)

    async def _check(self, organization: Organization, account_id: str) -> None:
        log.organization_id.set(organization.id)
        before = organization.onboarding
        try:
            asked_at, read = await self._read(account_id, accounts.api_of(organization))
            if self.report.dry_run:
                after, _ = accounts.onboarding_of_read(
                    read, asked_at, capabilities=self.gateway.capabilities
                )
            else:
                updated, _ = await accounts.store_read(
                    organization,
                    account_id,
                    read,
                    asked_at,
                    worker=self.worker,
                    gateway=self.gateway,
                    confirm=True,  # synced_at records the check: whom the next run reads
                )
                after = updated.onboarding
        except Exception as exc:  # one organization's failure stops only it
            self._failed(organization.id, account_id, exc)
            return
        finally:
            self.report.checked += 1
        if after != before:
            self.report.changed.append(Change(organization.id, account_id, before, after))
            log.info(
                "reconcile.changed",
                account_id=account_id,
                before=_shown(before),
                after=_shown(after),
                dry_run=self.report.dry_run,
            )

    async def _read(
        self, account_id: str, api: AccountApi
    ) -> tuple[datetime, AccountRead | ConnectError]:
        """The account read from Stripe (or the failure it ended in) and when that read
        began; a read the budget refuses is tried again after its `Retry-After`."""
        attempt = 1
        while True:
            asked_at = datetime.now(UTC)
            read = await accounts.read_or_failure(self.gateway.read_account(account_id, api))
            if not isinstance(read, RateLimited) or attempt >= self.budget_attempts:
                return asked_at, read
            seconds = _retry_after(read)
            log.info(
                "reconcile.budget.waited", account_id=account_id, seconds=seconds, attempt=attempt
            )
            await _pause(seconds)
            attempt += 1

    def _failed(self, organization_id: str | None, account_id: str | None, exc: Exception) -> None:
        if isinstance(exc, ConnectError):
            code = exc.code
            log.warning("reconcile.failed", account_id=account_id, code=code)
        else:  # a bug of ours: its type is logged, never its text (it may hold anything)
            code = "internal_error"
            log.error("reconcile.failed", account_id=account_id, error=type(exc).__name__)
        self.report.failed.append(Failure(organization_id, account_id, code))


def _retry_after(refused: RateLimited) -> float:
    """The seconds the budget asked to wait (1 when it did not say)."""
    try:
        seconds = float(refused.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 1.0
