"""Money people can see: an organization's payouts and the transfers it received (pages read
from Stripe), its payout schedule read back, and the platform admins' console."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.fakes import FakeStripe, FakeWorker, stripe_error
from tests.support.service import bearer, onboarded

D1_OLD = "2026-11-01T10:00:00.000Z"
D1_NEW = "2026-11-26T10:00:00.000Z"

ACCOUNT = "acct_a0000000000"


def _payout(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"po_{n:04d}",
        "object": "payout",
        "amount": 1000 * n,
        "currency": "usd",
        "status": "paid",
        "arrival_date": 1764300000 + n,
        "created": 1764000000 + n,
        "failure_code": None,
        "failure_message": None,
        **fields,
    }


def _unreachable(_: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused")  # the fake drops the connection unanswered


def _people(worker: FakeWorker) -> dict[str, str]:
    """Tokens of an owner, an admin and a member of org_a, a platform admin, an outsider."""
    return {
        "owner": worker.add_person("olive", org_a="owner").token,
        "admin": worker.add_person("adam", org_a="admin").token,
        "member": worker.add_person("max", org_a="member").token,
        "platform": worker.add_person("pat", role="admin").token,
        "outsider": worker.add_person("otto", org_b="owner").token,
    }


# --- payouts -------------------------------------------------------------------------------


async def test_payouts_come_newest_first_in_pages_with_a_cursor(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]
    stripe.payouts[ACCOUNT] = [_payout(n) for n in (5, 4, 3, 2, 1)]

    first = await client.get("/api/connect/payouts/org_a?limit=2", headers=bearer(owner))
    second = await client.get(
        f"/api/connect/payouts/org_a?limit=2&starting_after={first.json()['next_cursor']}",
        headers=bearer(owner),
    )
    last = await client.get(
        f"/api/connect/payouts/org_a?limit=2&starting_after={second.json()['next_cursor']}",
        headers=bearer(owner),
    )

    assert first.status_code == 200, first.text
    assert [p["payout_id"] for p in first.json()["data"]] == ["po_0005", "po_0004"]
    assert (first.json()["has_more"], first.json()["next_cursor"]) == (True, "po_0004")
    assert [p["payout_id"] for p in second.json()["data"]] == ["po_0003", "po_0002"]
    assert [p["payout_id"] for p in last.json()["data"]] == ["po_0001"]
    assert (last.json()["has_more"], last.json()["next_cursor"]) == (False, None)
    item = first.json()["data"][0]
    assert item == {
        "payout_id": "po_0005",
        "amount": 5000,
        "currency": "usd",
        "status": "paid",
        "arrival_date": "2025-11-28T03:20:05Z",
        "created": "2025-11-24T16:00:05Z",
        "failure_code": None,
        "failure_message": None,
    }
    # Asked of the connected account, 2 at a time, after the cursor.
    asked = stripe.calls("GET", "/v1/payouts")
    assert {r.headers["Stripe-Account"] for r in asked} == {ACCOUNT}
    assert [dict(r.url.params) for r in asked] == [
        {"limit": "2"},
        {"limit": "2", "starting_after": "po_0004"},
        {"limit": "2", "starting_after": "po_0002"},
    ]


async def test_a_failed_payout_says_why_in_words(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]
    stripe.payouts[ACCOUNT] = [
        _payout(2, status="failed", failure_code="account_closed", failure_message="closed"),
        _payout(1, status="failed", failure_code="some_new_code", failure_message="Bank said no."),
    ]

    answer = await client.get("/api/connect/payouts/org_a", headers=bearer(owner))

    newer, older = answer.json()["data"]
    assert (newer["status"], newer["failure_code"]) == ("failed", "account_closed")
    assert newer["failure_message"] == "The bank account has been closed."
    assert older["failure_message"] == "Bank said no."  # Stripe's own words for an unknown code


async def test_an_empty_history_is_an_empty_page(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]

    answer = await client.get(
        "/api/connect/payouts", headers=bearer(owner, **{"X-Org-ID": "org_a"})
    )

    assert answer.json() == {
        "organization_id": "org_a",
        "account_id": ACCOUNT,
        "data": [],
        "has_more": False,
        "next_cursor": None,
    }


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "starting_after=po%2F1"])
async def test_bad_paging_is_422_and_asks_stripe_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, query: str
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]

    answer = await client.get(f"/api/connect/payouts/org_a?{query}", headers=bearer(owner))

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"
    assert stripe.calls("GET", "/v1/payouts") == []


async def test_a_cursor_stripe_does_not_know_is_400(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]
    stripe.payouts[ACCOUNT] = [_payout(1)]

    answer = await client.get(
        "/api/connect/payouts/org_a?starting_after=po_unknown", headers=bearer(owner)
    )

    assert answer.status_code == 400
    assert answer.json()["error"] | {"request_id": "-"} == {
        "request_id": "-",
        "code": "invalid_cursor",
        "message": "The cursor is not one this list gave out.",
    }


async def test_stripe_failing_is_502_and_unreachable_is_503(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    fast_stripe_retries: None,
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]
    stripe.fail("GET", "/v1/payouts", lambda _: stripe_error(500, type_="api_error"))
    stripe.fail("GET", "/v1/transfers", _unreachable)

    payouts = await client.get("/api/connect/payouts/org_a", headers=bearer(owner))
    transfers = await client.get("/api/connect/transfers/org_a", headers=bearer(owner))

    assert (payouts.status_code, payouts.json()["error"]["code"]) == (502, "stripe_error")
    assert (transfers.status_code, transfers.json()["error"]["code"]) == (
        503,
        "upstream_unavailable",
    )
    assert "Traceback" not in payouts.text + transfers.text


# --- transfers -----------------------------------------------------------------------------


async def test_transfers_received_show_gross_fee_and_net_as_they_were_made(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", platform_fee_percent=12.5)
    people = _people(worker)
    made = await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 10_000, "currency": "usd"},
        headers=bearer(people["platform"], **{"Idempotency-Key": "t-1"}),
    )
    assert made.status_code == 200, made.text
    worker.organizations["org_a"]["platform_fee_percent"] = 20.0  # changed since: not recomputed
    stripe.transfers.append(  # one the platform made some other way: no fee facts
        {
            "id": "tr_manual",
            "object": "transfer",
            "amount": 700,
            "currency": "usd",
            "created": 1764000000,
            "destination": ACCOUNT,
            "metadata": {"platform_fee_percent": "lots"},
            "amount_reversed": 200,
        }
    )

    answer = await client.get("/api/connect/transfers/org_a", headers=bearer(people["owner"]))

    assert answer.status_code == 200, answer.text
    ours, manual = answer.json()["data"]
    assert ours["transfer_id"] == made.json()["transfer_id"]
    assert (ours["gross_amount"], ours["fee_amount"], ours["net_amount"]) == (10_000, 1_250, 8_750)
    assert ours["platform_fee_percent"] == 12.5
    assert manual == {
        "transfer_id": "tr_manual",
        "created": "2025-11-24T16:00:00Z",
        "currency": "usd",
        "gross_amount": None,
        "fee_amount": None,
        "platform_fee_percent": None,
        "net_amount": 700,
        "claims_settled": 0,
        "amount_reversed": 200,
        "net_after_reversals": 500,
        "reversals": [],
        "returns_for": None,
    }
    asked = stripe.calls("GET", "/v1/transfers")[-1]
    assert dict(asked.url.params) == {"destination": ACCOUNT, "limit": "20"}
    assert "Stripe-Account" not in asked.headers  # the platform's own transfers


# --- the payout schedule, read back ---------------------------------------------------------


async def test_the_payout_schedule_reads_back_what_stripe_holds(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = _people(worker)["owner"]
    url = "/api/connect/payout-schedule/org_a"
    before = await client.get(url, headers=bearer(owner))

    put = await client.put(
        "/api/connect/payout-schedule",
        json={"organization_id": "org_a", "interval": "weekly", "weekly_anchor": "friday"},
        headers=bearer(owner),
    )
    after = await client.get(url, headers=bearer(owner))

    assert put.status_code == 200, put.text
    assert (before.json()["interval"], before.json()["delay_days"]) == ("manual", 2)
    assert (after.json()["interval"], after.json()["weekly_anchor"]) == ("weekly", "friday")
    assert len(stripe.calls("GET", rf"/v1/accounts/{ACCOUNT}")) == 2


# --- who may see ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [("owner", 200), ("admin", 200), ("platform", 200), ("member", 403), ("outsider", 403)],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/connect/payouts/org_a",
        "/api/connect/transfers/org_a",
        "/api/connect/payout-schedule/org_a",
    ],
)
async def test_money_history_is_for_owners_admins_and_platform_admins(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    who: str,
    expected: int,
    path: str,
) -> None:
    onboarded(worker, stripe, "org_a")
    worker.add_org("org_b")
    token = _people(worker)[who]

    answer = await client.get(path, headers=bearer(token))

    assert answer.status_code == expected, answer.text
    if expected == 403:
        assert stripe.requests == []  # Stripe was asked nothing


async def test_history_without_an_account_is_409_not_onboarded(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = _people(worker)["owner"]

    answer = await client.get("/api/connect/transfers/org_a", headers=bearer(owner))

    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "not_onboarded")


# --- the console ---------------------------------------------------------------------------


async def test_the_console_lists_every_organization_in_pages_for_platform_admins(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", platform_fee_percent=7.5)
    worker.add_org("org_b")
    onboarded(worker, stripe, "org_c", state="due")
    platform = _people(worker)["platform"]

    first = await client.get("/api/connect/organizations?limit=2", headers=bearer(platform))
    rest = await client.get(
        f"/api/connect/organizations?limit=2&cursor={first.json()['next_cursor']}",
        headers=bearer(platform),
    )
    active = await client.get("/api/connect/organizations?status=active", headers=bearer(platform))

    assert first.status_code == 200, first.text
    assert [o["organization_id"] for o in first.json()["data"]] == ["org_a", "org_b"]
    assert [o["name"] for o in first.json()["data"]] == ["Org org_a", "Org org_b"]
    assert first.json()["data"][0]["status"] == "active"
    assert first.json()["data"][0]["platform_fee_percent"] == 7.5
    assert first.json()["data"][1]["status"] == "not_started"
    assert [o["organization_id"] for o in rest.json()["data"]] == ["org_c"]
    assert rest.json()["next_cursor"] is None
    assert [o["organization_id"] for o in active.json()["data"]] == ["org_a"]
    # Verified through the Worker on every call, without naming an organization.
    verified = worker.calls("verify-user-context")
    assert len(verified) == 3
    assert all(b'"organization_id":null' in r.content.replace(b" ", b"") for r in verified)


async def test_the_console_searches_by_name_sorts_by_last_sync_and_counts_per_status(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a", name="Acme Bikes", stripe_connect_synced_at=D1_OLD)
    onboarded(worker, stripe, "org_b", name="acme Tools", stripe_connect_synced_at=D1_NEW)
    onboarded(worker, stripe, "org_c", name="Acme Boats", state="due")  # never synced
    worker.add_org("org_d", name="Bolt")
    platform = _people(worker)["platform"]

    async def listed(query: str) -> dict[str, Any]:
        answer = await client.get(f"/api/connect/organizations?{query}", headers=bearer(platform))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    everyone = await listed("")
    acme = await listed("name=ACME")
    oldest_first = await listed("name=acme&sort=last_sync")
    newest_first = await listed("sort=-last_sync&limit=2")
    later = await listed(f"sort=-last_sync&limit=2&cursor={newest_first['next_cursor']}")
    acme_active = await listed("name=acme&status=active")

    assert everyone["counts"] == {
        "total": 4,
        "not_started": 1,
        "pending": 1,
        "active": 2,
        "disabled": 0,
    }
    assert [o["organization_id"] for o in acme["data"]] == ["org_a", "org_b", "org_c"]
    assert acme["counts"]["total"] == 3
    assert acme["counts"]["not_started"] == 0
    assert [o["organization_id"] for o in oldest_first["data"]] == ["org_c", "org_a", "org_b"]
    assert [o["organization_id"] for o in newest_first["data"]] == ["org_b", "org_a"]
    assert [o["organization_id"] for o in later["data"]] == ["org_d", "org_c"]  # ties: id, desc
    assert later["counts"] is None  # counted once, on the first page
    # The status filter narrows the page, never the counts (they say what each filter holds).
    assert [o["organization_id"] for o in acme_active["data"]] == ["org_a", "org_b"]
    assert acme_active["counts"] == acme["counts"]
    assert len(worker.calls("organization-counts")) == 5


async def test_the_console_refuses_a_cursor_of_another_sort_and_a_bad_search(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    onboarded(worker, stripe, "org_b")
    platform = _people(worker)["platform"]
    first = await client.get(
        "/api/connect/organizations?limit=1&sort=last_sync", headers=bearer(platform)
    )

    other_sort = await client.get(
        f"/api/connect/organizations?cursor={first.json()['next_cursor']}",
        headers=bearer(platform),
    )
    empty_name = await client.get("/api/connect/organizations?name=", headers=bearer(platform))
    bad_sort = await client.get("/api/connect/organizations?sort=name", headers=bearer(platform))

    assert (other_sort.status_code, other_sort.json()["error"]["code"]) == (400, "invalid_cursor")
    assert empty_name.status_code == 422
    assert bad_sort.status_code == 422


@pytest.mark.parametrize("who", ["owner", "admin", "member"])
async def test_the_console_is_403_for_anyone_not_a_platform_admin(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, who: str
) -> None:
    onboarded(worker, stripe, "org_a")
    token = _people(worker)[who]

    answer = await client.get("/api/connect/organizations", headers=bearer(token))

    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
    assert worker.calls("organizations") == []  # the list was never read


async def test_the_console_refuses_a_cursor_it_did_not_give_out_with_400(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    platform = _people(worker)["platform"]

    answer = await client.get(
        "/api/connect/organizations?cursor=not-a-cursor", headers=bearer(platform)
    )
    bad_status = await client.get(
        "/api/connect/organizations?status=archived", headers=bearer(platform)
    )

    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_cursor")
    assert bad_status.status_code == 422


async def test_the_console_needs_a_session(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/connect/organizations")

    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "missing_token")
