"""Connected accounts and the platform's own account: create, update, onboard, disconnect."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

from stripe_sim import ids, objects
from stripe_sim.errors import invalid_request
from stripe_sim.store import account_rules, rules
from stripe_sim.store.account_rules import PlatformApprovals
from stripe_sim.store.events import EventLog
from stripe_sim.store.records import AccountRecord, Clock, Json, Origin, PlatformRecord

OUTCOMES: tuple[str, ...] = ("complete", "due", "reject", "review")


class Accounts(Mapping[str, AccountRecord]):
    """Connected accounts by id (both modes, deauthorized ones too) and the platforms."""

    def __init__(self, clock: Clock, events: EventLog) -> None:
        self.clock = clock
        self.events = events
        self._accounts: dict[str, AccountRecord] = {}
        self.platforms: dict[bool, PlatformRecord] = {}
        self.approvals = PlatformApprovals()

    def __getitem__(self, account_id: str) -> AccountRecord:
        return self._accounts[account_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def reset(self) -> None:
        """Forget every connected account; the platforms start over with the same ids."""
        self._accounts.clear()
        self.approvals = PlatformApprovals()
        self.platforms = {
            mode: self._new_platform(mode, self.platforms.get(mode)) for mode in (False, True)
        }

    def _new_platform(self, livemode: bool, previous: PlatformRecord | None) -> PlatformRecord:
        """The platform's account; its ids survive a reset."""
        account_id = previous.data["id"] if previous else ids.account_id()
        data = objects.platform_account(account_id, self.clock.now(), livemode)
        bank = objects.bank_account(data["id"], "US", "usd")
        data["external_accounts"]["data"].append(bank)
        data["external_accounts"]["total_count"] = 1
        application_id = previous.application_id if previous else ids.new_id("ca", 32)
        return PlatformRecord(data=data, livemode=livemode, application_id=application_id)

    def reachable(self, account_id: str, livemode: bool) -> AccountRecord | None:
        """The connected account the platform can still reach in this mode, if any."""
        record = self._accounts.get(account_id)
        if record is None or record.livemode != livemode or record.deauthorized:
            return None
        return record

    def create(self, params: Json, *, livemode: bool, origin: Origin) -> AccountRecord:
        """``POST /v1/accounts``: a fresh account, nothing submitted yet."""
        account_type, controller = rules.resolve_controller(
            params.get("type"), params.get("controller")
        )
        country = (params.get("country") or account_rules.PLATFORM_COUNTRY).upper()
        account_rules.check_country(country)
        agreement = (params.get("tos_acceptance") or {}).get("service_agreement") or "full"
        account_rules.check_agreement(country, agreement, self.approvals)
        wishes = params.get("capabilities") or {}
        requested = {name for name, wish in wishes.items() if wish and wish.get("requested")}
        account_rules.check_capabilities(
            requested,
            agreement=agreement,
            dashboard=controller["stripe_dashboard"]["type"],
            approvals=self.approvals,
        )
        now = self.clock.now()
        account_id = ids.account_id()
        capabilities = {name: "inactive" for name in wishes if name in requested}
        requested_at = dict.fromkeys(capabilities, now)
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
            metadata=rules.merge_metadata({}, params.get("metadata")),
            currency=currency,
            schedule=objects.payout_schedule("daily", rules.min_delay(country)),
        )
        record = AccountRecord(data=data, livemode=livemode, requested_at=requested_at)
        self._apply_params(record, params, creating=True)
        self._accounts[account_id] = record
        return record

    def update(self, record: AccountRecord, params: Json, *, origin: Origin) -> Json:
        """``POST /v1/accounts/{id}``; emits ``account.updated`` when anything changed."""
        self._check_capability_changes(record, params.get("capabilities") or {})
        before = copy.deepcopy(record.data)
        self._apply_params(record, params, creating=False)
        self.events.account_changes(record, before, origin)
        return record.data

    def _check_capability_changes(self, record: AccountRecord, wishes: Json) -> None:
        """The capabilities the account would hold afterwards, checked as at creation."""
        if not wishes:
            return
        held = set(record.data["capabilities"])
        for name, wish in wishes.items():
            if wish and wish.get("requested") is not None:
                (held.add if wish["requested"] else held.discard)(name)
        controller = record.data.get("controller") or {}
        account_rules.check_capabilities(
            held,
            agreement=record.agreement,
            dashboard=(controller.get("stripe_dashboard") or {}).get("type", "full"),
            approvals=self.approvals,
        )

    def _apply_params(self, record: AccountRecord, params: Json, *, creating: bool) -> None:
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
            data["metadata"] = rules.merge_metadata(data["metadata"], params["metadata"])
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
            data["settings"]["payouts"]["schedule"] = rules.payout_schedule(
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
        return self.events.account_changes(record, before, None)

    def patch(self, record: AccountRecord, patch: Json) -> list[Json]:
        """Deep-merge arbitrary fields into the account (simulator helper) and emit events."""
        before = copy.deepcopy(record.data)
        rules.deep_merge(record.data, patch)
        return self.events.account_changes(record, before, None)

    def deauthorize(self, record: AccountRecord) -> Json:
        """The account disconnects the platform: ``account.application.deauthorized``."""
        if record.deauthorized:
            raise invalid_request(f"Account {record.id} is already deauthorized.")
        record.deauthorized = True
        platform = self.platforms[record.livemode]
        return self.events.emit(
            "account.application.deauthorized",
            objects.application(platform.application_id),
            livemode=record.livemode,
            account_id=record.id,
        )
