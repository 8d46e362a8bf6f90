"""``python -m stripe_sim`` as a real process."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.sim import API_KEY, PLATFORM_SECRET, Receiver, bind_free_port


@pytest.fixture
async def cli_sim(receiver: Receiver) -> AsyncIterator[str]:
    probe = bind_free_port()
    port = probe.getsockname()[1]
    probe.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stripe_sim",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--webhook-url", f"{receiver.url}/platform",
        "--webhook-secret", PLATFORM_SECRET,
        "--webhook-retry-base", "0.05",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(f"{url}/_sim/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("stripe_sim did not start")
        yield url
    finally:
        proc.terminate()
        _, stderr = await proc.communicate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM to exit "by the signal".
        assert proc.returncode in (0, -signal.SIGTERM), stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()


async def test_cli_serves_the_api_and_delivers_connect_events_to_its_one_endpoint(
    cli_sim: str, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=cli_sim) as client:
        created = await client.post(
            "/v1/accounts",
            data={"type": "express", "capabilities[transfers][requested]": "true"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        account_id = created.json()["id"]
        await client.post(f"/_sim/accounts/{account_id}/onboarding", json={"outcome": "complete"})
        flushed = await client.post("/_sim/webhooks/flush", params={"timeout": 5})

    assert created.headers["request-id"].startswith("req_")
    assert flushed.json()["settled"] is True
    assert {e["_endpoint"] for e in receiver.of_type("account.updated")} == {"/platform"}
