"""Fee arithmetic on integer minor units, with `Decimal` and never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

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


RefundFeePolicy = Literal["proportional", "platform_keeps_fee"]
"""Who carries the platform's fee when a charge is refunded or disputed: `proportional` (the
platform returns its fee share with the refund: the organization gives back its net in the
refunded share) or `platform_keeps_fee` (the organization gives back the refund itself, up to
its net)."""


def clawback(*, net: int, charged: int, taken_back: int, policy: RefundFeePolicy) -> int:
    """What an organization owes back of a transfer of `net`, made from a charge of `charged`,
    once `taken_back` of that charge has been refunded (or disputed), in all:
    `round_half_up(net * taken_back / charged)`, or `min(taken_back, net)` when the platform
    keeps its fee. A reversal is this less what was already reversed for the same cause, so
    partial refunds sum exactly to `net` at a full refund, with no drift from rounding each
    step (contract/clawback.json)."""
    for name, value in (("net", net), ("charged", charged), ("taken_back", taken_back)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer of minor units")
    if charged == 0 or net > charged or taken_back > charged:
        raise ValueError("net and taken_back must be within the charge, which must be positive")
    if policy == "platform_keeps_fee":
        return min(taken_back, net)
    share = Decimal(net) * Decimal(taken_back) / Decimal(charged)
    return int(share.quantize(Decimal(1), ROUND_HALF_UP))
