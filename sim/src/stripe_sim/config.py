"""The simulator's configuration: webhook endpoints, latency, faults, retry timing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stripe_sim.fault_triggers import FaultTrigger, check_rate, check_when


@dataclass
class WebhookEndpointConfig:
    """One webhook endpoint. ``connect=True``: receives events of connected accounts."""

    url: str
    secret: str
    connect: bool = False
    enabled_events: list[str] = field(default_factory=lambda: ["*"])
    thin: bool = False  # an event destination: thin v2 events only

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events


@dataclass(kw_only=True)
class FaultRule(FaultTrigger):
    """Answer matching ``/v1`` calls with ``status`` at probability ``rate``.

    ``when="before"``: the call is refused and changes nothing. ``when="after"``: the call
    runs (and its idempotent result is saved) but the caller gets the error, like a response
    lost on the way back. ``count`` limits how many times the rule fires. Matching and
    counting are :class:`~stripe_sim.fault_triggers.FaultTrigger`'s, shared with devstack's
    fault proxy.
    """

    path_prefix: str = "/v1"
    status: int = 500

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FaultRule:
        unknown = set(raw) - {"path_prefix", "method", "status", "rate", "count", "when"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        when = raw.get("when", "before")
        check_when(when)
        rate = float(raw.get("rate", 1.0))
        check_rate(rate)
        count = raw.get("count")
        return cls(
            path_prefix=str(raw.get("path_prefix", "/v1")),
            method=str(raw["method"]).upper() if raw.get("method") else None,
            status=int(raw.get("status", 500)),
            rate=rate,
            count=int(count) if count is not None else None,
            when=when,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path_prefix": self.path_prefix,
            "method": self.method,
            "status": self.status,
            "rate": self.rate,
            "count": self.count,
            "when": self.when,
        }


@dataclass
class SimConfig:
    """Everything ``create_app`` needs; the CLI builds one from flags and environment."""

    public_url: str = "http://127.0.0.1:12111"
    webhooks: list[WebhookEndpointConfig] = field(default_factory=list)
    # Accepted keys: None accepts any sk_/rk_ test or live key.
    api_keys: list[str] | None = None
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    faults: list[FaultRule] = field(default_factory=list)
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    seed: int | None = None
    # Webhook redelivery: attempt n waits base * 2**(n-1) seconds, at most max_delay.
    webhook_retry_base_s: float = 1.0
    webhook_retry_max_delay_s: float = 3600.0
    webhook_max_attempts: int = 8
    webhook_timeout_s: float = 10.0
    webhook_workers: int = 8
    max_events: int = 100_000
    max_idempotency_keys: int = 200_000
    max_delivery_log: int = 100_000
