"""The Stripe simulator under test: its keys and secrets, a free port, uvicorn servers started
and stopped by a test, a webhook receiver that verifies Stripe's signatures with stripe-python,
and a running simulator with its clients (`tests/sim/conftest.py` makes them fixtures)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe
import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from stripe_sim import Simulator

API_KEY = "sk_test_51SimulatorKey0000000000"
PLATFORM_SECRET = "whsec_platform_secret_for_tests"
CONNECT_SECRET = "whsec_connect_secret_for_tests"


def bind_free_port() -> socket.socket:
    """A socket bound to a free 127.0.0.1 port.

    The protocol must be named: asyncio sets TCP_NODELAY only on sockets whose ``proto`` is
    IPPROTO_TCP, and a plain ``socket.socket()`` has proto 0, which costs every request
    ~40 ms of delayed-ACK wait.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


class _Server(uvicorn.Server):
    """uvicorn, told to stop by an event instead of its 0.1 s polling loop."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_requested = asyncio.Event()

    async def main_loop(self) -> None:
        await self.on_tick(0)
        await self.stop_requested.wait()


class Servers:
    """Servers started by one test, all stopped together at its end."""

    def __init__(self) -> None:
        self._running: list[tuple[_Server, asyncio.Task[None], socket.socket]] = []

    async def start(self, app: Any, sock: socket.socket | None = None) -> str:
        sock = sock or bind_free_port()
        server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._running.append((server, task, sock))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.002)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop_all(self) -> None:
        for server, _, _ in self._running:
            server.should_exit = True
            server.stop_requested.set()
        await asyncio.gather(*(task for _, task, _ in self._running))
        for _, _, sock in self._running:
            sock.close()


@dataclass
class Receiver:
    """A webhook endpoint that verifies signatures and can refuse deliveries."""

    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[tuple[str, int]] = field(default_factory=list)  # (path, status answered)
    refuse: int = 0  # answer 500 to this many next deliveries
    refuse_status: int = 500
    retry_after: str | None = None  # the `Retry-After` header of a refusal, if any

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    async def handle(self, request: Request) -> Response:
        secret = CONNECT_SECRET if request.url.path == "/connect" else PLATFORM_SECRET
        payload = (await request.body()).decode()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("stripe-signature", ""), secret
            )
        except stripe.SignatureVerificationError:
            self.attempts.append((request.url.path, 400))
            return Response(status_code=400)
        if self.refuse > 0:
            self.refuse -= 1
            self.attempts.append((request.url.path, self.refuse_status))
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return Response(status_code=self.refuse_status, headers=headers)
        self.attempts.append((request.url.path, 200))
        record = event.to_dict()
        record["_endpoint"] = request.url.path
        self.events.append(record)
        return Response(status_code=200)


@dataclass
class Sim:
    """A running simulator and clients for it."""

    url: str
    sim: Simulator
    admin: httpx.AsyncClient  # /_sim helpers and raw HTTP
    http_client: stripe.HTTPXClient

    def client(self, api_key: str = API_KEY) -> stripe.StripeClient:
        """stripe-python pointed at the simulator."""
        return stripe.StripeClient(
            api_key=api_key,
            base_addresses={"api": self.url, "connect": self.url},
            http_client=self.http_client,
        )

    @property
    def stripe(self) -> stripe.StripeClient:
        return self.client()

    async def flush(self, timeout: float = 5) -> dict[str, Any]:
        response = await self.admin.post("/_sim/webhooks/flush", params={"timeout": timeout})
        body: dict[str, Any] = response.json()
        return body

    async def fund_platform(self, amount: int, currency: str = "usd") -> None:
        response = await self.admin.post(
            "/_sim/platform/fund", json={"amount": amount, "currency": currency}
        )
        response.raise_for_status()

    async def charge(self, amount: int, currency: str = "usd", **extra: Any) -> dict[str, Any]:
        """A succeeded charge on the platform (``/_sim/charges``), as JSON."""
        response = await self.admin.post(
            "/_sim/charges", json={"amount": amount, "currency": currency, **extra}
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def available(self, account_id: str | None = None, currency: str = "usd") -> int:
        """The available balance of the platform (or a connected account) in one currency."""
        options: dict[str, Any] = {"stripe_account": account_id} if account_id else {}
        balance = await self.stripe.v1.balance.retrieve_async(options=options)  # type: ignore[arg-type]
        return sum(entry.amount for entry in balance.available if entry.currency == currency)

    async def onboard(self, account_id: str, outcome: str = "complete") -> dict[str, Any]:
        response = await self.admin.post(
            f"/_sim/accounts/{account_id}/onboarding", json={"outcome": outcome}
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def express_account(self, **params: Any) -> stripe.Account:
        """A new Express account requesting transfers, as the Connect backend creates it."""
        base: dict[str, Any] = {
            "type": "express",
            "country": "US",
            "email": "owner@example.com",
            "business_profile": {"name": "Acme Org"},
            "metadata": {"organization_id": "org_1"},
            "capabilities": {"transfers": {"requested": True}},
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        }
        return await self.stripe.v1.accounts.create_async(params={**base, **params})  # type: ignore[arg-type]

    async def active_account(self) -> stripe.Account:
        """An Express account that finished onboarding (transfers active, payouts on)."""
        account = await self.express_account()
        await self.onboard(account.id, "complete")
        return account


SimFactory = Callable[..., Awaitable[Sim]]
