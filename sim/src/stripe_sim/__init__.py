"""stripe_sim: a Stripe Connect simulator — a TEST DOUBLE, not Stripe.

It answers the part of Stripe's API the Connect backend uses (accounts, account links,
login links, balance, transfers, payouts, events) in Stripe's wire format, keeps all state
in memory, delivers signed webhooks, and adds test helpers under ``/_sim/``. Use it in
tests, end-to-end runs and benchmarks; never point production at it.

    from stripe_sim import SimConfig, create_app
    app = create_app(SimConfig(public_url="http://127.0.0.1:12111"))

or ``python -m stripe_sim --port 12111 --webhook-url ... --webhook-secret whsec_...``.
"""

from stripe_sim.app import create_app
from stripe_sim.config import FaultRule, SimConfig, WebhookEndpointConfig
from stripe_sim.simulator import Simulator
from stripe_sim.webhooks import sign

__all__ = [
    "FaultRule",
    "SimConfig",
    "Simulator",
    "WebhookEndpointConfig",
    "create_app",
    "sign",
]
