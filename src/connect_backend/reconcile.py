"""Reconciliation: D1 brought up to date with Stripe for every linked organization, without
waiting for a webhook (`python -m connect_backend reconcile`).

Webhooks alone are not trusted: an endpoint disabled or misconfigured, a signing secret
rotated wrongly, or deliveries Stripe gave up on leave D1 behind Stripe until the account
changes again. A run walks every organization holding a Stripe account (the Worker's paged
list, `linked=true`), reads each account from Stripe again and stores what it says through
the path a webhook's sync takes (`accounts.store_read`): the derived status, or `deauthorized`
on Stripe's `account_invalid`; nothing is written when D1 already holds it.

Safe while webhooks arrive: every write, a run's or a webhook's, carries the moment its view
of the account was taken (the read's `seen_at`; for a deauthorized account, when the refused
read began), and the Worker applies a write only when D1 holds no newer view. Whichever of a
run's write and a webhook's lands last, D1 keeps the newer view: a run never undoes a newer
webhook, and a late webhook never undoes a newer run. A run that finds D1's row (as listed)
already saying what Stripe says writes nothing, as a webhook's sync does (README, "A sync
that changes nothing writes nothing"): a change at Stripe after that read brings its own
event, or the next run.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connect_backend import accounts, log
from connect_backend.domain import AccountApi, Onboarding, Organization
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

_Linked = tuple[Organization, str]
"""An organization and the Stripe account it holds."""


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
) -> Report:
    """Check every linked organization against Stripe and bring D1 up to date (with
    `dry_run`, only report what would be written); what was found.

    A failure of one organization is reported and the others go on; a listing the Worker
    cannot continue ends the walk (also reported)."""
    if concurrency < 1 or budget_attempts < 1:
        raise ValueError("concurrency and budget_attempts must be 1 or more")
    run = _Run(worker, gateway, dry_run=dry_run, budget_attempts=budget_attempts)
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
    ) -> None:
        self.worker = worker
        self.gateway = gateway
        self.budget_attempts = budget_attempts
        self.report = Report(dry_run=dry_run)

    async def walk(self, *, concurrency: int, page_size: int) -> Report:
        stripe_class.set(StripeClass.READ)
        log.request_id.set(f"reconcile-{uuid.uuid4().hex[:12]}")
        log.info("reconcile.started", dry_run=self.report.dry_run, concurrency=concurrency)
        # The listing runs ahead of the checkers by at most `concurrency` organizations: a
        # row is checked soon after the Worker gave it, and memory stays bounded.
        queue: asyncio.Queue[_Linked | None] = asyncio.Queue(maxsize=concurrency)
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(self._checking(queue))
            try:
                async for linked in self._linked(page_size):
                    await queue.put(linked)
            except Exception as exc:  # reported; the checks under way finish
                self._failed(None, None, exc)
            for _ in range(concurrency):
                await queue.put(None)
        report = self.report
        log.info(
            "reconcile.done",
            dry_run=report.dry_run,
            checked=report.checked,
            changed=len(report.changed),
            failed=len(report.failed),
        )
        return report

    async def _linked(self, page_size: int) -> AsyncIterator[_Linked]:
        """Every organization holding a Stripe account, with its account, page after page."""
        cursor: str | None = None
        while True:
            page = await self.worker.list_organizations(limit=page_size, cursor=cursor, linked=True)
            for organization in page.organizations:
                if organization.stripe_connect_account_id is not None:
                    yield organization, organization.stripe_connect_account_id
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _checking(self, queue: asyncio.Queue[_Linked | None]) -> None:
        while (linked := await queue.get()) is not None:
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
