"""`python -m connect_backend reconcile --money`, in process over the fake Worker and the fake
Stripe: every charge's transfers checked against the refund policy (a mismatch printed, exit
1), open claims settled by reversal once a balance exists, never twice (issue 21)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from connect_backend.__main__ import main, run_money
from tests.secrets_guard import COLLECTED
from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, make_settings, on_the_wire, onboarded

SINCE = datetime(2020, 1, 1, tzinfo=UTC)


async def _money(
    worker: FakeWorker,
    stripe: FakeStripe,
    capsys: pytest.CaptureFixture[str],
    *,
    dry_run: bool = False,
) -> tuple[int, list[str]]:
    async with on_the_wire(make_settings(), stripe, worker) as settings:
        status = await run_money(settings, since=SINCE, dry_run=dry_run)
    out = capsys.readouterr().out
    COLLECTED.add("reconcile --money summary", out)
    return status, out.splitlines()


async def _charged_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, *, available: int
) -> tuple[str, str, str]:
    account_id = onboarded(worker, stripe, "org_a", available=available)
    charge_id = stripe.charge(1000)
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    r = await client.post(
        "/api/connect/transfer",
        json={
            "organization_id": "org_a",
            "amount": 1000,
            "currency": "usd",
            "source_transaction": charge_id,
        },
        headers=bearer(admin.token, **{"Idempotency-Key": f"t-{charge_id}"}),
    )
    assert r.status_code == 200, r.text
    return account_id, charge_id, r.json()["transfer_id"]


def _reversals(stripe: FakeStripe, transfer_id: str) -> list[dict[str, Any]]:
    transfer = next(t for t in stripe.transfers if t["id"] == transfer_id)
    found: list[dict[str, Any]] = transfer["reversals"]["data"]
    return found


async def test_money_that_came_back_as_the_policy_says_matches(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, charge_id, _ = await _charged_transfer(client, worker, stripe, available=10_000)
    for amount in (333, 333):
        refund = stripe.refund(charge_id, amount)
        await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))

    status, lines = await _money(worker, stripe, capsys)

    assert status == 0
    assert lines == [
        "money: 1 charges, 1 transfers checked, 0 mismatches; 0 claim settlements by reversal (0)"
    ]


async def test_a_refund_whose_event_never_came_is_a_mismatch_and_exit_1(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, charge_id, transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    stripe.refund(charge_id, 500)  # no event delivered

    status, lines = await _money(worker, stripe, capsys)

    assert status == 1
    assert lines[0] == (
        f"mismatch charge={charge_id} transfer={transfer_id} organization=org_a currency=usd "
        "charged=1000 refunded=500 disputed=0 earned=900 owed=450 reversed=0 claimed=0"
    )
    assert _reversals(stripe, transfer_id) == []  # reconcile reports; it takes nothing itself


async def test_a_dispute_after_a_refund_is_checked_as_one_more_refund(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refund of 5 takes back 5 of the 900 net (4.5, half up); a dispute of 5 more then takes
    owed(10) - owed(5) = 9 - 5 = 4, not the 5 it would take alone: the webhook and the check
    agree on it."""
    _, charge_id, transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    refund = stripe.refund(charge_id, 5)
    await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))
    dispute = stripe.dispute(charge_id)
    dispute["amount"] = 5
    await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(dispute)))

    status, lines = await _money(worker, stripe, capsys)

    by_cause = {r["metadata"]["cause"]: r["amount"] for r in _reversals(stripe, transfer_id)}
    assert by_cause == {"refund": 5, "dispute": 4}
    assert (status, lines[0]) == (
        0,
        "money: 1 charges, 1 transfers checked, 0 mismatches; 0 claim settlements by reversal (0)",
    )


async def test_a_won_dispute_whose_claim_a_transfer_settled_is_given_back_and_matches(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The dispute's 900 was claimed (nothing to reverse), the next transfer's net settled it,
    the dispute was won: the 900 sent back is what the claim collected, and the check agrees."""
    account_id, charge_id, _ = await _charged_transfer(client, worker, stripe, available=0)
    stripe.balances[account_id]["available"][0].update(amount=0, source_types={"card": 0})
    dispute = stripe.dispute(charge_id)
    await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(dispute)))
    admin = worker.people["tok_pat"]
    nxt = await client.post(
        "/api/connect/transfer",
        json={
            "organization_id": "org_a",
            "amount": 2000,
            "currency": "usd",
            "source_transaction": stripe.charge(2000),
        },
        headers=bearer(admin.token, **{"Idempotency-Key": "t-next"}),
    )
    assert nxt.json()["claims_settled"] == 900
    dispute["status"] = "won"
    await events.deliver(client, events.event("charge.dispute.closed", copy.deepcopy(dispute)))

    status, lines = await _money(worker, stripe, capsys)

    assert (status, lines) == (
        0,
        [
            "money: 2 charges, 2 transfers checked, 0 mismatches; "
            "0 claim settlements by reversal (0)"
        ],
    )


async def test_a_reversal_made_twice_is_a_mismatch(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, charge_id, transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    refund = stripe.refund(charge_id, 500)
    await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))
    doubled = copy.deepcopy(_reversals(stripe, transfer_id)[0]) | {"id": "trr_doubled"}
    _reversals(stripe, transfer_id).append(doubled)

    status, lines = await _money(worker, stripe, capsys)

    assert status == 1
    assert "owed=450 reversed=900" in lines[0]


async def test_an_open_claim_is_settled_by_reversal_once_a_balance_exists(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account_id, charge_id, transfer_id = await _charged_transfer(
        client, worker, stripe, available=0
    )
    refund = stripe.refund(charge_id, 1000)
    await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))
    [claim] = worker.claims.values()
    assert claim["amount"] == 900

    dry_status, _ = await _money(worker, stripe, capsys, dry_run=True)
    untouched = claim["settled"]
    stripe.balances[account_id]["available"][0].update(amount=600, source_types={"card": 600})
    status, lines = await _money(worker, stripe, capsys)
    stripe.balances[account_id]["available"][0].update(amount=5000, source_types={"card": 5000})
    again, _ = await _money(worker, stripe, capsys)
    final, _ = await _money(worker, stripe, capsys)

    assert (dry_status, untouched) == (0, 0)
    assert status == 0, lines
    assert lines[-1].endswith("1 claim settlements by reversal (600)")
    assert (again, final) == (0, 0)
    assert (claim["settled"], claim["amount"]) == (900, 900)
    by_claim = [r for r in _reversals(stripe, transfer_id) if r["metadata"]["cause"] == "claim"]
    assert sorted(r["amount"] for r in by_claim) == [300, 600]
    assert sorted(s["key"] for s in claim["settlements"]) == sorted(r["id"] for r in by_claim)


async def test_a_reversal_made_for_a_claim_but_not_recorded_is_recorded_not_repeated(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account_id, charge_id, transfer_id = await _charged_transfer(
        client, worker, stripe, available=0
    )
    refund = stripe.refund(charge_id, 1000)
    await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))
    [claim] = worker.claims.values()
    stripe.balances[account_id]["available"][0].update(amount=5000, source_types={"card": 5000})
    worker.fail_path(f"claims/{claim['id']}/settlements")
    crashed, _ = await _money(worker, stripe, capsys)  # reversed, then the record failed
    settled_then = claim["settled"]
    worker.heal(f"claims/{claim['id']}/settlements")
    stripe.replies.clear()  # and Stripe forgot the key

    status, _ = await _money(worker, stripe, capsys)

    assert (crashed, settled_then) == (1, 0)
    assert status == 0
    by_claim = [r for r in _reversals(stripe, transfer_id) if r["metadata"]["cause"] == "claim"]
    assert [r["amount"] for r in by_claim] == [900]
    assert [s["key"] for s in claim["settlements"]] == [by_claim[0]["id"]]


def test_the_command_line_refuses_a_date_it_cannot_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", "--money", "--since", "yesterday"])

    assert exited.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
