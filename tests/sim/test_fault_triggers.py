"""The fault rule model the simulator's chaos and devstack's fault proxy share."""

from __future__ import annotations

import random

import pytest

from devstack.faultproxy import Rule
from stripe_sim.config import FaultRule
from stripe_sim.fault_triggers import FaultTrigger


def test_a_rule_matches_by_method_in_any_case_and_by_path_prefix() -> None:
    trigger = FaultTrigger(path_prefix="/v1/payouts", method="post")

    assert trigger.matches("POST", "/v1/payouts/po_1")
    assert not trigger.matches("GET", "/v1/payouts")
    assert not trigger.matches("POST", "/v1/transfers")


def test_a_counted_rule_fires_that_many_times_then_never() -> None:
    trigger = FaultTrigger(count=2)
    rng = random.Random(1)

    fired = [trigger.fires("GET", "/v1/balance", rng) for _ in range(4)]

    assert fired == [True, True, False, False]
    assert trigger.count == 0


def test_a_rate_draws_from_the_seeded_source_only_for_matching_rules() -> None:
    first_draw_fires = random.Random(7).random() < 0.5
    trigger = FaultTrigger(path_prefix="/v1/accounts", rate=0.5)
    rng = random.Random(7)

    assert not trigger.fires("GET", "/v1/balance", rng)  # no match: nothing drawn
    assert trigger.fires("GET", "/v1/accounts", rng) == first_draw_fires


@pytest.mark.parametrize("rule", [FaultRule, Rule])
def test_both_fault_injectors_use_the_shared_model(rule: type[FaultTrigger]) -> None:
    assert issubclass(rule, FaultTrigger)
    assert "fires" not in vars(rule)
    assert "matches" not in vars(rule)
