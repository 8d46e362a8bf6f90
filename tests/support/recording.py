"""An httpx transport that records what the Worker client sends and what it is answered."""

from __future__ import annotations

import httpx


class Recording(httpx.AsyncBaseTransport):
    """Every request passed through to `inner` (httpx's own transport by default, which respx
    mocks), and every answer, read whole."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        response.request = request  # as httpx's client sets it
        await response.aread()
        self.responses.append(response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
