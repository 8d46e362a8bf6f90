"""``create_app(config)``: the simulator as one Starlette application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from stripe_sim.admin import AdminRoutes
from stripe_sim.config import SimConfig
from stripe_sim.hosted import HostedPages
from stripe_sim.platform_changes import PlatformChanges
from stripe_sim.simulator import Simulator
from stripe_sim.v1.pipeline import StripeApi


def create_app(
    config: SimConfig | None = None, *, http_client: httpx.AsyncClient | None = None
) -> Starlette:
    """Build the simulator app; ``app.state.sim`` is its :class:`Simulator`.

    Webhook delivery starts with the app's lifespan, over ``http_client`` if given (the
    caller then closes it) or over a client the app creates and closes itself.
    """
    sim = Simulator(config or SimConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.dispatcher.start(http_client)
        try:
            yield
        finally:
            await sim.dispatcher.stop()

    routes = [
        *StripeApi(
            store=sim.store,
            chaos=sim.chaos,
            idempotency=sim.idempotency,
            permissions=sim.permissions,
            api_keys=sim.config.api_keys,
            request_counts=sim.request_counts,
        ).routes(),
        *HostedPages(sim.store).routes(),
        *AdminRoutes(sim).routes(),
        *PlatformChanges(sim).routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    return app
