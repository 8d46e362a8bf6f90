"""`POST /api/connect/account-session`: a fresh Account Session for the embedded components,
its components and features chosen by role and by the account's controller."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from connect_backend.stripe_objects import CONTROLLERS
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested
from tests.support.service import bearer, onboarded

SESSION = "/api/connect/account-session"


def _sent(stripe: FakeStripe) -> list[dict[str, Any]]:
    return [form_to_nested(r.content) for r in stripe.calls("POST", "/v1/account_sessions")]


def _with_controller(stripe: FakeStripe, account_id: str, kind: str, **changes: Any) -> None:
    controller = {"type": "application", "is_controller": True, **CONTROLLERS[kind], **changes}
    stripe.accounts[account_id].update(type="none", controller=controller)


async def _ask(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(SESSION, json={"organization_id": "org_a"}, headers=bearer(token))


async def test_an_owner_gets_a_fresh_client_secret_each_time(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    first = await _ask(client, owner.token)
    second = await _ask(client, owner.token)

    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"client_secret", "expires_at", "account_id"}
    assert body["account_id"] == account_id
    assert body["client_secret"].startswith("accs_secret__")
    assert second.json()["client_secret"] != body["client_secret"]  # never reused
    assert len(_sent(stripe)) == 2
    assert worker.calls("update-organization") == []  # nothing stored in D1


async def test_the_components_an_owner_of_an_express_like_account_gets(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")  # Express: the platform carries losses
    owner = worker.add_person("olive", org_a="owner")

    r = await _ask(client, owner.token)

    assert r.status_code == 200, r.text
    [sent] = _sent(stripe)
    assert sent == {
        "account": account_id,
        "components": {
            "account_onboarding": {
                "enabled": "true",
                "features": {
                    "external_account_collection": "true",
                    "disable_stripe_user_authentication": "false",
                },
            },
            "account_management": {
                "enabled": "true",
                "features": {
                    "external_account_collection": "true",
                    "disable_stripe_user_authentication": "false",
                },
            },
            "notification_banner": {
                "enabled": "true",
                "features": {
                    "external_account_collection": "true",
                    "disable_stripe_user_authentication": "false",
                },
            },
            "payouts": {
                "enabled": "true",
                "features": {
                    "external_account_collection": "true",
                    "disable_stripe_user_authentication": "false",
                    "standard_payouts": "true",
                    "edit_payout_schedule": "true",
                    "instant_payouts": "false",  # the platform would carry what is lost
                },
            },
        },
    }


@pytest.mark.parametrize(
    ("kind", "role", "bank", "instant"),
    [
        ("express", "admin", "true", "false"),  # Stripe collects: the bank stays collectable
        ("custom", "owner", "true", "false"),
        ("custom", "admin", "false", "false"),  # the platform collects: owners change banks
    ],
)
async def test_features_by_role_and_controller(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    kind: str,
    role: str,
    bank: str,
    instant: str,
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    _with_controller(stripe, account_id, kind)
    person = worker.add_person("pat", org_a=role)

    r = await _ask(client, person.token)

    assert r.status_code == 200, r.text
    [sent] = _sent(stripe)
    components = sent["components"]
    for name in ("account_management", "notification_banner", "payouts"):
        assert components[name]["features"]["external_account_collection"] == bank
    assert components["account_onboarding"]["features"]["external_account_collection"] == "true"
    assert components["payouts"]["features"]["instant_payouts"] == instant


@pytest.mark.parametrize(("role", "instant"), [("owner", "true"), ("admin", "false")])
async def test_instant_payouts_only_for_owners_when_stripe_carries_the_losses(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, role: str, instant: str
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    _with_controller(stripe, account_id, "express", losses={"payments": "stripe"})
    person = worker.add_person("pat", org_a=role)

    r = await _ask(client, person.token)

    assert r.status_code == 200, r.text
    [sent] = _sent(stripe)
    assert sent["components"]["payouts"]["features"]["instant_payouts"] == instant


async def test_a_member_is_refused_and_stripe_is_not_asked(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    member = worker.add_person("mia", org_a="member")

    r = await _ask(client, member.token)

    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert stripe.requests == []


async def test_an_organization_without_an_account_is_409(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await _ask(client, owner.token)

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_onboarded"
    assert stripe.requests == []


async def test_the_client_secret_is_never_logged(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    with caplog.at_level(logging.DEBUG, logger="connect_backend"):
        r = await _ask(client, owner.token)

    secret = r.json()["client_secret"]
    lines = [record.getMessage() for record in caplog.records]
    assert any("stripe.account_session.created" in line for line in lines)
    assert not [line for line in lines if secret in line or "_secret_" in line]
