"""The :class:`Simulator`: the parts every route shares, with no HTTP in sight.

``app.py`` builds the routes around one simulator; the ``/_sim`` helpers (``admin.py``)
take it as their subject. Both import this module and neither imports the other.
"""

from __future__ import annotations

from typing import Any

from stripe_sim.access import Permissions
from stripe_sim.chaos import Chaos
from stripe_sim.config import SimConfig
from stripe_sim.idempotency import IdempotencyStore
from stripe_sim.request_counts import RequestCounts
from stripe_sim.store import Store
from stripe_sim.store.account_rules import PlatformApprovals
from stripe_sim.webhooks import WebhookDispatcher


class Simulator:
    """The simulator's parts: state, webhook dispatcher, chaos settings, idempotency keys,
    counts of the Stripe API calls received."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.dispatcher = WebhookDispatcher(config)
        self.store = Store(
            public_url=config.public_url,
            on_event=self.dispatcher.on_event,
            max_events=config.max_events,
        )
        self.chaos = Chaos(config)
        self.permissions = Permissions()
        # Keys age by the simulator's clock, so advancing /_sim/clock expires them too.
        self.idempotency = IdempotencyStore(
            max_entries=config.max_idempotency_keys, now=self.store.clock.now
        )
        self.request_counts = RequestCounts()

    def reset(self) -> None:
        """Back to a fresh start: no accounts, money, events, keys, faults, latency or counted
        calls.

        Webhook endpoints stay (those configured at start and those added since).
        """
        self.dispatcher.reset()
        self.store.reset()
        self.idempotency.clear()
        self.chaos.configure_from(self.config)
        self.permissions.keys = {}
        self.request_counts.clear()

    def configure(self, raw: dict[str, Any]) -> None:
        """Apply a ``/_sim/config`` body; raises ValueError on a bad one (nothing changes).

        Latency, faults and timeouts go to :class:`Chaos`; ``platform`` holds what Stripe
        has approved for the platform; ``restricted_keys`` replaces the restricted keys
        and what each is denied; ``webhooks_enabled`` switches delivery off (dropping
        what is held) or on.
        """
        unknown = set(raw) - Chaos.FIELDS - {"platform", "restricted_keys", "webhooks_enabled"}
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        approvals = None
        if "platform" in raw:
            current = self.store.accounts.approvals.to_json()
            approvals = PlatformApprovals.from_json({**current, **_object(raw["platform"])})
        keys = Permissions.parse(raw["restricted_keys"]) if "restricted_keys" in raw else None
        webhooks_enabled = raw.get("webhooks_enabled", self.dispatcher.enabled)
        if not isinstance(webhooks_enabled, bool):
            raise ValueError("webhooks_enabled must be true or false")
        self.chaos.update({k: v for k, v in raw.items() if k in Chaos.FIELDS})
        if approvals is not None:
            self.store.accounts.approvals = approvals
        if keys is not None:
            self.permissions.keys = keys
        self.dispatcher.set_enabled(webhooks_enabled)

    def settings(self) -> dict[str, Any]:
        """The ``/_sim/config`` settings now in force."""
        return {
            **self.chaos.to_json(),
            "platform": self.store.accounts.approvals.to_json(),
            "restricted_keys": self.permissions.to_json(),
            "webhooks_enabled": self.dispatcher.enabled,
        }


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value
