"""Latency and fault injection for ``/v1`` calls, with a seedable random source."""

from __future__ import annotations

import random
from typing import Any

from stripe_sim.config import FaultRule, SimConfig


class Chaos:
    """The current latency and fault rules; changed at run time through ``/_sim/config``."""

    def __init__(self, config: SimConfig) -> None:
        self.configure_from(config)

    def configure_from(self, config: SimConfig) -> None:
        """Back to the start-up settings."""
        self.latency_ms = config.latency_ms
        self.latency_jitter_ms = config.latency_jitter_ms
        self.faults = [FaultRule(**rule.to_json()) for rule in config.faults]
        self.timeout_rate = config.timeout_rate
        self.timeout_seconds = config.timeout_seconds
        self.seed = config.seed
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not security

    FIELDS = frozenset(
        {"latency_ms", "latency_jitter_ms", "faults", "timeout_rate", "timeout_seconds", "seed"}
    )

    def update(self, raw: dict[str, Any]) -> None:
        """Apply a ``/_sim/config`` body; raises ValueError on a bad one (nothing changes)."""
        unknown = set(raw) - self.FIELDS
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        faults = self.faults
        if "faults" in raw:
            if not isinstance(raw["faults"], list):
                raise ValueError("faults must be a list")
            faults = [FaultRule.from_json(rule) for rule in raw["faults"]]
        numbers = {}
        for name in ("latency_ms", "latency_jitter_ms", "timeout_rate", "timeout_seconds"):
            if name in raw:
                value = float(raw[name])
                if value < 0 or (name == "timeout_rate" and value > 1):
                    raise ValueError(f"{name} out of range")
                numbers[name] = value
        self.faults = faults
        for name, value in numbers.items():
            setattr(self, name, value)
        if "seed" in raw:
            self.seed = None if raw["seed"] is None else int(raw["seed"])
            self.rng = random.Random(self.seed)  # noqa: S311

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "faults": [rule.to_json() for rule in self.faults],
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": self.timeout_seconds,
            "seed": self.seed,
        }

    def latency(self) -> float:
        """Seconds to wait before answering this call."""
        if not self.latency_ms and not self.latency_jitter_ms:
            return 0.0
        jitter = self.rng.uniform(0, self.latency_jitter_ms) if self.latency_jitter_ms else 0.0
        return (self.latency_ms + jitter) / 1000

    def fault(self, method: str, path: str, when: str) -> FaultRule | None:
        """The first matching rule that fires for this call, if any."""
        for rule in self.faults:
            if rule.when == when and rule.fires(method, path, self.rng):
                return rule
        return None

    def timeout(self) -> float:
        """Seconds to stall before answering (0: no stall)."""
        if self.timeout_rate and self.rng.random() < self.timeout_rate:
            return self.timeout_seconds
        return 0.0
