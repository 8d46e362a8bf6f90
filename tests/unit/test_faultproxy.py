"""devstack's fault proxy on loopback: it forwards untouched, and each fault does what it says."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from devstack.faultproxy import FaultControl, FaultProxy
from devstack.procs import free_port


@dataclass
class Upstream:
    """A tiny HTTP/1.1 server that answers every request with what it received."""

    url: str
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream("")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                path = lines[0].split(" ")[1]
                up.seen.append(path)
                answer = json.dumps(
                    {"path": path, "body": body.decode(), "probe": headers.get("x-probe")}
                ).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"x-upstream: yes\r\ncontent-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    up.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield up
    server.close()


@dataclass
class Running:
    proxy: FaultProxy
    control: FaultControl
    http: httpx.AsyncClient


@pytest.fixture
async def running(upstream: Upstream) -> AsyncIterator[Running]:
    proxy = FaultProxy(upstream=upstream.url, port=free_port(), control_port=free_port(), seed=1)
    await proxy.start()
    control = FaultControl(f"http://127.0.0.1:{proxy.control_port}")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=2.0) as http:
        yield Running(proxy, control, http)
    await control.aclose()
    await proxy.stop()


async def test_requests_pass_through_untouched(running: Running) -> None:
    response = await running.http.post("/a/b?x=1", content=b"hello", headers={"X-Probe": "p"})

    assert response.status_code == 200
    assert response.json() == {"path": "/a/b?x=1", "body": "hello", "probe": "p"}
    assert response.headers["x-upstream"] == "yes"
    assert (await running.control.state())["stats"]["forwarded"] == 1


async def test_a_status_fault_answers_for_the_upstream_on_its_path_only(
    running: Running, upstream: Upstream
) -> None:
    await running.control.set(rules=[{"path_prefix": "/a", "status": 429, "count": 1}])

    limited = await running.http.get("/a/1")
    other = await running.http.get("/b")
    spent = await running.http.get("/a/2")

    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
    assert (other.status_code, spent.status_code) == (200, 200)
    assert upstream.seen == ["/b", "/a/2"]
    assert (await running.control.state())["stats"]["faults"] == {"status_429": 1}


async def test_after_lets_the_upstream_act_and_loses_its_answer(
    running: Running, upstream: Upstream
) -> None:
    await running.control.set(rules=[{"status": 500, "when": "after", "method": "POST"}])

    lost = await running.http.post("/write", content=b"x")

    assert lost.status_code == 500
    assert upstream.seen == ["/write"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [("reset", httpx.ReadError), ("close", httpx.RemoteProtocolError)],
)
async def test_connection_faults_end_the_connection_without_an_answer(
    running: Running, fault: str, error: type[Exception]
) -> None:
    await running.control.set(rules=[{"fault": fault}])

    with pytest.raises(error):
        await running.http.get("/x")


async def test_a_held_request_outlasts_the_clients_timeout(running: Running) -> None:
    await running.control.set(rules=[{"fault": "timeout", "hold_s": 30}])
    started = time.monotonic()

    with pytest.raises(httpx.ReadTimeout):
        await running.http.get("/x", timeout=0.3)

    assert time.monotonic() - started < 2


async def test_latency_delays_and_lets_the_request_through(running: Running) -> None:
    await running.control.set(rules=[{"fault": "latency", "latency_ms": 200}])
    started = time.monotonic()

    response = await running.http.get("/x")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_down_refuses_connections_until_it_is_up_again(running: Running) -> None:
    assert (await running.http.get("/warm")).status_code == 200  # an open keep-alive connection
    await running.control.set(down=True)

    with pytest.raises(httpx.ConnectError):
        await running.http.get("/x")
    await running.control.set(down=False)

    assert (await running.http.get("/x")).status_code == 200


async def test_the_same_seed_fires_the_same_faults(running: Running) -> None:
    async def draw() -> list[int]:
        await running.control.set(rules=[{"status": 503, "rate": 0.5}], seed=42)
        return [(await running.http.get("/x")).status_code for _ in range(20)]

    first, second = await draw(), await draw()

    assert first == second
    assert set(first) == {200, 503}


@pytest.mark.parametrize(
    "body",
    [{"rules": [{"fault": "explode"}]}, {"rules": [{"rate": 2}]}, {"nope": 1}, {"down": "yes"}],
)
async def test_a_bad_configuration_is_refused_and_changes_nothing(
    running: Running, body: dict[str, object]
) -> None:
    await running.control.set(rules=[{"status": 500}])

    refused = await running.control.http.post("/_faults", json=body)

    assert refused.status_code == 400
    assert (await running.control.state())["rules"][0]["status"] == 500
