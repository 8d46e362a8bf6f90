"""``/v1/refunds``: refund a platform charge, retrieve and list refunds."""

from __future__ import annotations

from stripe_sim import lists
from stripe_sim.errors import resource_missing
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def create_refund(store: Store, call: Call) -> Json:
    if call.account is not None:  # charges live on the platform only
        raise resource_missing("charge", call.params["charge"], param="charge", status=400)
    return store.payments.create_refund(call.params, livemode=call.livemode, origin=call.origin)


def retrieve_refund(store: Store, call: Call) -> Json:
    return store.money.get_owned(
        store.payments.refunds, "refund", call.path_params["id"], call.account, call.livemode
    ).data


def list_refunds(store: Store, call: Call) -> Json:
    """Newest first; ``charge`` filters."""
    refunds = call.owned(store.payments.refunds)
    if call.params.get("charge") is not None:
        refunds = [r for r in refunds if r["charge"] == call.params["charge"]]
    return lists.page(refunds, call.params, "/v1/refunds")
