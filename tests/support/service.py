"""The service in process, for tests/service, tests/unit and tests/fuzz: its settings
(`make_settings`), running it (`running`) and calling it (`http_client`, `stream`), the headers
of a call (`bearer`, `signed`), and an organization already onboarded at the fakes
(`onboarded`). The fixtures built on these are in tests/service/conftest.py."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import respx
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr

from connect_backend.app import create_app
from connect_backend.settings import Settings
from tests.secrets_guard import COLLECTED
from tests.service.fakes import STRIPE_URL, WORKER_KEY, WORKER_URL, FakeStripe, FakeWorker
from tests.support.stripe_account import stripe_account

WEBHOOK_SECRET = "whsec_test_platform"
SECOND_WEBHOOK_SECRET = "whsec_test_connect"
FRONTEND = "https://app.example.com"

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def make_settings(**overrides: Any) -> Settings:
    """The service's settings for tests: the fakes' URLs and keys, caches and the platform's
    Stripe budget out of the way; `overrides` on top."""
    values: dict[str, Any] = {
        "stripe_secret_key": SecretStr("sk_test_service123"),
        "stripe_webhook_secret": SecretStr(f"{WEBHOOK_SECRET},{SECOND_WEBHOOK_SECRET}"),
        "stripe_api_base": STRIPE_URL,
        "worker_base_url": WORKER_URL,
        "worker_api_key": SecretStr(WORKER_KEY),
        "frontend_url": FRONTEND,
        "session_cache_ttl_seconds": 0,
        "environment": "development",  # the tests' Worker key is short
        # The platform's Stripe budget is out of the way; tests of it set it themselves.
        "stripe_requests_per_second": 0,
        "web_concurrency": 1,  # one process: the whole budget is its own
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


class LogLines(logging.Handler):
    """A logging handler that keeps every message it is given, at every level."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def worker_on(router: respx.MockRouter) -> httpx.AsyncBaseTransport:
    """The Worker client's transport to the fake Worker installed on respx's `router` (the
    client sends through its transport, not an `httpx.AsyncClient` respx could patch)."""
    return httpx.MockTransport(router.async_handler)


@asynccontextmanager
async def running(
    settings: Settings,
    stripe: FakeStripe,
    *,
    worker: respx.MockRouter | None = None,
    traces: TracerProvider | None = None,
) -> AsyncIterator[ASGIApp]:
    """The service in process, its lifespan run, its Stripe calls reaching `stripe` on a
    loopback socket and its Worker calls respx's `worker` router (without one, the Worker at
    `settings.worker_base_url` on the wire); its traces, if any, go to `traces`."""
    async with stripe.serving() as stripe_url:
        app = create_app(
            settings.model_copy(update={"stripe_api_base": stripe_url}),
            traces=traces,
            worker_transport=worker_on(worker) if worker is not None else None,
        )
        async with app.router.lifespan_context(app) as state:

            async def with_state(scope: Any, receive: Any, send: Any) -> None:
                scope["state"] = dict(state)
                await app(scope, receive, send)

            yield with_state


@asynccontextmanager
async def on_the_wire(
    settings: Settings, stripe: FakeStripe, worker: FakeWorker
) -> AsyncIterator[Settings]:
    """`settings` naming `stripe` and `worker`, each served on a loopback socket: for the
    commands (`reconcile`), which build their clients as a replica does."""
    async with stripe.serving() as stripe_url, worker.serving() as worker_url:
        yield settings.model_copy(
            update={"stripe_api_base": stripe_url, "worker_base_url": worker_url}
        )


async def _remember_answer(response: httpx.Response) -> None:
    # For the session's secrets guard: no answer may hold a secret (tests/secrets_guard).
    await response.aread()
    headers = "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    where = f"answer {response.request.method} {response.request.url.path}"
    COLLECTED.add(where, f"{response.status_code}\n{headers}\n{response.text}")


def http_client(app: ASGIApp) -> httpx.AsyncClient:
    """An HTTP client of the service in process (`http://service/…`); answers are checked
    by the secrets guard."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://service",
        event_hooks={"response": [_remember_answer]},
    )


async def stream(
    service: ASGIApp, path: str, *, content: AsyncIterator[bytes], headers: dict[str, str]
) -> httpx.Response:
    """POST a streamed (chunked) body straight to the service's ASGI app.

    Not through `client`: respx sits in front of every httpx client and reads a request's
    body in full before routing it, which would hide how much of it the service read.
    """
    request = httpx.Request("POST", f"http://service{path}", content=content, headers=headers)
    response = await httpx.ASGITransport(app=service).handle_async_request(request)
    response.request = request
    await _remember_answer(response)
    return response


def bearer(token: str, **headers: str) -> dict[str, str]:
    """Headers for a call made with a session token."""
    return {"Authorization": f"Bearer {token}", **headers}


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    """A `Stripe-Signature` header for `body`, as Stripe computes it."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={mac}", "Content-Type": "application/json"}


def onboarded(
    worker: FakeWorker,
    stripe: FakeStripe,
    org_id: str,
    *,
    state: str = "active",
    available: int = 0,
    currency: str = "usd",
    **org: Any,
) -> str:
    """An organization whose Stripe account exists (in `state`) and is linked in D1."""
    account_id = f"acct_{org_id.removeprefix('org_')}0000000000"
    stripe.accounts[account_id] = stripe_account(account_id, organization_id=org_id, state=state)
    stripe.balances[account_id] = {
        "available": [
            {"amount": available, "currency": currency, "source_types": {"card": available}}
        ],
        "pending": [{"amount": 0, "currency": currency, "source_types": {"card": 0}}],
    }
    status = {"active": "active", "rejected": "disabled"}.get(state, "pending")
    step = {"active": "complete", "rejected": "rejected", "due": "action_required"}.get(
        state, "details_submission"
    )
    worker.add_org(
        org_id,
        **{
            "stripe_connect_account_id": account_id,
            "stripe_connect_status": status,
            "onboarding_step": step,
            **org,
        },
    )
    return account_id
