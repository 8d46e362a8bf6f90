"""`/health` (liveness, no upstream calls) and `/ready` (the Worker answers with our key)."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import httpx
import pytest
from pydantic import SecretStr

from tests.service.fakes import WORKER_KEY, FakeStripe, FakeWorker
from tests.support.service import make_settings

WRONG_KEY = "not-the-workers-key-0123456789"


async def test_health_answers_ok_with_the_version(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")

    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": version("connect-backend")}


async def test_health_calls_no_upstream(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.fail_with = 503

    r = await client.get("/health")

    assert r.status_code == 200
    assert worker.requests == []
    assert stripe.requests == []


async def test_ready_when_the_worker_answers(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    r = await client.get("/ready")

    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"worker": "ok"}}
    [probe] = worker.calls("health")
    assert probe.method == "GET"
    assert probe.headers["X-Internal-Api-Key"] == WORKER_KEY
    assert stripe.requests == []


@pytest.mark.parametrize(
    "failure",
    [503, 500, 429, httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
    ids=["503", "500", "429", "connect-error", "timeout"],
)
async def test_not_ready_when_the_worker_is_down(
    client: httpx.AsyncClient, worker: FakeWorker, failure: int | Exception
) -> None:
    worker.fail_with = failure

    r = await client.get("/ready")

    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"] == [{"dependency": "worker", "reason": "worker_unreachable"}]
    assert error["request_id"] == r.headers["X-Request-ID"]
    assert len(worker.calls("health")) == 1  # a probe is not retried


@pytest.mark.parametrize("settings", [make_settings(worker_api_key=SecretStr(WRONG_KEY))])
async def test_not_ready_when_the_worker_rejects_the_key_and_the_key_is_not_shown(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    r = await client.get("/ready")

    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"] == [{"dependency": "worker", "reason": "worker_refused"}]
    assert WRONG_KEY not in r.text
    assert WORKER_KEY not in r.text
    assert worker.calls("health")[0].headers["X-Internal-Api-Key"] == WRONG_KEY


async def test_a_burst_of_ready_calls_asks_the_worker_once(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    """Anyone may call `/ready`: 20 at once, then 20 more right after, share one check."""
    burst = await asyncio.gather(*(client.get("/ready") for _ in range(20)))
    after = [await client.get("/ready") for _ in range(20)]

    assert {r.status_code for r in [*burst, *after]} == {200}
    assert {r.json()["checks"]["worker"] for r in [*burst, *after]} == {"ok"}
    assert len(worker.calls("health")) == 1


async def test_a_failed_readiness_check_is_reused_with_its_details(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.fail_with = 503

    answers = [await client.get("/ready") for _ in range(20)]

    assert {r.status_code for r in answers} == {503}
    details = [r.json()["error"]["details"] for r in answers]
    assert details == [[{"dependency": "worker", "reason": "worker_unreachable"}]] * 20
    assert {r.json()["error"]["request_id"] for r in answers} == {
        r.headers["X-Request-ID"] for r in answers
    }  # each answer its own request id
    assert len(worker.calls("health")) == 1


@pytest.mark.parametrize("settings", [make_settings(ready_reuse_seconds=0.05)])
async def test_after_the_reuse_window_ready_checks_again(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.fail_with = 503
    down = await client.get("/ready")
    worker.fail_with = None
    still = await client.get("/ready")  # within the window: the same outcome

    await asyncio.sleep(0.1)
    up = await client.get("/ready")

    assert (down.status_code, still.status_code, up.status_code) == (503, 503, 200)
    assert len(worker.calls("health")) == 2
