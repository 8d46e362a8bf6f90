"""``/v1/payouts``: create, retrieve and list."""

from __future__ import annotations

from stripe_sim import lists
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def create_payout(store: Store, call: Call) -> Json:
    return store.money.create_payout(
        call.account, call.params, livemode=call.livemode, origin=call.origin
    )


def retrieve_payout(store: Store, call: Call) -> Json:
    return store.money.get_owned(
        store.money.payouts, "payout", call.path_params["id"], call.account, call.livemode
    ).data


def list_payouts(store: Store, call: Call) -> Json:
    """Newest first; ``status``, ``destination`` and ``arrival_date`` filter."""
    payouts = call.owned(store.money.payouts)
    for name in ("status", "destination"):
        if call.params.get(name) is not None:
            payouts = [p for p in payouts if p[name] == call.params[name]]
    payouts = lists.in_range(payouts, "arrival_date", call.params.get("arrival_date"))
    return lists.page(payouts, call.params, "/v1/payouts")
