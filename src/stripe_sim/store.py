"""The simulator's in-memory Stripe: accounts, balances, transfers, payouts, links, events.

Every operation is synchronous and runs on the event loop thread, so one operation is
atomic with respect to every other; no locks are needed. Operations raise
:class:`~stripe_sim.errors.StripeError` for what Stripe would refuse, and record an event
for every state change (handed to ``on_event``, which the webhook dispatcher delivers).
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from stripe_sim import ids, objects
from stripe_sim.errors import (
    invalid_request,
    parameter_invalid,
    parameter_missing,
    resource_missing,
)

Json = dict[str, Any]
OUTCOMES: tuple[str, ...] = ("complete", "due", "reject", "review")
LINK_TTL_SECONDS = 300


class Clock:
    """Wall-clock seconds, which tests may move forward (link expiry, arrival dates)."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset


@dataclass
class Origin:
    """The API request behind a change, for ``event.request``; empty for dashboard changes."""

    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Ledger:
    """Balances per currency, in minor units."""

    available: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)

    def view(self, default_currency: str) -> tuple[dict[str, int], dict[str, int]]:
        """Balances as Stripe lists them: the default currency always appears."""
        available = dict(self.available)
        pending = dict(self.pending)
        available.setdefault(default_currency, 0)
        pending.setdefault(default_currency, 0)
        for currency in available:
            pending.setdefault(currency, 0)
        for currency in pending:
            available.setdefault(currency, 0)
        return available, pending


@dataclass
class AccountRecord:
    """A connected account: its Stripe object plus what only the simulator knows."""

    data: Json
    livemode: bool
    ledger: Ledger = field(default_factory=Ledger)
    requested_at: dict[str, int] = field(default_factory=dict)
    deauthorized: bool = False

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def truth(self) -> Json:
        """The simulator's full view, for ``/_sim/accounts``."""
        return {
            "id": self.id,
            "livemode": self.livemode,
            "deauthorized": self.deauthorized,
            "balance": {"available": self.ledger.available, "pending": self.ledger.pending},
            "account": self.data,
        }


@dataclass
class PlatformRecord:
    """The platform's own account in one mode."""

    data: Json
    livemode: bool
    application_id: str
    ledger: Ledger = field(default_factory=Ledger)


@dataclass
class OwnedObject:
    """A transfer or payout with the account that owns it (``None``: the platform)."""

    data: Json
    owner: str | None
    livemode: bool


@dataclass
class LinkRecord:
    """An account link or login link and its single use."""

    token: str
    kind: str
    account_id: str
    livemode: bool
    created: int
    expires_at: int
    refresh_url: str | None = None
    return_url: str | None = None
    state: Literal["fresh", "opened", "used"] = "fresh"


class Store:
    """All simulated Stripe state, for both modes."""

    def __init__(
        self,
        *,
        public_url: str,
        on_event: Callable[[Json], None] | None = None,
        clock: Clock | None = None,
        max_events: int = 100_000,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.on_event = on_event
        self.clock = clock or Clock()
        self.max_events = max_events
        self.reset()

    def reset(self) -> None:
        """Forget everything (the clock offset too)."""
        self.clock.offset = 0
        self.accounts: dict[str, AccountRecord] = {}
        previous: dict[bool, PlatformRecord] = getattr(self, "platforms", {})
        self.platforms = {
            mode: self._new_platform(mode, previous.get(mode)) for mode in (False, True)
        }
        self.transfers: dict[str, OwnedObject] = {}
        self.payouts: dict[str, OwnedObject] = {}
        self.links: dict[str, LinkRecord] = {}
        self.events: OrderedDict[str, Json] = OrderedDict()

    def _new_platform(self, livemode: bool, previous: PlatformRecord | None) -> PlatformRecord:
        """The platform's account; its ids survive a reset."""
        account_id = previous.data["id"] if previous else ids.account_id()
        data = objects.platform_account(account_id, self.clock.now(), livemode)
        bank = objects.bank_account(data["id"], "US", "usd")
        data["external_accounts"]["data"].append(bank)
        data["external_accounts"]["total_count"] = 1
        application_id = previous.application_id if previous else ids.new_id("ca", 32)
        return PlatformRecord(data=data, livemode=livemode, application_id=application_id)

    # ----------------------------------------------------------------- lookups

    def account(self, account_id: str, livemode: bool) -> AccountRecord | None:
        """The connected account the platform can still reach in this mode, if any."""
        record = self.accounts.get(account_id)
        if record is None or record.livemode != livemode or record.deauthorized:
            return None
        return record

    def account_any(self, account_id: str) -> AccountRecord:
        """Any account, even deauthorized (for the simulator's own helpers)."""
        record = self.accounts.get(account_id)
        if record is None:
            raise resource_missing("account", account_id, param="account")
        return record

    # ----------------------------------------------------------------- events

    def emit(
        self,
        event_type: str,
        obj: Json,
        *,
        livemode: bool,
        account_id: str | None,
        origin: Origin | None = None,
        previous: Json | None = None,
    ) -> Json:
        """Record an event with a snapshot of ``obj`` and hand it to the dispatcher."""
        origin = origin or Origin()
        event = objects.event(
            event_type=event_type,
            obj=copy.deepcopy(obj),
            created=self.clock.now(),
            livemode=livemode,
            account_id=account_id,
            previous_attributes=previous,
            request_id=origin.request_id,
            idempotency_key=origin.idempotency_key,
        )
        self.events[event["id"]] = event
        while len(self.events) > self.max_events:
            self.events.popitem(last=False)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _emit_account_changes(
        self, record: AccountRecord, before: Json, origin: Origin | None
    ) -> list[Json]:
        """``account.updated`` and one ``capability.updated`` per capability that changed."""
        previous = objects.diff(before, record.data)
        if not previous:
            return []
        emitted = [
            self.emit(
                "account.updated",
                record.data,
                livemode=record.livemode,
                account_id=record.id,
                origin=origin,
                previous=previous,
            )
        ]
        old_caps: Json = before.get("capabilities", {})
        for name, status in record.data["capabilities"].items():
            if old_caps.get(name) != status:
                emitted.append(
                    self.emit(
                        "capability.updated",
                        self.capability(record, name),
                        livemode=record.livemode,
                        account_id=record.id,
                        origin=origin,
                        previous={"status": old_caps.get(name, "unrequested")},
                    )
                )
        return emitted

    def capability(self, record: AccountRecord, name: str) -> Json:
        """The capability object for one of the account's capabilities."""
        return objects.capability(
            name=name,
            account_id=record.id,
            status=record.data["capabilities"][name],
            requested_at=record.requested_at.get(name, int(record.data["created"])),
            account_requirements=record.data["requirements"],
        )

    # ----------------------------------------------------------------- accounts

    def create_account(self, params: Json, *, livemode: bool, origin: Origin) -> AccountRecord:
        """``POST /v1/accounts``: a fresh account, nothing submitted yet."""
        account_type, controller = _resolve_controller(params.get("type"), params.get("controller"))
        country = (params.get("country") or "US").upper()
        if country not in objects.SUPPORTED_COUNTRIES:
            raise parameter_invalid(
                f"Country '{country}' is unknown. Try using a 2-character alphanumeric country "
                "code instead, such as 'US', 'EG', or 'GB'. A full list of supported country "
                "codes is available at https://stripe.com/global.",
                "country",
            )
        now = self.clock.now()
        account_id = ids.account_id()
        capabilities: dict[str, str] = {}
        requested_at: dict[str, int] = {}
        for name, wish in (params.get("capabilities") or {}).items():
            if wish and wish.get("requested"):
                capabilities[name] = "inactive"
                requested_at[name] = now
        currency = (params.get("default_currency") or objects.default_currency(country)).lower()
        profile = params.get("business_profile") or {}
        data = objects.account(
            account_id=account_id,
            account_type=account_type,
            controller=controller,
            country=country,
            created=now,
            email=params.get("email"),
            business_name=profile.get("name"),
            capabilities=capabilities,
            metadata=_merge_metadata({}, params.get("metadata")),
            currency=currency,
            schedule=objects.payout_schedule("daily", _min_delay(country)),
        )
        record = AccountRecord(data=data, livemode=livemode, requested_at=requested_at)
        self._apply_account_params(record, params, creating=True)
        self.accounts[account_id] = record
        return record

    def update_account(self, record: AccountRecord, params: Json, *, origin: Origin) -> Json:
        """``POST /v1/accounts/{id}``; emits ``account.updated`` when anything changed."""
        before = copy.deepcopy(record.data)
        self._apply_account_params(record, params, creating=False)
        self._emit_account_changes(record, before, origin)
        return record.data

    def _apply_account_params(self, record: AccountRecord, params: Json, *, creating: bool) -> None:
        data = record.data
        if "email" in params and not creating:
            data["email"] = params["email"]
        if params.get("business_type") is not None:
            data["business_type"] = params["business_type"]
        profile = params.get("business_profile")
        if profile:
            for key, value in profile.items():
                data["business_profile"][key] = value
            if "name" in profile and data["settings"]["dashboard"]["display_name"] is None:
                data["settings"]["dashboard"]["display_name"] = profile["name"]
        if not creating and "metadata" in params:
            data["metadata"] = _merge_metadata(data["metadata"], params["metadata"])
        if not creating and params.get("capabilities"):
            now = self.clock.now()
            complete = data["details_submitted"] and not data["requirements"]["currently_due"]
            for name, wish in params["capabilities"].items():
                if not wish or wish.get("requested") is None:
                    continue
                if wish["requested"] and name not in data["capabilities"]:
                    data["capabilities"][name] = "active" if complete else "inactive"
                    record.requested_at[name] = now
                elif not wish["requested"]:
                    data["capabilities"].pop(name, None)
        settings = params.get("settings") or {}
        payouts = settings.get("payouts") or {}
        if payouts.get("schedule"):
            data["settings"]["payouts"]["schedule"] = _payout_schedule(
                data["settings"]["payouts"]["schedule"], payouts["schedule"], data["country"]
            )
        if payouts.get("statement_descriptor") is not None:
            data["settings"]["payouts"]["statement_descriptor"] = payouts["statement_descriptor"]
        if payouts.get("debit_negative_balances") is not None:
            data["settings"]["payouts"]["debit_negative_balances"] = payouts[
                "debit_negative_balances"
            ]
        payments = settings.get("payments") or {}
        if payments.get("statement_descriptor") is not None:
            data["settings"]["payments"]["statement_descriptor"] = payments["statement_descriptor"]
        dashboard = settings.get("dashboard") or {}
        if dashboard.get("display_name") is not None:
            data["settings"]["dashboard"]["display_name"] = dashboard["display_name"]
        tos = params.get("tos_acceptance")
        if tos:
            for key in ("date", "ip", "user_agent"):
                if tos.get(key) is not None:
                    data["tos_acceptance"][key] = tos[key]
            if tos.get("service_agreement"):
                data["tos_acceptance"]["service_agreement"] = tos["service_agreement"]

    def apply_onboarding(
        self, record: AccountRecord, outcome: str, *, reason: str | None = None
    ) -> list[Json]:
        """What the hosted onboarding page does; returns the events it emitted."""
        data = record.data
        before = copy.deepcopy(data)
        now = self.clock.now()
        if outcome in ("complete", "due", "review"):
            data["details_submitted"] = True
            if data["business_type"] is None:
                data["business_type"] = "individual"
            profile = data["business_profile"]
            profile["mcc"] = profile["mcc"] or "5734"
            profile["url"] = profile["url"] or "https://example.com"
            data["tos_acceptance"].update(
                date=now, ip="203.0.113.7", user_agent="Mozilla/5.0 (stripe-sim)"
            )
            if not data["external_accounts"]["data"]:
                data["external_accounts"]["data"].append(
                    objects.bank_account(record.id, data["country"], data["default_currency"])
                )
                data["external_accounts"]["total_count"] = 1
        if outcome == "complete":
            status = "active"
            enabled = True
            data["requirements"] = objects.requirements()
        elif outcome == "due":
            status, enabled = "inactive", False
            due = ["individual.verification.document"]
            data["requirements"] = objects.requirements(
                currently_due=due,
                past_due=due,
                eventually_due=due,
                disabled_reason="requirements.past_due",
            )
        elif outcome == "review":
            status, enabled = "pending", False
            data["requirements"] = objects.requirements(
                pending_verification=["individual.verification.document"],
                disabled_reason="requirements.pending_verification",
            )
        elif outcome == "reject":
            status, enabled = "inactive", False
            data["requirements"] = objects.requirements(disabled_reason=reason or "rejected.fraud")
        else:
            raise invalid_request(
                f"Invalid outcome: must be one of {', '.join(OUTCOMES)}", param="outcome"
            )
        data["charges_enabled"] = enabled
        data["payouts_enabled"] = enabled
        for name in data["capabilities"]:
            data["capabilities"][name] = status
        data["future_requirements"] = objects.requirements()
        return self._emit_account_changes(record, before, None)

    def patch_account(self, record: AccountRecord, patch: Json) -> list[Json]:
        """Deep-merge arbitrary fields into the account (simulator helper) and emit events."""
        before = copy.deepcopy(record.data)
        _deep_merge(record.data, patch)
        return self._emit_account_changes(record, before, None)

    def deauthorize(self, record: AccountRecord) -> Json:
        """The account disconnects the platform: ``account.application.deauthorized``."""
        if record.deauthorized:
            raise invalid_request(f"Account {record.id} is already deauthorized.")
        record.deauthorized = True
        platform = self.platforms[record.livemode]
        return self.emit(
            "account.application.deauthorized",
            objects.application(platform.application_id),
            livemode=record.livemode,
            account_id=record.id,
        )

    # ----------------------------------------------------------------- links

    def _add_link(self, link: LinkRecord) -> None:
        """Keep a link; beyond 50,000, forget those expired more than an hour ago."""
        if len(self.links) >= 50_000:
            horizon = self.clock.now() - 3600
            for token in [t for t, old in self.links.items() if old.expires_at < horizon]:
                del self.links[token]
        self.links[link.token] = link

    def create_account_link(self, params: Json, *, livemode: bool) -> Json:
        """``POST /v1/account_links``: a single-use hosted onboarding URL, 300 s to live."""
        account_id = params["account"]
        record = self.account(account_id, livemode)
        if record is None:
            raise resource_missing("account", account_id, param="account", status=400)
        link_type = params["type"]
        controller = record.data.get("controller", {})
        if link_type == "account_update" and controller.get("requirement_collection") != (
            "application"
        ):
            raise invalid_request(
                "You cannot create `account_update` type Account Links for accounts whose "
                "requirements Stripe collects (Express or Standard); use `account_onboarding`.",
                param="type",
            )
        now = self.clock.now()
        token = ids.random_chars(12)
        self._add_link(
            LinkRecord(
                token=token,
                kind=link_type,
                account_id=account_id,
                livemode=livemode,
                created=now,
                expires_at=now + LINK_TTL_SECONDS,
                refresh_url=params.get("refresh_url"),
                return_url=params.get("return_url"),
            )
        )
        return {
            "created": now,
            "expires_at": now + LINK_TTL_SECONDS,
            "object": "account_link",
            "url": f"{self.public_url}/setup/s/{account_id}/{token}",
        }

    def create_login_link(self, record: AccountRecord) -> Json:
        """``POST /v1/accounts/{id}/login_links``: Express accounts only."""
        dashboard = record.data.get("controller", {}).get("stripe_dashboard", {})
        if dashboard.get("type") != "express":
            raise invalid_request(
                f"Cannot create a login link for the account {record.id}, which is not an "
                "Express account.",
                param="account",
            )
        if not record.data["details_submitted"]:
            raise invalid_request(
                "Cannot create a login link for an account that has not completed onboarding.",
                param="account",
            )
        now = self.clock.now()
        token = ids.random_chars(12)
        self._add_link(
            LinkRecord(
                token=token,
                kind="login",
                account_id=record.id,
                livemode=record.livemode,
                created=now,
                expires_at=now + LINK_TTL_SECONDS,
            )
        )
        return {
            "created": now,
            "object": "login_link",
            "url": f"{self.public_url}/express/{record.id}/{token}",
        }

    # ----------------------------------------------------------------- money

    def owner_ledger(self, account: AccountRecord | None, livemode: bool) -> tuple[Ledger, str]:
        """The ledger and default currency of a connected account or of the platform."""
        if account is not None:
            return account.ledger, account.data["default_currency"]
        return self.platforms[livemode].ledger, "usd"

    def balance(self, account: AccountRecord | None, livemode: bool) -> Json:
        """``GET /v1/balance`` for the platform or (``Stripe-Account``) a connected account."""
        ledger, currency = self.owner_ledger(account, livemode)
        available, pending = ledger.view(currency)
        return objects.balance(available, pending, livemode=livemode, platform=account is None)

    def fund(
        self,
        account: AccountRecord | None,
        livemode: bool,
        *,
        currency: str,
        available: int | None = None,
        pending: int | None = None,
        operation: Literal["add", "set"] = "add",
    ) -> None:
        """Add to (or set) a ledger's balances (simulator helper)."""
        ledger, _ = self.owner_ledger(account, livemode)
        currency = currency.lower()
        for amounts, value in ((ledger.available, available), (ledger.pending, pending)):
            if value is None:
                continue
            amounts[currency] = value if operation == "set" else amounts.get(currency, 0) + value

    def create_transfer(
        self, source: AccountRecord | None, params: Json, *, livemode: bool, origin: Origin
    ) -> Json:
        """``POST /v1/transfers``: move available funds to a connected account."""
        currency = _currency(params["currency"])
        destination = self.account(params["destination"], livemode)
        if destination is None or destination is source:
            raise resource_missing(
                "destination", params["destination"], param="destination", status=400
            )
        if destination.data["capabilities"].get("transfers") != "active" and (
            destination.data["capabilities"].get("crypto_transfers") != "active"
        ):
            raise invalid_request(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        source_transaction = params.get("source_transaction")
        if source_transaction is not None and not source_transaction.startswith(("ch_", "py_")):
            raise resource_missing(
                "charge", source_transaction, param="source_transaction", status=400
            )
        ledger, _ = self.owner_ledger(source, livemode)
        amount: int = params["amount"]
        if ledger.available.get(currency, 0) < amount:
            raise invalid_request(
                "You have insufficient available funds in your Stripe account. Try adding "
                "funds directly to your available balance by creating Charges using the "
                "4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
                code="balance_insufficient",
            )
        ledger.available[currency] -= amount
        destination.ledger.available[currency] = (
            destination.ledger.available.get(currency, 0) + amount
        )
        data = objects.transfer(
            amount=amount,
            currency=currency,
            destination=destination.id,
            created=self.clock.now(),
            livemode=livemode,
            description=params.get("description"),
            metadata=_merge_metadata({}, params.get("metadata")),
            source_transaction=source_transaction,
            transfer_group=params.get("transfer_group"),
        )
        owner = source.id if source is not None else None
        self.transfers[data["id"]] = OwnedObject(data=data, owner=owner, livemode=livemode)
        self.emit("transfer.created", data, livemode=livemode, account_id=owner, origin=origin)
        return data

    def get_owned(
        self,
        table: dict[str, OwnedObject],
        kind: str,
        object_id: str,
        owner: AccountRecord | None,
        livemode: bool,
    ) -> OwnedObject:
        """A transfer or payout visible to this caller, or Stripe's 404."""
        found = table.get(object_id)
        owner_id = owner.id if owner is not None else None
        if found is None or found.owner != owner_id or found.livemode != livemode:
            raise resource_missing(kind, object_id, param="id")
        return found

    def create_payout(
        self, account: AccountRecord | None, params: Json, *, livemode: bool, origin: Origin
    ) -> Json:
        """``POST /v1/payouts``: pay available funds out to the account's bank account."""
        currency = _currency(params["currency"])
        if account is not None and not account.data["payouts_enabled"]:
            raise invalid_request(
                "Payouts have been disabled on the connected account. Check the connected "
                "account's status to see if any additional information needs to be provided, "
                "or if payouts have been disabled for another reason.",
                code="payouts_not_allowed",
            )
        if params.get("method") == "instant":
            raise invalid_request(
                "This account is not eligible for Instant Payouts.",
                code="instant_payouts_unsupported",
                param="method",
            )
        data_owner = account.data if account is not None else self.platforms[livemode].data
        banks = [b for b in data_owner["external_accounts"]["data"] if b["currency"] == currency]
        wanted = params.get("destination")
        if wanted is not None:
            banks = [b for b in data_owner["external_accounts"]["data"] if b["id"] == wanted]
            if not banks:
                raise resource_missing("external account", wanted, param="destination", status=400)
        if not banks:
            raise invalid_request(
                f"You don't have any external accounts in that currency ({currency}).",
                param="currency",
            )
        ledger, _ = self.owner_ledger(account, livemode)
        amount: int = params["amount"]
        if ledger.available.get(currency, 0) < amount:
            raise invalid_request(
                "You have insufficient funds in your Stripe account for this transfer. Your "
                "card balance is too low. You can use the /v1/balance endpoint to view your "
                "Stripe balance (for more details, see stripe.com/docs/api#balance).",
                code="balance_insufficient",
                param="amount",
            )
        ledger.available[currency] -= amount
        data = objects.payout(
            amount=amount,
            currency=currency,
            destination=banks[0]["id"],
            created=self.clock.now(),
            livemode=livemode,
            description=params.get("description"),
            metadata=_merge_metadata({}, params.get("metadata")),
            statement_descriptor=params.get("statement_descriptor"),
            method=params.get("method") or "standard",
        )
        owner = account.id if account is not None else None
        self.payouts[data["id"]] = OwnedObject(data=data, owner=owner, livemode=livemode)
        self.emit("payout.created", data, livemode=livemode, account_id=owner, origin=origin)
        return data

    def settle_payout(
        self,
        payout_id: str,
        outcome: str,
        *,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> Json:
        """Move a payout on: ``in_transit``, ``paid`` or ``failed`` (money returns)."""
        found = self.payouts.get(payout_id)
        if found is None:
            raise resource_missing("payout", payout_id, param="id")
        data = found.data
        if data["status"] not in ("pending", "in_transit"):
            raise invalid_request(f"Payout {payout_id} is already {data['status']}.", param="id")
        previous = {"status": data["status"]}
        if outcome == "in_transit":
            data["status"] = "in_transit"
            event_type = "payout.updated"
        elif outcome == "paid":
            data["status"] = "paid"
            data["trace_id"] = {"status": "supported", "value": ids.random_chars(15).upper()}
            data["reconciliation_status"] = "completed"
            event_type = "payout.paid"
        elif outcome == "failed":
            code = failure_code or "account_closed"
            data.update(
                status="failed",
                failure_code=code,
                failure_message=failure_message or _FAILURE_MESSAGES.get(code, code),
                failure_balance_transaction=ids.new_id("txn"),
                trace_id={"status": "unsupported", "value": None},
            )
            owner = self.accounts.get(found.owner) if found.owner else None
            ledger, _ = self.owner_ledger(owner, found.livemode)
            currency = data["currency"]
            ledger.available[currency] = ledger.available.get(currency, 0) + data["amount"]
            event_type = "payout.failed"
        else:
            raise invalid_request(
                "Invalid outcome: must be one of in_transit, paid, or failed", param="outcome"
            )
        self.emit(
            event_type,
            data,
            livemode=found.livemode,
            account_id=found.owner,
            previous=previous,
        )
        return data


_FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "no_account": "The bank account details on file are probably incorrect. No bank account "
    "could be located with those details.",
    "could_not_process": "The bank could not process this payout.",
}


def _currency(value: str) -> str:
    currency = value.lower()
    if len(currency) != 3 or not currency.isalpha():
        raise parameter_invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: usd, "
            "aed, aud, brl, cad, chf, czk, dkk, eur, gbp, hkd, inr, jpy, mxn, nok, nzd, pln, "
            "sek, sgd, ...",
            "currency",
        )
    return currency


def _merge_metadata(current: dict[str, str], update: dict[str, str | None] | None) -> Json:
    """Stripe's metadata update: ``""`` deletes a key, ``metadata=""`` clears all."""
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _deep_merge(target: Json, patch: Json) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def _min_delay(country: str) -> int:
    return objects.MIN_DELAY_DAYS.get(country, 2)


def _resolve_controller(account_type: str | None, controller: Json | None) -> tuple[str, Json]:
    """``type`` (legacy) or ``controller`` properties → (type shown, controller hash)."""
    if account_type is not None and controller:
        raise invalid_request(
            "You may not specify both `type` and `controller` when creating an account.",
            param="controller",
        )
    if account_type is not None:
        return account_type, copy.deepcopy(objects.CONTROLLERS[account_type])
    if not controller:
        return "standard", copy.deepcopy(objects.CONTROLLERS["standard"])
    fees = (controller.get("fees") or {}).get("payer") or "account"
    losses = (controller.get("losses") or {}).get("payments") or "stripe"
    collection = controller.get("requirement_collection") or "stripe"
    dashboard = (controller.get("stripe_dashboard") or {}).get("type") or "full"
    if collection == "application" and dashboard != "none":
        raise invalid_request(
            "When `controller[requirement_collection]` is `application`, "
            "`controller[stripe_dashboard][type]` must be `none`.",
            param="controller[stripe_dashboard][type]",
        )
    resolved: Json = {
        "fees": {"payer": fees},
        "is_controller": True,
        "losses": {"payments": losses},
        "requirement_collection": collection,
        "stripe_dashboard": {"type": dashboard},
        "type": "application",
    }
    shown = "none"
    for legacy, shape in objects.CONTROLLERS.items():
        if shape == resolved:
            shown = legacy
    return shown, resolved


def _payout_schedule(current: Json, wanted: Json, country: str) -> Json:
    """Validate ``settings[payouts][schedule]`` the way Stripe does and return the new one."""
    base = "settings[payouts][schedule]"
    interval = wanted.get("interval") or current["interval"]
    interval_changed = interval != current["interval"]
    weekly = wanted.get("weekly_anchor")
    monthly = wanted.get("monthly_anchor")
    if weekly is not None and interval != "weekly":
        raise parameter_invalid(
            "You can only set `weekly_anchor` when `interval` is `weekly`.",
            f"{base}[weekly_anchor]",
        )
    if monthly is not None and interval != "monthly":
        raise parameter_invalid(
            "You can only set `monthly_anchor` when `interval` is `monthly`.",
            f"{base}[monthly_anchor]",
        )
    if interval == "weekly":
        weekly = weekly or (None if interval_changed else current.get("weekly_anchor"))
        if weekly is None:
            raise parameter_missing(f"{base}[weekly_anchor]")
    if interval == "monthly":
        monthly = monthly or (None if interval_changed else current.get("monthly_anchor"))
        if monthly is None:
            raise parameter_missing(f"{base}[monthly_anchor]")
    minimum = _min_delay(country)
    delay = wanted.get("delay_days")
    if delay == "minimum" or delay is None:
        delay = minimum if delay == "minimum" else current["delay_days"]
    if not isinstance(delay, int) or delay < minimum:
        raise parameter_invalid(
            f"The `delay_days` for accounts in {country} must be at least {minimum} "
            "(or `minimum`).",
            f"{base}[delay_days]",
        )
    return objects.payout_schedule(interval, delay, weekly, monthly)
