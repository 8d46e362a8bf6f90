"""``/v1/disputes``: disputes on the platform's charges (opened and closed by ``/_sim``)."""

from __future__ import annotations

from stripe_sim import lists
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def retrieve_dispute(store: Store, call: Call) -> Json:
    return store.money.get_owned(
        store.payments.disputes, "dispute", call.path_params["id"], call.account, call.livemode
    ).data


def list_disputes(store: Store, call: Call) -> Json:
    """Newest first; ``charge`` filters."""
    disputes = call.owned(store.payments.disputes)
    if call.params.get("charge") is not None:
        disputes = [d for d in disputes if d["charge"] == call.params["charge"]]
    return lists.page(disputes, call.params, "/v1/disputes")
