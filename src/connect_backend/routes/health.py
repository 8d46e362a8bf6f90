"""`/health` (liveness, no upstream calls) and `/ready` (the Worker answers with our key).

`/ready` also says whether Redis answers (with `REDIS_URL`), but does not fail for it: the
replicas share one Redis, so failing would take every replica out at once, while without it
reads and webhooks go on (`connect_backend.rate_limits`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from connect_backend.deps import ReadinessDep, StoreDep, WorkerDep
from connect_backend.domain import Readiness
from connect_backend.errors import ConnectError, UpstreamUnavailable
from connect_backend.openapi import responses
from connect_backend.schemas import Health, Ready
from connect_backend.state_store import StateStore
from connect_backend.worker import WorkerClient

router = APIRouter(tags=["health"])

try:
    VERSION = version("connect-backend")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    VERSION = "0.0.0"


@router.get("/health", response_model=Health, responses=responses())
async def health() -> Health:
    """Liveness: the process answers."""
    return Health(version=VERSION)


@router.get("/ready", response_model=Ready, responses=responses(503))
async def ready(worker: WorkerDep, store: StoreDep, readiness: ReadinessDep) -> Ready:
    """Readiness: the Worker's `/api/internal/health` answers within 2 s and accepts our key.
    With `REDIS_URL`, `checks.redis` says whether Redis answers (`ok` or `unavailable`),
    without failing readiness.

    Anyone may ask, so a check's outcome, ready or not, answers every call for
    `READY_REUSE_SECONDS` (1 s) after it ended, and the calls that come while it runs share
    it: the Worker and D1 see at most about one check a second from each process."""
    outcome = await readiness.get(lambda: _check(worker, store))
    if outcome.worker_failure is not None:
        raise UpstreamUnavailable(
            "Not ready: the worker dependency is failing.",
            code="not_ready",
            details=[{"dependency": "worker", "reason": outcome.worker_failure}],
        )
    return Ready(checks=outcome.checks)


async def _check(worker: WorkerClient, store: StateStore) -> Readiness:
    try:
        await worker.health(timeout=2.0)
    except ConnectError as exc:
        return Readiness(worker_failure=exc.code)
    checks = {"worker": "ok"}
    redis = await store.ping()
    if redis is not None:
        checks["redis"] = "ok" if redis else "unavailable"
    return Readiness(checks=checks)
