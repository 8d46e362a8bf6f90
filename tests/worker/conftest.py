"""Fixtures: the real Worker (wrangler dev on workerd, local D1), started once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.worker_stack import BetterAuthApi, InternalApi, WorkerStack, running_worker


@pytest.fixture(scope="session")
def worker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    """One Worker for the session, on a free port with its own migrated D1; stopped at the end."""
    with running_worker(tmp_path_factory.mktemp("worker")) as stack:
        yield stack


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


@pytest.fixture
def auth(http: httpx.AsyncClient, worker_stack: WorkerStack) -> BetterAuthApi:
    """Better Auth's HTTP API on the Worker."""
    return BetterAuthApi(http, worker_stack.base_url)


@pytest.fixture
def internal(http: httpx.AsyncClient, worker_stack: WorkerStack) -> InternalApi:
    """The internal API over real HTTP, answers checked against the contract."""
    return InternalApi(http, worker_stack)
