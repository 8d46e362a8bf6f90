"""``/v1/account_links``, ``/v1/account_sessions`` and ``/v1/accounts/{account}/login_links``."""

from __future__ import annotations

from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def create_account_link(store: Store, call: Call) -> Json:
    return store.links.create_account_link(call.params, livemode=call.livemode)


def create_login_link(store: Store, call: Call) -> Json:
    return store.links.create_login_link(call.path_account(store))


def create_account_session(store: Store, call: Call) -> Json:
    return store.links.create_account_session(call.params, livemode=call.livemode)
