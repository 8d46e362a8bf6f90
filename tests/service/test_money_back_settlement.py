"""Claims settled from the organization's next transfers, reversals that survive Stripe
forgetting their keys, won disputes that waive what they claimed, the history and the claims
routes, and a failed payout shown until a later one is paid (issue 21)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested, stripe_error
from tests.support.service import bearer, onboarded

TRANSFER = "/api/connect/transfer"


def _admin(worker: FakeWorker) -> Any:
    return worker.people.get("tok_pat") or worker.add_person("pat", role="admin")


async def _send(
    client: httpx.AsyncClient, worker: FakeWorker, *, key: str, amount: int = 1000, **body: Any
) -> httpx.Response:
    return await client.post(
        TRANSFER,
        json={"organization_id": "org_a", "amount": amount, "currency": "usd", **body},
        headers=bearer(_admin(worker).token, **{"Idempotency-Key": key}),
    )


def _claim(worker: FakeWorker, claim_id: str, amount: int, *, created: str) -> None:
    worker.claims[claim_id] = {
        "id": claim_id,
        "organization_id": "org_a",
        "amount": amount,
        "currency": "usd",
        "cause": "refund",
        "cause_id": f"re_{claim_id}",
        "transfer_id": "tr_earlier",
        "settled": 0,
        "created_at": created,
        "settlements": [],
    }


def _open(worker: FakeWorker) -> dict[str, int]:
    return {c["id"]: c["amount"] - c["settled"] for c in worker.claims.values()}


def _reversals(stripe: FakeStripe, transfer_id: str) -> list[dict[str, Any]]:
    transfer = next(t for t in stripe.transfers if t["id"] == transfer_id)
    found: list[dict[str, Any]] = transfer.get("reversals", {}).get("data", [])
    return found


# --- claims settled from the next transfers ------------------------------------------------


async def test_the_next_transfer_goes_out_net_of_open_claims_first_in_first_out(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_second", 500, created="2026-02-01T00:00:00.000Z")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")

    r = await _send(client, worker, key="t-1", amount=1000)  # net 900

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["transfer_amount"], body["claims_settled"]) == (100, 800)
    assert body["settled_claims"] == [
        {"claim_id": "clm_first", "amount": 300},
        {"claim_id": "clm_second", "amount": 500},
    ]
    [sent] = stripe.calls("POST", "/v1/transfers")
    params = form_to_nested(sent.content)
    assert (params["amount"], params["metadata"]["claims_settled"]) == ("100", "800")
    assert _open(worker) == {"clm_first": 0, "clm_second": 0}
    assert {s["kind"] for c in worker.claims.values() for s in c["settlements"]} == {"transfer"}


async def test_a_retried_transfer_settles_nothing_twice(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")

    first = await _send(client, worker, key="t-1")
    _claim(worker, "clm_later", 100, created="2026-03-01T00:00:00.000Z")
    again = await _send(client, worker, key="t-1")

    assert again.json() == first.json()
    assert len(stripe.calls("POST", "/v1/transfers")) == 1
    assert _open(worker) == {"clm_first": 0, "clm_later": 100}
    assert len(worker.claims["clm_first"]["settlements"]) == 1


async def test_a_net_that_claims_take_whole_sends_nothing_to_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_big", 5000, created="2026-01-01T00:00:00.000Z")

    r = await _send(client, worker, key="t-1")
    again = await _send(client, worker, key="t-1")

    assert r.status_code == 200, r.text
    assert (r.json()["transfer_id"], r.json()["transfer_amount"]) == (None, 0)
    assert r.json()["claims_settled"] == 900
    assert again.json() == r.json()
    assert stripe.calls("POST", "/v1/transfers") == []
    assert _open(worker) == {"clm_big": 4100}


async def test_a_transfer_stripe_refuses_leaves_the_claims_owed(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")
    stripe.fail(
        "POST",
        "/v1/transfers",
        lambda _: stripe_error(400, code="balance_insufficient", message="Platform is empty."),
    )

    refused = await _send(client, worker, key="t-1")
    stripe.overrides.clear()
    retried = await _send(client, worker, key="t-1")

    assert refused.status_code in (400, 402, 409), refused.text
    assert retried.status_code == 200, retried.text
    assert retried.json()["claims_settled"] == 300
    assert _open(worker) == {"clm_first": 0}
    assert len(worker.claims["clm_first"]["settlements"]) == 1


async def test_claims_settled_meanwhile_make_the_transfer_409_and_nothing_moves(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Another transfer (or reconcile) settled the claim between this one's decision and its
    settlement: nothing is sent, nothing stays settled, and the same key may be sent again."""
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")
    _claim(worker, "clm_second", 200, created="2026-02-01T00:00:00.000Z")
    real = worker._settle_claim  # the fake's own handler, wrapped

    def racing(claim_id: str, body: dict[str, Any]) -> httpx.Response:
        if claim_id == "clm_second" and not worker.claims["clm_second"]["settlements"]:
            # Someone else's transfer settles it first.
            real("clm_second", {"key": "transfer:org_a:other", "amount": 200, "kind": "transfer"})
        return real(claim_id, body)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker, "_settle_claim", racing)
        r = await _send(client, worker, key="t-1")

    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "claims_changed"
    assert stripe.calls("POST", "/v1/transfers") == []
    assert worker.claims["clm_first"]["settlements"] == []
    assert _open(worker)["clm_first"] == 300
    retried = await _send(client, worker, key="t-1")
    assert retried.status_code == 200, retried.text
    assert retried.json()["settled_claims"] == [{"claim_id": "clm_first", "amount": 300}]


# --- reversals that outlive Stripe's memory of their keys ----------------------------------


async def _charged_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, *, available: int
) -> tuple[str, str, str]:
    account_id = onboarded(worker, stripe, "org_a", available=available)
    charge_id = stripe.charge(1000)
    r = await _send(client, worker, key="t-charge", source_transaction=charge_id)
    assert r.status_code == 200, r.text
    return account_id, charge_id, r.json()["transfer_id"]


async def test_a_refund_redelivered_after_stripe_forgot_its_key_takes_nothing_twice(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _, charge_id, transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    refund = stripe.refund(charge_id, 500)
    delivery = events.event("refund.updated", copy.deepcopy(refund))

    await events.deliver(client, delivery)
    stripe.replies.clear()  # three days of retries outlive Stripe's 24 hours
    again = await events.deliver(client, delivery)

    assert again.status_code == 200, again.text
    assert [r["amount"] for r in _reversals(stripe, transfer_id)] == [450]


async def test_a_won_dispute_redelivered_after_stripe_forgot_its_key_pays_back_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _, charge_id, _transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    dispute = stripe.dispute(charge_id)
    await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(dispute)))
    dispute["status"] = "won"
    closed = events.event("charge.dispute.closed", copy.deepcopy(dispute))

    await events.deliver(client, closed)
    stripe.replies.clear()
    again = await events.deliver(client, closed)

    assert again.status_code == 200, again.text
    returned = [t for t in stripe.transfers if t["metadata"].get("cause") == "dispute_won"]
    assert [(t["amount"], t["metadata"]["cause_id"]) for t in returned] == [(900, dispute["id"])]


async def test_a_refund_larger_than_what_remains_reverses_the_rest_and_claims_the_difference(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The transfer went out net of a claim (800 of its 900 settled one): a full refund owes
    900, Stripe can reverse only the 100 sent, and the 800 left is claimed."""
    account_id = onboarded(worker, stripe, "org_a", available=10_000)
    _claim(worker, "clm_old", 800, created="2026-01-01T00:00:00.000Z")
    charge_id = stripe.charge(1000)
    made = await _send(client, worker, key="t-1", source_transaction=charge_id)
    transfer_id = made.json()["transfer_id"]
    refund = stripe.refund(charge_id, 1000)

    r = await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))
    again = await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))

    assert (r.status_code, again.status_code) == (200, 200)
    assert [x["amount"] for x in _reversals(stripe, transfer_id)] == [100]
    [claim] = [c for c in worker.claims.values() if c["transfer_id"] == transfer_id]
    assert (claim["amount"], claim["cause"], claim["cause_id"]) == (800, "refund", refund["id"])
    assert account_id


async def test_a_won_dispute_waives_what_its_claim_still_held(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id, charge_id, transfer_id = await _charged_transfer(
        client, worker, stripe, available=900
    )
    stripe.balances[account_id]["available"][0].update(amount=0, source_types={"card": 0})
    dispute = stripe.dispute(charge_id)
    await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(dispute)))
    [claim] = worker.claims.values()
    dispute["status"] = "won"

    r = await events.deliver(client, events.event("charge.dispute.closed", copy.deepcopy(dispute)))

    assert r.status_code == 200, r.text
    assert claim["settled"] == claim["amount"] == 900
    assert [s["kind"] for s in claim["settlements"]] == ["waived"]
    assert not [t for t in stripe.transfers if t["metadata"].get("cause") == "dispute_won"]
    assert _reversals(stripe, transfer_id) == []


@pytest.mark.parametrize(
    ("next_gross", "collected", "kinds"),
    [(1000, 900, ["transfer"]), (500, 450, ["transfer", "waived"])],
    ids=["settled-whole", "settled-in-part"],
)
async def test_a_won_dispute_sends_back_what_its_claim_already_collected(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    next_gross: int,
    collected: int,
    kinds: list[str],
) -> None:
    """The dispute's share was claimed (the balance was paid out) and the next transfer's net
    settled the claim (whole, or in part): once the dispute is won, what the claim still held
    is waived and what it collected is sent back, once, as a reversal's share would be."""
    account_id, charge_id, transfer_id = await _charged_transfer(
        client, worker, stripe, available=900
    )
    stripe.balances[account_id]["available"][0].update(amount=0, source_types={"card": 0})
    dispute = stripe.dispute(charge_id)
    await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(dispute)))
    [claim] = worker.claims.values()
    nxt = await _send(
        client, worker, key="t-next", amount=next_gross, source_transaction=stripe.charge(1000)
    )
    assert (nxt.json()["claims_settled"], nxt.json()["transfer_id"]) == (collected, None)
    dispute["status"] = "won"
    closed = events.event("charge.dispute.closed", copy.deepcopy(dispute))

    answers = [await events.deliver(client, closed) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    returned = [t for t in stripe.transfers if t["metadata"].get("cause") == "dispute_won"]
    assert [(t["amount"], t["destination"], t["metadata"]["returns_for"]) for t in returned] == [
        (collected, account_id, transfer_id)
    ]
    assert (claim["settled"], [s["kind"] for s in claim["settlements"]]) == (900, kinds)


@pytest.mark.parametrize("status", ["warning_needs_response", "warning_closed"])
async def test_an_inquiry_takes_nothing_back(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, status: str
) -> None:
    _, charge_id, transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    inquiry = stripe.dispute(charge_id, status=status)

    r = await events.deliver(client, events.event("charge.dispute.created", copy.deepcopy(inquiry)))

    assert r.status_code == 200
    assert _reversals(stripe, transfer_id) == []


@pytest.mark.parametrize("kind", ["transfer.reversed", "transfer.updated"])
async def test_transfer_events_are_acknowledged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, kind: str
) -> None:
    _, _, transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    transfer = next(t for t in stripe.transfers if t["id"] == transfer_id)

    r = await events.deliver(client, events.event(kind, copy.deepcopy(transfer)))

    assert (r.status_code, r.json()["action"]) == (200, "logged")


# --- seeing it -----------------------------------------------------------------------------


async def test_the_history_shows_each_reversal_and_the_net_after_them(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    _, charge_id, _transfer_id = await _charged_transfer(client, worker, stripe, available=10_000)
    refund = stripe.refund(charge_id, 500)
    await events.deliver(client, events.event("refund.updated", copy.deepcopy(refund)))
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/transfers/org_a", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    [item] = r.json()["data"]
    assert (item["net_amount"], item["amount_reversed"], item["net_after_reversals"]) == (
        900,
        450,
        450,
    )
    [reversal] = item["reversals"]
    assert (reversal["amount"], reversal["cause"], reversal["cause_id"]) == (
        450,
        "refund",
        refund["id"],
    )
    assert item["claims_settled"] == 0


async def test_an_organization_sees_its_claims_and_how_each_was_settled(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")
    _claim(worker, "clm_second", 2000, created="2026-02-01T00:00:00.000Z")
    await _send(client, worker, key="t-1")  # settles 300 + 600
    owner = worker.add_person("olive", org_a="owner")
    member = worker.add_person("mo", org_a="member")

    r = await client.get("/api/connect/claims/org_a", headers=bearer(owner.token))
    only_open = await client.get(
        "/api/connect/claims",
        params={"state": "open"},
        headers=bearer(owner.token, **{"X-Org-ID": "org_a"}),
    )
    refused = await client.get("/api/connect/claims/org_a", headers=bearer(member.token))

    assert r.status_code == 200, r.text
    body = r.json()
    assert [(c["claim_id"], c["open"]) for c in body["data"]] == [
        ("clm_first", 0),
        ("clm_second", 1400),
    ]
    assert [(s["kind"], s["amount"]) for s in body["data"][1]["settlements"]] == [("transfer", 600)]
    assert body["totals"] == [{"currency": "usd", "open": 1400}]
    assert [c["claim_id"] for c in only_open.json()["data"]] == ["clm_second"]
    assert refused.status_code == 403


async def test_platform_admins_see_every_open_claim_with_totals(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.get("/api/connect/open-claims", headers=bearer(_admin(worker).token))
    refused = await client.get("/api/connect/open-claims", headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert [c["claim_id"] for c in r.json()["data"]] == ["clm_first"]
    assert r.json()["totals"] == [{"currency": "usd", "open": 300}]
    assert refused.status_code == 403


# --- a payout that failed ------------------------------------------------------------------


def _payout(stripe: FakeStripe, account_id: str, *, status: str, created: int, code: str | None):
    payout = {
        "id": f"po_{status}_{created}",
        "object": "payout",
        "amount": 500,
        "currency": "usd",
        "status": status,
        "arrival_date": created + 86400,
        "created": created,
        "failure_code": code,
        "failure_message": "Stripe's own words, never shown" if code else None,
    }
    stripe.payouts.setdefault(account_id, []).insert(0, payout)
    return payout


async def _status(client: httpx.AsyncClient, worker: FakeWorker) -> dict[str, Any]:
    owner = worker.people.get("tok_olive") or worker.add_person("olive", org_a="owner")
    r = await client.get("/api/connect/status/org_a", headers=bearer(owner.token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_failed_payout_shows_until_a_later_one_is_paid(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    older_paid = _payout(stripe, account_id, status="paid", created=1_000, code=None)
    failed = _payout(stripe, account_id, status="failed", created=2_000, code="account_closed")
    later_paid = _payout(stripe, account_id, status="paid", created=3_000, code=None)

    def deliver(kind: str, payout: dict[str, Any]) -> Any:
        return events.deliver(client, events.event(kind, copy.deepcopy(payout), account=account_id))

    assert (await deliver("payout.failed", failed)).json()["action"] == "synced"
    shown = (await _status(client, worker))["payout_failure"]
    await deliver("payout.paid", older_paid)  # late, and older: the failure stands
    still = (await _status(client, worker))["payout_failure"]
    await deliver("payout.paid", later_paid)
    cleared = (await _status(client, worker))["payout_failure"]
    await deliver("payout.failed", failed)  # redelivered after the later one was paid
    stays_cleared = (await _status(client, worker))["payout_failure"]

    assert shown == {
        "payout_id": failed["id"],
        "failure_code": "account_closed",
        "message": "The bank account has been closed.",
        "payout_created": "1970-01-01T00:33:20Z",
    }
    assert still == shown
    assert cleared is None
    assert stays_cleared is None
    assert stripe.calls("POST", "/v1/payouts") == []  # nothing moves on its own


async def test_a_payout_event_stripe_does_not_know_changes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    ghost = {"id": "po_ghost", "object": "payout", "status": "failed", "failure_code": "x"}

    r = await events.deliver(client, events.event("payout.failed", ghost, account=account_id))

    assert (r.status_code, r.json()["action"]) == (200, "logged")
    assert (await _status(client, worker))["payout_failure"] is None
    assert worker.calls("payout-outcome") == []


async def test_a_manual_reversal_counts_what_is_already_claimed_on_the_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """400 of 900 was claimed (the balance was paid out): what remains to reverse is 500, not
    900, so confirming "all that remains" never claims the same money twice."""
    account_id = onboarded(worker, stripe, "org_a", available=900)
    made = (await _send(client, worker, key="t-1")).json()
    stripe.balances[account_id]["available"][0].update(amount=0, source_types={"card": 0})

    def reverse(key: str, **body: Any) -> Any:
        return client.post(
            f"/api/connect/transfers/{made['transfer_id']}/reversals",
            json=body,
            headers=bearer(_admin(worker).token, **{"Idempotency-Key": key}),
        )

    first = await reverse("rev-1", amount=400)
    too_much = await reverse("rev-2", amount=501)
    rest = await reverse("rev-3")

    assert (first.json()["claimed"], first.json()["remaining"]) == (400, 500)
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "reversal_exceeds_transfer"
    assert (rest.json()["amount"], rest.json()["claimed"], rest.json()["remaining"]) == (
        500,
        900,
        0,
    )
    assert sorted(c["amount"] for c in worker.claims.values()) == [400, 500]


async def test_the_longest_idempotency_key_still_settles_claims(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The settlements' key is the transfer's Stripe key, hashed where the caller's 255
    characters would make it longer than D1 and Stripe take."""
    onboarded(worker, stripe, "org_a")
    _claim(worker, "clm_first", 300, created="2026-01-01T00:00:00.000Z")

    r = await _send(client, worker, key="k" * 255)

    assert r.status_code == 200, r.text
    [settlement] = worker.claims["clm_first"]["settlements"]
    assert len(settlement["key"]) <= 255
    assert settlement["key"] == stripe.calls("POST", "/v1/transfers")[0].headers["idempotency-key"]
