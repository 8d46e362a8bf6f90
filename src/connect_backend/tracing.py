"""OpenTelemetry traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (off otherwise: nothing is
instrumented, nothing costs).

OpenTelemetry's own instrumentations do the work: FastAPI's makes a server span per request;
aiohttp's, on the one outbound session (`outbound.py`), a client span per Worker and Stripe
call and the `traceparent` header that carries the trace to the Worker. Spans go to the
collector over OTLP/HTTP in batches (`OTEL_EXPORTER_OTLP_HEADERS` and the other standard
variables are read by the exporter). `RequestContext` adds the request id to the server span
(`connect.request_id`).

Nothing secret reaches a span: the instrumentations record methods, URLs (no query string the
service sends holds a secret) and statuses, never headers or bodies unless asked to, and they
are not asked to.

OpenTelemetry's SDK, exporter and instrumentations are imported by the functions that use
them, so a service without a collector never loads them (about 20 MiB of resident memory).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from connect_backend.settings import Settings

if TYPE_CHECKING:
    import aiohttp
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

SERVICE = "connect-backend"
UNTRACED = "/health,/ready,/metrics"
"""Probes and scrapes: frequent, and nothing to see in a trace."""


def provider(settings: Settings) -> TracerProvider | None:
    """A tracer provider exporting to the settings' OTLP endpoint, or None when there is none."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE
    traces = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    # The base URL, as the variable's specification has it: the traces go to /v1/traces.
    traces.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    return traces


def instrument(app: FastAPI, traces: TracerProvider) -> None:
    """A server span per request (but `UNTRACED`), without the ASGI send/receive spans."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=traces, excluded_urls=UNTRACED, exclude_spans=["receive", "send"]
    )


def outbound(traces: TracerProvider) -> aiohttp.TraceConfig:
    """For the outbound session: a client span per call, and `traceparent` sent with it."""
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return create_trace_config(tracer_provider=traces)
