"""The ``/v2`` routes the simulator implements (JSON bodies; ``include[n]`` in a GET's query).

Every one is refused while the platform may not use Accounts v2 (``/_sim/config``
``{"platform": {"accounts_v2": false}}``): :func:`enabled` answers v2's error envelope.
"""

from __future__ import annotations

import functools
from typing import Any

from stripe_sim.errors import StripeError
from stripe_sim.param_specs import Anything
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Endpoint, Handler
from stripe_sim.v2 import accounts

Json = dict[str, Any]


def feature_not_enabled() -> StripeError:
    """v2's error envelope for a platform that cannot use Accounts v2: ``error.type``
    ``feature_not_enabled``, which stripe-python's generated v2 errors read as
    ``FeatureNotEnabledError`` (its status does not decide the class; 400 here). Stripe's
    exact wording and code for this case are not documented: the simulator's. Refused
    before the call runs, so an idempotent retry is not answered from a saved result."""
    return StripeError(
        400,
        "Accounts v2 is not enabled for this platform. (simulator)",
        type="feature_not_enabled",
        replayable=False,
    )


def enabled(handler: Handler) -> Handler:
    """``handler``, refused while the platform may not use Accounts v2."""

    @functools.wraps(handler)
    def run(store: Store, call: Call) -> Json:
        if not store.accounts.approvals.accounts_v2:
            raise feature_not_enabled()
        return handler(store, call)

    return run


V2_ENDPOINTS: list[Endpoint] = [
    Endpoint("/v2/core/accounts", "POST", Anything(), enabled(accounts.create_account)),
    Endpoint("/v2/core/accounts/{id}", "GET", Anything(), enabled(accounts.retrieve_account)),
    Endpoint("/v2/core/accounts/{id}/close", "POST", Anything(), enabled(accounts.close_account)),
    Endpoint("/v2/core/account_links", "POST", Anything(), enabled(accounts.create_account_link)),
]
