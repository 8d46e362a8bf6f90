"""The long-lived objects the lifespan builds, and the `Annotated` aliases routes declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypedDict

from fastapi import Depends, Request

from connect_backend.coalesce import RecentOutcome
from connect_backend.domain import Readiness
from connect_backend.rate_limits import RateLimiter
from connect_backend.sessions import SessionCache
from connect_backend.settings import Settings
from connect_backend.state_store import StateStore
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient


@dataclass(frozen=True, slots=True)
class Clients:
    """What a route acts with: built once in the lifespan, handed to a route only with its
    authorized context (`auth.Authorized`)."""

    settings: Settings
    worker: WorkerClient
    stripe: StripeGateway


class State(TypedDict):
    """What `lifespan` yields; Starlette exposes it as `request.state`."""

    clients: Clients
    settings: Settings
    worker: WorkerClient
    stripe: StripeGateway
    session_cache: SessionCache
    rate_limiter: RateLimiter
    store: StateStore
    readiness: RecentOutcome[Readiness]


# `async def`, though nothing is awaited: FastAPI runs a plain `def` dependency in a worker
# thread, which costs a thread hop (and GIL hand-offs) per dependency per request.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _worker(request: Request) -> WorkerClient:
    worker: WorkerClient = request.state.worker
    return worker


async def _store(request: Request) -> StateStore:
    state: StateStore = request.state.store
    return state


async def _readiness(request: Request) -> RecentOutcome[Readiness]:
    readiness: RecentOutcome[Readiness] = request.state.readiness
    return readiness


StoreDep = Annotated[StateStore, Depends(_store)]
ReadinessDep = Annotated[RecentOutcome[Readiness], Depends(_readiness)]
SettingsDep = Annotated[Settings, Depends(_settings)]
WorkerDep = Annotated[WorkerClient, Depends(_worker)]
