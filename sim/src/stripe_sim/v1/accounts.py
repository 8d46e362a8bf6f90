"""``/v1/accounts``, their capabilities and ``/v1/account``."""

from __future__ import annotations

from stripe_sim import lists
from stripe_sim.errors import invalid_request
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def create_account(store: Store, call: Call) -> Json:
    record = store.accounts.create(call.params, livemode=call.livemode, origin=call.origin)
    return record.data


def list_accounts(store: Store, call: Call) -> Json:
    items = [
        record.data
        for record in store.accounts.values()
        if record.livemode == call.livemode and not record.deauthorized
    ]
    return lists.page(items, call.params, "/v1/accounts")


def retrieve_account(store: Store, call: Call) -> Json:
    return call.path_account(store).data


def retrieve_current_account(store: Store, call: Call) -> Json:
    if call.account is not None:
        return call.account.data
    return store.accounts.platforms[call.livemode].data


def update_account(store: Store, call: Call) -> Json:
    record = call.path_account(store)
    return store.accounts.update(record, call.params, origin=call.origin)


def list_capabilities(store: Store, call: Call) -> Json:
    record = call.path_account(store)
    data = [record.capability(name) for name in sorted(record.data["capabilities"])]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "url": f"/v1/accounts/{record.id}/capabilities",
    }


def retrieve_capability(store: Store, call: Call) -> Json:
    record = call.path_account(store)
    name = call.path_params["capability"]
    if name not in record.data["capabilities"]:
        raise invalid_request(
            f"No such capability: '{name}'", code="resource_missing", param="capability",
            status=404,
        )  # fmt: skip
    return record.capability(name)
