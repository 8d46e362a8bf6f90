"""Which accounts Stripe lets a platform create: country, service agreement, capabilities.

Pure rules for ``POST /v1/accounts`` on a US platform (the simulator's platform is in the
US), each with the page it comes from; sim/README.md lists them with their answers.

- https://docs.stripe.com/connect/service-agreement-types: `full` or `recipient`; a
  `recipient` account cannot request `card_payments`; cross-border accounts (country other
  than the platform's) go under `recipient`.
- https://docs.stripe.com/connect/cross-border-payouts: cross-border payouts need Stripe to
  enable them for the platform; which countries a US platform reaches; accounts in the
  US/CA/UK/EEA/CH region can also receive transfers under `full`.
- https://docs.stripe.com/connect/account-capabilities: `card_payments` goes with
  `transfers`; `transfers` without `card_payments` needs the platform's approval.
- https://docs.stripe.com/error-codes: `country_unsupported`.

Stripe's own country lists are longer than the simulator's and change over time: the
simulator knows the countries below and answers every other ISO code as unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_sim.errors import StripeError, invalid_request, parameter_invalid

PLATFORM_COUNTRY = "US"


def _codes(*rows: str) -> frozenset[str]:
    return frozenset(code for row in rows for code in row.split())


# ISO 3166-1 alpha-2, every officially assigned code.
ISO_COUNTRIES = _codes(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ",
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM",
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS",
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN",
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ",
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM",
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV",
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI",
    "VN VU WF WS YE YT ZA ZM ZW",
)
EEA = _codes(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK"
)
# Stripe supports transfers on the payments balance within US, CA, UK, EEA and CH: accounts
# there receive a US platform's transfers under the `full` agreement too.
FULL_TRANSFER_REGION = EEA | {"US", "CA", "GB", "CH"}
# Countries where Stripe itself operates: accounts there may take the `full` agreement.
FULL_AGREEMENT_COUNTRIES = FULL_TRANSFER_REGION | {"AU", "NZ", "JP", "SG", "HK", "MX", "BR", "AE"}
# Payout-only countries of a US platform's cross-border list: `recipient` accounts only.
RECIPIENT_ONLY_COUNTRIES = _codes("AL DZ AO AG AR AM AZ BS BH BD BJ BT BO BA BW BN KE LK MY KW")
CREATABLE_COUNTRIES = FULL_AGREEMENT_COUNTRIES | RECIPIENT_ONLY_COUNTRIES


@dataclass
class PlatformApprovals:
    """What Stripe has enabled for the platform (``/_sim/config`` ``platform``)."""

    # Accounts may request `transfers` without `card_payments` (Stripe grants this on request).
    transfers_without_card_payments: bool = True
    # Cross-border payouts: `recipient` accounts outside the platform's country.
    cross_border_payouts: bool = True
    # The platform's keys may use Accounts v2 (`/v2/core/*`); off, every v2 call is refused.
    accounts_v2: bool = True

    @classmethod
    def from_json(cls, raw: object) -> PlatformApprovals:
        if not isinstance(raw, dict):
            raise ValueError("platform must be an object")
        unknown = set(raw) - set(cls().to_json())
        if unknown:
            raise ValueError(f"unknown platform fields: {sorted(unknown)}")
        for name, value in raw.items():
            if not isinstance(value, bool):
                raise ValueError(f"platform.{name} must be true or false")
        return cls(**raw)

    def to_json(self) -> dict[str, bool]:
        return {
            "transfers_without_card_payments": self.transfers_without_card_payments,
            "cross_border_payouts": self.cross_border_payouts,
            "accounts_v2": self.accounts_v2,
        }


def check_country(country: str) -> None:
    """A country code Stripe knows and a US platform may create accounts in."""
    if country not in ISO_COUNTRIES:
        raise parameter_invalid(
            f"Country '{country}' is unknown. Try using a 2-character alphanumeric country "
            "code instead, such as 'US', 'EG', or 'GB'. A full list of country codes is "
            "available at https://en.wikipedia.org/wiki/ISO_3166-1_alpha-2"
            "#Officially_assigned_code_elements",
            "country",
        )
    if country not in CREATABLE_COUNTRIES:
        raise _not_from_this_platform(country)


def check_agreement(country: str, agreement: str, approvals: PlatformApprovals) -> None:
    """The service agreement fits the country and what the platform may do."""
    if agreement == "recipient":
        if country == PLATFORM_COUNTRY:
            raise invalid_request(
                f"The `recipient` service agreement is not available for accounts in "
                f"{country}, the platform's own country; use the `full` service agreement.",
                param="tos_acceptance[service_agreement]",
            )
        if not approvals.cross_border_payouts:
            raise _not_from_this_platform(country)
    elif country in RECIPIENT_ONLY_COUNTRIES:
        raise invalid_request(
            f"The full service agreement is not supported for accounts in {country}.",
            param="tos_acceptance[service_agreement]",
        )


def check_capabilities(
    requested: set[str], *, agreement: str, dashboard: str, approvals: PlatformApprovals
) -> None:
    """``card_payments`` and ``transfers`` as Stripe allows them together."""
    card, transfers = "card_payments" in requested, "transfers" in requested
    if card and agreement == "recipient":
        raise invalid_request(
            "Accounts under the `recipient` service agreement cannot request the "
            "`card_payments` capability.",
            param="capabilities[card_payments]",
        )
    if card and not transfers:
        raise invalid_request(
            "Accounts do not currently support `card_payments` without `transfers`. Please "
            "visit https://stripe.com/docs/connect/account-capabilities#card-payments for "
            "more details."
        )
    if transfers and not card and agreement == "full":
        if dashboard == "full":
            raise invalid_request(
                "You cannot request the `transfers` capability without the `card_payments` "
                "capability for accounts when controller[stripe_dashboard][type]=full, which "
                "includes Standard accounts.",
                param="requested_capabilities",
            )
        if not approvals.transfers_without_card_payments:
            raise invalid_request(
                "Your platform needs approval for accounts to have requested the `transfers` "
                "capability without the `card_payments` capability.",
                param="requested_capabilities",
            )


def check_transfer_destination(country: str, agreement: str) -> None:
    """A US platform's transfer reaches a `full` account only inside US/CA/UK/EEA/CH."""
    if agreement == "full" and country not in FULL_TRANSFER_REGION:
        raise invalid_request(
            f"Funds can't be sent to accounts located in {country} when the account is under "
            "the `full` service agreement.",
            param="destination",
        )


def _not_from_this_platform(country: str) -> StripeError:
    return invalid_request(
        f"Connected accounts in {country} cannot be created by platforms in "
        f"{PLATFORM_COUNTRY}. Please contact us via https://support.stripe.com/contact if "
        "you need further assistance.",
        code="country_unsupported",
        param="country",
    )
