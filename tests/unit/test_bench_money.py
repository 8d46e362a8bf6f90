"""The benchmark's money scenarios (`bench.run`, issue 21) build what they claim: a new
transfer with a key of its own per request, a replay with the key a seeded transfer used for the
same request, and the owner's history read; their checks accept the service's own answers and
refuse the ones that would mean another path was measured."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import light, run
from bench.load import Check, Request, RequestFactory
from connect_backend import stripe_objects
from connect_backend.schemas import ReversalItem, TransferHistory, TransferItem, TransferView
from devstack.stack import Stack, StackConfig

ORGS = [f"org_{n}" for n in range(4)]
MONEY = run.MoneySeed("admin-token", "r1")
SEED = run.Seed("owner-token", ORGS, [f"acct_{n}" for n in range(4)], MONEY)


def factories() -> dict[str, tuple[str, RequestFactory, Check]]:
    """Every scenario's builder and check (a stack's configuration only: nothing starts)."""
    return run._factories(Stack(StackConfig(state_dir=Path("/nonexistent"))), SEED)


def body_of(request: Request) -> dict[str, object]:
    body: dict[str, object] = orjson.loads(request.body)
    return body


def transfer_view(**changes: object) -> bytes:
    view = {
        "transfer_id": "tr_1",
        "organization_id": ORGS[0],
        "account_id": "acct_0",
        "currency": "usd",
        "gross_amount": 1000,
        "fee_amount": 100,
        "transfer_amount": 900,
        "platform_fee_percent": 10.0,
        "claims_settled": 0,
        "settled_claims": [],
    }
    return TransferView.model_validate({**view, **changes}).model_dump_json().encode()


def test_each_transfer_is_a_new_one_by_the_platform_admin_spread_over_the_organizations() -> None:
    _, make, _ = factories()["transfer"]
    requests = [make(n) for n in range(3 * len(ORGS))]
    keys = [r.headers["Idempotency-Key"] for r in requests]
    assert len(set(keys)) == len(requests)
    assert not {MONEY.seeded_key(o, t) for o in range(4) for t in range(3)} & set(keys)
    for n, request in enumerate(requests):
        assert (request.method, request.path) == ("POST", "/api/connect/transfer")
        assert request.headers["Authorization"] == "Bearer admin-token"
        assert body_of(request) == {
            "organization_id": ORGS[n % len(ORGS)],
            "amount": run.TRANSFER_AMOUNT,
            "currency": "usd",
        }


def test_a_replay_sends_again_what_the_first_seeded_transfer_sent_with_its_key() -> None:
    _, make, _ = factories()["transfer replay"]
    _, new, _ = factories()["transfer"]
    for n in range(2 * len(ORGS)):
        replay = make(n)
        assert replay.headers["Idempotency-Key"] == MONEY.seeded_key(n % len(ORGS), 0)
        assert body_of(replay) == body_of(new(n))  # the same request: a replay, not a 409


def test_the_history_is_the_owners_read_of_each_organization() -> None:
    _, make, _ = factories()["history"]
    request = make(5)
    assert (request.method, request.path) == ("GET", f"/api/connect/transfers/{ORGS[1]}")
    assert request.headers == {"Authorization": "Bearer owner-token"}


def test_without_seeded_money_only_the_history_is_built() -> None:
    """The light upstreams' seed has no platform admin: the transfers have no builder there."""
    light = run.Seed("owner-token", ORGS, [f"acct_{n}" for n in range(4)])
    built = run._factories(Stack(StackConfig(state_dir=Path("/nonexistent"))), light)
    assert "history" in built
    assert not {"transfer", "transfer replay"} & set(built)


def test_the_transfer_check_takes_a_transfer_sent_and_nothing_else() -> None:
    _, _, check = factories()["transfer"]
    assert check(200, transfer_view())
    assert not check(200, transfer_view(transfer_id=None, transfer_amount=0, claims_settled=900))
    assert not check(200, transfer_view(claims_settled=100, transfer_amount=800))
    assert not check(409, transfer_view())


def test_the_history_check_wants_a_reversal_embedded() -> None:
    _, _, check = factories()["history"]
    item: dict[str, object] = {
        "transfer_id": "tr_1",
        "created": None,
        "currency": "usd",
        "gross_amount": 1000,
        "fee_amount": 100,
        "platform_fee_percent": 10.0,
        "net_amount": 900,
        "claims_settled": 0,
        "amount_reversed": 0,
        "net_after_reversals": 900,
        "reversals": [],
        "returns_for": None,
    }
    reversal = ReversalItem.model_validate(
        {
            "reversal_id": "trr_1",
            "amount": 100,
            "created": None,
            "cause": "manual",
            "cause_id": None,
        }
    )

    def history(*items: TransferItem) -> bytes:
        page = TransferHistory(
            organization_id=ORGS[0],
            account_id="acct_0",
            data=list(items),
            has_more=False,
            next_cursor=None,
        )
        return page.model_dump_json().encode()

    plain = TransferItem.model_validate(item)
    reversed_ = TransferItem.model_validate(
        {**item, "amount_reversed": 100, "reversals": [reversal]}
    )
    assert check(200, history(plain, reversed_))
    assert not check(200, history(plain, plain))


def test_the_money_scenarios_are_opt_in_and_transfers_refuse_the_light_upstreams() -> None:
    money = {s.name for s in run.MONEY}
    assert money == {"transfer", "transfer replay", "history"}
    assert not money & {s.name for s in (*run.SCENARIOS, *run.SHARED, *run.REFERENCES)}
    with pytest.raises(SystemExit, match=r"^transfer replay: not with --upstreams light"):
        run.main(["--upstreams", "light", "--scenarios", "history,transfer replay"])


def test_the_light_stripe_lists_each_accounts_transfers_as_the_service_reads_them() -> None:
    account = light.account_id(7)
    listed = light.transfers_to(account)
    transfers = [stripe_objects.transfer(t) for t in listed["data"]]
    assert [t.destination for t in transfers] == [account] * light.TRANSFERS
    created = [t.created.timestamp() for t in transfers if t.created is not None]
    assert created == sorted(created, reverse=True)
    assert len(created) == light.TRANSFERS
    assert [(t.gross_amount, t.fee_amount, t.amount) for t in transfers] == [(1000, 100, 900)] * 3
    reversed_ = [t for t in transfers if t.reversals]
    assert len(reversed_) == 1
    assert reversed_[0].amount_reversed == 100
    assert reversed_[0].reversals[0].cause == "manual"
    assert reversed_[0].reversals_complete
