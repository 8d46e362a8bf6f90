"""Webhook delivery: signed POSTs from background tasks, with Stripe-like redelivery.

Events on the platform go to platform endpoints; events on a connected account (those with
``event.account``) go to Connect endpoints, as Stripe routes them. Each delivery carries
``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">`` keyed with the
endpoint's ``whsec_`` secret. A non-2xx answer or a connection error schedules the next
attempt after ``base * 2**(attempt-1)`` seconds (at most ``max_delay``) until
``max_attempts`` is reached. Nothing here runs inside a request handler: ``on_event`` only
queues work for the worker tasks, which share one ``httpx.AsyncClient``.

Delivery can be switched off (``/_sim/config {"webhooks_enabled": false}``): events are
still recorded, every delivery held at that moment and every delivery of an event recorded
while off is dropped (logged as ``dropped``), and switching back on delivers only what
happens afterwards. A delivery already on the wire when delivery stops may still arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
import orjson

from stripe_sim import ids
from stripe_sim.config import SimConfig, WebhookEndpointConfig

log = logging.getLogger("stripe_sim.webhooks")
Json = dict[str, Any]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Stripe-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass
class Endpoint:
    """A webhook endpoint as the simulator keeps it."""

    id: str
    url: str
    secret: str
    connect: bool
    enabled_events: list[str] = field(default_factory=lambda: ["*"])
    thin: bool = False  # an event destination with thin payloads (v2 events only)

    def wants(self, event: Json) -> bool:
        if self.thin != (event.get("object") == "v2.core.event"):
            return False
        if not self.thin and self.connect != ("account" in event):
            return False
        return "*" in self.enabled_events or event["type"] in self.enabled_events

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "secret": self.secret,
            "application": "connect" if self.connect else None,
            "enabled_events": self.enabled_events,
            "thin": self.thin,
        }


@dataclass
class Attempt:
    """One line of the delivery log."""

    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float
    duration_ms: float
    outcome: Literal["delivered", "retry_scheduled", "abandoned", "dropped"]
    retry_after: str | None = None  # the endpoint's `Retry-After` header, when it sent one


@dataclass(eq=False)  # a job is itself: hashed by identity
class _Job:
    event: Json
    body: bytes
    endpoint: Endpoint
    attempt: int
    generation: int


class WebhookDispatcher:
    """Queues events per endpoint and delivers them from ``workers`` background tasks."""

    def __init__(self, config: SimConfig) -> None:
        self.retry_base = config.webhook_retry_base_s
        self.retry_max_delay = config.webhook_retry_max_delay_s
        self.max_attempts = max(1, config.webhook_max_attempts)
        self.timeout = config.webhook_timeout_s
        self.worker_count = max(1, config.webhook_workers)
        self.endpoints: dict[str, Endpoint] = {}
        for endpoint in config.webhooks:
            self.add_endpoint(endpoint)
        self.log: deque[Attempt] = deque(maxlen=config.max_delivery_log)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._timers: dict[asyncio.TimerHandle, _Job] = {}  # scheduled redeliveries
        self._in_flight: set[_Job] = set()
        self.enabled = True
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._owns_client = False
        self._settled = asyncio.Event()
        self._settled.set()
        self._generation = 0
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.pending = 0
        self.delivered = 0
        self.failed_attempts = 0
        self.abandoned = 0
        self.dropped = 0

    # ----------------------------------------------------------------- lifecycle

    async def start(self, client: httpx.AsyncClient | None = None) -> None:
        """Start the worker tasks (from the application's lifespan)."""
        if client is None:
            client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
            self._owns_client = True
        self._client = client
        self._workers = [
            asyncio.create_task(self._work(), name=f"stripe-sim-webhooks-{n}")
            for n in range(self.worker_count)
        ]

    async def stop(self) -> None:
        """Cancel the workers and pending redeliveries; close the client if it is ours."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._in_flight.clear()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._owns_client and self._client is not None:
            await self._client.aclose()
        self._client = None

    def reset(self) -> None:
        """Forget queued work, scheduled redeliveries, the log and the counters; deliver."""
        self._take_held()
        self.log.clear()
        self._reset_counts()
        self._settled.set()
        self.enabled = True

    def set_enabled(self, enabled: bool) -> None:
        """Switch delivery off or on. Off: every held delivery is dropped, and so is every
        delivery of an event recorded while off (the events themselves stay in the log of
        events). On: events from then on are delivered; nothing dropped comes back.
        """
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if not enabled:
            for job in self._take_held():
                self._drop(job.event, job.endpoint, job.attempt)
            self.pending = 0
            self._settled.set()

    def _take_held(self) -> list[_Job]:
        """Every delivery waiting, scheduled or on the wire; their results are ignored."""
        self._generation += 1
        held = list(self._in_flight)
        self._in_flight.clear()
        for timer, job in self._timers.items():
            timer.cancel()
            held.append(job)
        self._timers.clear()
        while not self._queue.empty():
            held.append(self._queue.get_nowait())
            self._queue.task_done()
        return held

    def _drop(self, event: Json, endpoint: Endpoint, attempt: int) -> None:
        self.dropped += 1
        event["pending_webhooks"] = max(0, event.get("pending_webhooks", 0) - 1)
        self.log.append(
            Attempt(
                event_id=event["id"],
                event_type=event["type"],
                endpoint_id=endpoint.id,
                url=endpoint.url,
                attempt=attempt,
                status=None,
                error="webhooks_disabled",
                at=time.time(),
                duration_ms=0.0,
                outcome="dropped",
            )
        )

    # ----------------------------------------------------------------- endpoints

    def add_endpoint(self, config: WebhookEndpointConfig) -> Endpoint:
        endpoint = Endpoint(
            id=ids.new_id("we"),
            url=config.url,
            secret=config.secret or f"whsec_{ids.random_chars(32)}",
            connect=config.connect,
            enabled_events=list(config.enabled_events),
            thin=config.thin,
        )
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def remove_endpoint(self, endpoint_id: str) -> bool:
        return self.endpoints.pop(endpoint_id, None) is not None

    # ----------------------------------------------------------------- events

    def on_event(self, event: Json) -> None:
        """Queue an event for every endpoint that wants it (never blocks, never sends)."""
        targets = [e for e in self.endpoints.values() if e.wants(event)]
        event["pending_webhooks"] = len(targets)
        if not targets:
            return
        if not self.enabled:
            for endpoint in targets:
                self._drop(event, endpoint, 0)
            return
        body = orjson.dumps(event, option=orjson.OPT_INDENT_2)
        for endpoint in targets:
            self._add_pending()
            self._queue.put_nowait(_Job(event, body, endpoint, 1, self._generation))

    def _add_pending(self) -> None:
        self.pending += 1
        self._settled.clear()

    def _settle_one(self, job: _Job) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.pending = 0
            self._settled.set()

    async def wait_settled(self, timeout: float) -> bool:
        """Wait until every queued delivery succeeded or was given up; False on timeout."""
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def counts(self) -> Json:
        return {
            "delivered": self.delivered,
            "failed_attempts": self.failed_attempts,
            "pending": self.pending,
            "abandoned": self.abandoned,
        }

    def entries(self, event_id: str | None = None) -> list[Json]:
        return [asdict(a) for a in self.log if event_id is None or a.event_id == event_id]

    # ----------------------------------------------------------------- delivery

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self._in_flight.add(job)
            try:
                await self._deliver(job)
            except Exception:  # a bug here must not kill the worker
                log.exception("webhook delivery crashed")
            finally:
                self._in_flight.discard(job)
                self._queue.task_done()

    async def _deliver(self, job: _Job) -> None:
        endpoint = job.endpoint
        if endpoint.id not in self.endpoints:  # removed meanwhile: give up quietly
            if job.generation == self._generation:
                self.abandoned += 1
                self._settle_one(job)
            return
        assert self._client is not None
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(endpoint.secret, timestamp, job.body),
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        retry_after: str | None = None
        try:
            response = await self._client.post(
                endpoint.url, content=job.body, headers=headers, timeout=self.timeout
            )
            status = response.status_code
            retry_after = response.headers.get("retry-after")
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        if job.generation != self._generation:
            return
        if status is not None and 200 <= status < 300:
            outcome: Literal["delivered", "retry_scheduled", "abandoned", "dropped"] = "delivered"
            self.delivered += 1
            job.event["pending_webhooks"] = max(0, job.event["pending_webhooks"] - 1)
            self._settle_one(job)
        else:
            self.failed_attempts += 1
            if job.attempt < self.max_attempts:
                outcome = "retry_scheduled"
                self._schedule_retry(job)
            else:
                outcome = "abandoned"
                self.abandoned += 1
                self._settle_one(job)
        self.log.append(
            Attempt(
                event_id=job.event["id"],
                event_type=job.event["type"],
                endpoint_id=endpoint.id,
                url=endpoint.url,
                attempt=job.attempt,
                status=status,
                error=error,
                at=time.time(),
                duration_ms=duration_ms,
                outcome=outcome,
                retry_after=retry_after,
            )
        )

    def _schedule_retry(self, job: _Job) -> None:
        delay = min(self.retry_base * 2 ** (job.attempt - 1), self.retry_max_delay)
        retry = _Job(job.event, job.body, job.endpoint, job.attempt + 1, job.generation)
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def requeue() -> None:
            if timer is not None:
                self._timers.pop(timer, None)
            if retry.generation == self._generation:
                self._queue.put_nowait(retry)

        timer = loop.call_later(delay, requeue)
        self._timers[timer] = retry
