"""``/v1/transfers``: create, retrieve and list (``expand[]=destination``); their reversals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stripe_sim import lists
from stripe_sim.errors import parameter_invalid, resource_missing
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def create_transfer(store: Store, call: Call) -> Json:
    data = store.money.create_transfer(
        call.account, call.params, livemode=call.livemode, origin=call.origin
    )
    return _expand_transfer(store, data, call)


def retrieve_transfer(store: Store, call: Call) -> Json:
    transfer = store.money.get_owned(
        store.money.transfers, "transfer", call.path_params["id"], call.account, call.livemode
    )
    return _expand_transfer(store, transfer.data, call)


def list_transfers(store: Store, call: Call) -> Json:
    """Newest first; ``destination`` and ``transfer_group`` filter."""
    transfers = call.owned(store.money.transfers)
    for name in ("destination", "transfer_group"):
        if call.params.get(name) is not None:
            transfers = [t for t in transfers if t[name] == call.params[name]]
    return lists.page(transfers, call.params, "/v1/transfers")


def create_reversal(store: Store, call: Call) -> Json:
    return store.money.create_reversal(
        call.account,
        call.path_params["id"],
        call.params,
        livemode=call.livemode,
        origin=call.origin,
    )


def list_reversals(store: Store, call: Call) -> Json:
    """The transfer's reversals, newest first."""
    transfer = store.money.get_owned(
        store.money.transfers, "transfer", call.path_params["id"], call.account, call.livemode
    )
    reversals = [
        r.data for r in store.money.reversals.values() if r.data["transfer"] == transfer.data["id"]
    ]
    return lists.page(reversals, call.params, f"/v1/transfers/{transfer.data['id']}/reversals")


def retrieve_reversal(store: Store, call: Call) -> Json:
    transfer = store.money.get_owned(
        store.money.transfers, "transfer", call.path_params["id"], call.account, call.livemode
    )
    reversal_id = call.path_params["reversal"]
    found = store.money.reversals.get(reversal_id)
    if found is None or found.data["transfer"] != transfer.data["id"]:
        raise resource_missing("transfer_reversal", reversal_id, param="id")
    return found.data


def _expand_transfer(store: Store, data: Json, call: Call) -> Json:
    def destination(account_id: Any) -> Any:
        record = store.accounts.get(str(account_id))
        return record.data if record is not None else account_id

    return _expand(data, call.params.get("expand"), {"destination": destination})


def _expand(
    data: Json, wanted: list[str] | None, expandable: dict[str, Callable[[Any], Any]]
) -> Json:
    """Replace ids by objects for ``expand[]`` (only what the simulator can expand)."""
    if not wanted:
        return data
    out = dict(data)
    for path in wanted:
        field_name = path.removeprefix("data.")
        resolve = expandable.get(field_name)
        if resolve is None:
            raise parameter_invalid(f"This property cannot be expanded ({path}).", "expand")
        out[field_name] = resolve(out[field_name])
    return out
