"""When a fault rule fires: the calls it matches, how often, before or after the call.

One rule model for both fault injectors of the repository: the simulator's own faults
(``config.FaultRule``, fired by ``chaos.py``) and devstack's fault proxy in front of the
Worker (``devstack/faultproxy.py``'s ``Rule``). Each keeps its own actions: the simulator
answers a status with Stripe's error body; the proxy also adds latency, holds the request,
resets or closes the connection. It lives in the simulator's distribution because the
simulator may not import devstack (its wheel holds ``stripe_sim`` alone), while devstack, a
dev-only tool installed next to it, already imports the simulator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

When = Literal["before", "after"]


@dataclass(kw_only=True)
class FaultTrigger:
    """Calls whose method (None: any) and path prefix match; ``rate`` is a probability,
    ``count`` (None: no limit) bounds how often it fires; ``when``: before the call reaches
    its target (nothing happens), or after (its effect happens, the answer is lost)."""

    path_prefix: str = "/"
    method: str | None = None
    rate: float = 1.0
    count: int | None = None
    when: When = "before"

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return path.startswith(self.path_prefix)

    def fires(self, method: str, path: str, rng: random.Random) -> bool:
        """Whether the rule fires for this call; firing uses up one of its ``count``.

        The random draw happens only for a matching rule with count left and a rate below 1,
        so a seeded source gives the same faults for the same calls.
        """
        if not self.matches(method, path):
            return False
        if self.count is not None and self.count <= 0:
            return False
        if self.rate < 1 and rng.random() >= self.rate:
            return False
        if self.count is not None:
            self.count -= 1
        return True


def check_when(when: object) -> None:
    """ValueError unless ``when`` is ``before`` or ``after``."""
    if when not in ("before", "after"):
        raise ValueError("when must be 'before' or 'after'")


def check_rate(rate: float) -> None:
    """ValueError unless ``rate`` is a probability."""
    if not 0 <= rate <= 1:
        raise ValueError("rate must be within 0..1")
