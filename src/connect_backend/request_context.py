"""The service's one middleware: a request id in and out, the body limit, one JSON access-log
line, and no 500 that leaks a trace. (CORS is Starlette's: `app.CORSForBrowsers`.)

FastAPI's own `max_body_size` is not used: for a declared `Content-Length` over the limit it
answers with a plain-text 413 of its own, outside the service's error body.
"""

from __future__ import annotations

import re
import secrets
import time
import traceback
from collections.abc import Mapping

from fastapi import HTTPException
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connect_backend import log, metrics
from connect_backend.errors import error_response

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PLAIN_LENGTH = re.compile(r"[0-9]{1,18}")
"""A `Content-Length` the service reads: ASCII digits only, at most 18 of them (10^18 bytes is
no body anyone sends; `int()` of a longer one may even raise). Anything else is 400
`invalid_content_length`, read as nothing."""


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI hands its own HTTPException to the error handler."""

    def __init__(self, limit: int) -> None:
        size = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit >> 10} KiB"
        super().__init__(413, f"The body is larger than {size}.")


class RequestContext:
    """Pure ASGI, around every request:

    - a request id (the caller's sane `X-Request-ID`, else a new one) in the logs' context
      and on the answer;
    - 400 `invalid_content_length` for a `Content-Length` that is not 1 to 18 ASCII digits;
    - 413 `payload_too_large` for a body over `max_body` bytes (`max_body_by_path` for the
      paths that have their own) before it is read in full: a `Content-Length` over it is
      refused without reading anything, a chunked body as soon as it passes it;
    - one `request.done` log line; an unexpected exception is a 500 with no trace.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_body_by_path: Mapping[str, int]) -> None:
        self.app = app
        self.max_body = max_body
        self.max_body_by_path = dict(max_body_by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = ""
        declared: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and not sent:
                sent = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")
        request_id = sent if _SANE_REQUEST_ID.match(sent) else secrets.token_hex(16)
        tokens = (
            log.request_id.set(request_id),
            log.organization_id.set(None),
            log.user_id.set(None),
        )
        # The request's server span, when traces are on (`tracing.py`); a no-op otherwise.
        trace.get_current_span().set_attribute("connect.request_id", request_id)
        id_header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status = 500
        limit = self.max_body_by_path.get(scope["path"], self.max_body)
        size = 0

        async def receive_limited() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            if declared is not None and not _PLAIN_LENGTH.fullmatch(declared):
                await error_response(
                    400,
                    "invalid_content_length",
                    "Content-Length must be the body's size in bytes, in decimal digits.",
                )(scope, receive, send_with_id)
            elif declared is not None and int(declared) > limit:
                too_large = BodyTooLarge(limit)
                await error_response(413, "payload_too_large", too_large.detail)(
                    scope, receive, send_with_id
                )
            else:
                await self.app(scope, receive_limited, send_with_id)
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
            seconds = time.perf_counter() - started
            # The route's template, never the path itself (ids): a bounded metric label.
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.observe_request(
                template, metrics.method_label(scope["method"]), status, seconds
            )
            log.info(
                "request.done",
                method=scope["method"],
                route=template if template != "unmatched" else scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            for var, token in zip(
                (log.request_id, log.organization_id, log.user_id), tokens, strict=True
            ):
                var.reset(token)
