"""Authentication, login links, deauthorization, and the answer's envelope."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.sim import API_KEY, Receiver, Sim


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


RESTRICTED = "rk_test_51RestrictedKeyForTests0000abcdef"


def _masked(key: str) -> str:
    prefix, rest = key[:8], key[8:]
    return prefix + "*" * (len(rest) - 6) + rest[-6:]


async def _restrict(sim: Sim, *deny: str) -> None:
    answer = await sim.admin.post(
        "/_sim/config", json={"restricted_keys": {RESTRICTED: {"deny": list(deny)}}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["restricted_keys"] == {RESTRICTED: {"deny": list(deny)}}


async def test_a_restricted_key_without_the_permission_gets_stripes_403(sim: Sim) -> None:
    account = await sim.express_account()
    await _restrict(sim, "GET /v1/accounts/*")
    platform_id = (await sim.admin.get("/_sim/platform")).json()["test"]["id"]

    with pytest.raises(stripe.PermissionError) as caught:
        await sim.client(RESTRICTED).v1.accounts.retrieve_async(account.id)

    assert caught.value.http_status == 403
    error = caught.value.json_body["error"]
    assert error["type"] == "invalid_request_error"
    assert "code" not in error
    assert "param" not in error
    assert error["message"] == (
        f"The provided key '{_masked(RESTRICTED)}' does not have the required permissions for "
        f"this endpoint on account '{platform_id}'. Having the 'rak_accounts_kyc_basic_read' "
        "permission would allow this request to continue."
    )


async def test_a_restricted_key_may_still_make_the_calls_it_is_not_denied(sim: Sim) -> None:
    account = await sim.express_account()
    await _restrict(sim, "GET /v1/accounts/*")

    listed = await sim.client(RESTRICTED).v1.accounts.list_async()
    balance = await sim.client(RESTRICTED).v1.balance.retrieve_async()
    other = await sim.client("rk_test_51AnotherRestrictedKey00").v1.accounts.retrieve_async(
        account.id
    )

    assert [a.id for a in listed.data] == [account.id]
    assert balance.object == "balance"
    assert other.id == account.id


async def test_the_permission_error_names_the_connected_account_acted_on(sim: Sim) -> None:
    account = await sim.active_account()
    await _restrict(sim, "POST /v1/payouts")

    with pytest.raises(stripe.PermissionError) as caught:
        await sim.client(RESTRICTED).v1.payouts.create_async(
            params={"amount": 1, "currency": "usd"}, options={"stripe_account": account.id}
        )

    message = caught.value.json_body["error"]["message"]
    assert f"on account '{account.id}'" in message
    assert "'rak_payout_write' permission" in message


async def test_a_bad_restricted_keys_setting_is_refused(sim: Sim) -> None:
    for body in (
        {"restricted_keys": {"sk_test_51NotRestricted": {"deny": []}}},
        {"restricted_keys": {RESTRICTED: {"deny": ["accounts"]}}},
        {"restricted_keys": {RESTRICTED: {"allow": []}}},
    ):
        answer = await sim.admin.post("/_sim/config", json=body)
        assert answer.status_code == 400, body

    assert (await sim.admin.get("/_sim/config")).json()["restricted_keys"] == {}


async def _deauthorized(sim: Sim) -> str:
    account = await sim.express_account()
    answer = await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")
    assert answer.status_code == 200
    return account.id


def _no_access_message(account_id: str) -> str:
    return (
        f"The provided key '{_masked(API_KEY)}' does not have access to account "
        f"'{account_id}' (or that account does not exist). Application access may have "
        "been revoked."
    )


async def test_a_deauthorized_account_read_by_id_is_account_invalid(sim: Sim) -> None:
    account_id = await _deauthorized(sim)

    answer = await sim.admin.get(
        f"/v1/accounts/{account_id}", headers={"Authorization": f"Bearer {API_KEY}"}
    )

    assert answer.status_code == 403
    assert answer.json()["error"] == {
        "code": "account_invalid",
        "doc_url": "https://stripe.com/docs/error-codes/account-invalid",
        "message": _no_access_message(account_id),
        "request_log_url": f"https://dashboard.stripe.com/test/logs/{answer.headers['request-id']}",
        "type": "invalid_request_error",
    }


async def test_a_deauthorized_account_acted_on_with_stripe_account_is_account_invalid(
    sim: Sim,
) -> None:
    account_id = await _deauthorized(sim)

    with pytest.raises(stripe.PermissionError) as caught:
        await sim.stripe.v1.balance.retrieve_async(options={"stripe_account": account_id})

    assert caught.value.http_status == 403
    # stripe-python does not copy a 403's code to the exception: it is in the body.
    assert caught.value.json_body["error"]["code"] == "account_invalid"
    assert caught.value.json_body["error"]["message"] == _no_access_message(account_id)


async def test_a_deauthorized_account_and_a_missing_permission_are_told_apart(sim: Sim) -> None:
    account_id = await _deauthorized(sim)
    live = await sim.express_account()
    await _restrict(sim, "GET /v1/accounts/*")

    with pytest.raises(stripe.PermissionError) as gone:
        await sim.stripe.v1.accounts.retrieve_async(account_id)
    with pytest.raises(stripe.PermissionError) as denied:
        await sim.client(RESTRICTED).v1.accounts.retrieve_async(live.id)

    assert gone.value.json_body["error"]["code"] == "account_invalid"
    assert "code" not in denied.value.json_body["error"]
    assert "does not have the required permissions" in str(denied.value.user_message)


async def test_the_deauthorized_event_is_dated_by_the_simulator_clock(sim: Sim) -> None:
    account = await sim.express_account()
    clock = (await sim.admin.post("/_sim/clock", json={"advance_seconds": 3 * 86400})).json()

    answer = await sim.admin.post(f"/_sim/accounts/{account.id}/deauthorize")

    event = (
        await sim.admin.get("/_sim/events", params={"type": "account.application.deauthorized"})
    ).json()["data"][0]
    assert event["id"] == answer.json()["event"]
    assert abs(event["created"] - clock["now"]) <= 2
    assert event["created"] > time.time() + 2 * 86400
