"""`split_fee`: `fee = round_half_up(amount * percent / 100)`, `net = amount - fee`, exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connect_backend.money import MAX_AMOUNT, FeeSplit, as_percent, split_fee


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [
        (1000, 0, 0),
        (1000, 100, 1000),
        (1000, 10, 100),
        (1000, 2.9, 29),
        (1234, 2.9, 36),  # 35.786
        (10_000, 12.345, 1235),  # 1234.5 rounds up
        (1000, 12.345, 123),  # 123.45 rounds down
        (999, 12.5, 125),  # 124.875
        (1, 10, 0),  # 0.1
        (1, 50, 1),  # 0.5 rounds up
        (1, 49.99, 0),
        (1, 100, 1),
        (MAX_AMOUNT, 10, 10_000_000),  # 9,999,999.9
        (MAX_AMOUNT, 0.01, 10_000),  # 9,999.9999
        (MAX_AMOUNT, 100, MAX_AMOUNT),
    ],
)
def test_fee_is_rounded_half_up_to_a_minor_unit(amount: int, percent: float, fee: int) -> None:
    split = split_fee(amount, percent)

    assert (split.gross, split.fee, split.net) == (amount, fee, amount - fee)


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [(5, 10, 1), (15, 10, 2), (25, 10, 3), (100, 2.5, 3), (100, 0.5, 1), (300, 0.5, 2)],
    ids=["0.5", "1.5", "2.5", "2.5%", "0.5%", "1.5%"],
)
def test_exact_halves_round_up_never_to_even(amount: int, percent: float, fee: int) -> None:
    assert split_fee(amount, percent).fee == fee


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
