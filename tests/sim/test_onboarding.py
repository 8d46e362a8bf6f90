"""Account Links and the simulated hosted onboarding page."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.sim import Receiver, Sim

RETURN_URL = "https://app.example.com/settings/payments?connect=return"
REFRESH_URL = "https://app.example.com/settings/payments?connect=refresh"


async def _link(sim: Sim, account_id: str) -> stripe.AccountLink:
    return await sim.stripe.v1.account_links.create_async(
        params={
            "account": account_id,
            "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL,
            "type": "account_onboarding",
        }
    )


async def _choose(sim: Sim, url: str, outcome: str) -> str:
    """Open the hosted page like a browser, press the button; return the redirect target."""
    page = await sim.admin.get(url)
    assert page.status_code == 200
    # Each choice is a form without an action: it posts back to the page's own URL.
    assert f"<form method='post'><input type='hidden' name='outcome' value='{outcome}'>" in (
        page.text
    )
    answer = await sim.admin.post(url, data={"outcome": outcome})
    assert answer.status_code == 303
    return answer.headers["location"]


async def test_account_link_points_at_the_simulator_and_expires_in_300_seconds(sim: Sim) -> None:
    account = await sim.express_account()

    link = await _link(sim, account.id)

    assert link.object == "account_link"
    assert link.url.startswith(f"{sim.url}/setup/s/{account.id}/")
    assert link.expires_at - link.created == 300
    assert abs(link.created - time.time()) < 5


async def test_complete_enables_the_account_and_returns(sim: Sim) -> None:
    account = await sim.express_account()
    link = await _link(sim, account.id)

    location = await _choose(sim, link.url, "complete")

    assert location == RETURN_URL
    done = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert (done.details_submitted, done.charges_enabled, done.payouts_enabled) == (
        True,
        True,
        True,
    )
    assert done.capabilities.to_dict() == {"transfers": "active"}
    assert done.requirements.currently_due == []
    assert done.requirements.disabled_reason is None
    assert done.external_accounts.data[0].object == "bank_account"


async def test_leaving_information_due_keeps_payouts_disabled(sim: Sim) -> None:
    account = await sim.express_account()
    link = await _link(sim, account.id)

    await _choose(sim, link.url, "due")

    due = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert due.details_submitted is True
    assert due.payouts_enabled is False
    assert due.requirements.currently_due == ["individual.verification.document"]


async def test_reject_disables_everything_with_a_rejection_reason(sim: Sim) -> None:
    account = await sim.express_account()
    link = await _link(sim, account.id)

    await _choose(sim, link.url, "reject")

    rejected = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert rejected.requirements.disabled_reason == "rejected.fraud"
    assert (rejected.charges_enabled, rejected.payouts_enabled) == (False, False)
    assert rejected.capabilities.to_dict() == {"transfers": "inactive"}


async def test_a_used_link_redirects_to_refresh_url(sim: Sim) -> None:
    account = await sim.express_account()
    link = await _link(sim, account.id)
    await _choose(sim, link.url, "complete")

    again = await sim.admin.get(link.url)

    assert again.status_code == 302
    assert again.headers["location"] == REFRESH_URL


async def test_an_expired_link_redirects_to_refresh_url(sim: Sim) -> None:
    account = await sim.express_account()
    link = await _link(sim, account.id)
    await sim.admin.post("/_sim/clock", json={"advance_seconds": 301})

    page = await sim.admin.get(link.url)

    assert page.status_code == 302
    assert page.headers["location"] == REFRESH_URL
    assert (await sim.stripe.v1.accounts.retrieve_async(account.id)).details_submitted is False


async def test_onboarding_events_arrive_signed_at_the_connect_endpoint(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.express_account()
    link = await _link(sim, account.id)

    await _choose(sim, link.url, "complete")
    flushed = await sim.flush()

    assert flushed["settled"] is True
    [updated] = receiver.of_type("account.updated")
    [capability] = receiver.of_type("capability.updated")
    assert updated["_endpoint"] == "/connect"
    assert updated["account"] == account.id
    assert updated["api_version"] == "2026-10-28.endive"
    assert updated["livemode"] is False
    assert updated["id"].startswith("evt_")
    assert updated["data"]["object"]["charges_enabled"] is True
    assert updated["data"]["previous_attributes"]["charges_enabled"] is False
    assert capability["data"]["object"]["status"] == "active"
    assert capability["data"]["previous_attributes"] == {"status": "inactive"}


async def test_account_update_links_are_refused_for_express_accounts(sim: Sim) -> None:
    account = await sim.express_account()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.account_links.create_async(
            params={"account": account.id, "return_url": RETURN_URL, "type": "account_update"}
        )

    assert caught.value.param == "type"


async def test_account_link_without_type_is_a_missing_parameter(sim: Sim) -> None:
    account = await sim.express_account()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.account_links.create_async(params={"account": account.id})  # type: ignore[typeddict-item]

    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "type"


async def test_review_outcome_leaves_verification_pending(sim: Sim) -> None:
    account = await sim.express_account()

    await sim.onboard(account.id, "review")

    pending = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert pending.requirements.pending_verification == ["individual.verification.document"]
    assert pending.requirements.disabled_reason == "requirements.pending_verification"
    assert pending.capabilities.to_dict() == {"transfers": "pending"}


async def test_patch_helper_sets_any_field_and_emits_account_updated(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.active_account()

    answer = await sim.admin.post(
        f"/_sim/accounts/{account.id}/patch",
        json={"requirements": {"disabled_reason": "platform_paused"}, "payouts_enabled": False},
    )
    await sim.flush()

    [event_id] = answer.json()["events"]
    [event] = [e for e in receiver.of_type("account.updated") if e["id"] == event_id]
    assert event["data"]["object"]["requirements"]["disabled_reason"] == "platform_paused"
    assert event["data"]["previous_attributes"] == {
        "payouts_enabled": True,
        "requirements": {"disabled_reason": None},
    }


async def test_truth_lists_every_account_with_its_balance(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")

    truth = (await sim.admin.get("/_sim/accounts")).json()

    [entry] = truth["data"]
    assert entry["id"] == account.id
    assert entry["deauthorized"] is True
    assert entry["balance"] == {"available": {}, "pending": {}}
    assert entry["account"]["type"] == "express"
