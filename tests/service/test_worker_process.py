"""What a worker process of `python -m connect_backend` holds once it has started: built from
a bare environment, as `uvicorn --factory` builds it, in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from connect_backend.app import YOUNG_COLLECTION_THRESHOLD
from tests.service.fakes import WORKER_KEY

START = """
import asyncio, gc, json, sys
from connect_backend.app import from_environment

async def main():
    app = from_environment()
    async with app.router.lifespan_context(app):
        app.openapi()

asyncio.run(main())
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "young": gc.get_threshold()[0],
    "loaded": sorted(m for m in sys.modules if m.startswith((
        "opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation",
        "redis",
    ))),
}))
"""


def started() -> dict[str, Any]:
    """What the started process reports (its last line: any log lines come before)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "REDIS_"))}
    env |= {
        "STRIPE_SECRET_KEY": "sk_test_service123",
        "STRIPE_WEBHOOK_SECRET": "whsec_test",
        "WORKER_BASE_URL": "http://worker.invalid",
        "WORKER_API_KEY": WORKER_KEY,
        "FRONTEND_URL": "http://frontend.invalid",
        "ENVIRONMENT": "development",
    }
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", START], capture_output=True, text=True, check=True, env=env
    )
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def test_without_a_collector_or_redis_their_libraries_are_never_loaded() -> None:
    """OpenTelemetry's tracing SDK, exporter and instrumentations cost ~20 MiB of every
    process's memory, redis-py ~8 MiB (it also loads the SDK's metrics package)."""
    assert started()["loaded"] == []


def test_what_start_up_built_is_frozen_out_of_the_garbage_collector_s_walks() -> None:
    """`gc.freeze` once the app is built: a full collection under load no longer walks the
    modules, classes and schemas (tens of thousands of objects) again."""
    assert started()["frozen"] > 50_000


def test_the_youngest_generation_is_collected_less_often_than_python_s_default() -> None:
    """Every 10,000 allocations, not 700: a request allocates thousands of objects, and each
    collection walks every object the requests in flight still hold (docs/benchmarks.md)."""
    assert started()["young"] == YOUNG_COLLECTION_THRESHOLD > 700
