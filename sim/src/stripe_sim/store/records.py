"""The store's records: what the simulator keeps about each object, beside its Stripe JSON.

Plain data with no I/O. ``AccountRecord.data`` (and the other ``data`` fields) is the object
exactly as the API shows it; the other fields are what only the simulator knows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from stripe_sim import objects

Json = dict[str, Any]


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


SOURCE_TYPES = ("card", "bank_account", "fpx")
Amounts = dict[str, dict[str, int]]  # currency -> source type -> minor units


@dataclass
class Ledger:
    """Balances per currency and source type (``card``, ``bank_account``, ``fpx``)."""

    available: Amounts = field(default_factory=dict)
    pending: Amounts = field(default_factory=dict)

    def amount(self, currency: str, source_type: str = "card", *, pending: bool = False) -> int:
        """What one source type holds in one currency."""
        side = self.pending if pending else self.available
        return side.get(currency, {}).get(source_type, 0)

    def add(
        self, currency: str, amount: int, source_type: str = "card", *, pending: bool = False
    ) -> None:
        """Add (or, negative, take) ``amount`` to one source type's balance."""
        side = self.pending if pending else self.available
        by_type = side.setdefault(currency, {})
        by_type[source_type] = by_type.get(source_type, 0) + amount

    def set(
        self, currency: str, amount: int, source_type: str = "card", *, pending: bool = False
    ) -> None:
        side = self.pending if pending else self.available
        side.setdefault(currency, {})[source_type] = amount

    def release_pending(self) -> None:
        """Everything pending becomes available, source type by source type."""
        for currency, by_type in self.pending.items():
            for source_type, amount in by_type.items():
                self.add(currency, amount, source_type)
                by_type[source_type] = 0

    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """Available and pending per currency, all source types together."""
        return _totals(self.available), _totals(self.pending)

    def view(self, default_currency: str) -> tuple[Amounts, Amounts]:
        """Balances as Stripe lists them: the default currency and ``card`` always appear."""
        available = {cur: dict(types) for cur, types in self.available.items()}
        pending = {cur: dict(types) for cur, types in self.pending.items()}
        currencies = {default_currency} | set(available) | set(pending)
        for currency in currencies:
            for side in (available, pending):
                side.setdefault(currency, {}).setdefault("card", 0)
        return available, pending

    def source_types(self) -> Json:
        """The per-source-type amounts, for ``/_sim/accounts``."""
        return {"available": self.available, "pending": self.pending}


def _totals(amounts: Amounts) -> dict[str, int]:
    return {currency: sum(by_type.values()) for currency, by_type in amounts.items()}


@dataclass
class AccountRecord:
    """A connected account: its Stripe object plus what only the simulator knows."""

    data: Json
    livemode: bool
    ledger: Ledger = field(default_factory=Ledger)
    requested_at: dict[str, int] = field(default_factory=dict)
    deauthorized: bool = False
    v2: Json | None = None  # made through Accounts v2: what only v2 shows (stripe_sim.v2)

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def agreement(self) -> str:
        """``full`` or ``recipient`` (Stripe shows the field only for ``recipient``)."""
        return str(self.data["tos_acceptance"].get("service_agreement") or "full")

    def capability(self, name: str) -> Json:
        """The capability object for one of the account's capabilities."""
        return objects.capability(
            name=name,
            account_id=self.id,
            status=self.data["capabilities"][name],
            requested_at=self.requested_at.get(name, int(self.data["created"])),
            account_requirements=self.data["requirements"],
        )

    def truth(self) -> Json:
        """The simulator's full view, for ``/_sim/accounts``."""
        available, pending = self.ledger.totals()
        return {
            "id": self.id,
            "livemode": self.livemode,
            "deauthorized": self.deauthorized,
            "balance": {"available": available, "pending": pending},
            "balance_by_source_type": self.ledger.source_types(),
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
