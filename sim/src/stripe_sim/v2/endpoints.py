"""The ``/v2`` routes the simulator implements (JSON bodies; ``include[n]`` in a GET's query)."""

from __future__ import annotations

from stripe_sim.param_specs import Anything
from stripe_sim.v1.call import Endpoint
from stripe_sim.v2 import accounts

V2_ENDPOINTS: list[Endpoint] = [
    Endpoint("/v2/core/accounts", "POST", Anything(), accounts.create_account),
    Endpoint("/v2/core/accounts/{id}", "GET", Anything(), accounts.retrieve_account),
    Endpoint("/v2/core/accounts/{id}/close", "POST", Anything(), accounts.close_account),
    Endpoint("/v2/core/account_links", "POST", Anything(), accounts.create_account_link),
]
