"""Money comes back: a transfer reversed by hand, and by the refunds and disputes of the charge
it was made from — each reversal keyed, so duplicated, reordered and half-failed deliveries
converge on the same money."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error
from tests.support.service import bearer, make_settings, onboarded

TRANSFER = "/api/connect/transfer"


async def _transfer(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    *,
    key: str = "t-1",
    amount: int = 1000,
    **body: Any,
) -> dict[str, Any]:
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    r = await client.post(
        TRANSFER,
        json={"organization_id": "org_a", "amount": amount, "currency": "usd", **body},
        headers=bearer(admin.token, **{"Idempotency-Key": key}),
    )
    assert r.status_code == 200, r.text
    made: dict[str, Any] = r.json()
    return made


async def _reverse(
    client: httpx.AsyncClient, worker: FakeWorker, transfer_id: str, key: str, **body: Any
) -> httpx.Response:
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    return await client.post(
        f"/api/connect/transfers/{transfer_id}/reversals",
        json=body,
        headers=bearer(admin.token, **{"Idempotency-Key": key}),
    )


def _reversals(stripe: FakeStripe, transfer_id: str) -> list[dict[str, Any]]:
    transfer = next(t for t in stripe.transfers if t["id"] == transfer_id)
    found: list[dict[str, Any]] = transfer.get("reversals", {}).get("data", [])
    return found


def _funded(worker: FakeWorker, stripe: FakeStripe) -> str:
    return onboarded(worker, stripe, "org_a", available=100_000)


# --- a transfer is tied to its charge ------------------------------------------------------


async def test_a_transfer_named_by_its_charge_only_is_grouped_under_it(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)
    charge_id = stripe.charge(1000)

    await _transfer(client, worker, source_transaction=charge_id)

    [sent] = stripe.calls("POST", "/v1/transfers")
    params = form_to_nested(sent.content)
    assert (params["source_transaction"], params["transfer_group"]) == (charge_id, charge_id)
    assert params["metadata"]["gross_amount"] == "1000"
    assert params["metadata"]["fee_amount"] == "100"


# --- by hand -------------------------------------------------------------------------------


async def test_a_platform_admin_reverses_what_remains_of_a_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)

    r = await _reverse(client, worker, made["transfer_id"], "rev-1")

    assert r.status_code == 200, r.text
    assert r.json() | {"reversal_id": "x"} == {
        "reversal_id": "x",
        "claim_id": None,
        "transfer_id": made["transfer_id"],
        "organization_id": "org_a",
        "account_id": made["account_id"],
        "currency": "usd",
        "amount": 900,
        "transfer_amount": 900,
        "amount_reversed": 900,
        "claimed": 0,
        "remaining": 0,
    }
    [reversal] = _reversals(stripe, made["transfer_id"])
    assert reversal["metadata"] == {"cause": "manual", "cause_id": "rev-1"}


async def test_a_reversal_retried_with_its_key_is_made_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)

    first = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=300)
    again = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=300)
    other = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=200)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["reversal_id"] == first.json()["reversal_id"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert [r["amount"] for r in _reversals(stripe, made["transfer_id"])] == [300]


async def test_more_than_remains_is_409_and_nothing_moves(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)

    r = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=901)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "reversal_exceeds_transfer"
    assert stripe.calls("POST", r"/v1/transfers/.+/reversals") == []
    assert ("org_a", "reversal", "rev-1") not in worker.idempotency  # released


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10"])
async def test_an_amount_that_is_no_positive_integer_is_422(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, amount: object
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)

    r = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=amount)

    assert r.status_code == 422
    assert stripe.calls("POST", r"/v1/transfers/.+/reversals") == []


async def test_an_unknown_transfer_is_404(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)

    r = await _reverse(client, worker, "tr_nothing", "rev-1")

    assert r.status_code == 404
    assert r.json()["error"]["code"] == "transfer_not_found"


async def test_a_transfer_to_no_linked_organization_is_404(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)
    worker.organizations["org_a"]["stripe_connect_account_id"] = "acct_someone_else"

    r = await _reverse(client, worker, made["transfer_id"], "rev-1")

    assert r.status_code == 404
    assert stripe.calls("POST", r"/v1/transfers/.+/reversals") == []


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
async def test_only_platform_admins_reverse(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, role: str
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)
    someone = worker.add_person("olive", org_a=role)

    r = await client.post(
        f"/api/connect/transfers/{made['transfer_id']}/reversals",
        json={},
        headers=bearer(someone.token, **{"Idempotency-Key": "rev-1"}),
    )

    assert r.status_code == 403
    assert stripe.calls("POST", r"/v1/transfers/.+/reversals") == []


async def test_a_reversal_needs_an_idempotency_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _funded(worker, stripe)
    made = await _transfer(client, worker)
    admin = worker.people["tok_pat"]

    r = await client.post(
        f"/api/connect/transfers/{made['transfer_id']}/reversals",
        json={},
        headers=bearer(admin.token),
    )

    assert r.status_code == 422
    assert stripe.calls("POST", r"/v1/transfers/.+/reversals") == []


# --- refunds -------------------------------------------------------------------------------


def _refunded(stripe: FakeStripe, refund: dict[str, Any]) -> dict[str, Any]:
    return events.event("refund.updated", copy.deepcopy(refund))


async def _charge_with_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, amount: int = 1000
) -> tuple[str, str]:
    _funded(worker, stripe)
    charge_id = stripe.charge(amount)
    made = await _transfer(client, worker, amount=amount, source_transaction=charge_id)
    return charge_id, made["transfer_id"]


async def test_partial_refunds_reverse_their_shares_and_sum_to_the_net(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    answers = []
    for amount in (333, 333, 334):
        refund = stripe.refund(charge_id, amount)
        answers.append(await events.deliver(client, _refunded(stripe, refund)))

    assert [a.json()["action"] for a in answers] == ["reversed"] * 3
    made = sorted(_reversals(stripe, transfer_id), key=lambda r: r["id"])
    assert [r["amount"] for r in made] == [300, 299, 301]  # contract/clawback.json's steps
    assert sum(r["amount"] for r in made) == 900
    assert {r["metadata"]["cause"] for r in made} == {"refund"}


async def test_duplicated_and_reordered_refund_events_converge_on_the_same_money(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    refunds = [stripe.refund(charge_id, amount) for amount in (333, 333, 334)]
    deliveries = [_refunded(stripe, r) for r in refunds]
    charge_event = events.event("charge.refunded", copy.deepcopy(stripe.charges[charge_id]))

    for evt in [deliveries[2], charge_event, deliveries[0], deliveries[2], deliveries[1]]:
        r = await events.deliver(client, evt)
        assert r.status_code == 200, r.text

    made = _reversals(stripe, transfer_id)
    assert sorted(r["amount"] for r in made) == [299, 300, 301]
    assert {r["metadata"]["cause_id"] for r in made} == {r["id"] for r in refunds}


async def test_a_delivery_that_failed_half_way_is_finished_by_the_next(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    stripe.refund(charge_id, 500)
    second = stripe.refund(charge_id, 500)
    stripe.fail(
        "POST",
        rf"/v1/transfers/{transfer_id}/reversals",
        lambda _: stripe_error(500, type_="api_error", message="Stripe is down."),
    )

    failed = await events.deliver(client, _refunded(stripe, second))
    stripe.overrides.clear()
    again = await events.deliver(client, _refunded(stripe, second))

    assert failed.status_code >= 500  # Stripe delivers it again
    assert again.status_code == 200, again.text
    assert sorted(r["amount"] for r in _reversals(stripe, transfer_id)) == [450, 450]


async def test_a_refund_that_did_not_succeed_takes_nothing_back(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    failed = stripe.refund(charge_id, 500, status="failed")

    r = await events.deliver(client, events.event("refund.failed", copy.deepcopy(failed)))
    also = await events.deliver(client, _refunded(stripe, failed))

    assert (r.json()["action"], also.json()["action"]) == ("logged", "logged")
    assert _reversals(stripe, transfer_id) == []


async def test_a_refund_of_a_charge_with_no_transfers_is_acknowledged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id = stripe.charge(1000)
    refund = stripe.refund(charge_id, 1000)

    r = await events.deliver(client, _refunded(stripe, refund))

    assert r.status_code == 200
    assert r.json()["action"] == "logged"
    assert stripe.calls("POST", r"/v1/transfers/.+/reversals") == []


@pytest.mark.parametrize("settings", [make_settings(refund_fee_policy="platform_keeps_fee")])
async def test_when_the_platform_keeps_its_fee_the_refund_itself_comes_back(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    refund = stripe.refund(charge_id, 500)

    await events.deliver(client, _refunded(stripe, refund))

    assert [r["amount"] for r in _reversals(stripe, transfer_id)] == [500]


# --- disputes ------------------------------------------------------------------------------


async def test_a_dispute_takes_back_its_share_once_and_a_won_one_sends_it_back_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    dispute = stripe.dispute(charge_id)
    for type_ in ("charge.dispute.created", "charge.dispute.funds_withdrawn"):
        r = await events.deliver(client, events.event(type_, copy.deepcopy(dispute)))
        assert r.status_code == 200, r.text
    dispute["status"] = "won"
    closed = events.event("charge.dispute.closed", copy.deepcopy(dispute))
    for _ in range(2):
        assert (await events.deliver(client, closed)).status_code == 200

    [reversal] = _reversals(stripe, transfer_id)
    assert (reversal["amount"], reversal["metadata"]["cause"]) == (900, "dispute")
    returned = [t for t in stripe.transfers if t["metadata"].get("cause") == "dispute_won"]
    assert [(t["amount"], t["metadata"]["returns_for"]) for t in returned] == [(900, transfer_id)]


async def test_a_lost_dispute_keeps_what_it_took_and_nothing_more(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    dispute = stripe.dispute(charge_id)
    await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(dispute)))
    dispute["status"] = "lost"

    r = await events.deliver(client, events.event("charge.dispute.closed", copy.deepcopy(dispute)))

    assert r.status_code == 200
    assert [r["amount"] for r in _reversals(stripe, transfer_id)] == [900]
    assert not [t for t in stripe.transfers if t["metadata"].get("cause") == "dispute_won"]


async def test_a_won_dispute_whose_opening_arrives_last_takes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Events out of order: the dispute is re-read, and Stripe says it was won."""
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    dispute = stripe.dispute(charge_id, status="won")

    for type_ in ("charge.dispute.closed", "charge.dispute.created"):
        r = await events.deliver(client, events.event(type_, copy.deepcopy(dispute)))
        assert r.status_code == 200, r.text

    assert _reversals(stripe, transfer_id) == []
    assert json.dumps(stripe.transfers).count("dispute_won") == 0


# --- claims: what a balance could not cover ------------------------------------------------


def _paid_out(stripe: FakeStripe, account_id: str) -> None:
    """The organization paid its balance out: nothing is left to reverse against."""
    stripe.balances[account_id]["available"][0].update(amount=0, source_types={"card": 0})


async def test_a_reversal_the_balance_cannot_cover_becomes_a_claim_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = _funded(worker, stripe)
    made = await _transfer(client, worker)
    _paid_out(stripe, account_id)

    first = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=400)
    again = await _reverse(client, worker, made["transfer_id"], "rev-1", amount=400)

    assert first.status_code == 200, first.text
    assert (first.json()["reversal_id"], first.json()["amount"]) == (None, 400)
    assert again.json()["claim_id"] == first.json()["claim_id"]
    [claim] = worker.claims.values()
    assert (claim["amount"], claim["cause"], claim["transfer_id"]) == (
        400,
        "manual",
        made["transfer_id"],
    )
    assert _reversals(stripe, made["transfer_id"]) == []


async def test_a_refund_the_balance_cannot_cover_is_claimed_and_never_also_reversed(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    account_id = worker.organizations["org_a"]["stripe_connect_account_id"]
    _paid_out(stripe, account_id)
    refund = stripe.refund(charge_id, 1000)

    refused = await events.deliver(client, _refunded(stripe, refund))
    stripe.balances[account_id]["available"][0].update(amount=5000, source_types={"card": 5000})
    stripe.replies.clear()  # Stripe forgot the refused key: a reversal could now go through
    redelivered = await events.deliver(client, _refunded(stripe, refund))

    assert (refused.status_code, redelivered.status_code) == (200, 200)
    claims = list(worker.claims.values())
    assert [(c["amount"], c["cause"], c["cause_id"]) for c in claims] == [
        (900, "refund", refund["id"])
    ]
    assert _reversals(stripe, transfer_id) == []


async def test_a_reversal_whose_answer_was_lost_is_finished_by_the_retry(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Stripe made the reversal, but the key's record never learnt it: the retry sends the
    same request with the same Stripe key (Stripe replays it), not a refusal for the
    reversal the first attempt made."""
    _funded(worker, stripe)
    made = await _transfer(client, worker)
    worker.fail_path("idempotency-keys/complete")
    lost = await _reverse(client, worker, made["transfer_id"], "rev-1")
    worker.heal("idempotency-keys/complete")

    retried = await _reverse(client, worker, made["transfer_id"], "rev-1")

    assert lost.status_code == 503
    assert retried.status_code == 200, retried.text
    assert (retried.json()["amount"], retried.json()["remaining"]) == (900, 0)
    assert [r["amount"] for r in _reversals(stripe, made["transfer_id"])] == [900]


async def test_a_claim_held_on_a_later_page_still_stands_instead_of_a_reversal(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Many earlier claims of the organization's: the one for this refund and transfer is
    found on the claims list's second page, and no reversal is made beside it."""
    charge_id, transfer_id = await _charge_with_transfer(client, worker, stripe)
    for n in range(200):
        worker.claims[f"clm_old{n:03d}"] = {
            "id": f"clm_old{n:03d}",
            "organization_id": "org_a",
            "amount": 1,
            "currency": "usd",
            "cause": "manual",
            "cause_id": f"old-{n}",
            "transfer_id": "tr_elsewhere",
            "settled": 0,
            "created_at": "2026-01-01T00:00:00.000Z",
            "settlements": [],
        }
    account_id = worker.organizations["org_a"]["stripe_connect_account_id"]
    _paid_out(stripe, account_id)
    refund = stripe.refund(charge_id, 1000)
    await events.deliver(client, _refunded(stripe, refund))  # claimed: the balance is empty
    stripe.balances[account_id]["available"][0].update(amount=5000, source_types={"card": 5000})
    stripe.replies.clear()

    again = await events.deliver(client, _refunded(stripe, refund))

    assert again.status_code == 200, again.text
    assert _reversals(stripe, transfer_id) == []
    assert len(worker.claims) == 201
