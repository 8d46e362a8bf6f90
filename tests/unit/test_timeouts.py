"""A hanging upstream on loopback: the Worker and Stripe clients give up at their timeout.

The server accepts connections and reads, but never answers, so only the clients' own
timeouts can end a call. Real sockets (no respx): httpx's timeouts are enforced there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from connect_backend import http_pool
from connect_backend.errors import UpstreamUnavailable
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient


@pytest.fixture
async def hanging() -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>`: accepts, reads requests, never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_hanging_worker_ends_in_503_after_the_timeout_of_each_attempt(
    hanging: str,
) -> None:
    async with http_pool.async_client() as http:
        worker = WorkerClient(http, base_url=hanging, api_key="k", timeout=0.3, attempts=2)
        started = time.perf_counter()

        with pytest.raises(UpstreamUnavailable) as failed:
            await worker.get_organization("org_a")

    elapsed = time.perf_counter() - started
    assert failed.value.code == "upstream_unavailable"
    assert 0.6 <= elapsed < 3.0  # two attempts of 0.3 s, a short back-off, nothing longer


async def test_a_hanging_worker_fails_the_readiness_check_within_its_timeout(
    hanging: str,
) -> None:
    async with http_pool.async_client() as http:
        worker = WorkerClient(http, base_url=hanging, api_key="k")
        started = time.perf_counter()

        with pytest.raises(UpstreamUnavailable) as failed:
            await worker.health(timeout=0.3)

    assert failed.value.code == "worker_unreachable"
    assert time.perf_counter() - started < 2.0


async def test_a_hanging_stripe_ends_in_503_after_the_timeout_of_each_attempt(
    hanging: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(HTTPClient, "MAX_DELAY", 0.02)
    async with http_pool.async_client(timeout=20.0) as http:
        gateway, transport = StripeGateway.connect(
            api_key="sk_test_hanging",
            api_base=hanging,
            http=http,
            account_type="express",
            capabilities=["transfers"],
            timeout=0.3,
        )
        started = time.perf_counter()
        try:
            with pytest.raises(UpstreamUnavailable) as failed:
                await gateway.retrieve_balance("acct_1")
        finally:
            await transport.close_async()

    elapsed = time.perf_counter() - started
    assert failed.value.code == "upstream_unavailable"
    assert 0.9 <= elapsed < 5.0  # three attempts (stripe-python retries twice) of 0.3 s each


# --- the outbound connection pools are bounded ------------------------------------------------


@pytest.fixture
async def answering() -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>`: answers every request with 200 `ok`, keeping connections."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(0.01)  # long enough for the requests to overlap
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_full_pool_makes_the_next_call_wait_at_most_the_pool_timeout(
    hanging: str,
) -> None:
    timeout = httpx.Timeout(1.0, pool=0.2)
    async with http_pool.async_client(max_connections=2) as http:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(http.get(hanging, timeout=timeout) for _ in range(3)), return_exceptions=True
        )

    kinds = sorted(type(a).__name__ for a in answers)
    assert kinds == ["PoolTimeout", "ReadTimeout", "ReadTimeout"]
    assert time.perf_counter() - started < 3.0


async def test_idle_connections_kept_per_origin_are_bounded(answering: str) -> None:
    async with http_pool.async_client(max_connections=50, max_idle_per_origin=3) as http:
        answers = await asyncio.gather(*(http.get(answering) for _ in range(20)))
        idle = http._transport._pool._idle  # type: ignore[attr-defined]

        assert {a.status_code for a in answers} == {200}
        assert sum(len(connections) for connections in idle.values()) == 3
