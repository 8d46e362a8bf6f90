"""Fee arithmetic on integer minor units, with `Decimal` and never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MAX_AMOUNT = 99_999_999


@dataclass(frozen=True, slots=True)
class FeeSplit:
    """A gross amount split into the platform's fee and what the organization receives."""

    gross: int
    fee: int
    net: int
    percent: Decimal


def as_percent(value: float | int | str | Decimal) -> Decimal:
    """The percent as an exact Decimal: 12.5 (a float from D1) becomes Decimal('12.5')."""
    percent = value if isinstance(value, Decimal) else Decimal(str(value))
    if not percent.is_finite() or not Decimal(0) <= percent <= Decimal(100):
        raise ValueError("platform fee percent must be within 0..100")
    return percent


def split_fee(amount: int, percent: float | int | str | Decimal) -> FeeSplit:
    """`fee = round_half_up(amount * percent / 100)`, `net = amount - fee`."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a non-negative integer of minor units")
    exact = as_percent(percent)
    fee = int((Decimal(amount) * exact / Decimal(100)).quantize(Decimal(1), ROUND_HALF_UP))
    return FeeSplit(gross=amount, fee=fee, net=amount - fee, percent=exact)
