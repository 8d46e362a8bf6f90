"""Shared pytest configuration: the session-wide secrets guard (tests/secrets_guard.py), and a
real Redis for the tests of shared state."""

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from connect_backend import sessions
from tests.secrets_guard import pytest_configure, pytest_sessionfinish, pytest_unconfigure
from tests.support.redis_server import RedisServer
from tests.support.session_clock import Clock

__all__ = ["pytest_configure", "pytest_sessionfinish", "pytest_unconfigure"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real Redis for the session's tests of shared state (tests stop and start it)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> str:
    """The Redis URL, running and empty for this test."""
    if not redis_server.process.running:
        redis_server.start()
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    return redis_server.url


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The session cache's clock only (`connect_backend.sessions`): the event loop keeps the
    real one."""
    fake = Clock()
    monkeypatch.setattr(sessions, "time", SimpleNamespace(time=fake))
    return fake
