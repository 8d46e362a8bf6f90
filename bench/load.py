"""An async load generator: N keep-alive connections, each sending one request at a time.

Two clients with one interface: a raw HTTP/1.1 client on asyncio streams (the default: it
spends a small fraction of the CPU that httpx spends per request, so on a 2-core machine it
leaves the cores to the processes being measured) and `httpx.AsyncClient`, for comparison.
Every run is bounded in requests and in time; the client's own CPU time is measured, so a
report can show that the client was not the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True, slots=True)
class Request:
    """One request: method, path (with query), headers and body."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


RequestFactory = Callable[[int], Request]
"""Builds request number n (so a run can spread over organizations, sign fresh events …)."""

Check = Callable[[int, bytes], bool]
"""Whether status and body are the expected answer."""


@dataclass(slots=True)
class Result:
    """What one bounded run measured."""

    latencies: list[float]
    failures: int
    failure_samples: list[str]
    elapsed: float
    client_cpu: float

    @property
    def completed(self) -> int:
        """Requests answered as expected."""
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Requests answered as expected per second."""
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in seconds (nearest rank); NaN with no answers."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]


class _Connection(Protocol):
    async def send(self, request: Request) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class _RawConnection:
    """One HTTP/1.1 keep-alive connection; reconnects after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._host_header = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, request: Request) -> tuple[int, bytes]:
        head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self._host_header}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        if request.body or request.method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(request.body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body
        reused = self._writer is not None
        try:
            return await self._exchange(data)
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            # A kept-alive connection the server closed while it sat idle: the request never
            # reached it, so it is sent once more on a new connection (as httpx does).
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            return await self._exchange(data)

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        try:
            self._writer.write(data)
            raw = await self._reader.readuntil(b"\r\n\r\n")
            lines = raw.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length: int | None = None
            chunked = close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if chunked:
                body = await self._read_chunked()
            elif length is not None:
                body = await self._reader.readexactly(length)
            else:
                body, close = await self._reader.read(), True
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, body

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _HttpxConnection:
    """A slot on a shared `httpx.AsyncClient` (which pools the connections itself)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, request: Request) -> tuple[int, bytes]:
        response = await self._client.request(
            request.method, request.path, headers=request.headers, content=request.body or None
        )
        return response.status_code, response.content

    async def close(self) -> None:
        return None


class Pool:
    """`concurrency` connections to `base_url`; `run` keeps every one of them busy."""

    def __init__(
        self, base_url: str, concurrency: int, *, client: Literal["raw", "httpx"] = "raw"
    ) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.concurrency = concurrency
        self._httpx: httpx.AsyncClient | None = None
        self._connections: list[_Connection]
        if client == "raw":
            self._connections = [
                _RawConnection(parts.hostname, parts.port) for _ in range(concurrency)
            ]
        else:
            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            self._httpx = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0)
            self._connections = [_HttpxConnection(self._httpx) for _ in range(concurrency)]

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *_: object) -> None:
        for connection in self._connections:
            await connection.close()
        if self._httpx is not None:
            await self._httpx.aclose()

    async def run(
        self,
        make: RequestFactory,
        *,
        requests: int,
        time_limit: float,
        check: Check,
        timeout: float = 30.0,
        first: int = 0,
    ) -> Result:
        """Send at most `requests` requests (numbered from `first`), starting none after
        `time_limit` seconds; a request unanswered after `timeout` seconds has failed."""
        latencies: list[float] = []
        failures = 0
        samples: list[str] = []
        issued = 0
        started = time.perf_counter()
        deadline = started + time_limit

        async def loop(connection: _Connection) -> None:
            nonlocal issued, failures
            while issued < requests and time.perf_counter() < deadline:
                n = first + issued
                issued += 1
                request = make(n)
                sent = time.perf_counter()
                try:
                    async with asyncio.timeout(timeout):
                        status, body = await connection.send(request)
                except (TimeoutError, OSError, EOFError, ValueError, httpx.HTTPError) as exc:
                    await connection.close()
                    failures += 1
                    if len(samples) < 5:
                        samples.append(f"{request.method} {request.path}: {type(exc).__name__}")
                    continue
                if check(status, body):
                    latencies.append(time.perf_counter() - sent)
                else:
                    failures += 1
                    if len(samples) < 5:
                        samples.append(f"{request.method} {request.path}: {status} {body[:200]!r}")

        cpu = _cpu_seconds()
        await asyncio.gather(*(loop(c) for c in self._connections))
        elapsed = time.perf_counter() - started
        return Result(latencies, failures, samples, elapsed, _cpu_seconds() - cpu)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
