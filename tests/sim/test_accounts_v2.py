"""Accounts v2 in the simulator: recipient accounts, their v2 view, v2 Account Links, and the
v1 money endpoints serving them."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.sim import Receiver, Servers, Sim

INCLUDE = ["configuration.recipient", "requirements", "defaults"]
RETURN_URL = "https://app.example.com/settings/payments?connect=return"
REFRESH_URL = "https://app.example.com/settings/payments?connect=refresh"


async def _recipient(sim: Sim, **params: Any) -> Any:
    base: dict[str, Any] = {
        "display_name": "Acme",
        "dashboard": "express",
        "identity": {"country": "us"},
        "defaults": {
            "responsibilities": {"fees_collector": "application", "losses_collector": "application"}
        },
        "configuration": {
            "recipient": {
                "capabilities": {"stripe_balance": {"stripe_transfers": {"requested": True}}}
            }
        },
        "metadata": {"organization_id": "org_1"},
        "include": INCLUDE,
    }
    return await sim.stripe.v2.core.accounts.create_async(params={**base, **params})  # type: ignore[arg-type]


def _capabilities(account: Any) -> tuple[str, str]:
    balance = account.configuration.recipient.capabilities.stripe_balance
    return balance.stripe_transfers.status, balance.payouts.status


async def test_a_new_recipient_account_awaits_onboarding(sim: Sim) -> None:
    account = await _recipient(sim)

    assert account.id.startswith("acct_")
    assert account.object == "v2.core.account"
    assert account.dashboard == "express"
    assert account.applied_configurations == ["recipient"]
    assert _capabilities(account) == ("restricted", "restricted")
    entries = account.requirements.entries
    assert entries
    assert {e.awaiting_action_from for e in entries} == {"user"}
    assert {e.requested_reasons[0].code for e in entries} == {"routine_onboarding"}
    assert account.defaults.responsibilities.losses_collector == "application"
    held = await sim.stripe.v2.core.accounts.retrieve_async(account.id, params={"include": INCLUDE})  # type: ignore[typeddict-item]
    assert held.id == account.id
    bare = await sim.stripe.v2.core.accounts.retrieve_async(account.id)
    assert bare.configuration is None  # nothing but the basics without include


async def test_a_v2_link_onboards_through_the_hosted_page(sim: Sim) -> None:
    account = await _recipient(sim)

    link = await sim.stripe.v2.core.account_links.create_async(
        params={
            "account": account.id,
            "use_case": {
                "type": "account_onboarding",
                "account_onboarding": {"refresh_url": REFRESH_URL, "return_url": RETURN_URL},
            },
        }
    )
    done = await sim.admin.post(link.url, data={"outcome": "complete"})

    assert link.url.startswith(f"{sim.url}/setup/s/{account.id}/")
    assert link.expires_at > link.created
    assert done.status_code == 303
    assert done.headers["location"] == RETURN_URL
    held = await sim.stripe.v2.core.accounts.retrieve_async(account.id, params={"include": INCLUDE})  # type: ignore[typeddict-item]
    assert _capabilities(held) == ("active", "active")
    assert held.requirements.entries == []


async def test_a_rejected_v2_account_says_why_on_its_capability(sim: Sim) -> None:
    account = await _recipient(sim)
    await sim.onboard(account.id, "reject")

    held = await sim.stripe.v2.core.accounts.retrieve_async(account.id, params={"include": INCLUDE})  # type: ignore[typeddict-item]

    transfers = held.configuration.recipient.capabilities.stripe_balance.stripe_transfers
    assert transfers.status == "rejected"
    assert transfers.status_details[0].code == "rejected_fraud"


async def test_v1_transfers_balance_and_payouts_serve_a_v2_account(sim: Sim) -> None:
    account = await _recipient(sim)
    await sim.onboard(account.id, "complete")
    await sim.fund_platform(10_000)
    # Accounts v2 has no payout schedule of its own: v1's account update sets it.
    await sim.stripe.v1.accounts.update_async(
        account.id, params={"settings": {"payouts": {"schedule": {"interval": "manual"}}}}
    )

    transfer = await sim.stripe.v1.transfers.create_async(
        params={"amount": 4_000, "currency": "usd", "destination": account.id}
    )
    available = await sim.available(account.id)
    payout = await sim.stripe.v1.payouts.create_async(
        params={"amount": 1_000, "currency": "usd"}, options={"stripe_account": account.id}
    )

    assert transfer.destination == account.id
    assert available == 4_000
    assert payout.status == "pending"
    assert await sim.available(account.id) == 3_000


async def test_a_closed_v2_account_is_gone_but_still_retrieved_as_closed(sim: Sim) -> None:
    account = await _recipient(sim)

    await sim.stripe.v2.core.accounts.close_async(account.id)

    held = await sim.stripe.v2.core.accounts.retrieve_async(account.id, params={"include": INCLUDE})  # type: ignore[typeddict-item]
    assert held.closed is True
    # Only limited information: nothing `include` names.
    assert (held.configuration, held.requirements, held.identity) == (None, None, None)
    with pytest.raises(stripe.StripeError):
        await sim.stripe.v2.core.accounts.close_async(account.id)
    with pytest.raises(stripe.StripeError):
        await sim.stripe.v1.accounts.retrieve_async(account.id)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"dashboard": "partial"}, "dashboard"),
        (
            {
                "defaults": {
                    "responsibilities": {"fees_collector": "x", "losses_collector": "stripe"}
                }
            },
            "defaults.responsibilities.fees_collector",
        ),
        ({"configuration": {"merchant": {}}}, "configuration"),
        ({"identity": {}}, "identity.country"),
    ],
)
async def test_a_v2_account_with_bad_parameters_is_refused(
    sim: Sim, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.StripeError) as refused:
        await _recipient(sim, **params)

    assert refused.value.http_status == 400
    body = refused.value.json_body or {}
    assert body["error"]["param"] == param


THIN_SECRET = "whsec_thin_destination"


@pytest.fixture
async def destination(servers: Servers) -> list[Any]:
    """An event destination's endpoint: each thin event as stripe-python's
    `parse_event_notification` verified and parsed it."""
    received: list[Any] = []
    parser = stripe.StripeClient("sk_test_parser")

    async def handle(request: Request) -> Response:
        body = await request.body()
        try:
            notice = parser.parse_event_notification(
                body, request.headers.get("stripe-signature"), THIN_SECRET
            )
        except stripe.SignatureVerificationError:
            return Response(status_code=400)
        received.append(notice)
        return Response(status_code=200)

    url = await servers.start(Starlette(routes=[Route("/thin", handle, methods=["POST"])]))
    received.append(url)  # the first item: where it listens
    return received


async def _destination(sim: Sim, destination: list[Any]) -> None:
    made = await sim.admin.post(
        "/_sim/webhook_endpoints",
        json={"url": f"{destination[0]}/thin", "secret": THIN_SECRET, "thin": True},
    )
    assert made.status_code == 200, made.text


async def test_a_v2_account_s_changes_reach_an_event_destination_as_thin_events(
    sim: Sim, destination: list[Any], receiver: Receiver
) -> None:
    await _destination(sim, destination)
    account = await _recipient(sim)

    await sim.onboard(account.id, "complete")
    await sim.stripe.v2.core.accounts.close_async(account.id)
    await sim.flush()

    notices = destination[1:]
    assert [n.type for n in notices] == [
        "v2.core.account[requirements].updated",
        "v2.core.account[configuration.recipient].capability_status_updated",
        "v2.core.account.closed",
    ]
    assert {(n.related_object.id, n.related_object.type) for n in notices} == {
        (account.id, "v2.core.account")
    }
    assert {n.related_object.url for n in notices} == {f"/v2/core/accounts/{account.id}"}
    # Thin events go to event destinations only; /v1/events knows none of them.
    assert not [e for e in receiver.events if e["type"].startswith("v2.")]
    recorded = (await sim.admin.get("/_sim/events", params={"limit": 100})).json()["data"]
    assert len([e for e in recorded if e["object"] == "v2.core.event"]) == 3
    listed = await sim.stripe.v1.events.list_async(params={"limit": 100})
    assert not [e for e in listed.data if e.type.startswith("v2.")]


async def test_a_v1_account_makes_no_thin_events(sim: Sim, destination: list[Any]) -> None:
    await _destination(sim, destination)
    account = await sim.express_account()

    await sim.onboard(account.id, "complete")
    await sim.flush()

    assert destination[1:] == []


async def test_a_platform_without_accounts_v2_gets_v2_s_feature_not_enabled(sim: Sim) -> None:
    made = await _recipient(sim)
    configured = await sim.admin.post("/_sim/config", json={"platform": {"accounts_v2": False}})
    assert configured.status_code == 200
    assert configured.json()["platform"]["accounts_v2"] is False

    with pytest.raises(stripe.FeatureNotEnabledError) as refused:
        await _recipient(sim)
    with pytest.raises(stripe.FeatureNotEnabledError):
        await sim.stripe.v2.core.accounts.retrieve_async(made.id)

    assert refused.value.http_status == 400
    assert refused.value.json_body["error"]["type"] == "feature_not_enabled"
    listed = await sim.stripe.v1.accounts.list_async()
    assert [a.id for a in listed.data] == [made.id]  # nothing made; v1 still answers
    await sim.admin.post("/_sim/reset")
    assert (await sim.admin.get("/_sim/config")).json()["platform"]["accounts_v2"] is True
