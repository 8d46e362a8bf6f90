"""`POST /api/connect/dashboard-link`: a login link to the Express dashboard, or, for an account
whose details the platform collects, an `account_update` Account Link."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connect_backend.stripe_objects import CONTROLLERS
from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested
from tests.support.service import bearer, make_settings, onboarded

LINK = "/api/connect/dashboard-link"


async def test_dashboard_link_returns_a_login_link_for_the_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert r.json() == {"url": f"https://connect.stripe.test/express/{account_id}"}
    assert [(req.method, req.url.path) for req in stripe.requests] == [
        ("GET", f"/v1/accounts/{account_id}"),  # the account's own controller decides
        ("POST", f"/v1/accounts/{account_id}/login_links"),
    ]


async def test_dashboard_link_for_the_org_named_by_x_org_id_without_a_body(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    admin = worker.add_person("adam", org_a="admin")

    r = await client.post(LINK, headers=bearer(admin.token, **{"X-Org-ID": "org_a"}))

    assert r.status_code == 200, r.text
    assert r.json() == {"url": f"https://connect.stripe.test/express/{account_id}"}


@pytest.mark.parametrize(
    "account",
    [
        {"type": "standard", "controller": {"type": "application", **CONTROLLERS["standard"]}},
        {"type": "none", "controller": {"stripe_dashboard": {"type": "none"}}},
        {"type": "none", "controller": {"stripe_dashboard": {"type": "full"}}},
        # The controller decides, not the legacy type beside it.
        {"type": "express", "controller": {"stripe_dashboard": {"type": "none"}}},
    ],
    ids=[
        "legacy-standard",
        "controller-none",
        "controller-full",
        "controller-over-type",
    ],
)
async def test_dashboard_link_for_an_account_without_the_express_dashboard_is_409(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, account: dict[str, Any]
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    stripe.accounts[account_id].update(account)
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_supported"
    assert stripe.calls("POST", r"/v1/.*") == []  # no login link asked for


@pytest.mark.parametrize("settings", [make_settings(connect_account_type="custom")])
async def test_the_account_s_own_type_decides_not_the_type_new_accounts_get(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Switching CONNECT_ACCOUNT_TYPE to custom leaves existing Express accounts their link."""
    account_id = onboarded(worker, stripe, "org_a")  # an Express account
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert r.json() == {"url": f"https://connect.stripe.test/express/{account_id}"}


async def test_an_account_the_service_made_gets_a_link_by_its_controller(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The service's own accounts carry controller properties and no legacy type."""
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")
    onboard = await client.post(
        "/api/connect/onboard", json={"organization_id": "org_a"}, headers=bearer(owner.token)
    )
    account_id = onboard.json()["account_id"]
    assert stripe.accounts[account_id]["type"] == "none"

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    assert r.json() == {"url": f"https://connect.stripe.test/express/{account_id}"}


@pytest.mark.parametrize("settings", [make_settings(connect_account_type="custom")])
async def test_a_custom_like_account_the_service_made_gets_an_account_update_link(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The platform collects its details: no dashboard to log in to, but an `account_update`
    Account Link to change them (the failed-payout banner's button)."""
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")
    await client.post(
        "/api/connect/onboard", json={"organization_id": "org_a"}, headers=bearer(owner.token)
    )

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    [asked] = stripe.calls("POST", "/v1/account_links")[-1:]
    params = form_to_nested(asked.content)
    assert params["type"] == "account_update"
    assert params["return_url"].endswith("/settings/payments?connect=return")
    assert r.json()["url"].startswith("https://connect.stripe.test/setup/")
    assert stripe.calls("POST", r"/v1/accounts/.+/login_links") == []


@pytest.mark.parametrize(
    "account",
    [
        {"type": "custom", "controller": {"type": "application", **CONTROLLERS["custom"]}},
        {"type": "custom", "controller": {"type": "application"}},  # answered without them
    ],
    ids=["legacy-custom", "legacy-custom-without-controller-properties"],
)
async def test_a_legacy_custom_account_gets_an_account_update_link(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, account: dict[str, Any]
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    stripe.accounts[account_id].update(account)
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text
    [asked] = stripe.calls("POST", "/v1/account_links")
    assert form_to_nested(asked.content)["type"] == "account_update"


async def test_an_express_dashboard_by_controller_gets_a_link(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    stripe.accounts[account_id].update(
        {"type": None, "controller": {"stripe_dashboard": {"type": "express"}}}
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 200, r.text


async def test_dashboard_link_without_an_account_is_409_not_onboarded(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(LINK, json={"organization_id": "org_a"}, headers=bearer(owner.token))

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_onboarded"
    assert stripe.requests == []
