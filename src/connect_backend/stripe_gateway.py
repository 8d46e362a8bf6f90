"""The only module that talks to Stripe: one method per operation, deterministic idempotency keys.

Every call is an `_async` method of one `StripeClient`, over stripe-python's own `AIOHTTPClient`
on the service's long-lived aiohttp session (`connect_backend.outbound`).
stripe-python retries network failures, 409s and 5xx itself (429s only when Stripe says
`Stripe-Should-Retry`), and re-sends the same `Idempotency-Key` when it does; every POST that
creates something carries a key built from ids, so a retry of ours (or the caller's) replays
the first result instead of moving money or creating an account twice.

Every request runs in a `connect_backend.stripe_errors.StripeCall`, which spends the budget and
turns Stripe's errors into the service's.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from urllib.parse import quote_plus

import aiohttp
import orjson
from stripe import AIOHTTPClient, StripeClient, WebhookSignature

from connect_backend import errors, log, stripe_objects
from connect_backend.coalesce import Coalescer, FreshReads
from connect_backend.countries import service_agreement
from connect_backend.domain import (
    AccountApi,
    AccountLink,
    AccountSession,
    Balance,
    Charge,
    Dispute,
    EventNotice,
    Page,
    Payout,
    PayoutSchedule,
    Refund,
    Reversal,
    ReversalCause,
    SourceType,
    Transfer,
)
from connect_backend.errors import BadRequest, ConnectError, RateLimited, StripeFailure
from connect_backend.onboarding import AccountSnapshot
from connect_backend.stripe_budget import StripeBudget, StripeClass, stripe_class
from connect_backend.stripe_errors import StripeCall, cursor_refusal

if TYPE_CHECKING:  # typing only: importing stripe.params costs about 80 ms at start-up
    from stripe.params import (
        AccountCreateParams,
        AccountCreateParamsCapabilities,
        AccountCreateParamsController,
        AccountSessionCreateParams,
        AccountUpdateParamsSettingsPayoutsSchedule,
        ChargeListParams,
        DisputeListParams,
        PayoutListParams,
        RefundListParams,
        TransferCreateParams,
        TransferListParams,
        TransferReversalListParams,
    )
    from stripe.params.v2.core import AccountCreateParams as V2AccountCreateParams

T = TypeVar("T")

API_VERSION = "2026-10-28.endive"
"""Pinned, so a Stripe-side default change cannot alter the objects we read."""


PAGE = 100
"""Items a page when the service reads a whole Stripe list."""
MAX_PAGES = 10
"""The longest list the service reads whole (a charge's transfers, refunds, a transfer's
reversals): past it, the read is refused rather than done in part."""


@dataclass(frozen=True, slots=True)
class AccountRead:
    """An account as Stripe held it when the read began (`seen_at`): the view includes every
    change Stripe made before that moment."""

    account: AccountSnapshot
    seen_at: datetime


class AccountReadCodec:
    """An `AccountRead`, or the error a read ended in, as bytes for the service's other
    processes (`connect_backend.redis_store.SharedReads`).

    It lives beside `AccountRead`, not in `stripe_objects`: it writes the service's own read
    (a snapshot already parsed, the moment it stands for, the service's errors) and never
    sees a Stripe object, so it changes when `AccountRead` does, not when Stripe's JSON does.
    """

    def dumps(self, value: AccountRead) -> bytes:
        """The read as JSON."""
        return orjson.dumps(
            {"seen_at": value.seen_at, "account": value.account.model_dump(mode="json")}
        )

    def loads(self, data: bytes) -> AccountRead:
        """The read back."""
        fields = orjson.loads(data)
        return AccountRead(
            AccountSnapshot.model_validate(fields["account"]),
            datetime.fromisoformat(fields["seen_at"]),
        )

    def dumps_error(self, error: Exception) -> bytes | None:
        """The service's own errors travel; anything else (a bug) does not."""
        return errors.to_bytes(error)

    def loads_error(self, data: bytes) -> Exception:
        """The error back."""
        return errors.from_bytes(data)


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


def _rfc3339_or_none(value: object) -> datetime | None:
    """A thin event's `created`; None for one that is not a timestamp (it orders nothing:
    the service's own clock does)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class StripeGateway:
    """Every Stripe operation the service performs."""

    def __init__(
        self,
        client: StripeClient,
        *,
        account_type: Literal["express", "custom"],
        capabilities: list[str],
        budget: StripeBudget | None = None,
        reads: FreshReads[AccountRead] | None = None,
        accounts_api: AccountApi = "v1",
    ) -> None:
        self._client = client
        self._stripe = client.v1
        self._budget = budget
        self._reads: FreshReads[AccountRead] = reads or Coalescer()
        self.account_type = account_type
        self.capabilities = tuple(capabilities)
        self.accounts_api: AccountApi = accounts_api
        """The API new accounts are made through (`CONNECT_ACCOUNTS_API`); an existing account
        is always used through the one D1 recorded for it."""

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
        budget: StripeBudget | None = None,
        reads: FreshReads[AccountRead] | None = None,
        accounts_api: AccountApi = "v1",
    ) -> StripeGateway:
        """A gateway whose calls travel over `http` (the caller owns and closes it)."""
        client = StripeClient(
            api_key,
            stripe_version=API_VERSION,
            base_addresses={"api": api_base, "connect": api_base},
            http_client=AIOHTTPClient(session=http, timeout=aiohttp.ClientTimeout(total=timeout)),
            max_network_retries=2,
        )
        return cls(
            client,
            account_type=account_type,
            capabilities=capabilities,
            budget=budget,
            reads=reads,
            accounts_api=accounts_api,
        )

    def _calling(self, operation: str, *, rename: Mapping[str, str] | None = None) -> StripeCall:
        return StripeCall(operation, budget=self._budget, rename=rename or {})

    async def create_account(
        self,
        *,
        organization_id: str,
        organization_name: str,
        country: str,
        replacing: str | None = None,
    ) -> AccountSnapshot:
        """Create the organization's connected account: the one place that decides how
        connected accounts are created.

        Nothing here depends on who clicked: any admin of the organization sends the same
        parameters, so the idempotency key (the organization and a digest of the parameters)
        replays one account whoever retries. The clicking user's email is set by `set_email`
        once the account is linked. The service agreement is the one the country needs to
        receive the platform's transfers (`countries.py`); a country whose agreement cannot
        have the requested capabilities is refused before Stripe is asked. The account is
        described by Stripe's controller properties, never the legacy `type`: Express-like by
        default, Custom-like with `CONNECT_ACCOUNT_TYPE=custom` (`stripe_objects.CONTROLLERS`).

        `replacing`: the deauthorized account this one takes the place of — part of the key,
        so a new account is made instead of the old one replayed.
        """
        agreement = service_agreement(country)
        if agreement == "recipient" and "card_payments" in self.capabilities:
            raise BadRequest(
                f"Accounts in {country} can only receive payouts (the recipient service "
                "agreement), which cannot have the card_payments capability.",
                code="country_not_supported",
            )
        # Capability names come from CONNECT_CAPABILITIES; Stripe refuses one it does not know.
        capabilities = cast(
            "AccountCreateParamsCapabilities",
            {name: {"requested": True} for name in self.capabilities},
        )
        controller = cast(
            "AccountCreateParamsController", stripe_objects.CONTROLLERS[self.account_type]
        )
        params: AccountCreateParams = {
            "controller": copy.deepcopy(controller),
            "country": country,
            "business_profile": {"name": organization_name},
            "metadata": {"organization_id": organization_id},
            "capabilities": capabilities,
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        }
        if agreement == "recipient":
            params["tos_acceptance"] = {"service_agreement": "recipient"}
        elif controller["requirement_collection"] == "application":
            # The platform collects requirements, Stripe's terms among them (Custom-like).
            params["tos_acceptance"] = {"service_agreement": "full"}
        parts = [organization_id, _params_digest(params), *([replacing] if replacing else [])]
        key = idempotency_key("connect-account", *parts)
        async with self._calling("accounts.create"):
            account = await self._stripe.accounts.create_async(
                params=params, options={"idempotency_key": key}
            )
            created = stripe_objects.account_snapshot(account.to_dict())
        log.info("stripe.account.created", account_id=created.id)
        return created

    async def create_account_v2(
        self,
        *,
        organization_id: str,
        organization_name: str,
        country: str,
        replacing: str | None = None,
    ) -> AccountSnapshot:
        """Create the organization's account through Accounts v2 (`CONNECT_ACCOUNTS_API=v2`):
        the `recipient` configuration with its `stripe_balance.stripe_transfers` capability
        (it receives the platform's `/v1/transfers` and pays out its Stripe balance), the
        dashboard and responsibilities of `CONNECT_ACCOUNT_TYPE` (Express-like: `express`;
        Custom-like: `none`; the platform collects fees and carries losses either way). Keyed
        like v1 creation: the same organization and parameters replay one account."""
        if service_agreement(country) == "recipient" or set(self.capabilities) - {"transfers"}:
            raise BadRequest(
                "Accounts v2 accounts are made here with the recipient configuration only, "
                f"in the platform's transfer region (not {country}) and with no capability "
                "but transfers.",
                code="country_not_supported",
            )
        dashboard = stripe_objects.CONTROLLERS[self.account_type]["stripe_dashboard"]["type"]
        params = stripe_objects.v2_account_params(
            organization_id=organization_id,
            organization_name=organization_name,
            country=country,
            dashboard=dashboard,
        )
        parts = [organization_id, "v2", _params_digest(params), *([replacing] if replacing else [])]
        key = idempotency_key("connect-account", *parts)
        async with self._calling("v2.core.accounts.create"):
            account = await self._client.v2.core.accounts.create_async(
                params=cast("V2AccountCreateParams", params), options={"idempotency_key": key}
            )
            created = stripe_objects.v2_account_snapshot(account.to_dict())
        log.info("stripe.account.created", account_id=created.id, api="v2")
        # Accounts v2 has no payout schedule: v1's account update sets it, manual as for v1
        # accounts (payouts are made through the API). A retry replays the account and sets
        # the same schedule again.
        await self.update_payout_schedule(
            account_id=created.id, schedule=PayoutSchedule(interval="manual")
        )
        return created

    def parse_event_notification(
        self, body: bytes, header: str, secret: str, *, tolerance: int
    ) -> EventNotice:
        """A thin event verified and parsed by stripe-python's `parse_event_notification`
        (its signature over `body` with `secret`, no older than `tolerance`). Raises
        `stripe.SignatureVerificationError` when the signature does not match, `ValueError`
        (or `KeyError`, `TypeError`) when the body is no thin event."""
        try:
            notice = self._client.parse_event_notification(body, header, secret, tolerance)
        except (TypeError, KeyError):
            # Either the signature could not be read at all (no match), or it matched and
            # stripe-python's class for the type could not be built from the body (a known
            # type without its `related_object`): told apart by the verifier alone.
            WebhookSignature.verify_header(body, header, secret, tolerance)
            sent = orjson.loads(body)
            if not (isinstance(sent.get("id"), str) and isinstance(sent.get("type"), str)):
                raise KeyError("a thin event names its id and type as strings") from None
            return EventNotice(
                id=sent["id"],
                type=sent["type"],
                livemode=bool(sent.get("livemode")),
                created=_rfc3339_or_none(sent.get("created")),
                related_id=None,
                related_type=None,
            )
        if not (isinstance(notice.id, str) and isinstance(notice.type, str)):
            raise KeyError("a thin event names its id and type as strings")
        related = getattr(notice, "related_object", None)
        return EventNotice(
            id=notice.id,
            type=notice.type,
            livemode=notice.livemode,
            created=_rfc3339_or_none(notice.created),
            related_id=getattr(related, "id", None),
            related_type=getattr(related, "type", None),
        )

    async def set_email(self, account_id: str, email: str) -> None:
        """Prefill the account's email for onboarding (allowed until the first Account Link)."""
        try:
            async with self._calling("accounts.update"):
                await self._stripe.accounts.update_async(account_id, params={"email": email})
        except ConnectError as exc:  # onboarding asks for it anyway: not worth failing over
            log.warning("stripe.account.email_failed", account_id=account_id, code=exc.code)

    async def delete_account(self, account_id: str, api: AccountApi = "v1") -> None:
        """Remove an account that lost the race to be linked (best effort, logged); a v2
        account is closed (`POST /v2/core/accounts/{id}/close`: v2 deletes none)."""
        try:
            async with self._calling("accounts.delete"):
                if api == "v2":
                    await self._client.v2.core.accounts.close_async(account_id)
                else:
                    await self._stripe.accounts.delete_async(account_id)
            log.info("stripe.account.deleted", account_id=account_id)
        except ConnectError as exc:
            log.warning("stripe.account.delete_failed", account_id=account_id, code=exc.code)

    async def read_account(self, account_id: str, api: AccountApi = "v1") -> AccountRead:
        """The account as Stripe holds it now: a read that began after this call, shared with
        the other callers that want the same account meanwhile, in this process
        (`Coalescer.fresh`) or in every process (`SharedReads`).

        A shared read spends the budget of the caller that started it. When that was a read
        refused by the reads' share (429), a caller whose own class may use the whole budget (a
        webhook, onboarding) is not refused for it: it reads for itself, charged as itself.
        """

        async def own_read() -> AccountRead:
            seen_at = datetime.now(UTC)  # before the request: the view holds all Stripe had then
            if api == "v2":
                return AccountRead(await self._fetch_v2_account(account_id), seen_at)
            return AccountRead(
                await self._fetch_account(account_id, stripe_objects.account_snapshot), seen_at
            )

        try:
            # v2 reads are shared under their own key: the two views are read differently.
            shared_as = account_id if api == "v1" else f"v2:{account_id}"
            return await self._reads.fresh(shared_as, own_read)
        except RateLimited:
            if stripe_class.get() is StripeClass.READ:
                raise
            return await own_read()

    async def _fetch_account(self, account_id: str, parse: Callable[[Mapping[str, Any]], T]) -> T:
        """`GET /v1/accounts/{id}`, one request of this caller's own, its answer read by
        `parse` inside the call (an answer it cannot read is Stripe's 502).

        The answer's dict, not a StripeObject: building one for a whole Account (and
        `to_dict()` back) cost more CPU than the HTTP request itself. Same request, retries
        and errors as `accounts.retrieve_async`.
        """
        async with self._calling("accounts.retrieve"):
            answer = await self._client.raw_request_async(
                "get", f"/v1/accounts/{quote_plus(account_id)}"
            )
            return parse(answer.data)

    async def _fetch_v2_account(self, account_id: str) -> AccountSnapshot:
        """`GET /v2/core/accounts/{id}` with the recipient configuration and requirements.

        A closed account is still retrieved (`closed: true`, with only limited fields), but
        the platform can no longer use it: `AccountInaccessible`, as v1's `account_invalid`
        for a deauthorized account, so that a read of it marks the organization deauthorized
        as the `v2.core.account.closed` event does, never a status from its limited fields."""
        async with self._calling("v2.core.accounts.retrieve"):
            account = await self._client.v2.core.accounts.retrieve_async(
                account_id, params={"include": cast("Any", stripe_objects.V2_INCLUDE)}
            )
            held = account.to_dict()
        if held.get("closed"):
            log.warning("stripe.account_inaccessible", account_id=account_id, closed=True)
            raise errors.AccountInaccessible("This Stripe account is closed.")
        return stripe_objects.v2_account_snapshot(held)

    async def create_account_link_v2(
        self, *, account_id: str, refresh_url: str, return_url: str
    ) -> AccountLink:
        """A fresh v2 Account Link onboarding the account (single use, short-lived)."""
        async with self._calling("v2.core.account_links.create"):
            link = await self._client.v2.core.account_links.create_async(
                params={
                    "account": account_id,
                    "use_case": {
                        "type": "account_onboarding",
                        "account_onboarding": {
                            "refresh_url": refresh_url,
                            "return_url": return_url,
                        },
                    },
                }
            )
            return AccountLink(url=link.url, expires_at=datetime.fromisoformat(link.expires_at))

    async def create_account_link(
        self,
        *,
        account_id: str,
        refresh_url: str,
        return_url: str,
        purpose: Literal["account_onboarding", "account_update"] = "account_onboarding",
    ) -> AccountLink:
        """A fresh onboarding link (single use, short-lived; a new one each time is harmless);
        `account_update` for an account whose details the platform collects, to change them."""
        async with self._calling("account_links.create"):
            link = await self._stripe.account_links.create_async(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": purpose,
                }
            )
            return AccountLink(
                url=link.url, expires_at=datetime.fromtimestamp(link.expires_at, UTC)
            )

    async def create_account_session(
        self, account_id: str, components: Mapping[str, Any]
    ) -> AccountSession:
        """A fresh Account Session for the embedded components (`onboarding.session_components`
        chooses them). Not keyed by us, as Account Links are not: each call wants a new one,
        and stripe-python's own key makes its retries of this one call replay it. The secret is
        returned to the caller only; the log line names the account."""
        async with self._calling("account_sessions.create"):
            session = await self._stripe.account_sessions.create_async(
                params=cast(
                    "AccountSessionCreateParams",
                    {"account": account_id, "components": components},
                )
            )
            made = AccountSession(
                client_secret=session.client_secret,
                expires_at=datetime.fromtimestamp(session.expires_at, UTC),
            )
        log.info("stripe.account_session.created", account_id=account_id)
        return made

    async def create_login_link(self, account_id: str) -> str:
        """A login link to the Express dashboard."""
        async with self._calling("login_links.create"):
            link = await self._stripe.accounts.login_links.create_async(account_id)
            return link.url

    async def retrieve_balance(self, account_id: str) -> Balance:
        """The connected account's available and pending balance, by source type."""
        async with self._calling("balance.retrieve"):
            balance = await self._stripe.balance.retrieve_async(
                options={"stripe_account": account_id}
            )
            return stripe_objects.balance(balance.to_dict())

    async def create_transfer(
        self,
        *,
        organization_id: str,
        account_id: str,
        amount: int,
        currency: str,
        gross: int,
        fee: int,
        percent: str,
        caller_key: str,
        claims_settled: int = 0,
        source_transaction: str | None = None,
        transfer_group: str | None = None,
        description: str | None = None,
    ) -> Transfer:
        """Transfer `amount` (`gross` less `fee`, less the `claims_settled` from it) to the
        account; the caller's key makes a retry within Stripe's 24 hours a replay.

        The fee facts travel in the transfer's metadata, so its history never recomputes them.
        """
        params: TransferCreateParams = {
            "amount": amount,
            "currency": currency,
            "destination": account_id,
            "metadata": {
                "organization_id": organization_id,
                "gross_amount": str(gross),
                "fee_amount": str(fee),
                "platform_fee_percent": percent,
                "idempotency_key": caller_key,
            },
        }
        if claims_settled:
            params["metadata"]["claims_settled"] = str(claims_settled)
        if source_transaction is not None:
            params["source_transaction"] = source_transaction
        if transfer_group is not None:
            params["transfer_group"] = transfer_group
        if description is not None:
            params["description"] = description
        key = idempotency_key("transfer", organization_id, caller_key)
        async with self._calling("transfers.create"):
            transfer = await self._stripe.transfers.create_async(
                params=params, options={"idempotency_key": key}
            )
            made = stripe_objects.transfer(transfer.to_dict())
        log.info(
            "stripe.transfer.created",
            transfer_id=made.id,
            account_id=account_id,
            amount=made.amount,
            currency=made.currency,
            fee=fee,
        )
        return made

    async def create_payout(
        self,
        *,
        organization_id: str,
        account_id: str,
        amount: int,
        currency: str,
        source_type: SourceType,
        caller_key: str,
    ) -> Payout:
        """Pay `amount` of one source type's available balance out to the account's bank."""
        key = idempotency_key("payout", organization_id, caller_key)
        # The account's own balance is short: the service's `insufficient_balance`, as when it
        # finds so itself (`balance_insufficient` stays Stripe's name for the platform's).
        short = {"balance_insufficient": "insufficient_balance"}
        async with self._calling("payouts.create", rename=short):
            payout = await self._stripe.payouts.create_async(
                params={
                    "amount": amount,
                    "currency": currency,
                    "source_type": source_type,
                    "metadata": {"organization_id": organization_id, "idempotency_key": caller_key},
                },
                options={"stripe_account": account_id, "idempotency_key": key},
            )
            made = stripe_objects.payout(payout.to_dict())
        log.info("stripe.payout.created", payout_id=made.id, account_id=account_id, amount=amount)
        return made

    async def retrieve_payout(self, account_id: str, payout_id: str) -> Payout:
        """One payout of the account, as Stripe holds it now."""
        async with self._calling("payouts.retrieve"):
            payout = await self._stripe.payouts.retrieve_async(
                payout_id, options={"stripe_account": account_id}
            )
            return stripe_objects.payout(payout.to_dict())

    async def list_payouts(
        self, account_id: str, *, limit: int, starting_after: str | None = None
    ) -> Page[Payout]:
        """One page of the account's payouts, newest first (after `starting_after`)."""
        params: PayoutListParams = {"limit": limit}
        if starting_after is not None:
            params["starting_after"] = starting_after
        async with self._calling("payouts.list", rename=cursor_refusal(starting_after)):
            page = await self._stripe.payouts.list_async(
                params=params, options={"stripe_account": account_id}
            )
            return Page(
                [stripe_objects.payout(p.to_dict()) for p in page.data], bool(page.has_more)
            )

    async def list_transfers(
        self, account_id: str, *, limit: int, starting_after: str | None = None
    ) -> Page[Transfer]:
        """One page of the platform's transfers to the account, newest first."""
        params: TransferListParams = {"destination": account_id, "limit": limit}
        if starting_after is not None:
            params["starting_after"] = starting_after
        async with self._calling("transfers.list", rename=cursor_refusal(starting_after)):
            page = await self._stripe.transfers.list_async(params=params)
            return Page(
                [stripe_objects.transfer(t.to_dict()) for t in page.data], bool(page.has_more)
            )

    async def retrieve_transfer(self, transfer_id: str) -> Transfer | None:
        """One of the platform's transfers, as Stripe holds it now; None when the platform has
        no such transfer."""
        try:
            async with self._calling("transfers.retrieve"):
                transfer = await self._stripe.transfers.retrieve_async(transfer_id)
                return stripe_objects.transfer(transfer.to_dict())
        except BadRequest as refused:
            if refused.code == "resource_missing":
                return None
            raise

    async def return_to_destination(
        self, *, transfer: Transfer, amount: int, cause_id: str, key: str
    ) -> Transfer:
        """Send `amount` back to a transfer's destination as a new transfer in its group (money
        the won dispute `cause_id` reinstated); `key` makes a redelivery a replay."""
        params: TransferCreateParams = {
            "amount": amount,
            "currency": transfer.currency,
            "destination": transfer.destination,
            "metadata": {"cause": "dispute_won", "cause_id": cause_id, "returns_for": transfer.id},
        }
        if transfer.transfer_group is not None:
            params["transfer_group"] = transfer.transfer_group
        async with self._calling("transfers.create"):
            made = await self._stripe.transfers.create_async(
                params=params, options={"idempotency_key": idempotency_key("transfer", key)}
            )
            back = stripe_objects.transfer(made.to_dict())
        log.info("stripe.transfer.returned", transfer_id=back.id, returns_for=transfer.id)
        return back

    async def transfers_in_group(self, transfer_group: str) -> list[Transfer]:
        """Every transfer of the platform's in `transfer_group` (Stripe's own filter: a charge's
        transfers are found from it, never by scanning); refused (502) past `MAX_PAGES`."""
        return [
            stripe_objects.transfer(t)
            for t in await self._every(
                "transfers.list",
                lambda after: self._stripe.transfers.list_async(
                    params=cast(
                        "TransferListParams",
                        {"transfer_group": transfer_group, "limit": PAGE, **after},
                    )
                ),
            )
        ]

    async def reversals_of(self, transfer_id: str) -> list[Reversal]:
        """Every reversal of the transfer."""
        return [
            stripe_objects.reversal(r)
            for r in await self._every(
                "transfers.reversals.list",
                lambda after: self._stripe.transfers.reversals.list_async(
                    transfer_id, params=cast("TransferReversalListParams", {"limit": PAGE, **after})
                ),
            )
        ]

    async def reverse_transfer(
        self,
        *,
        transfer_id: str,
        amount: int,
        cause: ReversalCause,
        cause_id: str,
        key: str,
        description: str | None = None,
    ) -> Reversal:
        """Take `amount` of the transfer back from its destination; `key` (built from what
        caused it and the transfer) makes a retry or a redelivery a replay."""
        metadata = {"cause": cause, "cause_id": cause_id}
        if description is not None:
            metadata["reason"] = description
        async with self._calling("transfers.reversals.create"):
            made = await self._stripe.transfers.reversals.create_async(
                transfer_id,
                params={"amount": amount, "metadata": metadata},
                options={"idempotency_key": idempotency_key("reversal", key)},
            )
            reversal = stripe_objects.reversal(made.to_dict())
        log.info(
            "stripe.transfer.reversed",
            reversal_id=reversal.id,
            transfer_id=transfer_id,
            amount=amount,
            cause=cause,
        )
        return reversal

    async def retrieve_charge(self, charge_id: str) -> Charge:
        """A charge of the platform's, as Stripe holds it now."""
        async with self._calling("charges.retrieve"):
            charge = await self._stripe.charges.retrieve_async(charge_id)
            return stripe_objects.charge(charge.to_dict())

    async def refunds_of(self, charge_id: str) -> list[Refund]:
        """Every refund of the charge."""
        return [
            stripe_objects.refund(r)
            for r in await self._every(
                "refunds.list",
                lambda after: self._stripe.refunds.list_async(
                    params=cast("RefundListParams", {"charge": charge_id, "limit": PAGE, **after})
                ),
            )
        ]

    async def charges_since(self, since: datetime, *, max_pages: int) -> list[Charge]:
        """The platform's charges created at or after `since` (Stripe's `created[gte]`
        filter), newest first; refused (502) past `max_pages` pages."""
        return [
            stripe_objects.charge(c)
            for c in await self._every(
                "charges.list",
                lambda after: self._stripe.charges.list_async(
                    params=cast(
                        "ChargeListParams",
                        {"created": {"gte": int(since.timestamp())}, "limit": PAGE, **after},
                    )
                ),
                max_pages=max_pages,
            )
        ]

    async def disputes_of(self, charge_id: str) -> list[Dispute]:
        """Every dispute of the charge (Stripe's `charge` filter)."""
        return [
            stripe_objects.dispute(d)
            for d in await self._every(
                "disputes.list",
                lambda after: self._stripe.disputes.list_async(
                    params=cast("DisputeListParams", {"charge": charge_id, "limit": PAGE, **after})
                ),
            )
        ]

    async def retrieve_dispute(self, dispute_id: str) -> Dispute:
        """A dispute of one of the platform's charges, as Stripe holds it now."""
        async with self._calling("disputes.retrieve"):
            dispute = await self._stripe.disputes.retrieve_async(dispute_id)
            return stripe_objects.dispute(dispute.to_dict())

    async def _every(
        self,
        operation: str,
        page: Callable[[dict[str, str]], Awaitable[Any]],
        *,
        max_pages: int = MAX_PAGES,
    ) -> list[dict[str, Any]]:
        """Every item of a Stripe list, page after page; a list longer than `MAX_PAGES` pages
        is refused (Stripe's failure, 502) rather than read in part: what money is computed
        from is read whole, or not at all."""
        items: list[dict[str, Any]] = []
        after: dict[str, str] = {}
        for _ in range(max_pages):
            async with self._calling(operation):
                answer = await page(after)
                batch = [item.to_dict() for item in answer.data]
            items.extend(batch)
            if not answer.has_more or not batch:
                return items
            after = {"starting_after": str(batch[-1]["id"])}
        log.error("stripe.list.too_long", operation=operation, pages=max_pages)
        raise StripeFailure("A Stripe list was longer than the service reads whole.")

    async def retrieve_payout_schedule(self, account_id: str) -> PayoutSchedule:
        """The account's payout schedule as Stripe holds it now (a read of the account of this
        caller's own, never shared: only the schedule is read from it)."""
        return await self._fetch_account(
            account_id, partial(stripe_objects.payout_schedule, default="manual")
        )

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
        async with self._calling("accounts.update"):
            account = await self._stripe.accounts.update_async(
                account_id,
                params={"settings": {"payouts": {"schedule": wanted}}},
            )
            return stripe_objects.payout_schedule(account.to_dict(), default=schedule.interval)
