"""`split_fee`: `fee = round_half_up(amount * percent / 100)`, `net = amount - fee`, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connect_backend.money import MAX_AMOUNT, FeeSplit, as_percent, clawback, split_fee

CONTRACT = Path(__file__).resolve().parents[2] / "contract"


FEE_RULE: dict[str, Any] = json.loads((CONTRACT / "fee-rule.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "vector", FEE_RULE["vectors"], ids=lambda v: f"{v['amount']}@{v['percent']}%"
)
def test_fee_is_rounded_half_up_to_a_minor_unit(vector: dict[str, Any]) -> None:
    """contract/fee-rule.json: the console's preview checks the same vectors."""
    split = split_fee(vector["amount"], vector["percent"])

    assert (split.gross, split.fee, split.net) == (
        vector["amount"],
        vector["fee"],
        vector["amount"] - vector["fee"],
    )


def test_the_contract_s_largest_amount_is_the_service_s() -> None:
    assert FEE_RULE["max_amount"] == MAX_AMOUNT


@pytest.mark.parametrize("percent", FEE_RULE["refused_percents"])
def test_the_contract_s_refused_percents_are_refused(percent: float) -> None:
    with pytest.raises(ValueError, match="must be within"):
        split_fee(100, percent)


def test_zero_amount_has_zero_fee() -> None:
    assert split_fee(0, 10) == FeeSplit(gross=0, fee=0, net=0, percent=Decimal("10"))


@pytest.mark.parametrize("percent", [12.345, "12.345", Decimal("12.345")])
def test_percent_from_float_string_or_decimal_is_the_same_exact_decimal(percent: Any) -> None:
    split = split_fee(10_000, percent)

    assert split.percent == Decimal("12.345")
    assert split.fee == 1235


def test_a_float_percent_is_read_by_its_shortest_repr_not_its_binary_value() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 as a float; the fee must not pick up that noise.
    assert as_percent(0.1) == Decimal("0.1")
    assert split_fee(50_000_000, 0.1 + 0.2).fee == 150_000


def test_fee_and_net_always_add_up_to_the_gross() -> None:
    for amount in (1, 7, 99, 1001, 123_456, MAX_AMOUNT):
        for percent in (0, 0.01, 1, 2.9, 12.345, 33.333, 50, 99.99, 100):
            split = split_fee(amount, percent)
            assert split.fee + split.net == amount
            assert 0 <= split.fee <= amount


@pytest.mark.parametrize("percent", [-0.01, 100.01, "nan", "inf", "-inf", float("nan")])
def test_percent_outside_0_to_100_is_refused(percent: Any) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        split_fee(1000, percent)


@pytest.mark.parametrize("amount", [-1, 1.5, 10.0, True, "10"])
def test_amount_must_be_a_non_negative_integer(amount: Any) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        split_fee(amount, 10)


CLAWBACK: dict[str, Any] = json.loads((CONTRACT / "clawback.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "vector",
    CLAWBACK["vectors"],
    ids=lambda v: f"{v['net']}of{v['charged']}-back{v['taken_back']}-{v['policy']}",
)
def test_what_an_organization_owes_back(vector: dict[str, Any]) -> None:
    owed = clawback(
        net=vector["net"],
        charged=vector["charged"],
        taken_back=vector["taken_back"],
        policy=vector["policy"],
    )

    assert owed == vector["owed"]


@pytest.mark.parametrize("steps", CLAWBACK["steps"], ids=lambda s: str(s["refunds"]))
def test_partial_refunds_reverse_exactly_the_net_in_all(steps: dict[str, Any]) -> None:
    """Each reversal is the cumulative target less what was already reversed: no drift."""
    reversed_so_far, refunded, made = 0, 0, []
    for refund in steps["refunds"]:
        refunded += refund
        target = clawback(
            net=steps["net"], charged=steps["charged"], taken_back=refunded, policy=steps["policy"]
        )
        made.append(target - reversed_so_far)
        reversed_so_far = target

    assert made == steps["reversals"]
    if refunded == steps["charged"] and steps["policy"] == "proportional":
        assert sum(made) == steps["net"]


@pytest.mark.parametrize("refused", CLAWBACK["refused"])
def test_a_clawback_outside_its_charge_is_refused(refused: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        clawback(**refused, policy="proportional")
