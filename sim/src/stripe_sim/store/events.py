"""The event log: every state change becomes an event, handed to the webhook dispatcher."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping

from stripe_sim import objects
from stripe_sim.store.records import AccountRecord, Clock, Json, Origin


class EventLog(Mapping[str, Json]):
    """Events by id, oldest first, at most ``max_events`` (the oldest are forgotten)."""

    def __init__(
        self, clock: Clock, *, on_event: Callable[[Json], None] | None, max_events: int
    ) -> None:
        self.clock = clock
        self.on_event = on_event
        self.max_events = max_events
        self._events: OrderedDict[str, Json] = OrderedDict()

    def __getitem__(self, event_id: str) -> Json:
        return self._events[event_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def reset(self) -> None:
        self._events.clear()

    def emit(
        self,
        event_type: str,
        obj: Json,
        *,
        livemode: bool,
        account_id: str | None,
        origin: Origin | None = None,
        previous: Json | None = None,
    ) -> Json:
        """Record an event with a snapshot of ``obj`` and hand it to the dispatcher."""
        origin = origin or Origin()
        event = objects.event(
            event_type=event_type,
            obj=copy.deepcopy(obj),
            created=self.clock.now(),
            livemode=livemode,
            account_id=account_id,
            previous_attributes=previous,
            request_id=origin.request_id,
            idempotency_key=origin.idempotency_key,
        )
        return self._record(event)

    def _record(self, event: Json) -> Json:
        """Keep the event (forgetting the oldest past ``max_events``) and dispatch it."""
        self._events[event["id"]] = event
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def account_changes(
        self, record: AccountRecord, before: Json, origin: Origin | None
    ) -> list[Json]:
        """``account.updated`` and one ``capability.updated`` per capability that changed."""
        previous = objects.diff(before, record.data)
        if not previous:
            return []
        emitted = [
            self.emit(
                "account.updated",
                record.data,
                livemode=record.livemode,
                account_id=record.id,
                origin=origin,
                previous=previous,
            )
        ]
        if record.v2 is not None:
            emitted.extend(self._thin_account_changes(record, before))
        old_caps: Json = before.get("capabilities", {})
        for name, status in record.data["capabilities"].items():
            if old_caps.get(name) != status:
                emitted.append(
                    self.emit(
                        "capability.updated",
                        record.capability(name),
                        livemode=record.livemode,
                        account_id=record.id,
                        origin=origin,
                        previous={"status": old_caps.get(name, "unrequested")},
                    )
                )
        return emitted

    def emit_thin(self, event_type: str, record: AccountRecord) -> Json:
        """Record a thin event about a v2 account and hand it to the dispatcher (only event
        destinations, ``thin`` endpoints, receive it)."""
        event = objects.thin_event(
            event_type=event_type,
            account_id=record.id,
            created=self.clock.now(),
            livemode=record.livemode,
        )
        return self._record(event)

    def _thin_account_changes(self, record: AccountRecord, before: Json) -> list[Json]:
        """A v2 account's change as its thin events: ``v2.core.account[requirements].updated``
        when its requirements changed, ``v2.core.account[configuration.recipient]
        .capability_status_updated`` when a capability or payouts did."""
        after = record.data
        emitted: list[Json] = []
        if before.get("requirements") != after["requirements"]:
            emitted.append(self.emit_thin("v2.core.account[requirements].updated", record))
        if (
            before.get("capabilities") != after["capabilities"]
            or before.get("payouts_enabled") != after["payouts_enabled"]
        ):
            emitted.append(
                self.emit_thin(
                    "v2.core.account[configuration.recipient].capability_status_updated", record
                )
            )
        return emitted
