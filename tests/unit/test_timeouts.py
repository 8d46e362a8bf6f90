"""A hanging upstream on loopback: the Worker and Stripe clients give up at their timeout.

The server accepts connections and reads, but never answers, so only the clients' own
timeouts can end a call. Real sockets (no respx): httpx's timeouts are enforced there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from connect_backend import outbound
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
    async with outbound.session() as pool:
        worker = WorkerClient(
            outbound.worker_transport(pool), base_url=hanging, api_key="k", timeout=0.3, attempts=2
        )
        started = time.perf_counter()

        with pytest.raises(UpstreamUnavailable) as failed:
            await worker.get_organization("org_a")

    elapsed = time.perf_counter() - started
    assert failed.value.code == "upstream_unavailable"
    assert 0.6 <= elapsed < 3.0  # two attempts of 0.3 s, a short back-off, nothing longer


async def test_a_hanging_worker_fails_the_readiness_check_within_its_timeout(
    hanging: str,
) -> None:
    async with outbound.session() as pool:
        worker = WorkerClient(outbound.worker_transport(pool), base_url=hanging, api_key="k")
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
    async with outbound.session() as http:
        gateway = StripeGateway.connect(
            api_key="sk_test_hanging",
            api_base=hanging,
            http=http,
            account_type="express",
            capabilities=["transfers"],
            timeout=0.3,
        )
        started = time.perf_counter()
        with pytest.raises(UpstreamUnavailable) as failed:
            await gateway.retrieve_balance("acct_1")

    elapsed = time.perf_counter() - started
    assert failed.value.code == "upstream_unavailable"
    assert 0.9 <= elapsed < 5.0  # three attempts (stripe-python retries twice) of 0.3 s each


# --- the outbound connection pools are bounded ------------------------------------------------


@dataclass
class Answering:
    """A loopback server that answers every request with 200 `ok` after 10 ms, keeping
    connections alive, and counts the connections open at once."""

    url: str = ""
    open_now: int = 0
    most_at_once: int = 0
    accepted: int = 0


@pytest.fixture
async def answering() -> AsyncIterator[Answering]:
    state = Answering()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.accepted += 1
        state.open_now += 1
        state.most_at_once = max(state.most_at_once, state.open_now)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(0.01)  # long enough for the requests to overlap
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            state.open_now -= 1
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_a_full_pool_makes_the_next_call_wait_at_most_the_pool_timeout(
    hanging: str,
) -> None:
    timeout = httpx.Timeout(1.0, pool=0.2)
    async with (
        outbound.session(max_connections=2) as pool,
        httpx.AsyncClient(transport=outbound.worker_transport(pool)) as http,
    ):
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(http.get(hanging, timeout=timeout) for _ in range(3)), return_exceptions=True
        )

    assert sorted(isinstance(a, httpx.TimeoutException) for a in answers) == [True] * 3
    assert time.perf_counter() - started < 3.0


async def test_connections_to_one_origin_are_bounded_and_reused(answering: Answering) -> None:
    async with (
        outbound.session(max_connections=50, max_per_origin=3) as pool,
        httpx.AsyncClient(transport=outbound.worker_transport(pool)) as http,
    ):
        answers = await asyncio.gather(*(http.get(answering.url) for _ in range(20)))
        again = await asyncio.gather(*(http.get(answering.url) for _ in range(3)))

    assert {a.status_code for a in answers + again} == {200}
    assert answering.most_at_once == 3
    assert answering.accepted == 3  # the second burst reused the kept-alive connections


@pytest.fixture
async def half_answering() -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>`: answers `/api/internal/health` whole, and any other path with
    its headers and a tenth of its body, then nothing more (the connection stays open)."""
    held: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                if b" /api/internal/health " in head:
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}')
                else:
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id":"org')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_an_answer_cut_off_mid_body_gives_its_connection_back(half_answering: str) -> None:
    """The Worker client reads each answer whole through its transport: when the body never
    comes, the call fails at its timeout and the connection goes back to the pool (here of
    one), so the next call is served."""
    async with outbound.session(max_connections=1) as pool:
        worker = WorkerClient(
            outbound.worker_transport(pool), base_url=half_answering, api_key="k", timeout=0.3,
            attempts=1,
        )  # fmt: skip
        with pytest.raises(UpstreamUnavailable):
            await worker.get_organization("org_a")
        await worker.health(timeout=1.0)
