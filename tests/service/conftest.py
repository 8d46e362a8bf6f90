"""Fixtures: the service in process (ASGI, lifespan run), the fake Worker and fake Stripe."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from connect_backend.settings import Settings
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import ASGIApp, LogLines, http_client, make_settings, running


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every line the `connect_backend` logger writes during the test, at every level."""
    logger = logging.getLogger("connect_backend")
    handler = LogLines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture
def stripe() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def upstreams(worker: FakeWorker) -> Iterator[respx.MockRouter]:
    """respx in front of every httpx call: the fake Worker answers, the tests' own calls to
    the service pass through to it (in process), anything else fails."""
    with respx.mock(using="httpx", assert_all_mocked=True, assert_all_called=False) as mock:
        mock.route(host="service").pass_through()
        worker.install(mock)
        yield mock


@pytest.fixture
async def service(
    settings: Settings, upstreams: respx.MockRouter, stripe: FakeStripe
) -> AsyncIterator[ASGIApp]:
    """The service in process over the fake Worker and the fake Stripe."""
    async with running(settings, stripe, worker=upstreams) as app:
        yield app


@pytest.fixture
async def client(service: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the service."""
    async with http_client(service) as http:
        yield http


@pytest.fixture
def fast_stripe_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """stripe-python's own retry back-off, shrunk so retried failures keep the suite fast."""
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(HTTPClient, "MAX_DELAY", 0.002)


@pytest.fixture(autouse=True)
def _quick_worker_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Worker client's back-off between attempts, shrunk: the attempts stay the same (tests
    count them) but a failing call no longer sleeps ~0.2 s. tests/unit keeps the real one."""
    from tenacity import wait_exponential_jitter

    import connect_backend.worker as worker_module

    monkeypatch.setattr(
        worker_module,
        "wait_exponential_jitter",
        lambda **_: wait_exponential_jitter(multiplier=0.001, max=0.002, jitter=0.001),
    )
