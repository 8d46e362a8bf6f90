"""`POST /v1/account_sessions` and the stand-in for embedded onboarding."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.sim import Sim

CUSTOM_LIKE = {
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "requirement_collection": "application",
    "stripe_dashboard": {"type": "none"},
}


async def _custom_account(sim: Sim) -> stripe.Account:
    return await sim.stripe.v1.accounts.create_async(
        params={
            "controller": CUSTOM_LIKE,  # type: ignore[typeddict-item]
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
            "tos_acceptance": {"service_agreement": "full"},
        }
    )


async def _session(sim: Sim, account_id: str, components: dict[str, Any]) -> Any:
    return await sim.stripe.v1.account_sessions.create_async(
        params={"account": account_id, "components": components}
    )


async def test_a_session_has_a_single_use_secret_and_stripe_s_default_features(
    sim: Sim,
) -> None:
    account = await sim.express_account()  # the platform carries the losses

    session = await _session(
        sim, account.id, {"account_onboarding": {"enabled": True}, "payouts": {"enabled": True}}
    )

    assert session.object == "account_session"
    assert session.account == account.id
    assert session.client_secret.startswith("accs_secret__")
    assert session.expires_at > 0
    payouts = session.components.payouts.features
    assert payouts.external_account_collection is True
    assert payouts.disable_stripe_user_authentication is False
    # Stripe's defaults when the platform carries the losses: no payouts, no schedule edits.
    assert (payouts.standard_payouts, payouts.edit_payout_schedule) == (False, False)
    again = await _session(sim, account.id, {"account_onboarding": {"enabled": True}})
    assert again.client_secret != session.client_secret


@pytest.mark.parametrize(
    "feature",
    [
        {"external_account_collection": False},
        {"disable_stripe_user_authentication": True},
    ],
)
async def test_features_only_for_platform_collected_requirements(
    sim: Sim, feature: dict[str, bool]
) -> None:
    express = await sim.express_account()
    custom = await _custom_account(sim)
    wanted = {"account_management": {"enabled": True, "features": feature}}

    with pytest.raises(stripe.InvalidRequestError) as refused:
        await _session(sim, express.id, wanted)
    allowed = await _session(sim, custom.id, wanted)

    [name] = feature
    assert refused.value.param == f"components[account_management][features][{name}]"
    assert getattr(allowed.components.account_management.features, name) is feature[name]


async def test_a_session_for_an_unknown_account_is_refused(sim: Sim) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await _session(sim, "acct_unknown000000000", {"payouts": {"enabled": True}})

    assert refused.value.param == "account"


async def test_embedded_onboarding_uses_the_secret_once(sim: Sim) -> None:
    account = await _custom_account(sim)
    session = await _session(sim, account.id, {"account_onboarding": {"enabled": True}})

    done = await sim.admin.post(
        "/_sim/account_sessions/onboarding",
        json={"client_secret": session.client_secret, "outcome": "complete"},
    )
    again = await sim.admin.post(
        "/_sim/account_sessions/onboarding",
        json={"client_secret": session.client_secret, "outcome": "complete"},
    )

    assert done.status_code == 200, done.text
    assert done.json()["account"]["details_submitted"] is True
    held = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert held.capabilities.to_dict() == {"transfers": "active"}
    assert again.status_code == 400


async def test_an_expired_session_onboards_nothing(sim: Sim) -> None:
    account = await _custom_account(sim)
    session = await _session(sim, account.id, {"account_onboarding": {"enabled": True}})
    await sim.admin.post("/_sim/clock", json={"advance_seconds": 1801})

    r = await sim.admin.post(
        "/_sim/account_sessions/onboarding",
        json={"client_secret": session.client_secret, "outcome": "complete"},
    )

    assert r.status_code == 400
    held = await sim.stripe.v1.accounts.retrieve_async(account.id)
    assert held.details_submitted is False
