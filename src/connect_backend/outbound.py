"""The service's outbound HTTP: one aiohttp session, shared by the Worker and Stripe clients.

aiohttp's connection pool is the well-kept part underneath both: the Worker client keeps
httpx as its API (its requests and answers are httpx's) over `httpx-aiohttp`'s
`AiohttpTransport`, and stripe-python speaks through its own `AIOHTTPClient`. Both are handed
this session through their public parameters.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cache

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

MAX_CONNECTIONS = 512
MAX_CONNECTIONS_PER_ORIGIN = 256
KEEPALIVE_SECONDS = 15.0


@cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS client context: the system's CA bundle, loaded once (about 40 ms)."""
    return ssl.create_default_context()


@asynccontextmanager
async def session(
    *,
    max_connections: int = MAX_CONNECTIONS,
    max_per_origin: int = MAX_CONNECTIONS_PER_ORIGIN,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
) -> AsyncIterator[aiohttp.ClientSession]:
    """A bounded connection pool: `max_connections` in all, `max_per_origin` to each origin;
    `trace_configs` watch its requests (`tracing.outbound`).

    Proxies from the environment are not used (`trust_env=False`): the service calls the
    Worker and Stripe directly, and reading the environment on every request costs CPU.
    """
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=max_per_origin,
        keepalive_timeout=KEEPALIVE_SECONDS,
        ssl=tls_context(),
    )
    async with aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        trace_configs=list(trace_configs) or None,
        # Neither the Worker nor Stripe sets cookies: none is looked for or kept.
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as http:
        yield http


def worker_transport(http: aiohttp.ClientSession) -> httpx.AsyncBaseTransport:
    """The httpx transport the Worker client sends its requests through, over `http` (which
    closes with the session; the transport holds nothing else)."""
    return AiohttpTransport(client=http, verify=tls_context())
