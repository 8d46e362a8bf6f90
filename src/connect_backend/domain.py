"""The service's shared types: what D1, Better Auth and Stripe hold, with no I/O.

Every layer may import this module (the pure status rule, the schemas, the flows, the clients,
the errors); it imports nothing of the service's own, and no HTTP client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T", bound="Identified")

ConnectStatus = Literal["pending", "active", "disabled"]
"""What D1 stores as `stripe_connect_status` (null: not started)."""

OnboardingStep = Literal[
    "account_creation",
    "details_submission",
    "under_review",
    "action_required",
    "complete",
    "rejected",
    "deauthorized",
]
StatusFilter = Literal["not_started", "pending", "active", "disabled"]
"""A Connect status, or `not_started` for an organization holding no account."""
OrganizationOrder = Literal["id", "synced_at", "-synced_at", "deadline"]
"""The Worker's orders of organizations: by id, by last sync (oldest or newest first), or by
requirements deadline (nearest first, none last; then oldest sync)."""
MemberRole = Literal["owner", "admin", "member"]
AccountApi = Literal["v1", "v2"]
"""The Stripe API an organization's account is used through (D1 records it with the link)."""
PayoutInterval = Literal["manual", "daily", "weekly", "monthly"]
SourceType = Literal["card", "bank_account", "fpx"]
"""Stripe keeps a balance per source of funds; a payout draws from one (card by default)."""

IdempotencyOperation = Literal["transfer", "payout", "reversal"]
"""What a Worker idempotency record is for."""

ClaimCause = Literal["refund", "dispute", "manual"]
"""Why a transfer was reversed when Stripe refused part of the reversal (a claim's cause)."""
SettlementKind = Literal["transfer", "reversal", "waived"]
"""What settled part of a claim: a transfer sent net of it, a later reversal, or a won dispute
that voided what the claim still held (`waived`)."""
PayoutOutcome = Literal["failed", "paid"]
"""What became of a payout (`payout.failed`, `payout.paid`), as the Worker records it."""
ClaimState = Literal["open", "all"]
"""Which claims a list holds: those with something left, or every one."""

DEFAULT_PLATFORM_FEE_PERCENT = 10.0
"""The contract's default `platform_fee_percent` (tests/unit/test_contract.py checks it)."""

WebhookOutcome = Literal["synced", "deauthorized", "reversed", "ignored", "logged", "unlinked"]
"""What the service did with a verified Stripe event (its answer, its metric label)."""


@dataclass(frozen=True, slots=True)
class Onboarding:
    """What D1 stores about an organization's onboarding."""

    status: ConnectStatus | None
    step: OnboardingStep
    rejection_reason: str | None = None


NOT_STARTED = Onboarding(status=None, step="account_creation")
"""No account yet: D1's defaults."""
DEAUTHORIZED = Onboarding(status="disabled", step="deauthorized", rejection_reason="deauthorized")
"""The account no longer lets the platform in: final for that account (only a new link leaves
it)."""


class Received(BaseModel):
    """A value another system sent: read leniently (a newer Worker may add fields), frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


@dataclass(frozen=True, slots=True)
class PayoutFailure:
    """The organization's last failed payout, as D1 keeps it until a later payout is paid:
    Stripe's payout id, its `failure_code` and `failure_message`, and the payout's `created`."""

    payout_id: str
    failure_code: str | None
    failure_message: str | None
    payout_created: datetime


class Organization(Received):
    """An organization as D1 holds it."""

    id: str
    name: str
    slug: str | None = None
    stripe_connect_account_id: str | None = None
    stripe_connect_status: ConnectStatus | None = None
    platform_fee_percent: float = Field(default=DEFAULT_PLATFORM_FEE_PERCENT, ge=0, le=100)
    onboarding_step: OnboardingStep | None = NOT_STARTED.step
    onboarding_rejection_reason: str | None = None
    stripe_connect_synced_at: datetime | None = None
    payout_failure: PayoutFailure | None = None
    stripe_connect_account_api: AccountApi | None = None
    stripe_connect_requirements_deadline: datetime | None = None
    """Stripe's requirements deadline as of the last applied view (None: none named)."""

    @property
    def onboarding(self) -> Onboarding:
        """What D1 holds of its onboarding (a row that predates the step has D1's default)."""
        return Onboarding(
            status=self.stripe_connect_status,
            step=self.onboarding_step or NOT_STARTED.step,
            rejection_reason=self.onboarding_rejection_reason,
        )

    @property
    def deauthorized(self) -> bool:
        """Whether its account no longer lets the platform in (it may onboard again)."""
        return self.onboarding_step == DEAUTHORIZED.step

    @property
    def shown_status(self) -> Literal["not_started", "pending", "active", "disabled"]:
        """Its Connect status as users see it: `not_started` without an account, `pending`
        for a linked account D1 has no status for yet."""
        if self.stripe_connect_status is not None:
            return self.stripe_connect_status
        return "not_started" if self.stripe_connect_account_id is None else "pending"


class User(Received):
    """The verified user behind a session."""

    id: str
    email: str
    name: str | None = None
    role: str | None = None

    @property
    def is_platform_admin(self) -> bool:
        """Better Auth's admin plugin marks platform admins with role `admin`."""
        return self.role == "admin"


class Session(Received):
    """The verified session."""

    id: str
    expires_at: datetime


class IdempotencyRecord(Received):
    """What the service made (or is making) under a caller's Idempotency-Key, as D1 keeps it.

    `stripe_object_id` is None until Stripe answered; `decision` holds the parameters the
    service decided, `fingerprint` its hash of what the caller sent.
    """

    organization_id: str
    operation: IdempotencyOperation
    key: str
    fingerprint: str
    decision: dict[str, Any]
    stripe_object_id: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class ClaimSettlement(Received):
    """One part of a claim settled, and what settled it (`key`: a transfer or reversal id)."""

    key: str
    amount: int
    kind: SettlementKind
    created_at: datetime


class Claim(Received):
    """What an organization still owes the platform after a reversal Stripe refused, as D1
    keeps it: settled first in, first out, never beyond `amount` (`open` is what is left)."""

    id: str
    organization_id: str
    amount: int
    currency: str
    settled: int
    open: int
    cause: ClaimCause
    cause_id: str
    transfer_id: str
    created_at: datetime
    settlements: list[ClaimSettlement]


class ClaimTotal(Received):
    """What the open claims in one currency add up to."""

    currency: str
    open: int


@dataclass(frozen=True, slots=True)
class AccountLink:
    """A single-use link to Stripe-hosted onboarding."""

    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EventNotice:
    """A thin event (an event destination's `v2.core.event`) as stripe-python parsed it: what
    happened to which object, never the object itself (it is fetched)."""

    id: str
    type: str
    livemode: bool
    created: datetime | None
    related_id: str | None
    related_type: str | None


@dataclass(frozen=True, slots=True)
class AccountSession:
    """A single-use session for Stripe's embedded components; its `client_secret` is handed to
    the caller's browser and nowhere else (never stored, never logged)."""

    client_secret: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of a currency; a balance's, split by source type."""

    amount: int
    currency: str
    source_types: dict[str, int] = field(default_factory=dict)

    def of_source(self, source_type: SourceType) -> int:
        """How much of it comes from `source_type` (all of it is card when Stripe says none)."""
        if not self.source_types:
            return self.amount if source_type == "card" else 0
        return self.source_types.get(source_type, 0)


@dataclass(frozen=True, slots=True)
class Balance:
    """A connected account's balance, per currency."""

    available: list[Money]
    pending: list[Money]

    def available_in(self, currency: str, source_type: SourceType = "card") -> int:
        """What is available in `currency` to pay out from `source_type` (0 when none)."""
        return sum(m.of_source(source_type) for m in self.available if m.currency == currency)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer from the platform to a connected account (`amount`: what it received)."""

    id: str
    amount: int
    currency: str
    destination: str
    created: datetime | None = None
    amount_reversed: int = 0
    source_transaction: str | None = None
    transfer_group: str | None = None
    # The fee facts the service wrote into the transfer's metadata when it made it (None for a
    # transfer made some other way): history reads them, never recomputes them.
    gross_amount: int | None = None
    fee_amount: int | None = None
    platform_fee_percent: float | None = None
    # What of the organization's net settled its claims instead of being sent (metadata).
    claims_settled: int = 0
    # A transfer that returns money a won dispute reinstated: the transfer it returns for, and
    # the dispute (metadata `returns_for`, `cause_id`); None for every other transfer.
    returns_for: str | None = None
    returns_cause_id: str | None = None
    # The reversals Stripe embeds in the transfer (its first page), and whether that is all.
    reversals: tuple[Reversal, ...] = ()
    reversals_complete: bool = False

    @property
    def earned(self) -> int:
        """What the organization earned by it: the net of the fee as made (gross less fee, of
        which part may have settled claims), or, for a transfer made some other way, its
        amount. Refunds and disputes take back shares of this, never of today's fee."""
        if self.gross_amount is not None and self.fee_amount is not None:
            return self.gross_amount - self.fee_amount
        return self.amount

    @property
    def reversible(self) -> int:
        """What Stripe can still reverse of it."""
        return self.amount - self.amount_reversed


ReversalCause = Literal["refund", "dispute", "manual", "claim"]
"""Why money was taken back from an organization (a reversal's metadata says which): a refund
or a dispute of the charge it was paid from, by hand, or to settle a claim (`reconcile --money`)."""


@dataclass(frozen=True, slots=True)
class Reversal:
    """A reversal of a transfer: money taken back from the destination to the platform."""

    id: str
    transfer_id: str
    amount: int
    currency: str
    cause: ReversalCause | None = None  # what the service wrote in its metadata
    cause_id: str | None = None  # the refund or dispute it was for
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge on the platform, the money a transfer may be made from."""

    id: str
    amount: int
    currency: str
    amount_refunded: int = 0
    transfer_group: str | None = None
    disputed: bool = False
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund of (part of) a charge on the platform."""

    id: str
    charge_id: str
    amount: int
    status: str
    created: int = 0  # Unix seconds, as Stripe orders them


@dataclass(frozen=True, slots=True)
class Dispute:
    """A customer's dispute of a charge on the platform."""

    id: str
    charge_id: str
    amount: int
    status: str


@dataclass(frozen=True, slots=True)
class Payout:
    """A payout from a connected account to its bank."""

    id: str
    amount: int
    currency: str
    status: str
    arrival_date: datetime | None
    created: datetime | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class Identified(Protocol):
    """An item of a Stripe list: its id is the cursor of the page after it."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a Stripe list, newest first; `has_more`: another page follows the last."""

    items: list[T]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        """What asks for the next page (`starting_after`): the last item's id, if more follow."""
        return self.items[-1].id if self.has_more and self.items else None


@dataclass(frozen=True, slots=True)
class PayoutSchedule:
    """How often a connected account is paid out."""

    interval: str
    weekly_anchor: str | None = None
    monthly_anchor: int | None = None
    delay_days: int | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """One readiness check's outcome: what each dependency said (`worker`: `ok`; `redis`: `ok`
    or `unavailable`), or why the Worker failed it (its error code)."""

    checks: dict[str, str] = field(default_factory=dict)
    worker_failure: str | None = None


@dataclass(frozen=True, slots=True)
class OrganizationFilter:
    """Which organizations a Worker list or count holds (all given filters must pass).

    `linked`: holding an account (True) or none (False); `unsettled`: holding one not yet
    settled (pending, requirements due, under review) or (False) one that is; `synced_before`:
    never synced or last synced before then; `name`: the name starts with it (ASCII case
    folded); `status`: a Connect status or `not_started` (lists only: counts are per status).
    """

    status: StatusFilter | None = None
    linked: bool | None = None
    step: OnboardingStep | None = None
    unsettled: bool | None = None
    synced_before: datetime | None = None
    name: str | None = None
