"""Where a US platform's organizations may onboard, and under which service agreement.

Stripe's rules, as its documentation states them (the simulator enforces the same, and
tests/sim/test_sim_account_rules.py holds the two lists to each other):

- https://docs.stripe.com/connect/service-agreement-types — an account takes the `full` or
  the `recipient` service agreement; a `recipient` account cannot request `card_payments`
  and cannot be in the platform's own country.
- https://docs.stripe.com/connect/cross-border-payouts — a US platform's transfers reach
  `full` accounts only in the US, Canada, the UK, the EEA and Switzerland; elsewhere they
  need the `recipient` agreement (cross-border payouts, which Stripe enables per platform),
  and some countries only ever take `recipient`.
- https://docs.stripe.com/connect/account-capabilities — `transfers` without `card_payments`
  needs the platform's approval.
"""

from __future__ import annotations

from typing import Literal

PLATFORM_COUNTRY = "US"


def _codes(*rows: str) -> frozenset[str]:
    return frozenset(code for row in rows for code in row.split())


EEA = _codes(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK"
)
TRANSFERS_WITH_FULL_AGREEMENT = EEA | {"US", "CA", "GB", "CH"}
"""A US platform's transfers reach `full` accounts here (the default allow-list)."""
RECIPIENT_ELSEWHERE = _codes("AU NZ JP SG HK MX BR AE")
"""Stripe operates here, but a US platform's transfers reach accounts only as `recipient`."""
RECIPIENT_ONLY = _codes("AL DZ AO AG AR AM AZ BS BH BD BJ BT BO BA BW BN KE LK MY KW")
"""Payout-only countries of cross-border payouts: `recipient` accounts only."""
REACHABLE = TRANSFERS_WITH_FULL_AGREEMENT | RECIPIENT_ELSEWHERE | RECIPIENT_ONLY
"""Every country `CONNECT_ALLOWED_COUNTRIES` may name."""

ServiceAgreement = Literal["full", "recipient"]


def service_agreement(country: str) -> ServiceAgreement:
    """The agreement an account in `country` needs to receive a US platform's transfers."""
    return "full" if country in TRANSFERS_WITH_FULL_AGREEMENT else "recipient"
