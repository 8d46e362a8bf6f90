"""Authentication, login links, deauthorization, and the answer's envelope."""

from __future__ import annotations

import pytest
import stripe

from tests.sim.conftest import API_KEY, Receiver, Sim


async def test_missing_api_key_is_401_in_stripes_shape(sim: Sim) -> None:
    answer = await sim.admin.get("/v1/balance")

    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key.")
    assert answer.headers["request-id"].startswith("req_")


async def test_publishable_key_is_rejected_as_authentication_error(sim: Sim) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        await sim.client("pk_test_123456789").v1.balance.retrieve_async()

    assert caught.value.http_status == 401
    assert "Invalid API Key provided: pk_test_*****6789" in str(caught.value.user_message)


async def test_restricted_and_live_keys_are_accepted_in_their_mode(sim: Sim) -> None:
    live = await sim.client("rk_live_51Restricted0000").v1.balance.retrieve_async()
    test = await sim.client("sk_test_51Secret00000000").v1.balance.retrieve_async()

    assert (live.livemode, test.livemode) == (True, False)


async def test_accounts_of_one_mode_are_invisible_to_the_other(sim: Sim) -> None:
    account = await sim.express_account()

    with pytest.raises(stripe.PermissionError):
        await sim.client("sk_live_51Live00000000").v1.accounts.retrieve_async(account.id)


async def test_every_answer_carries_a_request_id(sim: Sim) -> None:
    account = await sim.express_account()

    assert account.last_response is not None
    assert account.last_response.request_id is not None
    assert account.last_response.request_id.startswith("req_")


async def test_unknown_v1_route_is_404_unrecognized_url(sim: Sim) -> None:
    answer = await sim.admin.get(
        "/v1/charges_galore", headers={"Authorization": f"Bearer {API_KEY}"}
    )

    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/charges_galore)."
    )


async def test_login_link_for_an_onboarded_express_account(sim: Sim) -> None:
    account = await sim.active_account()

    link = await sim.stripe.v1.accounts.login_links.create_async(account.id)

    assert link.object == "login_link"
    assert link.url.startswith(f"{sim.url}/express/{account.id}/")
    page = await sim.admin.get(link.url)
    assert page.status_code == 200
    assert "Express dashboard" in page.text


async def test_login_link_for_a_custom_account_is_refused(sim: Sim) -> None:
    account = await sim.stripe.v1.accounts.create_async(
        params={"type": "custom", "capabilities": {"transfers": {"requested": True}}}
    )
    await sim.onboard(account.id)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sim.stripe.v1.accounts.login_links.create_async(account.id)

    assert caught.value.http_status == 400
    assert "not an Express account" in str(caught.value.user_message)


async def test_deauthorize_emits_account_application_deauthorized(
    sim: Sim, receiver: Receiver
) -> None:
    account = await sim.express_account()

    answer = await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")
    await sim.flush()

    [event] = receiver.of_type("account.application.deauthorized")
    assert event["id"] == answer.json()["event"]
    assert event["account"] == account.id
    assert event["data"]["object"]["object"] == "application"
    assert event["_endpoint"] == "/connect"


async def test_deauthorized_account_cannot_be_read_with_the_platform_key(sim: Sim) -> None:
    account = await sim.express_account()
    await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")

    with pytest.raises(stripe.PermissionError) as caught:
        await sim.stripe.v1.accounts.retrieve_async(account.id)

    assert caught.value.http_status == 403
    assert "does not have access to account" in str(caught.value.user_message)


async def test_unknown_stripe_account_header_is_a_permission_error(sim: Sim) -> None:
    with pytest.raises(stripe.PermissionError):
        await sim.stripe.v1.balance.retrieve_async(
            options={"stripe_account": "acct_1Unknown00000000"}
        )
