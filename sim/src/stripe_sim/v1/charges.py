"""``/v1/charges``: the platform's charges (made through ``/_sim/charges``), read only."""

from __future__ import annotations

from stripe_sim import lists
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def retrieve_charge(store: Store, call: Call) -> Json:
    return store.money.get_owned(
        store.payments.charges, "charge", call.path_params["id"], call.account, call.livemode
    ).data


def list_charges(store: Store, call: Call) -> Json:
    """Newest first; ``transfer_group`` filters."""
    charges = call.owned(store.payments.charges)
    if call.params.get("transfer_group") is not None:
        charges = [c for c in charges if c["transfer_group"] == call.params["transfer_group"]]
    return lists.page(charges, call.params, "/v1/charges")
