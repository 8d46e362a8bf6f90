"""The simulator's in-memory Stripe, one part per resource.

    Store
    ├── events    EventLog   every state change, handed to the webhook dispatcher
    ├── accounts  Accounts   connected accounts (a mapping by id) and the platforms
    ├── payments  Payments   the platform's charges, refunds and disputes
    ├── money     Money      balances, transfers and their reversals, payouts
    └── links     Links      account links and login links (a mapping by token)

Every operation is synchronous and runs on the event loop thread, so one operation is
atomic with respect to every other; no locks are needed. Operations raise
:class:`~stripe_sim.errors.StripeError` for what Stripe would refuse, and record an event
for every state change. ``records`` holds the plain data the parts share, ``rules`` the
pure parameter checks (``account_rules`` and ``payment_rules`` those of accounts and of money
coming back).
"""

from __future__ import annotations

from collections.abc import Callable

from stripe_sim.store.accounts import OUTCOMES, Accounts
from stripe_sim.store.events import EventLog
from stripe_sim.store.links import LINK_TTL_SECONDS, Links
from stripe_sim.store.money import Money
from stripe_sim.store.payments import Payments
from stripe_sim.store.records import (
    SOURCE_TYPES,
    AccountRecord,
    Clock,
    Json,
    Ledger,
    LinkRecord,
    Origin,
    OwnedObject,
    PlatformRecord,
)

__all__ = [
    "LINK_TTL_SECONDS",
    "OUTCOMES",
    "SOURCE_TYPES",
    "AccountRecord",
    "Accounts",
    "Clock",
    "EventLog",
    "Json",
    "Ledger",
    "LinkRecord",
    "Links",
    "Money",
    "Origin",
    "OwnedObject",
    "Payments",
    "PlatformRecord",
    "Store",
]


class Store:
    """All simulated Stripe state, for both modes, sharing one clock and one event log."""

    def __init__(
        self,
        *,
        public_url: str,
        on_event: Callable[[Json], None] | None = None,
        clock: Clock | None = None,
        max_events: int = 100_000,
    ) -> None:
        self.clock = clock or Clock()
        self.events = EventLog(self.clock, on_event=on_event, max_events=max_events)
        self.accounts = Accounts(self.clock, self.events)
        self.payments = Payments(self.clock, self.events, self.accounts)
        self.money = Money(self.clock, self.events, self.accounts, self.payments)
        self.links = Links(self.clock, self.accounts, public_url=public_url)
        self.reset()

    def reset(self) -> None:
        """Forget everything (the clock offset too); the platforms keep their ids."""
        self.clock.offset = 0
        self.events.reset()
        self.accounts.reset()
        self.payments.reset()
        self.money.reset()
        self.links.reset()
