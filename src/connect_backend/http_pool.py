"""Outbound `httpx.AsyncClient`s whose connection pool costs as little at 500 connections as at 5.

httpcore's pool, on every request and again on every response, walks every connection it
holds, polls each idle socket (a system call) and, per idle connection, counts them all
again; with the hundreds of connections that 200 concurrent requests keep open, that
bookkeeping took more CPU than the requests themselves. `LeanPool` keeps each origin's idle
connections on a stack and checks only the one it hands out. Connecting, TLS, HTTP/1.1,
timeouts and errors are still httpcore's and httpx's.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

import httpcore
import httpx


class LeanPool:
    """HTTP/1.1 connections: at most `max_connections` in use, idle ones reused newest first."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        max_idle_per_origin: int,
        keepalive_expiry: float,
    ) -> None:
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._max_idle = max_idle_per_origin
        self._slots = asyncio.Semaphore(max_connections)
        # Keyed by (scheme, host, port): httpcore's Origin is not hashable.
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send `request` on an idle or a new connection; it returns when the body is closed."""
        pool_timeout = request.extensions.get("timeout", {}).get("pool")
        try:
            async with asyncio.timeout(pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpcore.PoolTimeout("No connection became free in time.") from None
        origin = request.url.origin
        try:
            connection = await self._checkout(origin)
            try:
                response = await connection.handle_async_request(request)
            except BaseException:
                await connection.aclose()
                raise
        except BaseException:
            self._slots.release()
            raise

        assert isinstance(response.stream, AsyncIterable)

        async def release() -> None:
            await self._checkin(origin, connection)

        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_ReleasingStream(response.stream, release),
            extensions=response.extensions,
        )

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get((origin.scheme, origin.host, origin.port))
        while idle:
            connection = idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            origin=origin, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry
        )

    async def _checkin(
        self, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        try:
            if self._closed or not connection.is_idle():
                await connection.aclose()
                return
            idle = self._idle.setdefault((origin.scheme, origin.host, origin.port), [])
            idle.append(connection)
            if len(idle) > self._max_idle:
                await idle.pop(0).aclose()
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when their response does."""
        self._closed = True
        idle = [c for connections in self._idle.values() for c in connections]
        self._idle.clear()
        for connection in idle:
            await connection.aclose()

    async def __aenter__(self) -> LeanPool:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class _ReleasingStream:
    """A response body that hands its connection back to the pool once closed."""

    def __init__(
        self, stream: AsyncIterable[bytes], release: Callable[[], Awaitable[None]]
    ) -> None:
        self._stream = stream
        self._release = release
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            await self._release()


class LeanTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (it translates requests, responses and errors) over a `LeanPool`."""

    def __init__(
        self, *, max_connections: int, max_idle_per_origin: int, keepalive_expiry: float = 5.0
    ) -> None:
        # Not super().__init__(): that would build an httpcore pool only to drop it.
        self._pool = LeanPool(  # type: ignore[assignment]
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_idle_per_origin=max_idle_per_origin,
            keepalive_expiry=keepalive_expiry,
        )


def async_client(
    *, max_connections: int = 512, max_idle_per_origin: int = 256, timeout: float = 5.0
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` on a `LeanTransport` (HTTP/1.1, keep-alive, env proxies honoured)."""
    return httpx.AsyncClient(
        transport=LeanTransport(
            max_connections=max_connections, max_idle_per_origin=max_idle_per_origin
        ),
        timeout=timeout,
    )
