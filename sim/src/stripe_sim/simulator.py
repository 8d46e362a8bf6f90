"""The :class:`Simulator`: the parts every route shares, with no HTTP in sight.

``app.py`` builds the routes around one simulator; the ``/_sim`` helpers (``admin.py``)
take it as their subject. Both import this module and neither imports the other.
"""

from __future__ import annotations

from stripe_sim.config import SimConfig
from stripe_sim.faults import Chaos
from stripe_sim.idempotency import IdempotencyStore
from stripe_sim.store import Store
from stripe_sim.webhooks import WebhookDispatcher


class Simulator:
    """The simulator's parts: state, webhook dispatcher, chaos settings, idempotency keys."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.dispatcher = WebhookDispatcher(config)
        self.store = Store(
            public_url=config.public_url,
            on_event=self.dispatcher.on_event,
            max_events=config.max_events,
        )
        self.chaos = Chaos(config)
        # Keys age by the simulator's clock, so advancing /_sim/clock expires them too.
        self.idempotency = IdempotencyStore(
            max_entries=config.max_idempotency_keys, now=self.store.clock.now
        )

    def reset(self) -> None:
        """Back to a fresh start: no accounts, money, events, keys, faults or latency.

        Webhook endpoints stay (those configured at start and those added since).
        """
        self.dispatcher.reset()
        self.store.reset()
        self.idempotency.clear()
        self.chaos.configure_from(self.config)
