"""The service's long-lived clients, built from the settings and closed together: what the
app's lifespan and `python -m connect_backend reconcile` share, so a command run talks to the
Worker, to Stripe and to Redis exactly as a replica does (and, with `REDIS_URL`, spends from
the same Stripe budget)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httpx

from connect_backend import outbound
from connect_backend.settings import Settings
from connect_backend.state_store import StateStore
from connect_backend.stripe_budget import StripeBudget
from connect_backend.stripe_gateway import AccountReadCodec, StripeGateway
from connect_backend.worker import WorkerClient


@dataclass(frozen=True, slots=True)
class Clients:
    """The Worker's client, the Stripe gateway and the state the processes share."""

    worker: WorkerClient
    stripe: StripeGateway
    store: StateStore


@asynccontextmanager
async def open_state_store(redis_url: str | None) -> AsyncIterator[StateStore]:
    """What the process shares with the others: through Redis with a URL, else kept in this
    process. redis-py is imported only when there is a Redis (it adds ~8 MiB to a process)."""
    if redis_url is None:
        yield StateStore()
        return
    from connect_backend import redis_store

    async with redis_store.connect(redis_url) as state:
        yield state


@asynccontextmanager
async def clients(
    settings: Settings,
    *,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
    worker_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Clients]:
    """The clients for `settings`, over one outbound session (watched by `trace_configs`);
    Redis (with `REDIS_URL`) connects on first use. Everything is closed when the block ends.

    The Worker client sends through `worker_transport` if one is given (the tests' fake Worker
    on respx's router), else through httpx-aiohttp's transport over the session."""
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    async with (
        open_state_store(redis_url) as state,
        outbound.session(trace_configs=trace_configs) as http,
    ):
        yield Clients(
            worker=WorkerClient(
                worker_transport or outbound.worker_transport(http),
                base_url=settings.worker_base_url,
                api_key=settings.worker_api_key.get_secret_value(),
                timeout=settings.worker_timeout_seconds,
            ),
            stripe=StripeGateway.connect(
                api_key=settings.stripe_secret_key.get_secret_value(),
                api_base=settings.stripe_api_base,
                http=http,
                account_type=settings.connect_account_type,
                capabilities=settings.connect_capabilities,
                accounts_api=settings.connect_accounts_api,
                timeout=settings.stripe_timeout_seconds,
                budget=StripeBudget(
                    per_second=settings.stripe_budget_per_process,
                    read_share=settings.stripe_read_share,
                    storage=state.limits,
                ),
                reads=state.reads("accounts", AccountReadCodec()),
            ),
            store=state,
        )
