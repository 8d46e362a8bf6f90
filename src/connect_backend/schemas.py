"""Request and response bodies of the `/api/connect/*` routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from connect_backend.domain import (
    Claim,
    ClaimTotal,
    Money,
    OnboardingStep,
    Organization,
    Payout,
    PayoutInterval,
    PayoutSchedule,
    ReversalCause,
    SourceType,
    Transfer,
    WebhookOutcome,
)
from connect_backend.money import MAX_AMOUNT
from connect_backend.onboarding import AccountSnapshot, Requirements


def _integral_number(value: object) -> object:
    # JSON Schema's `integer` is any number without a fraction, so 1000.0 is 1000; booleans and
    # strings stay refused (StrictInt), as "12" or true are not numbers at all.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Last in an `Annotated`, after the bounds, so that the bounds stay `minimum`/`maximum` in
# the JSON schema: a JSON integer, 1000 or 1000.0, never 1000.5, "1000" or true.
_WHOLE = BeforeValidator(_integral_number)

Amount = Annotated[
    StrictInt,
    Field(ge=1, le=MAX_AMOUNT, description="Integer minor units.", examples=[1000]),
    _WHOLE,
]
Currency = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]{3}$",
        description="ISO 4217 code, e.g. usd (case-insensitive).",
        examples=["usd"],
    ),
]
OrganizationId = Annotated[str, Field(min_length=1, max_length=255)]
ConnectStatusName = Literal["not_started", "pending", "active", "disabled"]


class _Input(BaseModel):
    # Strings are taken as sent: stripping them before the length checks made " " fail
    # `minLength: 1` and let a padded 300-character id pass `maxLength: 255`.
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True)


class OnboardCreate(_Input):
    """Start (or continue) Stripe onboarding for an organization."""

    organization_id: OrganizationId | None = None
    return_url: str | None = Field(default=None, max_length=2048)
    refresh_url: str | None = Field(default=None, max_length=2048)
    country: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$", description="Two-letter country of the account."
    )


class Onboard(_Output):
    """A fresh Account Link to Stripe-hosted onboarding."""

    url: str
    expires_at: datetime
    account_id: str
    status: ConnectStatusName


class PayoutFailureView(_Output):
    """The organization's last payout failed: Stripe returned the money to its balance, and
    nothing moves on its own. Cleared once a payout made after it is paid."""

    payout_id: str
    failure_code: str | None = Field(description="Stripe's code.")
    message: str = Field(description="Why it failed, in words: the settings page's banner.")
    payout_created: datetime = Field(description="When the failed payout was made.")


class Status(_Output):
    """Where an organization's onboarding stands."""

    organization_id: str
    account_id: str | None
    status: ConnectStatusName
    onboarding_step: OnboardingStep
    rejection_reason: str | None
    charges_enabled: bool | None = Field(description="Null unless read live (?refresh=true).")
    payouts_enabled: bool | None = Field(description="Null unless read live (?refresh=true).")
    details_submitted: bool | None = Field(description="Null unless read live (?refresh=true).")
    requirements: Requirements | None = Field(description="Null unless read live.")
    platform_fee_percent: float
    synced_at: datetime | None
    payout_failure: PayoutFailureView | None = Field(
        default=None, description="The last payout failed (null: none since the last paid one)."
    )

    @classmethod
    def of(cls, organization: Organization, account: AccountSnapshot | None = None) -> Status:
        """D1's view of `organization`, with Stripe's live details when `account` is given."""
        return cls(
            organization_id=organization.id,
            account_id=organization.stripe_connect_account_id,
            status=organization.shown_status,
            onboarding_step=organization.onboarding.step,
            rejection_reason=organization.onboarding_rejection_reason,
            charges_enabled=account.charges_enabled if account else None,
            payouts_enabled=account.payouts_enabled if account else None,
            details_submitted=account.details_submitted if account else None,
            requirements=account.requirements if account else None,
            platform_fee_percent=organization.platform_fee_percent,
            synced_at=organization.stripe_connect_synced_at,
            payout_failure=_payout_failure(organization),
        )


def _payout_failure(organization: Organization) -> PayoutFailureView | None:
    failure = organization.payout_failure
    if failure is None:
        return None
    return PayoutFailureView(
        payout_id=failure.payout_id,
        failure_code=failure.failure_code,
        # Our own words, never Stripe's text.
        message=_PAYOUT_FAILURES.get(failure.failure_code or "", "The bank refused the payout."),
        payout_created=failure.payout_created,
    )


class MoneyAmount(_Output):
    """An amount in minor units of a currency, and how much of it came from each source of
    funds (a payout draws from one)."""

    amount: int
    currency: str
    source_types: dict[str, int] = Field(description='e.g. {"card": 1000, "bank_account": 250}')

    @classmethod
    def of(cls, money: Money) -> MoneyAmount:
        """The API's view of a balance entry."""
        return cls(amount=money.amount, currency=money.currency, source_types=money.source_types)


class BalanceView(_Output):
    """A connected account's balance as Stripe holds it now."""

    organization_id: str
    account_id: str
    available: list[MoneyAmount]
    pending: list[MoneyAmount]


class TransferCreate(_Input):
    """Send a gross amount, less the platform fee, to an organization's account."""

    organization_id: OrganizationId
    amount: Amount
    currency: Currency
    source_transaction: str | None = Field(default=None, min_length=1, max_length=255)
    transfer_group: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)


class SettledClaim(_Output):
    """Part of an open claim settled from a transfer's net instead of being sent."""

    claim_id: str
    amount: int


class TransferView(_Output):
    """The transfer made, with the fee arithmetic that produced it: `gross_amount` less
    `fee_amount` is what the organization earned; of it, `claims_settled` paid what it still
    owed (its open claims, first in, first out) and `transfer_amount` was sent."""

    transfer_id: str | None = Field(
        description="Null when the whole net settled claims and nothing was sent."
    )
    organization_id: str
    account_id: str
    currency: str
    gross_amount: int
    fee_amount: int
    transfer_amount: int = Field(description="What was sent to the organization's account.")
    platform_fee_percent: float
    claims_settled: int = Field(description="What of the net settled the organization's claims.")
    settled_claims: list[SettledClaim]


class ReversalCreate(_Input):
    """Take money of a transfer back from its organization: `amount`, or all that remains."""

    amount: Amount | None = None
    reason: str | None = Field(default=None, max_length=500, description="Kept with the reversal.")


class ReversalView(_Output):
    """The reversal made, and the transfer's totals after it."""

    reversal_id: str | None = Field(description="Null when a claim was recorded instead.")
    claim_id: str | None = Field(
        default=None,
        description=(
            "The claim recorded in D1 for `amount` when the organization's balance could not "
            "cover the reversal: what it still owes, never lost."
        ),
    )
    transfer_id: str
    organization_id: str
    account_id: str
    currency: str
    amount: int = Field(description="What this reversal took back (or claimed).")
    transfer_amount: int = Field(description="What the transfer sent (its net).")
    amount_reversed: int = Field(description="All reversals of the transfer, this one included.")
    claimed: int = Field(
        description="What claims on the transfer still hold (owed, not yet reversed)."
    )
    remaining: int = Field(
        description="What is left to take back: sent, less reversed, less claimed."
    )


class PayoutCreate(_Input):
    """Pay money out of the organization's account; all that is available (from the source
    type) without `amount`."""

    organization_id: OrganizationId | None = None
    currency: Currency
    amount: Amount | None = None
    source_type: SourceType = Field(
        default="card",
        description="The balance to draw from: Stripe keeps one per source of funds.",
    )


class PayoutView(_Output):
    """The payout as Stripe created it."""

    payout_id: str
    amount: int
    currency: str
    status: str
    arrival_date: datetime | None


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


MonthDay = Annotated[StrictInt, Field(ge=1, le=31, description="Day of the month."), _WHOLE]
DelayDays = Annotated[
    StrictInt, Field(ge=2, le=365, description="Days a payment waits to be paid out."), _WHOLE
]


def _when(interval: str, then: dict[str, Any], otherwise: dict[str, Any]) -> dict[str, Any]:
    condition = {"properties": {"interval": {"const": interval}}}
    return {"if": condition, "then": then, "else": otherwise}


_NULL = {"type": "null"}
# The rule `_anchor_fits_interval` enforces, said in the schema too (JSON Schema `if`/`then`),
# so that what the OpenAPI calls valid is what the service accepts; one flat object still.
_ANCHOR_FITS_INTERVAL: dict[str, Any] = {
    "allOf": [
        _when(
            "weekly",
            {"required": ["weekly_anchor"], "properties": {"weekly_anchor": {"type": "string"}}},
            {"properties": {"weekly_anchor": _NULL}},
        ),
        _when(
            "monthly",
            {"required": ["monthly_anchor"], "properties": {"monthly_anchor": {"type": "integer"}}},
            {"properties": {"monthly_anchor": _NULL}},
        ),
        _when("manual", {"properties": {"delay_days": _NULL}}, {}),
    ]
}


class PayoutScheduleUpdate(_Input):
    """How often Stripe pays the account out; an interval's anchor is required for it."""

    model_config = ConfigDict(json_schema_extra=_ANCHOR_FITS_INTERVAL)

    organization_id: OrganizationId | None = None
    interval: PayoutInterval
    weekly_anchor: Weekday | None = None
    monthly_anchor: MonthDay | None = None
    delay_days: DelayDays | None = None

    @model_validator(mode="after")
    def _anchor_fits_interval(self) -> PayoutScheduleUpdate:
        if self.interval == "weekly" and self.weekly_anchor is None:
            raise ValueError("weekly_anchor is required for a weekly schedule")
        if self.interval == "monthly" and self.monthly_anchor is None:
            raise ValueError("monthly_anchor is required for a monthly schedule")
        if self.interval != "weekly" and self.weekly_anchor is not None:
            raise ValueError("weekly_anchor applies only to a weekly schedule")
        if self.interval != "monthly" and self.monthly_anchor is not None:
            raise ValueError("monthly_anchor applies only to a monthly schedule")
        if self.interval == "manual" and self.delay_days is not None:
            raise ValueError("delay_days does not apply to manual payouts")
        return self


class PayoutScheduleView(_Output):
    """The payout schedule the account has at Stripe: what the settings page shows, and what a
    change answers with (as Stripe then holds it)."""

    organization_id: str
    account_id: str
    interval: str
    weekly_anchor: str | None
    monthly_anchor: int | None
    delay_days: int | None

    @classmethod
    def of(cls, organization_id: str, account_id: str, held: PayoutSchedule) -> PayoutScheduleView:
        """The schedule Stripe holds for the organization's account."""
        return cls(
            organization_id=organization_id,
            account_id=account_id,
            interval=held.interval,
            weekly_anchor=held.weekly_anchor,
            monthly_anchor=held.monthly_anchor,
            delay_days=held.delay_days,
        )


# Payout failures in words, for Stripe's documented codes; Stripe's own message otherwise.
_PAYOUT_FAILURES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "bank_account_restricted": "The bank account has restrictions on payouts.",
    "bank_ownership_changed": "The bank account's owner changed; add the account again.",
    "could_not_process": "The bank could not process this payout.",
    "debit_not_authorized": "Debits are not authorized on this bank account.",
    "declined": "The bank declined this payout.",
    "insufficient_funds": "The Stripe balance was too low for this payout.",
    "invalid_account_number": "The bank account number is not valid.",
    "incorrect_account_holder_name": "The account holder's name does not match the bank's.",
    "invalid_currency": "The bank account cannot receive this currency.",
    "no_account": "The bank account could not be found.",
    "unsupported_card": "The card no longer supports payouts.",
}


class PayoutItem(_Output):
    """One payout of the organization's account."""

    payout_id: str
    amount: int
    currency: str
    status: str = Field(description="pending, in_transit, paid, failed or canceled.")
    arrival_date: datetime | None
    created: datetime | None
    failure_code: str | None = Field(description="Stripe's code, for a failed payout.")
    failure_message: str | None = Field(description="Why it failed, in words.")

    @classmethod
    def of(cls, payout: Payout) -> PayoutItem:
        """A payout as the history shows it."""
        failed = payout.failure_code is not None or payout.status == "failed"
        message = (
            _PAYOUT_FAILURES.get(payout.failure_code or "")
            or payout.failure_message
            or ("The payout failed." if failed else None)
        )
        return cls(
            payout_id=payout.id,
            amount=payout.amount,
            currency=payout.currency,
            status=payout.status,
            arrival_date=payout.arrival_date,
            created=payout.created,
            failure_code=payout.failure_code,
            failure_message=message,
        )


class PayoutHistory(_Output):
    """A page of the organization's payouts, newest first."""

    organization_id: str
    account_id: str
    data: list[PayoutItem]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `starting_after` for the next page.")


class ReversalItem(_Output):
    """Money taken back of a transfer, and why."""

    reversal_id: str
    amount: int
    created: datetime | None
    cause: ReversalCause | None = Field(
        description="Why: a refund or a dispute of the charge it was paid from, by hand, or to "
        "settle a claim (null: a reversal made some other way)."
    )
    cause_id: str | None = Field(description="The refund's or the dispute's id.")


class TransferItem(_Output):
    """One transfer the platform made to the organization, with its fee as made and what was
    taken back of it."""

    transfer_id: str
    created: datetime | None
    currency: str
    gross_amount: int | None = Field(description="Before the platform fee (null: not ours).")
    fee_amount: int | None
    platform_fee_percent: float | None
    net_amount: int = Field(description="What the organization's account received.")
    claims_settled: int = Field(
        description="What of the organization's net settled its claims instead of being sent."
    )
    amount_reversed: int
    net_after_reversals: int = Field(description="`net_amount` less `amount_reversed`.")
    reversals: list[ReversalItem] = Field(
        description="Its reversals, newest first (the first ten, as Stripe embeds them)."
    )
    returns_for: str | None = Field(
        description="For money a won dispute gave back: the transfer it returns for."
    )

    @classmethod
    def of(cls, transfer: Transfer) -> TransferItem:
        """A transfer as the history shows it: the fee facts written when it was made."""
        return cls(
            transfer_id=transfer.id,
            created=transfer.created,
            currency=transfer.currency,
            gross_amount=transfer.gross_amount,
            fee_amount=transfer.fee_amount,
            platform_fee_percent=transfer.platform_fee_percent,
            net_amount=transfer.amount,
            claims_settled=transfer.claims_settled,
            amount_reversed=transfer.amount_reversed,
            net_after_reversals=transfer.amount - transfer.amount_reversed,
            reversals=[
                ReversalItem(
                    reversal_id=r.id,
                    amount=r.amount,
                    created=r.created,
                    cause=r.cause,
                    cause_id=r.cause_id,
                )
                for r in transfer.reversals
            ],
            returns_for=transfer.returns_for,
        )


class ClaimSettlementItem(_Output):
    """Part of a claim settled, and by what."""

    amount: int
    kind: Literal["transfer", "reversal", "waived"] = Field(
        description="A transfer sent net of it, a later reversal, or waived (its dispute was won)."
    )
    reference: str | None = Field(
        description="The reversal's id for `reversal`, the dispute's key for `waived`."
    )
    created_at: datetime


class ClaimItem(_Output):
    """What an organization still owes the platform: the part of a reversal Stripe refused
    because the money was already paid out, settled first in, first out."""

    claim_id: str
    organization_id: str
    currency: str
    amount: int
    settled: int
    open: int = Field(description="What is still owed: `amount` less `settled`.")
    cause: Literal["refund", "dispute", "manual"]
    cause_id: str = Field(description="The refund, the dispute, or the manual reversal's key.")
    transfer_id: str
    created_at: datetime
    settlements: list[ClaimSettlementItem]

    @classmethod
    def of(cls, claim: Claim) -> ClaimItem:
        """A claim as D1 holds it."""
        return cls(
            claim_id=claim.id,
            organization_id=claim.organization_id,
            currency=claim.currency,
            amount=claim.amount,
            settled=claim.settled,
            open=claim.open,
            cause=claim.cause,
            cause_id=claim.cause_id,
            transfer_id=claim.transfer_id,
            created_at=claim.created_at,
            settlements=[
                ClaimSettlementItem(
                    amount=s.amount,
                    kind=s.kind,
                    reference=None if s.kind == "transfer" else s.key,
                    created_at=s.created_at,
                )
                for s in claim.settlements
            ],
        )


class ClaimTotalView(_Output):
    """What the open claims in one currency add up to."""

    currency: str
    open: int


class ClaimList(_Output):
    """A page of claims, first in, first out, and what the open ones add up to per currency
    (all of them, not only the page)."""

    data: list[ClaimItem]
    totals: list[ClaimTotalView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")

    @classmethod
    def of(
        cls, claims: list[Claim], totals: list[ClaimTotal], next_cursor: str | None
    ) -> ClaimList:
        """A page of claims as D1 holds them."""
        return cls(
            data=[ClaimItem.of(c) for c in claims],
            totals=[ClaimTotalView(currency=t.currency, open=t.open) for t in totals],
            next_cursor=next_cursor,
        )


class TransferHistory(_Output):
    """A page of the platform's transfers to the organization, newest first."""

    organization_id: str
    account_id: str
    data: list[TransferItem]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `starting_after` for the next page.")


class ConsoleOrganization(Status):
    """An organization as the platform's console lists it: its name, then its status."""

    name: str

    @classmethod
    def listed(cls, organization: Organization) -> ConsoleOrganization:
        """D1's view of `organization`, with its name."""
        return cls(**Status.of(organization).model_dump(), name=organization.name)


class StatusCounts(_Output):
    """How many organizations there are, in all and per Connect status (`not_started`: no
    account), from one Worker call."""

    total: int = Field(ge=0)
    not_started: int = Field(ge=0)
    pending: int = Field(ge=0)
    active: int = Field(ge=0)
    disabled: int = Field(ge=0)


class OrganizationList(_Output):
    """Platform admins' console: a page of organizations with their names and Connect
    status."""

    data: list[ConsoleOrganization]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    counts: StatusCounts | None = Field(
        default=None,
        description="On the first page (no `cursor`): the organizations the `name` search "
        "passes, in all and per status, whatever `status` filters; null on later pages.",
    )


class OrganizationRef(_Input):
    """Names the organization (else `X-Org-ID` does)."""

    organization_id: OrganizationId | None = None


class AccountSessionCreated(_Output):
    """A fresh Account Session for Stripe's embedded components (Connect.js): single use,
    short-lived, never stored or logged by the service."""

    client_secret: str = Field(description="For Connect.js' `fetchClientSecret`; single use.")
    expires_at: datetime
    account_id: str


class DashboardLink(_Output):
    """A single-use link: a login link to the Express dashboard, or an `account_update` Account
    Link for an account whose details the platform collects."""

    url: str


class PlatformFeeUpdate(_Input):
    """The organization's platform fee."""

    # A JSON number: `true` is not 1 %, nor "12.5" a number (as `amount` is a strict int).
    platform_fee_percent: StrictFloat = Field(ge=0, le=100, allow_inf_nan=False)


# The webhook reads its body raw (the signature covers the exact bytes), so its request is
# declared here for the OpenAPI document instead of parsed by FastAPI.
class StripeEventData(BaseModel):
    """`data` of a Stripe event: the object it is about (read as sent)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    object: dict[str, Any]


class StripeEventBody(BaseModel):
    """A Stripe event, as the webhook reads it: its shape, checked once the signature over
    the raw bytes matched (`webhooks.parse`), and documented in the OpenAPI document."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: StrictStr
    type: StrictStr
    livemode: StrictBool = False
    account: StrictStr | None = Field(default=None, description="The connected account's id.")
    created: Annotated[StrictInt, _WHOLE] | None = Field(
        default=None, description="When Stripe made it (Unix)."
    )
    data: StripeEventData


class ThinEventRelatedObject(BaseModel):
    """What a thin event is about: its id, type and where to fetch it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: StrictStr
    type: StrictStr
    url: StrictStr


class ThinEventBody(BaseModel):
    """A thin event from an event destination (`"object": "v2.core.event"`), as Stripe sends
    it: verified and parsed by stripe-python's `parse_event_notification`, documented here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: StrictStr
    object: Literal["v2.core.event"]
    type: StrictStr = Field(description="e.g. `v2.core.account[requirements].updated`.")
    created: StrictStr = Field(description="RFC 3339, UTC.")
    livemode: StrictBool = False
    related_object: ThinEventRelatedObject | None = None


class WebhookAck(_Output):
    """Stripe's delivery was handled (or deliberately ignored)."""

    received: Literal[True] = True
    event_id: str
    action: WebhookOutcome


class Health(_Output):
    """Liveness."""

    status: Literal["ok"] = "ok"
    version: str


class Ready(_Output):
    """Readiness: the dependencies answered."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str]


class ErrorDetail(_Output):
    """The error itself."""

    code: str = Field(description="Stable, snake_case; switch on this.")
    message: str = Field(description="For people; never a secret or a stack trace.")
    request_id: str | None = Field(default=None, description="The response's X-Request-ID.")
    details: list[dict[str, Any]] | None = Field(
        default=None, description="More about some errors, e.g. /ready's failing dependency."
    )


class ErrorBody(_Output):
    """Every error response."""

    error: ErrorDetail


class FieldError(_Output):
    """One offending field (its value is never echoed)."""

    loc: list[str | int] = Field(description="Where: body, header, path or query, then names.")
    msg: str
    type: str


class ValidationErrorDetail(_Output):
    """A 422's error: `validation_error`, with the offending fields."""

    code: Literal["validation_error"]
    message: str
    request_id: str | None = None
    details: list[FieldError]


class ValidationErrorBody(_Output):
    """A 422: the request's shape is invalid (an `ErrorBody` whose `details` names the fields)."""

    error: ValidationErrorDetail
