"""``/v1/events``: the platform's events, or a connected account's with ``Stripe-Account``."""

from __future__ import annotations

from stripe_sim import lists
from stripe_sim.errors import invalid_request
from stripe_sim.store import Store
from stripe_sim.v1.call import Call, Json


def retrieve_event(store: Store, call: Call) -> Json:
    event_id = call.path_params["id"]
    for event in _visible_events(store, call):
        if event["id"] == event_id:
            return event
    raise invalid_request(
        f"No such event: '{event_id}'", code="resource_missing", param="id", status=404
    )


def list_events(store: Store, call: Call) -> Json:
    events = _visible_events(store, call)
    types = call.params.get("types") or []
    if call.params.get("type"):
        types = [*types, call.params["type"]]
    if types:
        events = [e for e in events if any(_type_matches(t, e["type"]) for t in types)]
    return lists.page(events, call.params, "/v1/events")


def _visible_events(store: Store, call: Call) -> list[Json]:
    return [
        event
        for event in store.events.values()
        if event.get("account") == call.owner
        and event["livemode"] == call.livemode
        and event["object"] == "event"  # thin v2 events are not v1's
    ]


def _type_matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type
