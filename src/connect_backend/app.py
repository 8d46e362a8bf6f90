"""The FastAPI application: lifespan-built clients, routers, middleware and the error handler."""

from __future__ import annotations

import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connect_backend import log, outbound
from connect_backend.auth import SessionCache
from connect_backend.deps import State
from connect_backend.errors import ConnectError
from connect_backend.limits import RateLimiter, RouteGroup
from connect_backend.routes import connect, health, webhook
from connect_backend.settings import Settings
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.worker import WorkerClient

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_JSON_BODY = 64 * 1024
WEBHOOK_PATH = "/api/connect/webhook"  # Stripe's events: up to routes.webhook.MAX_BODY
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one error body: `{"error": {"code", "message", "request_id"[, "details"]}}`."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": log.request_id.get()}
    if details is not None:
        error["details"] = details
    return Response(
        orjson.dumps({"error": error}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class RequestContext:
    """Request id in and out, one JSON access-log line, and no 500 that leaks a trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict[bytes, bytes](scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _SANE_REQUEST_ID.match(sent) else uuid.uuid4().hex
        tokens = (
            log.request_id.set(request_id),
            log.organization_id.set(None),
            log.user_id.set(None),
        )
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the last line of defence: a bug is a 500 with no trace
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "request.crashed",
                error=type(exc).__name__,
                where=f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}",
            )
            await error_response(500, "internal_error", "Something went wrong on our side.")(
                scope, receive, send_with_id
            )
        finally:
            route = scope.get("route")
            log.info(
                "request.done",
                method=scope["method"],
                route=getattr(route, "path", scope["path"]),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            for var, token in zip(
                (log.request_id, log.organization_id, log.user_id), tokens, strict=True
            ):
                var.reset(token)


class _BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI passes its own HTTPException through to the handler."""

    def __init__(self, limit: int) -> None:
        size = (
            f"{limit // 1024 // 1024} MiB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KiB"
        )
        super().__init__(413, f"The body is larger than {size}.")


class BodyLimit:
    """413 `payload_too_large` for a body over `limit` bytes, before it is read in full.

    A `Content-Length` over the limit is refused without reading anything; a body without one
    (chunked) is counted as it arrives and refused as soon as it passes the limit. Paths in
    `per_path` have their own limit (the webhook's 1 MiB).
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.limit)
        declared = dict[bytes, bytes](scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, "payload_too_large", _BodyTooLarge(limit).detail)(
                scope, receive, send
            )
            return
        size = 0

        async def limited() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


def create_app(settings: Settings) -> FastAPI:
    """Build the service for `settings`; clients live as long as the lifespan."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with outbound.session() as http, outbound.httpx_client(http) as worker_http:
            yield State(
                settings=settings,
                worker=WorkerClient(
                    worker_http,
                    base_url=settings.worker_base_url,
                    api_key=settings.worker_api_key.get_secret_value(),
                    timeout=settings.worker_timeout_seconds,
                ),
                stripe=StripeGateway.connect(
                    api_key=settings.stripe_secret_key.get_secret_value(),
                    api_base=settings.stripe_api_base,
                    http=http,
                    account_type=settings.connect_account_type,
                    capabilities=settings.connect_capabilities,
                    timeout=settings.stripe_timeout_seconds,
                ),
                session_cache=SessionCache(ttl=settings.session_cache_ttl_seconds),
                rate_limiter=RateLimiter(
                    {
                        RouteGroup.ONBOARDING: settings.rate_limit_onboarding_per_minute,
                        RouteGroup.MONEY: settings.rate_limit_money_per_minute,
                    }
                ),
            )

    app = FastAPI(
        title="Connect backend",
        summary="Stripe Connect for the platform's organizations.",
        version=health.VERSION,
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(connect.router)
    app.include_router(webhook.router)

    @app.exception_handler(ConnectError)
    async def _connect_error(_: Request, exc: ConnectError) -> Response:
        return error_response(
            exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        # The offending value itself is not echoed: it may be a secret pasted in error.
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(422, "validation_error", "The request is invalid.", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    app.add_middleware(BodyLimit, limit=MAX_JSON_BODY, per_path={WEBHOOK_PATH: webhook.MAX_BODY})
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST", "PUT", "OPTIONS"],
        allow_headers=["Authorization", "X-User-ID", "X-Org-ID", "Idempotency-Key", "Content-Type"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(RequestContext)
    return app
