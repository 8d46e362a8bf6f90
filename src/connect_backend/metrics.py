"""The service's Prometheus metrics (prometheus-client), read at `GET /metrics`.

Every label is bounded: route templates (never a path with ids), methods, statuses, upstream
operations, a fixed list of event types, route groups. No organization, user, account or
request id is ever a label.

Several worker processes (`WEB_CONCURRENCY` > 1): `python -m connect_backend` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh folder before the workers start; each worker writes its
values there and a scrape, whichever worker answers it, sums them (prometheus-client's
multiprocess mode). The standard process metrics (`process_*`, `python_*`) are then left out
(each would be one worker's); `connect_workers` and `connect_worker_resident_memory_bytes` sum
the live workers. With one process, the registry is prometheus-client's default one, process
metrics included.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format, which every Prometheus reads (2.x too): the metric names are plain."""

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "connect_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "connect_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=_SECONDS,
)
UPSTREAM_CALLS = Counter(
    "connect_upstream_requests",
    "Calls to the Worker and to Stripe, by operation and outcome (ok, refused: a 4xx the "
    "caller sees; unavailable: unreachable, timed out or 5xx after retries; error: anything "
    "else).",
    ["upstream", "operation", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "connect_upstream_request_duration_seconds",
    "Time of a call to the Worker or to Stripe (retries included), by operation.",
    ["upstream", "operation"],
    buckets=_SECONDS,
)
WEBHOOKS = Counter(
    "connect_webhook_events",
    "Stripe deliveries, by event type and outcome (synced, deauthorized, reversed, ignored, "
    "logged, unlinked; refused: bad signature or body, 400; failed: 5xx, Stripe delivers again).",
    ["event_type", "outcome"],
)
STATUS_WRITES = Counter(
    "connect_status_writes",
    "Onboarding statuses to store in D1, by result (written; unchanged: D1 already held it, "
    "nothing sent; older_view: the Worker kept a newer view, e.g. a duplicate or late event).",
    ["result"],
)
RATE_LIMITED = Counter(
    "connect_rate_limited",
    "Requests refused by a per-user rate limit (429), by route group.",
    ["group"],
)
BUDGET_WAITS = Counter(
    "connect_stripe_budget_waits",
    "Stripe calls that waited for room in the platform's Stripe budget, by class.",
    ["kind"],
)
BUDGET_REFUSALS = Counter(
    "connect_stripe_budget_refusals",
    "Stripe calls the platform's Stripe budget refused (reads: 429; others: 503 after the "
    "wait), by class.",
    ["kind"],
)
SESSION_CACHE = Counter(
    "connect_session_cache_lookups",
    "Session checks looked up in the per-process cache, by result (hit, miss).",
    ["result"],
)
WORKERS = Gauge(
    "connect_workers",
    "Worker processes serving (summed over the live workers).",
    multiprocess_mode="livesum",
)
WORKER_MEMORY = Gauge(
    "connect_worker_resident_memory_bytes",
    "Resident memory of the worker processes (summed over the live workers; sampled every 10 s).",
    multiprocess_mode="livesum",
)

# Event types as labels: the ones the service acts on or logs by name; families by their
# prefix; any other type is "other" (a type is Stripe's text: never an unbounded label).
_EVENT_TYPES = frozenset(
    {
        "account.updated",
        "capability.updated",
        "account.application.deauthorized",
        "account.application.authorized",
        "payout.paid",
        "payout.failed",
        "payout.created",
        "payout.canceled",
        "payout.updated",
        "transfer.created",
        "transfer.reversed",
        "transfer.updated",
        "balance.available",
        "charge.refunded",
        "refund.created",
        "refund.updated",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    }
)
_EVENT_FAMILIES = ("account.external_account.", "person.")
_SAFE = re.compile(r"^[a-z_.]{1,64}$")


def event_type_label(event_type: str) -> str:
    """A Stripe event type as a bounded label."""
    if event_type in _EVENT_TYPES:
        return event_type
    for family in _EVENT_FAMILIES:
        if event_type.startswith(family) and _SAFE.match(event_type):
            return f"{family}*"
    return "other"


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """An HTTP method as a bounded label (a client may send any token as a method)."""
    return method if method in _METHODS else "other"


def multiprocess_mode() -> bool:
    """Whether this process writes its values for a multiprocess scrape."""
    return MULTIPROCESS_DIR in os.environ


def exposition() -> bytes:
    """Every metric in the Prometheus text format: summed over the workers in multiprocess
    mode, this process's own otherwise."""
    if not multiprocess_mode():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    return generate_latest(registry)


# Each request records a few series: their labelled children are looked up once and kept
# (prometheus-client's `labels()` costs more than the increment itself). The label values are
# bounded, so are these.
_requests: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_upstreams: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request: counted by route template, method and status, and timed."""
    key = (route, method, status)
    children = _requests.get(key)
    if children is None:
        children = (
            REQUESTS.labels(route, method, str(status)),
            REQUEST_SECONDS.labels(route, method),
        )
        _requests[key] = children
    children[0].inc()
    children[1].observe(seconds)


_webhooks: dict[tuple[str, str], Counter] = {}


def count_webhook(event_type: str, outcome: str) -> None:
    """One Stripe delivery, by its event type (as `event_type_label` bounds it) and outcome."""
    key = (event_type, outcome)
    child = _webhooks.get(key)
    if child is None:
        child = _webhooks[key] = WEBHOOKS.labels(event_type, outcome)
    child.inc()


_STATUS_WRITES = {
    result: STATUS_WRITES.labels(result) for result in ("written", "unchanged", "older_view")
}


def count_status_write(result: str) -> None:
    """One status to store: `written`, `unchanged` (nothing sent) or `older_view`."""
    _STATUS_WRITES[result].inc()


def observe_upstream(upstream: str, operation: str, outcome: str, seconds: float) -> None:
    """One call to the Worker or Stripe: counted by operation and outcome, and timed."""
    key = (upstream, operation, outcome)
    children = _upstreams.get(key)
    if children is None:
        children = (
            UPSTREAM_CALLS.labels(upstream, operation, outcome),
            UPSTREAM_SECONDS.labels(upstream, operation),
        )
        _upstreams[key] = children
    children[0].inc()
    children[1].observe(seconds)


@asynccontextmanager
async def worker_process() -> AsyncIterator[None]:
    """For a worker's lifespan: counted among the live workers, its memory sampled; in
    multiprocess mode its live values are removed when it stops."""
    WORKERS.set(1)
    sampler = asyncio.create_task(_sample_memory()) if multiprocess_mode() else None
    try:
        yield
    finally:
        if sampler is not None:
            sampler.cancel()
        if multiprocess_mode():
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _resident_bytes() -> int | None:
    """This process's resident memory (Linux's procfs: answered from memory, never waits on
    a disk); None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


async def _sample_memory(every: float = 10.0) -> None:
    while (resident := _resident_bytes()) is not None:
        WORKER_MEMORY.set(resident)
        await asyncio.sleep(every)
