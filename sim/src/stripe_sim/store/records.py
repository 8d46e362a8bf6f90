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
