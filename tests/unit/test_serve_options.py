"""What `python -m connect_backend` asks uvicorn for (uvicorn.run itself is not started)."""

from __future__ import annotations

from typing import Any

import pytest

from connect_backend import __main__ as entry
from tests.service.fakes import WORKER_KEY


def test_the_service_runs_on_asyncio_s_own_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not uvloop (uvicorn's `auto`): under a load that keeps the process busy, uvloop left new
    connections in the listen queue for seconds (docs/benchmarks.md, issue 24)."""
    asked: dict[str, Any] = {}
    monkeypatch.setattr(entry.uvicorn, "run", lambda *_, **options: asked.update(options))
    for name, value in {
        "STRIPE_SECRET_KEY": "sk_test_service123",
        "STRIPE_WEBHOOK_SECRET": "whsec_test",
        "WORKER_BASE_URL": "http://worker.invalid",
        "WORKER_API_KEY": WORKER_KEY,
        "FRONTEND_URL": "http://frontend.invalid",
        "ENVIRONMENT": "development",
        "WEB_CONCURRENCY": "1",
    }.items():
        monkeypatch.setenv(name, value)

    entry.serve()

    assert asked["loop"] == "asyncio"
    assert asked["factory"] is True
