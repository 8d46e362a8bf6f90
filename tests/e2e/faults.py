"""Shared by the fault and chaos tests: a stack of their own with the Worker behind
devstack's fault proxy, and the means to break and heal the Worker and the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from devstack.faultproxy import FaultControl
from devstack.stack import BetterAuth, Member, Stack, StackConfig
from devstack.truth import signature

RESTRICTED_KEY = "rk_test_local_faults"


def fault_stack_config(
    state_dir: Path, *, sim_args: list[str] | None = None, replicas: int = 0, **service_env: str
) -> StackConfig:
    """A stack of its own (faults must not leak into other tests), the Worker behind the proxy.

    Per-user rate limits are off: these tests call the same routes as one user far more often
    than a person would, and what they test is what failures leave behind. The platform's
    Stripe budget stays on (test mode's 20 a second): storms meet it as production would.
    """
    return StackConfig(
        state_dir=state_dir,
        worker_faults=True,
        replicas=replicas,
        # A restricted key, as production may use: a case can take a permission away from it.
        stripe_secret_key=RESTRICTED_KEY,
        sim_args=sim_args or ["--webhook-retry-base", "0.2", "--webhook-max-attempts", "12"],
        service_env={
            "RATE_LIMIT_READS_PER_MINUTE": "0",
            "RATE_LIMIT_ONBOARDING_PER_MINUTE": "0",
            "RATE_LIMIT_MONEY_PER_MINUTE": "0",
            **service_env,
        },
    )


def make_platform_admin(stack: Stack, auth: BetterAuth) -> Member:
    admin = auth.sign_up("root@platform.test", "admin-password-123", "Root")
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'root@platform.test'")
    return admin


class Faults:
    """Break the Worker (through the proxy) and Stripe (the simulator's `/_sim/config`)."""

    def __init__(self, stack: Stack, sim: httpx.AsyncClient) -> None:
        self.worker = FaultControl(stack.config.worker_faults_url)
        self.sim = sim

    async def worker_rules(self, *rules: dict[str, Any], seed: int | None = None) -> None:
        body: dict[str, Any] = {"rules": list(rules)}
        if seed is not None:
            body["seed"] = seed
        await self.worker.set(**body)

    async def worker_down(self, down: bool = True) -> None:
        await self.worker.set(down=down)

    async def stripe(self, **config: Any) -> None:
        response = await self.sim.post("/_sim/config", json=config)
        assert response.status_code == 200, response.text

    async def heal(self) -> None:
        """No faults anywhere (the proxy's counters start again at zero); the key has every
        permission again."""
        await self.worker.reset()
        await self.stripe(faults=[], timeout_rate=0, latency_ms=0, restricted_keys={})

    async def deny(self, *calls: str) -> None:
        """Take permissions away from the service's restricted key (`"GET /v1/accounts/*"`)."""
        await self.stripe(restricted_keys={RESTRICTED_KEY: {"deny": list(calls)}})

    async def aclose(self) -> None:
        await self.worker.aclose()


def signed(body: bytes, secret: str) -> dict[str, str]:
    """The headers of a Stripe delivery of `body`, signed now."""
    return {"Stripe-Signature": signature(body, secret), "Content-Type": "application/json"}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The stable error body, with the request id, and never a 500."""
    assert response.status_code != 500, response.text
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]
