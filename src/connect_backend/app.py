"""The FastAPI application: lifespan-built clients, routers, middleware and the error handler."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from connect_backend import log, metrics, runtime, tracing
from connect_backend.coalesce import RecentOutcome
from connect_backend.deps import Clients, State
from connect_backend.errors import install_handlers
from connect_backend.openapi import ConnectAPI
from connect_backend.rate_limits import RateLimiter, RouteGroup
from connect_backend.request_context import RequestContext
from connect_backend.routes import connect, health, webhook
from connect_backend.routes.metrics import router as metrics_router
from connect_backend.sessions import SessionCache
from connect_backend.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

YOUNG_COLLECTION_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (Python's default: 700).
A request allocates thousands of objects, nearly all freed by reference counting; at 700 the
collector ran several times a request, each time walking every object the requests in flight
still held. Cyclic garbage waits a little longer: a few MiB at most (docs/benchmarks.md)."""
MAX_JSON_BODY = 64 * 1024
"""Every route's body limit (413 `payload_too_large`), but the webhook's (`webhook.MAX_BODY`)."""


class CORSForBrowsers:
    """Starlette's `CORSMiddleware` on every path but those no browser calls (`not_for`: Stripe's
    deliveries). It wraps the `send` of every answer it sees, an `Origin` or not, to add
    `Vary: Origin`; the webhook, the busiest route at a fleet's scale, goes around it. A
    browser's preflight for the webhook is answered as any unknown method there is (405)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        not_for: frozenset[str],
        allow_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        expose_headers: Sequence[str],
        max_age: int,
    ) -> None:
        self.app = app
        self.not_for = not_for
        self.cors = CORSMiddleware(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            max_age=max_age,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.not_for:
            await self.app(scope, receive, send)
        else:
            await self.cors(scope, receive, send)


def from_environment() -> FastAPI:
    """The app for the settings in the environment: what each worker process of
    `python -m connect_backend` builds (`uvicorn … --factory`).

    What is built by then (the modules, their classes and schemas, the app) lives as long as
    the process, so it is frozen out of the cyclic garbage collector's sight (`gc.freeze`):
    otherwise every full collection walks all of it again, which under load cost about a
    tenth of the service's CPU and its slowest answers (docs/benchmarks.md)."""
    settings = Settings()
    log.configure(settings.log_level)
    app = create_app(settings)
    gc.collect()  # nothing that is already garbage is kept for ever
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)
    return app


def create_app(
    settings: Settings,
    *,
    traces: TracerProvider | None = None,
    worker_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the service for `settings`; clients (`runtime.clients`, the Worker's through
    `worker_transport` if given) live as long as the lifespan. Traces go to `traces`, else
    where the settings say (`tracing.provider`), if anywhere."""
    traces = traces or tracing.provider(settings)
    watched = [tracing.outbound(traces)] if traces is not None else []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with (
            metrics.worker_process(),
            runtime.clients(
                settings, trace_configs=watched, worker_transport=worker_transport
            ) as made,
        ):
            yield State(
                clients=Clients(settings=settings, worker=made.worker, stripe=made.stripe),
                settings=settings,
                worker=made.worker,
                stripe=made.stripe,
                session_cache=SessionCache(ttl=settings.session_cache_ttl_seconds),
                rate_limiter=RateLimiter(
                    {
                        RouteGroup.READS: settings.rate_limit_reads_per_minute,
                        RouteGroup.ONBOARDING: settings.rate_limit_onboarding_per_minute,
                        RouteGroup.MONEY: settings.rate_limit_money_per_minute,
                    },
                    storage=made.store.limits,
                ),
                store=made.store,
                # `/ready`'s last outcome, reused for a second: anyone may call it.
                readiness=RecentOutcome(settings.ready_reuse_seconds),
            )
        if traces is not None:
            traces.shutdown()  # the spans still batched are sent

    app = ConnectAPI(
        title="Connect backend",
        summary="Stripe Connect for the platform's organizations.",
        version=health.VERSION,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks stay off: otherwise every request asks
        # OpenTelemetry (and the environment) whether a provider is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Stripe's deliveries first: FastAPI tries each route in turn, and at a fleet's scale the
    # webhook is the busiest route (matched after the connect routes, it spent 6 % more CPU).
    routers = (webhook.router, health.router, connect.router, metrics_router)
    # The routers' routes join the app's own router as they are. FastAPI 0.165's
    # `include_router` would keep each router whole, behind a wrapper that the app's router
    # asks whether a path matches and that then matches it again to find the route: twice
    # the routing per request (docs/benchmarks.md, issue 24's fourth pass). It would add
    # nothing here: each router's prefix, tags and route class are already its routes'.
    app.router.routes.extend(r for router in routers for r in router.routes)
    routes = [r for r in app.routes if isinstance(r, APIRoute)]

    install_handlers(app)
    webhook_path = app.url_path_for(webhook.webhook.__name__)
    app.add_middleware(
        CORSForBrowsers,
        not_for=frozenset({webhook_path}),
        allow_origins=settings.allowed_origins,
        allow_methods=sorted({m for r in routes for m in r.methods or ()} | {"OPTIONS"}),
        allow_headers=["Authorization", "X-User-ID", "X-Org-ID", "Idempotency-Key", "Content-Type"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(
        RequestContext,
        max_body=MAX_JSON_BODY,
        max_body_by_path={webhook_path: webhook.MAX_BODY},
    )
    if traces is not None:
        tracing.instrument(app, traces)
    return app
