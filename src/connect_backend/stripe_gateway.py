"""The only module that talks to Stripe: one method per operation, deterministic idempotency keys.

Every call is an `_async` method of one `StripeClient`, over stripe-python's own `AIOHTTPClient`
on the service's long-lived aiohttp session (`connect_backend.outbound`).
stripe-python retries network failures, 409s and 5xx itself (429s only when Stripe says
`Stripe-Should-Retry`), and re-sends the same `Idempotency-Key` when it does; every POST that
creates something carries a key built from ids, so a retry of ours (or the caller's) replays
the first result instead of moving money or creating an account twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast
from urllib.parse import quote_plus

import aiohttp
import orjson
import stripe
from stripe import AIOHTTPClient, StripeClient

from connect_backend import log
from connect_backend.coalesce import Coalescer
from connect_backend.errors import (
    AccountInaccessible,
    BadRequest,
    Conflict,
    ConnectError,
    StripeFailure,
    UpstreamUnavailable,
)
from connect_backend.money import FeeSplit
from connect_backend.onboarding import AccountSnapshot
from connect_backend.types import AccountLink, Balance, Money, Payout, PayoutSchedule, Transfer

if TYPE_CHECKING:  # typing only: importing stripe.params costs about 80 ms at start-up
    from stripe.params import (
        AccountCreateParams,
        AccountCreateParamsCapabilities,
        AccountUpdateParamsSettingsPayoutsSchedule,
        TransferCreateParams,
    )

API_VERSION = "2026-10-28.endive"
"""Pinned, so a Stripe-side default change cannot alter the objects we read."""

# Stripe codes the caller can act on, passed through with their status; everything else is a
# 502 `stripe_error` (or 503 when Stripe cannot be reached).
_ACTIONABLE: Mapping[str, int] = {
    "balance_insufficient": 409,
    "insufficient_funds": 409,
    "amount_too_small": 400,
    "amount_too_large": 400,
    "resource_missing": 400,
    "payouts_not_allowed": 409,
    "transfers_not_allowed": 409,
}


@dataclass(frozen=True, slots=True)
class AccountRead:
    """An account as Stripe held it when the read began (`seen_at`): the view includes every
    change Stripe made before that moment."""

    account: AccountSnapshot
    seen_at: datetime


def idempotency_key(kind: str, *parts: str) -> str:
    """`kind:part:…`, hashed when it would exceed Stripe's 255 characters or is not printable
    ASCII (it travels in a header; a caller's key may hold any byte HTTP allows)."""
    key = ":".join((kind, *parts))
    if len(key) <= 255 and key.isascii() and key.isprintable():
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest}"


def _params_digest(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


class StripeGateway:
    """Every Stripe operation the service performs."""

    def __init__(
        self,
        client: StripeClient,
        *,
        account_type: Literal["express", "custom"],
        capabilities: list[str],
    ) -> None:
        self._client = client
        self._stripe = client.v1
        self._reads: Coalescer[str, AccountRead] = Coalescer()
        self.account_type = account_type
        self.capabilities = tuple(capabilities)

    @classmethod
    def connect(
        cls,
        *,
        api_key: str,
        api_base: str,
        http: aiohttp.ClientSession,
        account_type: Literal["express", "custom"],
        capabilities: list[str],
        timeout: float = 20.0,
    ) -> StripeGateway:
        """A gateway whose calls travel over `http` (the caller owns and closes it)."""
        client = StripeClient(
            api_key,
            stripe_version=API_VERSION,
            base_addresses={"api": api_base, "connect": api_base},
            http_client=AIOHTTPClient(session=http, timeout=aiohttp.ClientTimeout(total=timeout)),
            max_network_retries=2,
        )
        return cls(client, account_type=account_type, capabilities=capabilities)

    def account_params(
        self, *, organization_id: str, organization_name: str, country: str
    ) -> AccountCreateParams:
        """The one place that decides how connected accounts are created.

        Nothing here depends on who clicked: any admin of the organization sends the same
        parameters, so the idempotency key replays one account whoever retries. The clicking
        user's email is set by `set_email` once the account is linked.
        """
        # Capability names come from CONNECT_CAPABILITIES; Stripe refuses one it does not know.
        capabilities = cast(
            "AccountCreateParamsCapabilities",
            {name: {"requested": True} for name in self.capabilities},
        )
        params: AccountCreateParams = {
            "type": self.account_type,
            "country": country,
            "business_profile": {"name": organization_name},
            "metadata": {"organization_id": organization_id},
            "capabilities": capabilities,
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        }
        if self.account_type == "custom":
            # Custom accounts never see Stripe's terms themselves; the platform collects them.
            params["tos_acceptance"] = {"service_agreement": "full"}
        return params

    async def create_account(
        self, params: AccountCreateParams, *, organization_id: str
    ) -> AccountSnapshot:
        """Create a connected account; the same parameters for an organization replay it."""
        key = idempotency_key("connect-account", organization_id, _params_digest(params))
        async with _mapped("accounts.create"):
            account = await self._stripe.accounts.create_async(
                params=params, options={"idempotency_key": key}
            )
            created = AccountSnapshot.from_stripe(account.to_dict())
        log.info("stripe.account.created", account_id=created.id)
        return created

    async def set_email(self, account_id: str, email: str) -> None:
        """Prefill the account's email for onboarding (allowed until the first Account Link)."""
        try:
            async with _mapped("accounts.update"):
                await self._stripe.accounts.update_async(account_id, params={"email": email})
        except ConnectError as exc:  # onboarding asks for it anyway: not worth failing over
            log.warning("stripe.account.email_failed", account_id=account_id, code=exc.code)

    async def delete_account(self, account_id: str) -> None:
        """Remove an account that lost the race to be linked (best effort, logged)."""
        try:
            async with _mapped("accounts.delete"):
                await self._stripe.accounts.delete_async(account_id)
            log.info("stripe.account.deleted", account_id=account_id)
        except ConnectError as exc:
            log.warning("stripe.account.delete_failed", account_id=account_id, code=exc.code)

    async def read_account(self, account_id: str) -> AccountRead:
        """The account as Stripe holds it now: a read that began after this call, shared with
        the process's other callers that want the same account meanwhile (`Coalescer.fresh`)."""
        return await self._reads.fresh(account_id, lambda: self._read_account(account_id))

    async def _read_account(self, account_id: str) -> AccountRead:
        seen_at = datetime.now(UTC)
        return AccountRead(await self.retrieve_account(account_id), seen_at)

    async def retrieve_account(self, account_id: str) -> AccountSnapshot:
        """The account as Stripe holds it now (one request of this caller's own)."""
        async with _mapped("accounts.retrieve"):
            # The answer's dict, not a StripeObject: building one for a whole Account (and
            # `to_dict()` back) cost more CPU than the HTTP request itself. Same request,
            # retries and errors as `accounts.retrieve_async`.
            answer = await self._client.raw_request_async(
                "get", f"/v1/accounts/{quote_plus(account_id)}"
            )
            return AccountSnapshot.from_stripe(answer.data)

    async def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str
    ) -> AccountLink:
        """A fresh onboarding link (single use, short-lived; a new one each time is harmless)."""
        async with _mapped("account_links.create"):
            link = await self._stripe.account_links.create_async(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
            return AccountLink(
                url=link.url, expires_at=datetime.fromtimestamp(link.expires_at, UTC)
            )

    async def create_login_link(self, account_id: str) -> str:
        """A login link to the Express dashboard."""
        async with _mapped("login_links.create"):
            link = await self._stripe.accounts.login_links.create_async(account_id)
            return link.url

    async def retrieve_balance(self, account_id: str) -> Balance:
        """The connected account's available and pending balance."""
        async with _mapped("balance.retrieve"):
            balance = await self._stripe.balance.retrieve_async(
                options={"stripe_account": account_id}
            )
            data = balance.to_dict()
            return Balance(
                available=_money(data.get("available")), pending=_money(data.get("pending"))
            )

    async def create_transfer(
        self,
        *,
        organization_id: str,
        account_id: str,
        split: FeeSplit,
        currency: str,
        caller_key: str,
        source_transaction: str | None = None,
        transfer_group: str | None = None,
        description: str | None = None,
    ) -> Transfer:
        """Transfer `split.net` to the account; the caller's key makes a retry a replay."""
        params: TransferCreateParams = {
            "amount": split.net,
            "currency": currency,
            "destination": account_id,
            "metadata": {
                "organization_id": organization_id,
                "gross_amount": str(split.gross),
                "fee_amount": str(split.fee),
                "platform_fee_percent": str(split.percent),
                "idempotency_key": caller_key,
            },
        }
        if source_transaction is not None:
            params["source_transaction"] = source_transaction
        if transfer_group is not None:
            params["transfer_group"] = transfer_group
        if description is not None:
            params["description"] = description
        key = idempotency_key("transfer", organization_id, caller_key)
        async with _mapped("transfers.create"):
            transfer = await self._stripe.transfers.create_async(
                params=params, options={"idempotency_key": key}
            )
            made = Transfer(
                id=transfer.id,
                amount=transfer.amount,
                currency=transfer.currency,
                destination=account_id,
            )
        log.info(
            "stripe.transfer.created",
            transfer_id=made.id,
            account_id=account_id,
            amount=made.amount,
            currency=made.currency,
            fee=split.fee,
        )
        return made

    async def create_payout(
        self,
        *,
        organization_id: str,
        account_id: str,
        amount: int,
        currency: str,
        caller_key: str,
    ) -> Payout:
        """Pay `amount` out of the account's available balance to its bank."""
        key = idempotency_key("payout", organization_id, caller_key)
        # The account's own balance is short: the service's `insufficient_balance`, as when it
        # finds so itself (`balance_insufficient` stays Stripe's name for the platform's).
        async with _mapped(
            "payouts.create", rename={"balance_insufficient": "insufficient_balance"}
        ):
            payout = await self._stripe.payouts.create_async(
                params={
                    "amount": amount,
                    "currency": currency,
                    "metadata": {"organization_id": organization_id, "idempotency_key": caller_key},
                },
                options={"stripe_account": account_id, "idempotency_key": key},
            )
            made = _payout(payout.to_dict())
        log.info("stripe.payout.created", payout_id=made.id, account_id=account_id, amount=amount)
        return made

    async def find_payout(self, *, account_id: str, caller_key: str) -> Payout | None:
        """A recent payout made with the caller's idempotency key, if any."""
        async with _mapped("payouts.list"):
            page = await self._stripe.payouts.list_async(
                params={"limit": 100}, options={"stripe_account": account_id}
            )
            for payout in page.data:
                if payout.to_dict().get("metadata", {}).get("idempotency_key") == caller_key:
                    return _payout(payout.to_dict())
        return None

    async def update_payout_schedule(
        self, *, account_id: str, schedule: PayoutSchedule
    ) -> PayoutSchedule:
        """Set the account's payout schedule; returns it as Stripe now holds it."""
        wanted: AccountUpdateParamsSettingsPayoutsSchedule = {"interval": schedule.interval}
        if schedule.weekly_anchor is not None:
            wanted["weekly_anchor"] = schedule.weekly_anchor
        if schedule.monthly_anchor is not None:
            wanted["monthly_anchor"] = schedule.monthly_anchor
        if schedule.delay_days is not None:
            wanted["delay_days"] = schedule.delay_days
        async with _mapped("accounts.update"):
            account = await self._stripe.accounts.update_async(
                account_id,
                params={"settings": {"payouts": {"schedule": wanted}}},
            )
            settings = account.to_dict().get("settings") or {}
            held = settings.get("payouts", {}).get("schedule", {})
            return PayoutSchedule(
                interval=str(held.get("interval", schedule.interval)),
                weekly_anchor=held.get("weekly_anchor"),
                monthly_anchor=held.get("monthly_anchor"),
                delay_days=held.get("delay_days"),
            )


def _money(items: Any) -> list[Money]:
    return [Money(amount=int(i["amount"]), currency=str(i["currency"])) for i in items or []]


def _payout(data: Mapping[str, Any]) -> Payout:
    return Payout(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        status=str(data.get("status", "pending")),
        arrival_date=_timestamp(data.get("arrival_date")),
    )


class _mapped:
    """Turn stripe-python's exceptions into the service's errors, in one place; `rename` gives
    a Stripe code the service's own name for this operation."""

    def __init__(self, operation: str, *, rename: Mapping[str, str] | None = None) -> None:
        self.operation = operation
        self.rename = rename or {}

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: Any
    ) -> Literal[False]:
        if isinstance(exc, stripe.StripeError):
            _raise_mapped(self.operation, exc, self.rename)
        if isinstance(exc, AttributeError | KeyError | TypeError | ValueError):
            # An answer we cannot read is Stripe's failure (502), not a crash of ours (500).
            log.error("stripe.bad_answer", operation=self.operation, error=type(exc).__name__)
            raise StripeFailure("Stripe gave an unexpected answer.") from None
        return False


def _raise_mapped(operation: str, exc: stripe.StripeError, rename: Mapping[str, str]) -> NoReturn:
    status = exc.http_status
    code = exc.code
    fields = {
        "operation": operation,
        "status": status,
        "stripe_code": code,
        "stripe_request_id": exc.request_id,
    }
    if isinstance(exc, stripe.IdempotencyError):
        log.warning("stripe.idempotency_conflict", **fields)
        raise Conflict(
            "This Idempotency-Key was already used with other parameters.",
            code="idempotency_conflict",
        ) from None
    if isinstance(exc, stripe.PermissionError) or code == "account_invalid":
        log.warning("stripe.account_inaccessible", **fields)
        raise AccountInaccessible(
            "The platform can no longer access this Stripe account."
        ) from None
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        log.warning("stripe.unavailable", **fields)
        raise UpstreamUnavailable("Stripe cannot be reached right now; try again.") from None
    if isinstance(exc, stripe.CardError):
        log.info("stripe.refused", **fields)
        raise ConnectError(
            exc.user_message or "Stripe declined.", code=code or "card_error", status_code=402
        ) from None
    if isinstance(exc, stripe.InvalidRequestError) and code is not None and code in _ACTIONABLE:
        log.info("stripe.refused", **fields)
        raise (BadRequest if _ACTIONABLE[code] == 400 else Conflict)(
            exc.user_message or "Stripe refused the request.", code=rename.get(code, code)
        ) from None
    log.error("stripe.failed", **fields)
    raise StripeFailure("Stripe could not complete the request.") from None
