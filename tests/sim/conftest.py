"""Fixtures: the simulator on a real uvicorn server, stripe-python as its client, and a
tiny webhook receiver that verifies Stripe's signature with stripe-python (the helpers behind
them: tests/support/sim.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.routing import Route

from stripe_sim import SimConfig, WebhookEndpointConfig, create_app
from tests.support.sim import (
    CONNECT_SECRET,
    PLATFORM_SECRET,
    Receiver,
    Servers,
    Sim,
    SimFactory,
    bind_free_port,
)

# stripe-python 16.1's HTTPXClient posts its form body with httpx's deprecated `data=<str>`,
# which warns on every POST; under filterwarnings=error that warning becomes an
# APIConnectionError. Ignore exactly that warning in these tests.
STRIPE_HTTPX_WARNING = (
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings(STRIPE_HTTPX_WARNING))


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    group = Servers()
    try:
        yield group
    finally:
        await group.stop_all()


@pytest.fixture
async def receiver(servers: Servers) -> Receiver:
    rec = Receiver()
    app = Starlette(
        routes=[
            Route("/platform", rec.handle, methods=["POST"]),
            Route("/connect", rec.handle, methods=["POST"]),
        ]
    )
    rec.url = await servers.start(app)
    return rec


@pytest.fixture
async def make_sim(servers: Servers, receiver: Receiver) -> AsyncIterator[SimFactory]:
    """Start simulators with SimConfig overrides; webhooks go to ``receiver`` by default."""
    async with contextlib.AsyncExitStack() as clients:

        async def start(**overrides: Any) -> Sim:
            sock = bind_free_port()  # public_url must name the port: bind first
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            config = SimConfig(
                public_url=url,
                webhooks=[
                    WebhookEndpointConfig(url=f"{receiver.url}/platform", secret=PLATFORM_SECRET),
                    WebhookEndpointConfig(
                        url=f"{receiver.url}/connect", secret=CONNECT_SECRET, connect=True
                    ),
                ],
                webhook_retry_base_s=0.05,
                webhook_max_attempts=4,
                webhook_timeout_s=2,
                seed=1234,
            )
            for name, value in overrides.items():
                setattr(config, name, value)
            app = create_app(config)
            await servers.start(app, sock)
            admin = httpx.AsyncClient(base_url=url)
            clients.push_async_callback(admin.aclose)
            http_client = stripe.HTTPXClient()
            clients.push_async_callback(http_client.close_async)
            return Sim(url=url, sim=app.state.sim, admin=admin, http_client=http_client)

        yield start


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    return await make_sim()
