"""The outbound clients keep no cookies: neither the Worker nor Stripe sets any, so an answer's
`Set-Cookie` is not kept in aiohttp's jar (under both clients) nor sent back on the next call.
Real sockets: an aiohttp server on loopback that sets a cookie and records what it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from connect_backend import outbound
from connect_backend.worker import WorkerClient


@pytest.fixture
async def cookie_setter() -> AsyncIterator[tuple[str, list[str | None]]]:
    """`(base_url, cookies)`: every answer sets a cookie; `cookies` records each request's
    `Cookie` header."""
    seen: list[str | None] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "abc", path="/")
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        # A host name, not an address: aiohttp's own jar keeps no cookie from a bare IP.
        yield f"http://localhost:{port}", seen
    finally:
        await runner.cleanup()


async def test_the_worker_client_sends_no_cookie_it_was_given(
    cookie_setter: tuple[str, list[str | None]],
) -> None:
    base, seen = cookie_setter
    async with outbound.session() as pool:
        client = WorkerClient(outbound.worker_transport(pool), base_url=base, api_key="k")
        await client.health()
        await client.health()

    assert seen == [None, None]


async def test_the_shared_session_keeps_no_cookie_either(
    cookie_setter: tuple[str, list[str | None]],
) -> None:
    base, seen = cookie_setter
    async with outbound.session() as pool:
        for path in ("/a", "/b"):
            async with pool.get(base + path) as answer:
                assert answer.status == 200

    assert seen == [None, None]
