"""The ``/v1`` routes: each endpoint's path, method, accepted parameters and handler.

A restricted key's permission for each is in ``access.PERMISSIONS``; any other ``/v1`` path
is Stripe's 404 (:func:`unknown_url`).
"""

from __future__ import annotations

from stripe_sim.endpoint_params import (
    ACCOUNT_CREATE,
    ACCOUNT_LINK_CREATE,
    ACCOUNT_SESSION_CREATE,
    ACCOUNT_UPDATE,
    CHARGE_LIST,
    DISPUTE_LIST,
    EVENT_LIST,
    LIST,
    PAYOUT_CREATE,
    PAYOUT_LIST,
    REFUND_CREATE,
    REFUND_LIST,
    RETRIEVE,
    REVERSAL_CREATE,
    TRANSFER_CREATE,
    TRANSFER_LIST,
)
from stripe_sim.errors import invalid_request
from stripe_sim.store import Store
from stripe_sim.v1 import (
    accounts,
    balance,
    charges,
    disputes,
    events,
    links,
    payouts,
    refunds,
    transfers,
)
from stripe_sim.v1.call import Call, Endpoint, Json

ENDPOINTS: list[Endpoint] = [
    Endpoint("/v1/accounts", "POST", ACCOUNT_CREATE, accounts.create_account),
    Endpoint("/v1/accounts", "GET", LIST, accounts.list_accounts),
    Endpoint("/v1/accounts/{account}", "GET", RETRIEVE, accounts.retrieve_account),
    Endpoint("/v1/accounts/{account}", "POST", ACCOUNT_UPDATE, accounts.update_account),
    Endpoint("/v1/accounts/{account}/capabilities", "GET", RETRIEVE, accounts.list_capabilities),
    Endpoint(
        "/v1/accounts/{account}/capabilities/{capability}",
        "GET",
        RETRIEVE,
        accounts.retrieve_capability,
    ),
    Endpoint("/v1/accounts/{account}/login_links", "POST", RETRIEVE, links.create_login_link),
    Endpoint("/v1/account", "GET", RETRIEVE, accounts.retrieve_current_account),
    Endpoint("/v1/account_links", "POST", ACCOUNT_LINK_CREATE, links.create_account_link),
    Endpoint("/v1/account_sessions", "POST", ACCOUNT_SESSION_CREATE, links.create_account_session),
    Endpoint("/v1/balance", "GET", RETRIEVE, balance.retrieve_balance),
    Endpoint("/v1/transfers", "POST", TRANSFER_CREATE, transfers.create_transfer),
    Endpoint("/v1/transfers", "GET", TRANSFER_LIST, transfers.list_transfers),
    Endpoint("/v1/transfers/{id}", "GET", RETRIEVE, transfers.retrieve_transfer),
    Endpoint("/v1/transfers/{id}/reversals", "POST", REVERSAL_CREATE, transfers.create_reversal),
    Endpoint("/v1/transfers/{id}/reversals", "GET", LIST, transfers.list_reversals),
    Endpoint(
        "/v1/transfers/{id}/reversals/{reversal}", "GET", RETRIEVE, transfers.retrieve_reversal
    ),
    Endpoint("/v1/charges", "GET", CHARGE_LIST, charges.list_charges),
    Endpoint("/v1/charges/{id}", "GET", RETRIEVE, charges.retrieve_charge),
    Endpoint("/v1/refunds", "POST", REFUND_CREATE, refunds.create_refund),
    Endpoint("/v1/refunds", "GET", REFUND_LIST, refunds.list_refunds),
    Endpoint("/v1/refunds/{id}", "GET", RETRIEVE, refunds.retrieve_refund),
    Endpoint("/v1/disputes", "GET", DISPUTE_LIST, disputes.list_disputes),
    Endpoint("/v1/disputes/{id}", "GET", RETRIEVE, disputes.retrieve_dispute),
    Endpoint("/v1/payouts", "POST", PAYOUT_CREATE, payouts.create_payout),
    Endpoint("/v1/payouts", "GET", PAYOUT_LIST, payouts.list_payouts),
    Endpoint("/v1/payouts/{id}", "GET", RETRIEVE, payouts.retrieve_payout),
    Endpoint("/v1/events", "GET", EVENT_LIST, events.list_events),
    Endpoint("/v1/events/{id}", "GET", RETRIEVE, events.retrieve_event),
]


def unknown_url(store: Store, call: Call) -> Json:
    """Any other ``/v1`` path, whatever the method: Stripe's 404."""
    raise invalid_request(
        f"Unrecognized request URL ({call.method}: {call.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        status=404,
    )
