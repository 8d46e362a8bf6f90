"""Fixtures: the service in process (ASGI, lifespan run), the fake Worker and fake Stripe."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from connect_backend.app import create_app
from connect_backend.settings import Settings
from tests.secrets_guard import COLLECTED
from tests.service.fakes import STRIPE_URL, WORKER_KEY, WORKER_URL, FakeStripe, FakeWorker

WEBHOOK_SECRET = "whsec_test_platform"
SECOND_WEBHOOK_SECRET = "whsec_test_connect"
FRONTEND = "https://app.example.com"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "stripe_secret_key": SecretStr("sk_test_service123"),
        "stripe_webhook_secret": SecretStr(f"{WEBHOOK_SECRET},{SECOND_WEBHOOK_SECRET}"),
        "stripe_api_base": STRIPE_URL,
        "worker_base_url": WORKER_URL,
        "worker_api_key": SecretStr(WORKER_KEY),
        "frontend_url": FRONTEND,
        "session_cache_ttl_seconds": 0,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture
def stripe() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def upstreams(worker: FakeWorker, stripe: FakeStripe) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        worker.install(mock)
        stripe.install(mock)
        yield mock


@pytest.fixture
async def client(
    settings: Settings, upstreams: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state)
            await app(scope, receive, send)

        async def remember_answer(response: httpx.Response) -> None:
            # For the session's secrets guard: no answer may hold a secret (tests/secrets_guard).
            await response.aread()
            headers = "".join(f"{k}: {v}\n" for k, v in response.headers.items())
            where = f"answer {response.request.method} {response.request.url.path}"
            COLLECTED.add(where, f"{response.status_code}\n{headers}\n{response.text}")

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://service",
            event_hooks={"response": [remember_answer]},
        ) as http:
            yield http


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
    from tests.service.fakes import stripe_account

    account_id = f"acct_{org_id.removeprefix('org_')}0000000000"
    stripe.accounts[account_id] = stripe_account(account_id, organization_id=org_id, state=state)
    stripe.balances[account_id] = {
        "available": [{"amount": available, "currency": currency, "source_types": {"card": 0}}],
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


@pytest.fixture
def fast_stripe_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """stripe-python's own retry back-off, shrunk so retried failures keep the suite fast."""
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(HTTPClient, "MAX_DELAY", 0.002)


@pytest.fixture(scope="session", autouse=True)
def _one_tls_context() -> Iterator[None]:
    """Build the default TLS context once: every app's clients would load the CA bundle again
    (~40 ms a test), though respx answers before any TLS is spoken."""
    import ssl

    import httpx._transports.default as transports

    original = transports.create_ssl_context
    shared: dict[bool, ssl.SSLContext] = {}

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is True and cert is None:
            if trust_env not in shared:
                shared[trust_env] = original(verify=True, cert=None, trust_env=trust_env)
            return shared[trust_env]
        return original(verify=verify, cert=cert, trust_env=trust_env)

    transports.create_ssl_context = create_ssl_context
    yield
    transports.create_ssl_context = original


@pytest.fixture(autouse=True)
def _quick_worker_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Worker client's back-off between attempts, shrunk: the attempts stay the same (tests
    count them) but a failing call no longer sleeps ~0.2 s. tests/unit keeps the real one."""
    from tenacity import wait_exponential_jitter

    import connect_backend.worker as worker_module

    monkeypatch.setattr(
        worker_module,
        "wait_exponential_jitter",
        lambda **_: wait_exponential_jitter(multiplier=0.001, max=0.002, jitter=0.001),
    )
