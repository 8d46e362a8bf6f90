"""``/v1/balance``: the platform's, or with ``Stripe-Account`` the connected account's."""

from __future__ import annotations

from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def retrieve_balance(store: Store, call: Call) -> Json:
    return store.money.balance(call.account, call.livemode)
