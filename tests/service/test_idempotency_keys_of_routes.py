"""The money paths and onboarding, retried and raced: money moves once, one account is linked.

Races are forced, not hoped for: a `Gate` on a Worker path holds every racer there until all
have arrived, so each of them has done the steps before it (read D1, called Stripe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker, Gate, form_to_nested, stripe_error
from tests.support.service import bearer, onboarded

TRANSFER = "/api/connect/transfer"
PAYOUT = "/api/connect/payout"
ONBOARD = "/api/connect/onboard"


def created(stripe: FakeStripe, kind: str) -> list[str]:
    """Ids of the objects of `kind` that Stripe created (an idempotent replay creates none;
    an update of one, such as the account's email, answers with the same id)."""
    ids = [
        reply["body"]["id"]
        for reply in stripe.replies.values()
        if reply["status"] == 200 and reply["body"].get("object") == kind
    ]
    return list(dict.fromkeys(ids))


def keys_sent(stripe: FakeStripe, method: str, path: str) -> list[str]:
    return [r.headers["Idempotency-Key"] for r in stripe.calls(method, path)]


async def transfer(
    client: httpx.AsyncClient, worker: FakeWorker, key: str, org_id: str = "org_a"
) -> httpx.Response:
    admin = worker.people.get("tok_pat") or worker.add_person("pat", role="admin")
    return await client.post(
        TRANSFER,
        json={"organization_id": org_id, "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": key}),
    )


async def payout(
    client: httpx.AsyncClient, worker: FakeWorker, key: str, **body: Any
) -> httpx.Response:
    owner = worker.people.get("tok_olive") or worker.add_person("olive", org_a="owner")
    return await client.post(
        PAYOUT,
        json={"organization_id": "org_a", "currency": "usd", **body},
        headers=bearer(owner.token, **{"Idempotency-Key": key}),
    )


async def onboard(
    client: httpx.AsyncClient, token: str, *, country: str | None = None
) -> httpx.Response:
    body = {"organization_id": "org_a", **({"country": country} if country else {})}
    return await client.post(ONBOARD, json=body, headers=bearer(token))


# --- transfers ----------------------------------------------------------------------------


async def test_same_transfer_key_twice_in_a_row_moves_money_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")

    first = await transfer(client, worker, "order-42")
    retry = await transfer(client, worker, "order-42")

    assert (first.status_code, retry.status_code) == (200, 200), retry.text
    assert retry.json()["transfer_id"] == first.json()["transfer_id"]
    # The retry found the first transfer by its key's record in D1, without asking Stripe.
    assert keys_sent(stripe, "POST", "/v1/transfers") == ["transfer:org_a:order-42"]
    assert stripe.calls("GET", "/v1/transfers") == []
    assert len(worker.calls("idempotency-keys/claim")) == 2
    assert created(stripe, "transfer") == [first.json()["transfer_id"]]
    [sent] = {form_to_nested(r.content)["destination"] for r in stripe.calls("POST", "/v1/.+")}
    assert sent == account_id


async def test_same_transfer_key_twice_at_once_moves_money_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    worker.add_person("pat", role="admin")
    worker.gates["verify-user-context"] = Gate(parties=2)  # both pass auth before either pays

    answers = await asyncio.gather(
        transfer(client, worker, "order-42"), transfer(client, worker, "order-42")
    )

    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    [transfer_id] = {a.json()["transfer_id"] for a in answers}
    assert keys_sent(stripe, "POST", "/v1/transfers") == ["transfer:org_a:order-42"] * 2
    assert created(stripe, "transfer") == [transfer_id]


async def test_another_transfer_key_is_another_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")

    first = await transfer(client, worker, "order-42")
    second = await transfer(client, worker, "order-43")

    assert second.status_code == 200, second.text
    assert second.json()["transfer_id"] != first.json()["transfer_id"]
    assert sorted(created(stripe, "transfer")) == sorted(
        [first.json()["transfer_id"], second.json()["transfer_id"]]
    )


async def test_same_transfer_key_for_two_organizations_is_two_stripe_keys(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    onboarded(worker, stripe, "org_b")

    first = await transfer(client, worker, "batch-1", "org_a")
    second = await transfer(client, worker, "batch-1", "org_b")

    assert second.status_code == 200, second.text
    assert second.json()["transfer_id"] != first.json()["transfer_id"]
    assert keys_sent(stripe, "POST", "/v1/transfers") == [
        "transfer:org_a:batch-1",
        "transfer:org_b:batch-1",
    ]
    assert len(created(stripe, "transfer")) == 2


async def test_a_key_beyond_ascii_is_hashed_into_one_stripe_key_and_moves_money_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")
    headers = {"Authorization": f"Bearer {admin.token}", "Idempotency-Key": "clé-1".encode()}
    body = {"organization_id": "org_a", "amount": 1000, "currency": "usd"}

    first = await client.post(TRANSFER, json=body, headers=headers)
    again = await client.post(TRANSFER, json=body, headers=headers)

    assert first.status_code == 200, first.text  # it was a 503 "Stripe cannot be reached"
    assert again.json()["transfer_id"] == first.json()["transfer_id"]
    sent = keys_sent(stripe, "POST", "/v1/transfers")
    assert len(set(sent)) == 1
    assert sent[0].isascii()
    assert sent[0].startswith("transfer:")
    assert len(created(stripe, "transfer")) == 1


async def test_a_payout_key_beyond_ascii_pays_out_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    owner = worker.add_person("olive", org_a="owner")
    headers = {"Authorization": f"Bearer {owner.token}", "Idempotency-Key": "paie-été".encode()}
    body = {"organization_id": "org_a", "currency": "usd", "amount": 1000}

    answers = [await client.post(PAYOUT, json=body, headers=headers) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[0].json() == answers[1].json()
    assert len(created(stripe, "payout")) == 1


def answers_lost(stripe: FakeStripe, times: int) -> Callable[[httpx.Request], httpx.Response]:
    """Stripe does the work of the next `times` POSTs, but their answers never arrive."""
    left = [times]

    def lose(request: httpx.Request) -> httpx.Response:
        overrides = list(stripe.overrides)
        stripe.overrides.clear()
        try:
            stripe._handle(request)
        finally:
            stripe.requests.pop()  # already recorded by the call that reached this override
            stripe.overrides[:] = overrides
        left[0] -= 1
        if left[0] == 0:
            stripe.overrides.clear()
        raise httpx.ReadTimeout("the answer was lost", request=request)

    return lose


@pytest.mark.usefixtures("fast_stripe_retries")
async def test_transfer_whose_answer_was_lost_is_retried_into_one_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail("POST", "/v1/transfers", answers_lost(stripe, 1))

    r = await transfer(client, worker, "order-42")

    assert r.status_code == 200, r.text
    assert created(stripe, "transfer") == [r.json()["transfer_id"]]
    assert keys_sent(stripe, "POST", "/v1/transfers") == ["transfer:org_a:order-42"] * 2


@pytest.mark.usefixtures("fast_stripe_retries")
async def test_caller_retry_after_a_failed_transfer_returns_the_transfer_stripe_made(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail("POST", "/v1/transfers", answers_lost(stripe, 3))  # every attempt of one call

    failed = await transfer(client, worker, "order-42")
    retried = await transfer(client, worker, "order-42")

    assert failed.status_code == 503, failed.text
    assert retried.status_code == 200, retried.text
    assert created(stripe, "transfer") == [retried.json()["transfer_id"]]
    assert set(keys_sent(stripe, "POST", "/v1/transfers")) == {"transfer:org_a:order-42"}


@pytest.mark.usefixtures("fast_stripe_retries")
async def test_transfer_meeting_stripe_s_key_in_use_conflict_is_retried_into_one_transfer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Stripe answers 409 while a request with the same key is still in flight."""
    onboarded(worker, stripe, "org_a")

    def in_use_once(_: httpx.Request) -> httpx.Response:
        stripe.overrides.clear()
        return stripe_error(409, code="idempotency_key_in_use", message="In use.")

    stripe.fail("POST", "/v1/transfers", in_use_once)

    r = await transfer(client, worker, "order-42")

    assert r.status_code == 200, r.text
    assert created(stripe, "transfer") == [r.json()["transfer_id"]]
    assert keys_sent(stripe, "POST", "/v1/transfers") == ["transfer:org_a:order-42"] * 2


# --- payouts ------------------------------------------------------------------------------


async def test_same_payout_key_twice_in_a_row_pays_out_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)

    first = await payout(client, worker, "po-1", amount=1000)
    retry = await payout(client, worker, "po-1", amount=1000)

    assert (first.status_code, retry.status_code) == (200, 200), retry.text
    assert retry.json()["payout_id"] == first.json()["payout_id"]
    assert [p["id"] for p in stripe.payouts[account_id]] == [first.json()["payout_id"]]
    # The retry found the first payout by its key (in its metadata) before asking again.
    assert keys_sent(stripe, "POST", "/v1/payouts") == ["payout:org_a:po-1"]
    assert stripe.balances[account_id]["available"][0]["amount"] == 4000


async def test_same_payout_key_twice_at_once_pays_out_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)
    worker.add_person("olive", org_a="owner")
    worker.gates["verify-user-context"] = Gate(parties=2)

    answers = await asyncio.gather(
        payout(client, worker, "po-1", amount=1000), payout(client, worker, "po-1", amount=1000)
    )

    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    [payout_id] = {a.json()["payout_id"] for a in answers}
    assert [p["id"] for p in stripe.payouts[account_id]] == [payout_id]
    assert stripe.balances[account_id]["available"][0]["amount"] == 4000


async def test_retry_of_a_payout_of_everything_replays_it_once_the_balance_is_empty(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)

    first = await payout(client, worker, "po-all")
    retry = await payout(client, worker, "po-all")

    assert first.status_code == 200, first.text
    assert first.json()["amount"] == 5000
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert [p["id"] for p in stripe.payouts[account_id]] == [first.json()["payout_id"]]
    assert len(stripe.calls("POST", "/v1/payouts")) == 1  # the retry found it, made nothing


async def test_retry_of_a_payout_the_remaining_balance_no_longer_covers_replays_it(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)

    first = await payout(client, worker, "po-big", amount=3000)
    retry = await payout(client, worker, "po-big", amount=3000)

    assert retry.status_code == 200, retry.text
    assert retry.json()["payout_id"] == first.json()["payout_id"]
    assert [p["id"] for p in stripe.payouts[account_id]] == [first.json()["payout_id"]]
    assert stripe.balances[account_id]["available"][0]["amount"] == 2000


async def test_same_payout_key_with_another_amount_is_409_and_pays_nothing_more(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)

    first = await payout(client, worker, "po-1", amount=1000)
    other = await payout(client, worker, "po-1", amount=2000)

    assert first.status_code == 200, first.text
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert [p["id"] for p in stripe.payouts[account_id]] == [first.json()["payout_id"]]
    assert stripe.balances[account_id]["available"][0]["amount"] == 4000


async def test_another_payout_key_is_another_payout(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)

    first = await payout(client, worker, "po-1", amount=1000)
    second = await payout(client, worker, "po-2", amount=1000)

    assert second.status_code == 200, second.text
    assert second.json()["payout_id"] != first.json()["payout_id"]
    assert len(stripe.payouts[account_id]) == 2
    assert stripe.balances[account_id]["available"][0]["amount"] == 3000


@pytest.mark.usefixtures("fast_stripe_retries")
async def test_payout_whose_answer_was_lost_is_retried_into_one_payout(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)
    stripe.fail("POST", "/v1/payouts", answers_lost(stripe, 1))

    r = await payout(client, worker, "po-1", amount=1000)

    assert r.status_code == 200, r.text
    assert [p["id"] for p in stripe.payouts[account_id]] == [r.json()["payout_id"]]
    assert keys_sent(stripe, "POST", "/v1/payouts") == ["payout:org_a:po-1"] * 2
    assert stripe.balances[account_id]["available"][0]["amount"] == 4000


# --- onboarding ---------------------------------------------------------------------------


async def test_five_concurrent_onboardings_make_and_link_one_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    worker.gates["create-connect-account"] = Gate(parties=5)  # all 5 asked Stripe first

    answers = await asyncio.gather(*(onboard(client, owner.token) for _ in range(5)))

    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    [account_id] = stripe.accounts
    assert {a.json()["account_id"] for a in answers} == {account_id}
    assert worker.organizations["org_a"]["stripe_connect_account_id"] == account_id
    [key] = set(keys_sent(stripe, "POST", "/v1/accounts"))
    assert len(stripe.calls("POST", "/v1/accounts")) == 5
    assert key.startswith("connect-account:org_a:")
    assert created(stripe, "account") == [account_id]
    assert len(worker.calls("create-connect-account")) == 5
    assert stripe.calls("DELETE", r"/v1/accounts/.+") == []


async def test_two_admins_onboarding_at_once_make_one_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    worker.gates["create-connect-account"] = Gate(parties=2)

    answers = await asyncio.gather(onboard(client, owner.token), onboard(client, admin.token))

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    winner = worker.organizations["org_a"]["stripe_connect_account_id"]
    assert created(stripe, "account") == [winner]
    assert len(set(keys_sent(stripe, "POST", "/v1/accounts"))) == 1
    assert {a.json()["account_id"] for a in answers} == {winner}
    assert stripe.calls("DELETE", r"/v1/accounts/.+") == []


async def test_two_admins_onboarding_for_two_countries_link_one_and_delete_the_other(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    worker.gates["create-connect-account"] = Gate(parties=2)

    answers = await asyncio.gather(
        onboard(client, owner.token, country="US"), onboard(client, admin.token, country="FR")
    )

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    made = created(stripe, "account")
    assert len(made) == 2  # different countries: different parameters, different keys
    winner = worker.organizations["org_a"]["stripe_connect_account_id"]
    [loser] = [a for a in made if a != winner]
    assert {a.json()["account_id"] for a in answers} == {winner}
    assert [r.url.path for r in stripe.calls("DELETE", r"/v1/accounts/.+")] == [
        f"/v1/accounts/{loser}"
    ]
    assert list(stripe.accounts) == [winner]


async def test_another_admins_onboarding_after_a_lost_d1_link_finds_the_first_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    worker.fail_path("create-connect-account", 503)
    assert (await onboard(client, owner.token)).status_code == 503
    worker.heal("create-connect-account")

    retried = await onboard(client, admin.token)

    assert retried.status_code == 200, retried.text
    [account_id] = stripe.accounts
    assert retried.json()["account_id"] == account_id
    assert created(stripe, "account") == [account_id]
    assert stripe.accounts[account_id]["email"] == "adam@example.com"


async def test_onboarding_whose_d1_link_failed_finds_the_same_account_next_time(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    worker.fail_path("create-connect-account", 503)

    failed = await onboard(client, owner.token)

    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "upstream_unavailable"
    [account_id] = stripe.accounts  # Stripe made it; D1 does not know it yet
    assert worker.organizations["org_a"]["stripe_connect_account_id"] is None

    worker.heal("create-connect-account")
    retried = await onboard(client, owner.token)

    assert retried.status_code == 200, retried.text
    assert retried.json()["account_id"] == account_id
    assert list(stripe.accounts) == [account_id]
    assert created(stripe, "account") == [account_id]
    first_key, second_key = keys_sent(stripe, "POST", "/v1/accounts")
    assert first_key == second_key
    assert worker.organizations["org_a"]["stripe_connect_account_id"] == account_id
    assert stripe.calls("DELETE", r"/v1/accounts/.+") == []


# --- after Stripe has forgotten the key (24 hours) ------------------------------------------


def _stripe_forgets_every_key(stripe: FakeStripe, hours: float = 25) -> None:
    """Stripe's idempotency keys last 24 hours: the fake forgets them, and its clock moves on."""
    stripe.replies.clear()
    stripe.clock += hours * 3600


async def test_a_transfer_retried_after_stripe_forgot_its_key_moves_money_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    first = await transfer(client, worker, "order-42")
    _stripe_forgets_every_key(stripe)

    retry = await transfer(client, worker, "order-42")

    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert len(stripe.transfers) == 1
    assert stripe.calls("GET", "/v1/transfers") == []  # found by its exact key, not a scan
    record = worker.idempotency[("org_a", "transfer", "order-42")]
    assert record["stripe_object_id"] == first.json()["transfer_id"]


async def test_a_late_retry_behind_a_thousand_newer_transfers_moves_money_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The review's reproduction: a search that gave up after 10 pages of 100 answered "not
    found", and the retry made a second transfer."""
    account_id = onboarded(worker, stripe, "org_a")
    first = await transfer(client, worker, "order-42")
    for n in range(1000):  # newer transfers to the same account, all within the old lookback
        stripe.transfers.insert(
            0,
            {
                **stripe.transfers[-1],
                "id": f"tr_later{n:06d}",
                "metadata": {"organization_id": "org_a", "idempotency_key": f"later-{n}"},
            },
        )
    _stripe_forgets_every_key(stripe)

    retry = await transfer(client, worker, "order-42")

    assert retry.status_code == 200, retry.text
    assert retry.json()["transfer_id"] == first.json()["transfer_id"]
    carrying_key = [
        t for t in stripe.transfers if t["metadata"].get("idempotency_key") == "order-42"
    ]
    assert len(carrying_key) == 1
    assert all(t["destination"] == account_id for t in carrying_key)


async def test_a_transfer_retried_a_year_later_still_answers_the_first(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """No horizon: the record of a key is kept with the organization."""
    onboarded(worker, stripe, "org_a")
    first = await transfer(client, worker, "order-42")
    _stripe_forgets_every_key(stripe, hours=24 * 366)

    retry = await transfer(client, worker, "order-42")

    assert retry.json() == first.json()
    assert len(stripe.transfers) == 1


async def test_a_late_retry_with_other_parameters_is_409_and_moves_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    await transfer(client, worker, "order-42")
    _stripe_forgets_every_key(stripe)
    admin = worker.people["tok_pat"]

    retry = await client.post(
        TRANSFER,
        json={"organization_id": "org_a", "amount": 2000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "order-42"}),
    )

    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "idempotency_conflict"
    assert len(stripe.transfers) == 1


@pytest.mark.parametrize(
    "other",
    [
        {"source_transaction": "ch_other"},
        {"transfer_group": "group_other"},
        {"description": "Another order"},
        {"currency": "eur"},
    ],
)
async def test_the_same_transfer_key_with_any_other_field_is_409_and_moves_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, other: dict[str, str]
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("pat", role="admin")
    body = {
        "organization_id": "org_a",
        "amount": 1000,
        "currency": "usd",
        "source_transaction": "ch_1",
        "transfer_group": "group_1",
        "description": "Order 42",
    }
    headers = bearer(admin.token, **{"Idempotency-Key": "order-42"})
    first = await client.post(TRANSFER, json=body, headers=headers)

    again = await client.post(TRANSFER, json={**body, **other}, headers=headers)

    assert first.status_code == 200, first.text
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "idempotency_conflict"
    assert len(stripe.calls("POST", "/v1/transfers")) == 1


async def test_a_retry_after_a_fee_change_answers_the_transfer_made(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The fee is derived, not sent: the retry of the same request answers what was made,
    with the split it was made with."""
    onboarded(worker, stripe, "org_a")
    first = await transfer(client, worker, "order-42")
    worker.organizations["org_a"]["platform_fee_percent"] = 25.0

    retry = await transfer(client, worker, "order-42")

    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert (retry.json()["fee_amount"], retry.json()["transfer_amount"]) == (100, 900)
    assert len(stripe.calls("POST", "/v1/transfers")) == 1


async def test_a_key_whose_first_attempt_never_finished_is_unresolved_after_24_hours(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Past Stripe's memory of the key, a pending record cannot tell whether money moved:
    refused, and nothing is sent to Stripe."""
    onboarded(worker, stripe, "org_a")
    worker.fail_path("idempotency-keys/complete")  # Stripe made it; the record never knew
    lost = await transfer(client, worker, "order-42")
    worker.heal("idempotency-keys/complete")
    worker.idempotency[("org_a", "transfer", "order-42")]["created_at"] = "2026-01-01T00:00:00.000Z"
    _stripe_forgets_every_key(stripe)

    retry = await transfer(client, worker, "order-42")

    assert lost.status_code == 503
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["code"] == "idempotency_unresolved"
    assert len(stripe.calls("POST", "/v1/transfers")) == 1
    assert len(stripe.transfers) == 1


async def test_a_key_whose_record_was_not_completed_is_resumed_within_24_hours(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    worker.fail_path("idempotency-keys/complete")
    lost = await transfer(client, worker, "order-42")
    worker.heal("idempotency-keys/complete")
    worker.organizations["org_a"]["platform_fee_percent"] = 50.0  # the first decision stands

    retry = await transfer(client, worker, "order-42")

    assert lost.status_code == 503
    assert retry.status_code == 200, retry.text
    assert retry.json()["transfer_amount"] == 900
    assert len(stripe.transfers) == 1  # Stripe replayed the same key and parameters
    record = worker.idempotency[("org_a", "transfer", "order-42")]
    assert record["stripe_object_id"] == retry.json()["transfer_id"]


async def test_a_transfer_stripe_refuses_releases_its_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    stripe.fail(
        "POST",
        "/v1/transfers",
        lambda _: stripe_error(400, code="balance_insufficient", message="No funds."),
    )

    refused = await transfer(client, worker, "order-42")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "balance_insufficient"
    assert ("org_a", "transfer", "order-42") not in worker.idempotency
    assert len(worker.calls("idempotency-keys/release")) == 1


async def test_a_payout_retried_after_stripe_forgot_its_key_pays_out_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)
    first = await payout(client, worker, "po-1", amount=1000)
    _stripe_forgets_every_key(stripe)

    retry = await payout(client, worker, "po-1", amount=1000)

    assert retry.status_code == 200, retry.text
    assert retry.json()["payout_id"] == first.json()["payout_id"]
    assert len(stripe.payouts[account_id]) == 1
    assert stripe.balances[account_id]["available"][0]["amount"] == 4000


@pytest.mark.parametrize(
    "other", [{"source_type": "bank_account"}, {"currency": "eur"}, {"amount": 999}]
)
async def test_the_same_payout_key_with_any_other_field_is_409_and_pays_nothing_more(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, other: dict[str, Any]
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=5000)
    first = await payout(client, worker, "po-1", amount=1000)

    again = await payout(client, worker, "po-1", **{"amount": 1000, **other})

    assert first.status_code == 200, first.text
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "idempotency_conflict"
    assert len(stripe.payouts[account_id]) == 1


async def test_a_payout_past_the_balance_releases_its_key_for_a_later_try(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a", available=500)
    refused = await payout(client, worker, "po-1", amount=1000)
    stripe.balances[account_id]["available"][0].update(amount=5000, source_types={"card": 5000})

    funded = await payout(client, worker, "po-1", amount=1000)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_balance"
    assert funded.status_code == 200, funded.text
    assert len(stripe.payouts[account_id]) == 1
