"""Money comes back (issue 21), end to end on the real stack: the service as a process, the
Worker on workerd with its local D1, the Stripe simulator; real HTTP and real Better Auth
sessions. Charges, refunds and disputes are made at the simulator (as a customer and the
card network would make them at Stripe), its events reach the service, and what Stripe then
holds (reversals, transfers, balances) is read back from the simulator.

The fee is the default 10 %: a transfer of a 100.00 charge sends 90.00, and a refund of a
share of the charge takes back the same share of the 90.00 (`money.clawback`, half up).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson
import pytest
import stripe

from devstack.stack import BetterAuth, Member, Stack, StackConfig
from tests.e2e.faults import signed
from tests.support.stack import Team, auth, better_auth_api, settle

pytestmark = [
    pytest.mark.e2e,
    # stripe-python's HTTPXClient posts its form body with httpx's deprecated `data=<str>`
    # (as tests/sim/conftest.py notes): exactly that warning is not an error here.
    pytest.mark.filterwarnings(
        "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: `reconcile --money` walks every charge and claim the simulator and
    D1 hold, so what it finds is this module's alone."""
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("money-back"),
        sim_args=["--webhook-retry-base", "0.2", "--webhook-max-attempts", "12"],
        service_env={
            "RATE_LIMIT_READS_PER_MINUTE": "0",
            "RATE_LIMIT_MONEY_PER_MINUTE": "0",
            "RATE_LIMIT_ONBOARDING_PER_MINUTE": "0",
        },
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


@pytest.fixture(scope="module")
def platform_admin(stack: Stack, better_auth: BetterAuth) -> Member:
    admin = better_auth.sign_up("root@platform.test", "admin-password-123", "Root")
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'root@platform.test'")
    return admin


@pytest.fixture(scope="module", autouse=True)
def funded_platform(stack: Stack) -> None:
    """The platform holds money of its own (as a live platform does): a won dispute's money is
    sent back by a plain transfer, from the platform's available balance, which the charges'
    Stripe fees and the dispute fees alone would leave short."""
    response = httpx.post(
        f"{stack.config.sim_url}/_sim/platform/fund", json={"amount": 10_000_000, "currency": "usd"}
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def stripe_api(stack: Stack) -> AsyncIterator[stripe.StripeClient]:
    """stripe-python pointed at the simulator with the platform's key: what Stripe holds."""
    http_client = stripe.HTTPXClient()
    client = stripe.StripeClient(
        api_key=stack.config.stripe_secret_key,
        base_addresses={"api": stack.config.sim_url, "connect": stack.config.sim_url},
        http_client=http_client,
    )
    async with AsyncExitStack() as closing:
        closing.push_async_callback(http_client.close_async)
        yield client


class Org:
    """A team whose organization has an active Connect account, and the calls the test makes
    for it through the service (as its owner, or as the platform admin)."""

    def __init__(self, team: Team, account_id: str, service: httpx.AsyncClient) -> None:
        self.team = team
        self.id = team.org_id
        self.account_id = account_id
        self.service = service
        self._keys = 0

    async def transfer(self, amount: int, **extra: Any) -> dict[str, Any]:
        self._keys += 1
        response = await self.service.post(
            "/api/connect/transfer",
            json={"organization_id": self.id, "amount": amount, "currency": "usd", **extra},
            headers=auth(self.team.admin, **{"Idempotency-Key": f"t{self._keys}-{self.id}"}),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def payout(self) -> dict[str, Any]:
        self._keys += 1
        response = await self.service.post(
            "/api/connect/payout",
            json={"organization_id": self.id, "currency": "usd"},
            headers=auth(self.team.owner, **{"Idempotency-Key": f"p{self._keys}-{self.id}"}),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def claims(self) -> dict[str, Any]:
        response = await self.service.get(
            f"/api/connect/claims/{self.id}", headers=auth(self.team.owner)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def status(self) -> dict[str, Any]:
        response = await self.service.get(
            f"/api/connect/status/{self.id}", headers=auth(self.team.owner)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def read_within_budget(
    service: httpx.AsyncClient, path: str, *, headers: dict[str, str]
) -> httpx.Response:
    """A read that asks Stripe, as a client does it: the platform's Stripe budget for reads
    may be spent right after a burst of redelivered events (429 with `Retry-After`), so the
    read waits what the answer names and asks again, a few times."""
    for _ in range(10):
        response = await service.get(path, headers=headers)
        if response.status_code != 429:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return response


@pytest.fixture
async def org(service: httpx.AsyncClient, sim: httpx.AsyncClient, team: Team) -> Org:
    """An organization onboarded through the service, its account completed at Stripe."""
    link = await service.post(
        "/api/connect/onboard", json={"organization_id": team.org_id}, headers=auth(team.owner)
    )
    assert link.status_code == 200, link.text
    account_id = link.json()["account_id"]
    done = await sim.post(f"/_sim/accounts/{account_id}/onboarding", json={"outcome": "complete"})
    assert done.status_code == 200, done.text
    await settle(sim)
    made = Org(team, account_id, service)
    assert (await made.status())["status"] == "active"
    return made


async def charge(sim: httpx.AsyncClient, amount: int) -> str:
    """A customer pays the platform `amount` (a succeeded charge at Stripe)."""
    response = await sim.post("/_sim/charges", json={"amount": amount, "currency": "usd"})
    assert response.status_code == 200, response.text
    charge_id: str = response.json()["id"]
    return charge_id


async def refund(stripe_api: stripe.StripeClient, charge_id: str, amount: int) -> str:
    """The platform refunds part of a charge (`POST /v1/refunds`, as the platform does)."""
    made = await stripe_api.v1.refunds.create_async(params={"charge": charge_id, "amount": amount})
    assert made.status == "succeeded"
    return made.id


async def dispute(sim: httpx.AsyncClient, charge_id: str, amount: int | None = None) -> str:
    body = {} if amount is None else {"amount": amount}
    response = await sim.post(f"/_sim/charges/{charge_id}/dispute", json=body)
    assert response.status_code == 200, response.text
    dispute_id: str = response.json()["id"]
    return dispute_id


async def close(sim: httpx.AsyncClient, dispute_id: str, outcome: str) -> None:
    response = await sim.post(f"/_sim/disputes/{dispute_id}/close", json={"outcome": outcome})
    assert response.status_code == 200, response.text


async def reversals_at_stripe(
    stripe_api: stripe.StripeClient, transfer_id: str
) -> list[tuple[int, str | None, str | None]]:
    """The transfer's reversals as Stripe holds them, oldest first: (amount, cause, cause id)."""
    listed = await stripe_api.v1.transfers.reversals.list_async(transfer_id, params={"limit": 100})
    return [
        (r.amount, metadata.get("cause"), metadata.get("cause_id"))
        for r in reversed(listed.data)
        for metadata in [r.metadata.to_dict() if r.metadata else {}]
    ]


async def group_at_stripe(stripe_api: stripe.StripeClient, group: str) -> list[stripe.Transfer]:
    listed = await stripe_api.v1.transfers.list_async(
        params={"transfer_group": group, "limit": 100}
    )
    return list(listed.data)


async def available(sim: httpx.AsyncClient, account_id: str) -> int:
    """The connected account's available `usd` balance at Stripe."""
    entry = await sim.get(f"/_sim/accounts/{account_id}")
    assert entry.status_code == 200, entry.text
    amount: int = entry.json()["balance"]["available"].get("usd", 0)
    return amount


async def redeliver(
    stack: Stack, sim: httpx.AsyncClient, service: httpx.AsyncClient, event_type: str
) -> int:
    """Post signed copies of every recorded event of `event_type` to the service again, as a
    redelivery would; how many were posted (each must be acknowledged)."""
    events = (await sim.get("/_sim/events", params={"type": event_type})).json()["data"]
    for event in events:
        body = orjson.dumps(event)
        answer = await service.post(
            "/api/connect/webhook",
            content=body,
            headers=signed(body, stack.config.webhook_secret),
        )
        assert answer.status_code == 200, answer.text
    return len(events)


async def test_a_partial_refund_reverses_its_share_of_the_transfer(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    stripe_api: stripe.StripeClient,
    org: Org,
) -> None:
    charge_id = await charge(sim, 10_000)
    made = await org.transfer(10_000, source_transaction=charge_id)
    assert (made["fee_amount"], made["transfer_amount"]) == (1_000, 9_000)
    transfer = await stripe_api.v1.transfers.retrieve_async(made["transfer_id"])
    assert transfer.source_transaction == charge_id
    assert transfer.transfer_group == charge_id  # set by the service from source_transaction
    assert await available(sim, org.account_id) == 9_000

    first = await refund(stripe_api, charge_id, 2_500)
    await settle(sim)

    # 25.00 of 100.00 refunded: 25 % of the 90.00 net comes back, once for its three events
    # (refund.created, charge.refunded, refund.updated).
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [(2_250, "refund", first)]
    assert await available(sim, org.account_id) == 6_750

    second = await refund(stripe_api, charge_id, 2_501)
    await settle(sim)
    # Half up on the total, never per step: round(9000 * 5001 / 10000) = 4501 in all.
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [
        (2_250, "refund", first),
        (2_251, "refund", second),
    ]
    # Every event delivered again (a redelivery days later) takes nothing more.
    assert await redeliver(stack, sim, service, "charge.refunded") >= 2
    assert await redeliver(stack, sim, service, "refund.updated") >= 2
    assert len(await reversals_at_stripe(stripe_api, made["transfer_id"])) == 2
    assert await available(sim, org.account_id) == 9_000 - 4_501
    history = await read_within_budget(
        service, f"/api/connect/transfers/{org.id}", headers=auth(org.team.owner)
    )
    assert history.status_code == 200, history.text
    item = next(t for t in history.json()["data"] if t["transfer_id"] == made["transfer_id"])
    assert item["net_after_reversals"] == 9_000 - 4_501


async def test_a_lost_dispute_takes_the_share_back_and_gives_nothing_back(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, stripe_api: stripe.StripeClient, org: Org
) -> None:
    charge_id = await charge(sim, 10_000)
    made = await org.transfer(10_000, source_transaction=charge_id)
    dispute_id = await dispute(sim, charge_id)  # the whole charge
    await settle(sim)
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [
        (9_000, "dispute", dispute_id)
    ]
    assert await available(sim, org.account_id) == 0

    await close(sim, dispute_id, "lost")
    await settle(sim)

    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [
        (9_000, "dispute", dispute_id)
    ]
    group = await group_at_stripe(stripe_api, charge_id)
    assert [t.id for t in group] == [made["transfer_id"]]  # nothing sent back
    assert await available(sim, org.account_id) == 0
    assert (await org.claims())["data"] == []


async def test_a_won_dispute_sends_the_share_back_once(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    stripe_api: stripe.StripeClient,
    org: Org,
) -> None:
    charge_id = await charge(sim, 10_000)
    made = await org.transfer(10_000, source_transaction=charge_id)
    dispute_id = await dispute(sim, charge_id, 4_000)
    await settle(sim)
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [
        (3_600, "dispute", dispute_id)
    ]
    assert await available(sim, org.account_id) == 5_400

    await close(sim, dispute_id, "won")
    await settle(sim)
    # Every dispute event again, in Stripe's order and then reversed: nothing more moves.
    for event_type in (
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.created",
    ):
        assert await redeliver(stack, sim, service, event_type) >= 1

    group = await group_at_stripe(stripe_api, charge_id)
    back = [t for t in group if t.id != made["transfer_id"]]
    assert [(t.amount, t.destination, t.metadata.to_dict()) for t in back] == [
        (
            3_600,
            org.account_id,
            {"cause": "dispute_won", "cause_id": dispute_id, "returns_for": made["transfer_id"]},
        )
    ]
    # The reversal stands; the give-back is a transfer of its own, made once.
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [
        (3_600, "dispute", dispute_id)
    ]
    assert await available(sim, org.account_id) == 9_000


async def test_a_refund_then_a_dispute_of_the_rest_take_back_the_net_and_no_more(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, stripe_api: stripe.StripeClient, org: Org
) -> None:
    """0.05 refunded takes back 0.05 (4.5 cents, half up); the dispute of the 99.95 left counts
    after it: 90.00 - 0.05, not the 89.96 it would take alone (a cent beyond the net, claimed)."""
    charge_id = await charge(sim, 10_000)
    made = await org.transfer(10_000, source_transaction=charge_id)
    refund_id = await refund(stripe_api, charge_id, 5)
    await settle(sim)
    dispute_id = await dispute(sim, charge_id)  # what the refund left
    await settle(sim)

    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [
        (5, "refund", refund_id),
        (8_995, "dispute", dispute_id),
    ]
    assert await available(sim, org.account_id) == 0
    assert (await org.claims())["data"] == []


async def test_a_refund_after_the_payout_is_a_claim_the_next_transfers_settle(
    service: httpx.AsyncClient, sim: httpx.AsyncClient, stripe_api: stripe.StripeClient, org: Org
) -> None:
    charge_id = await charge(sim, 10_000)
    made = await org.transfer(10_000, source_transaction=charge_id)
    paid_out = await org.payout()
    assert paid_out["amount"] == 9_000
    assert await available(sim, org.account_id) == 0

    refund_id = await refund(stripe_api, charge_id, 10_000)
    await settle(sim)

    # Stripe refused the reversal (the balance is empty): nothing was taken, all is claimed.
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == []
    claims = await org.claims()
    [claim] = claims["data"]
    assert (claim["amount"], claim["open"], claim["cause"], claim["cause_id"]) == (
        9_000,
        9_000,
        "refund",
        refund_id,
    )
    assert claim["transfer_id"] == made["transfer_id"]
    assert claims["totals"] == [{"currency": "usd", "open": 9_000}]

    # The next transfer's whole net (45.00) settles part of the claim: nothing is sent …
    small = await org.transfer(5_000, source_transaction=await charge(sim, 5_000))
    assert (small["transfer_id"], small["transfer_amount"], small["claims_settled"]) == (
        None,
        0,
        4_500,
    )
    assert small["settled_claims"] == [{"claim_id": claim["claim_id"], "amount": 4_500}]
    # … and the one after goes out net of what is left of it.
    big_charge = await charge(sim, 20_000)
    big = await org.transfer(20_000, source_transaction=big_charge)
    assert (big["fee_amount"], big["claims_settled"], big["transfer_amount"]) == (
        2_000,
        4_500,
        13_500,
    )
    assert big["settled_claims"] == [{"claim_id": claim["claim_id"], "amount": 4_500}]
    sent = await stripe_api.v1.transfers.retrieve_async(big["transfer_id"])
    assert sent.amount == 13_500
    assert sent.metadata["claims_settled"] == "4500"
    assert await available(sim, org.account_id) == 13_500

    [settled] = (await org.claims())["data"]
    assert (settled["settled"], settled["open"]) == (9_000, 0)
    assert [(s["amount"], s["kind"]) for s in settled["settlements"]] == [
        (4_500, "transfer"),
        (4_500, "transfer"),
    ]
    assert (await org.claims())["totals"] in ([], [{"currency": "usd", "open": 0}])


async def test_reconcile_money_finds_a_missed_refund_and_then_nothing(
    stack: Stack,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    stripe_api: stripe.StripeClient,
    org: Org,
) -> None:
    """`reconcile --money` as a process with the stack's settings: a refund whose events were
    never delivered is a mismatch (exit 1); once its event reaches the service, 0 mismatches
    over every charge of the module (refunds, disputes won and lost, claims), exit 0."""
    charge_id = await charge(sim, 10_000)
    made = await org.transfer(10_000, source_transaction=charge_id)
    paid_dispute = await charge(sim, 3_333)
    disputed = await org.transfer(3_333, source_transaction=paid_dispute)
    await dispute(sim, paid_dispute, 1_111)
    await settle(sim)

    await sim.post("/_sim/config", json={"webhooks_enabled": False})
    try:
        missed = await refund(stripe_api, charge_id, 3_000)
    finally:
        await sim.post("/_sim/config", json={"webhooks_enabled": True})

    dry = stack.reconcile("--money", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    [mismatch] = [line for line in dry.stdout.splitlines() if line.startswith("mismatch ")]
    assert f"charge={charge_id} transfer={made['transfer_id']}" in mismatch
    assert "owed=2700 reversed=0 claimed=0" in mismatch
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == []  # dry: no money

    # The missed event reaches the service (a late redelivery) and takes the share back.
    event = (await sim.get("/_sim/events", params={"type": "charge.refunded"})).json()["data"]
    late = next(e for e in event if e["data"]["object"]["id"] == charge_id)
    body = orjson.dumps(late)
    answer = await service.post(
        "/api/connect/webhook", content=body, headers=signed(body, stack.config.webhook_secret)
    )
    assert answer.status_code == 200, answer.text
    assert await reversals_at_stripe(stripe_api, made["transfer_id"]) == [(2_700, "refund", missed)]
    assert await reversals_at_stripe(stripe_api, disputed["transfer_id"]) != []

    run = stack.reconcile("--money")

    assert run.returncode == 0, run.stdout + run.stderr
    *mismatches, summary = run.stdout.splitlines()
    assert mismatches == []
    charges = len((await stripe_api.v1.charges.list_async(params={"limit": 100})).data)
    assert summary.startswith(f"money: {charges} charges, ")
    assert ", 0 mismatches; " in summary
    checked = int(summary.split(", ")[1].split()[0])
    assert checked >= 2  # this test's two transfers at least, with those before it


async def test_a_failed_payout_shows_until_a_later_payout_is_paid(
    sim: httpx.AsyncClient, org: Org
) -> None:
    made = await org.transfer(10_000, source_transaction=await charge(sim, 10_000))
    assert made["transfer_amount"] == 9_000
    first = await org.payout()
    assert (await org.status())["payout_failure"] is None

    failed = await sim.post(
        f"/_sim/payouts/{first['payout_id']}/failed", json={"failure_code": "account_closed"}
    )
    assert failed.status_code == 200, failed.text
    await settle(sim)

    failure = (await org.status())["payout_failure"]
    assert failure is not None
    assert (failure["payout_id"], failure["failure_code"]) == (first["payout_id"], "account_closed")
    assert await available(sim, org.account_id) == 9_000  # Stripe returned it; nothing moved

    # A payout made later (Stripe's `created` is in whole seconds: a later second) is paid.
    await sim.post("/_sim/clock", json={"advance_seconds": 2})
    second = await org.payout()
    assert second["amount"] == 9_000
    paid = await sim.post(f"/_sim/payouts/{second['payout_id']}/paid", json={})
    assert paid.status_code == 200, paid.text
    await settle(sim)

    assert (await org.status())["payout_failure"] is None
