"""Payout events in several orders and what the organization must show after them: run against
the real Worker (tests/worker) and the service's fake (tests/unit), so both hold one rule
(worker/README.md, "Payout failures")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connect_backend.domain import PayoutFailure, PayoutOutcome
from connect_backend.worker import WorkerClient

T1 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
T3 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    payout_id: str
    outcome: PayoutOutcome
    created: datetime


def failed(payout_id: str, created: datetime) -> Event:
    return Event(payout_id, "failed", created)


def paid(payout_id: str, created: datetime) -> Event:
    return Event(payout_id, "paid", created)


SCENARIOS: list[tuple[str, list[Event], str | None]] = [
    ("a failure is shown", [failed("po_1", T1)], "po_1"),
    ("a later payout paid clears it", [failed("po_1", T1), paid("po_2", T2)], None),
    ("an older failure after a later paid", [paid("po_2", T2), failed("po_1", T1)], None),
    ("an older paid late keeps the newer failure", [failed("po_2", T2), paid("po_1", T1)], "po_2"),
    ("the failed payout's own paid, late", [failed("po_1", T1), paid("po_1", T1)], "po_1"),
    ("paid, then the same payout failed", [paid("po_1", T1), failed("po_1", T1)], "po_1"),
    ("the later failure wins, in order", [failed("po_1", T1), failed("po_2", T2)], "po_2"),
    ("the later failure wins, reversed", [failed("po_2", T2), failed("po_1", T1)], "po_2"),
    ("a tie of created: the larger payout id", [failed("po_b", T1), failed("po_a", T1)], "po_b"),
    ("a tie with another payout paid: the failure", [failed("po_1", T1), paid("po_2", T1)], "po_1"),
    ("a tie with another payout paid first", [paid("po_2", T1), failed("po_1", T1)], "po_1"),
    ("a new failure after a paid one", [paid("po_1", T1), failed("po_2", T2)], "po_2"),
    (
        "several in a jumble",
        [failed("po_3", T3), paid("po_2", T2), failed("po_1", T1), paid("po_0", T1)],
        "po_3",
    ),
]


async def run(
    client: WorkerClient, organization_id: str, events: list[Event]
) -> PayoutFailure | None:
    """Sends the events in order; what the organization shows after the last."""
    failure: PayoutFailure | None = None
    for event in events:
        organization = await client.record_payout_outcome(
            organization_id=organization_id,
            payout_id=event.payout_id,
            outcome=event.outcome,
            payout_created=event.created,
            failure_code="account_closed" if event.outcome == "failed" else None,
            failure_message=f"{event.payout_id} bounced" if event.outcome == "failed" else None,
        )
        failure = organization.payout_failure
    return failure
