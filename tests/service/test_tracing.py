"""Traces (OpenTelemetry), with the SDK's in-memory exporter standing in for the collector and
the fake Worker and Stripe on loopback sockets (the spans are the outbound session's own): a
refresh is one trace, a server span with a child span per Worker and Stripe call; the request
id is an attribute; the Worker receives the trace in `traceparent`; no secret in any span.
Without a collector nothing is traced."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from connect_backend.settings import Settings
from tests.secrets_guard import COLLECTED
from tests.service.fakes import WORKER_KEY, FakeStripe, FakeWorker
from tests.support.service import bearer, http_client, make_settings, onboarded, running


@pytest.fixture
async def on_loopback(worker: FakeWorker) -> AsyncIterator[Settings]:
    """Settings whose Worker is the fake Worker on a loopback socket (no respx)."""
    async with worker.serving() as worker_url:
        yield make_settings(worker_base_url=worker_url)


def _url(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


async def test_a_refresh_is_one_trace_with_a_span_per_worker_and_stripe_call(
    on_loopback: Settings, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(
        worker,
        stripe,
        "org_a",
        stripe_connect_status="pending",
        onboarding_step="details_submission",
    )
    owner = worker.add_person("olive", org_a="owner")
    exported = InMemorySpanExporter()
    traces = TracerProvider()
    traces.add_span_processor(SimpleSpanProcessor(exported))

    async with running(on_loopback, stripe, traces=traces) as app, http_client(app) as client:
        answer = await client.get(
            "/api/connect/status/org_a?refresh=true", headers=bearer(owner.token)
        )
        await client.get("/health")  # untraced

    assert answer.status_code == 200, answer.text
    spans = exported.get_finished_spans()
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "GET /api/connect/status/{org_id}"
    assert server.attributes is not None
    assert server.attributes["connect.request_id"] == answer.headers["X-Request-ID"]
    assert server.context is not None
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert {s.context.trace_id for s in calls if s.context} == {server.context.trace_id}
    assert {s.parent.span_id for s in calls if s.parent} == {server.context.span_id}
    urls = sorted(_url(s).split("://", 1)[1].split("/", 1)[1] for s in calls)
    assert urls == [
        "api/internal/update-organization",
        "api/internal/verify-user-context",
        "v1/accounts/acct_a0000000000",
    ]
    # The Worker received the trace, each call as the child span that made it.
    for request in worker.requests:
        [span] = [s for s in calls if _url(s).endswith(request.url.path)]
        context = span.context
        assert context is not None
        sent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        assert request.headers["traceparent"] == sent
    # Nothing secret in any span (the session's secrets guard reads them too).
    attributes = json.dumps([dict(s.attributes or {}) for s in spans], sort_keys=True)
    COLLECTED.add("exported spans", attributes)
    for secret in (owner.token, WORKER_KEY, on_loopback.stripe_secret_key.get_secret_value()):
        assert secret not in attributes


async def test_without_a_collector_nothing_is_traced(
    on_loopback: Settings, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    async with running(on_loopback, stripe) as app, http_client(app) as client:
        answer = await client.get(
            "/api/connect/status/org_a?refresh=true", headers=bearer(owner.token)
        )

    assert answer.status_code == 200, answer.text
    assert worker.requests
    assert not [r for r in worker.requests if "traceparent" in r.headers]
    assert not [r for r in stripe.requests if "traceparent" in r.headers]
