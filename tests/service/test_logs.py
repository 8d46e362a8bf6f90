"""Logs: JSON lines with the request's context, and never a secret or a webhook body."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import httpx

from connect_backend.log import ServerLineFormatter
from tests.service.fakes import WORKER_KEY, FakeStripe, FakeWorker, stripe_error
from tests.support.service import (
    SECOND_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    bearer,
    onboarded,
    signed,
)

STRIPE_KEY = "sk_test_service123"
BODY_MARKER = "do-not-log-this-webhook-body-7f3a"


def _webhook_body(event_type: str, obj: dict[str, Any], account: str | None = None) -> bytes:
    event: dict[str, Any] = {
        "id": f"evt_{event_type.replace('.', '_')}",
        "object": "event",
        "type": event_type,
        "livemode": False,
        "created": 1764150000,
        "data": {"object": obj},
    }
    if account:
        event["account"] = account
    return json.dumps(event).encode()


async def _representative_calls(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> list[str]:
    """Onboarding, a transfer, status, webhooks and failures; returns the tokens used."""
    account_id = onboarded(worker, stripe, "org_a")
    worker.add_org("org_b")
    owner = worker.add_person("olive", org_b="owner")
    admin = worker.add_person("pat", role="admin")

    await client.post(
        "/api/connect/onboard", json={"organization_id": "org_b"}, headers=bearer(owner.token)
    )
    await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd", "description": "x"},
        headers=bearer(admin.token, **{"Idempotency-Key": "log-test-1"}),
    )
    await client.get("/api/connect/status/org_a?refresh=true", headers=bearer(admin.token))
    await client.get("/api/connect/status/org_a", headers=bearer("tok_unknown_session_value"))
    for body in (
        _webhook_body(
            "account.updated",
            {"id": account_id, "object": "account", "business_profile": {"name": BODY_MARKER}},
            account_id,
        ),
        _webhook_body(
            "payout.paid",
            {
                "id": "po_1",
                "object": "payout",
                "amount": 500,
                "currency": "usd",
                "description": BODY_MARKER,
            },
            account_id,
        ),
    ):
        r = await client.post("/api/connect/webhook", content=body, headers=signed(body))
        assert r.status_code == 200, r.text
    bad = _webhook_body("payout.paid", {"id": "po_2", "description": BODY_MARKER})
    await client.post(
        "/api/connect/webhook",
        content=bad,
        headers=signed(bad, secret="whsec_not_ours"),
    )
    stripe.fail(
        "POST",
        r"/v1/transfers",
        lambda _: stripe_error(
            401, type_="authentication_error", message=f"Invalid API Key provided: {STRIPE_KEY}"
        ),
    )
    await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "log-test-2"}),
    )
    return [owner.token, admin.token, "tok_unknown_session_value"]


async def test_logs_hold_no_token_key_secret_or_webhook_body(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, log_lines: list[str]
) -> None:
    tokens = await _representative_calls(client, worker, stripe)

    assert log_lines
    secrets = [*tokens, STRIPE_KEY, WORKER_KEY, WEBHOOK_SECRET, SECOND_WEBHOOK_SECRET, BODY_MARKER]
    leaks = [(secret, line) for line in log_lines for secret in secrets if secret in line]
    assert leaks == []


async def test_every_log_line_is_a_json_object_with_an_event(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, log_lines: list[str]
) -> None:
    await _representative_calls(client, worker, stripe)

    records = [json.loads(line) for line in log_lines]
    assert all(isinstance(r, dict) and isinstance(r.get("event"), str) for r in records)
    assert all(r.get("request_id") for r in records)


async def test_each_request_logs_one_line_with_request_id_route_status_and_duration(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, log_lines: list[str]
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get(
        "/api/connect/status/org_a", headers=bearer(owner.token, **{"X-Request-ID": "log-req-1"})
    )

    done = [json.loads(line) for line in log_lines if '"request.done"' in line]
    assert len(done) == 1
    line = done[0]
    assert line["request_id"] == "log-req-1" == r.headers["X-Request-ID"]
    assert line["route"] == "/api/connect/status/{org_id}"  # the template, not the caller's path
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["duration_ms"] >= 0


async def test_request_lines_carry_the_organization_and_user(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, log_lines: list[str]
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")

    await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "k"}),
    )

    created = [json.loads(line) for line in log_lines if '"stripe.transfer.created"' in line]
    assert len(created) == 1
    assert (created[0]["organization_id"], created[0]["user_id"]) == ("org_a", "usr_pat")
    assert (created[0]["amount"], created[0]["fee"]) == (900, 100)


async def test_failed_requests_are_logged_with_their_status(
    client: httpx.AsyncClient, worker: FakeWorker, log_lines: list[str]
) -> None:
    worker.add_org("org_a")
    worker.fail_with = 503

    await client.get("/api/connect/status/org_a", headers=bearer("tok_whoever"))

    done = [json.loads(line) for line in log_lines if '"request.done"' in line]
    assert [d["status"] for d in done] == [503]
    assert any('"worker.unavailable"' in line for line in log_lines)


def test_uvicorn_s_own_lines_are_json_lines_scrubbed_like_the_service_s() -> None:
    """What `python -m connect_backend` gives uvicorn (`log.uvicorn_config`): its records, an
    error's traceback included, become one JSON line each (tests/e2e/test_processes.py runs it)."""
    formatter = ServerLineFormatter()
    try:
        raise RuntimeError(f"boom with {STRIPE_KEY}")
    except RuntimeError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception in %s", ("app",), sys.exc_info()
        )

    line = formatter.format(record)

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["event"] == "uvicorn.log"
    assert (parsed["level"], parsed["logger"], parsed["message"]) == (
        "error",
        "uvicorn.error",
        "Exception in app",
    )
    assert "RuntimeError" in parsed["exception"]
    assert STRIPE_KEY not in line
