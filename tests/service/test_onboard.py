"""`POST /api/connect/onboard`: one account per organization, a fresh Account Link every time."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import httpx
import pytest
import respx

from tests.service.fakes import FakeStripe, FakeWorker, form_to_nested
from tests.support.service import FRONTEND, bearer, make_settings, onboarded
from tests.support.stripe_account import stripe_account

ONBOARD = "/api/connect/onboard"

EXPRESS_CONTROLLER = {
    "stripe_dashboard": {"type": "express"},
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "requirement_collection": "stripe",
}
CUSTOM_CONTROLLER = {
    "stripe_dashboard": {"type": "none"},
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "requirement_collection": "application",
}
EXPRESS_PARAMS = {
    "controller": EXPRESS_CONTROLLER,
    "country": "US",
    "business_profile": {"name": "Acme"},
    "metadata": {"organization_id": "org_a"},
    "capabilities": {"transfers": {"requested": "true"}},
    "settings": {"payouts": {"schedule": {"interval": "manual"}}},
}


def _created_params(stripe: FakeStripe) -> list[dict[str, Any]]:
    return [form_to_nested(r.content) for r in stripe.calls("POST", r"/v1/accounts")]


async def _onboard(
    client: httpx.AsyncClient, token: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        ONBOARD, json={"organization_id": "org_a", **(body or {})}, headers=bearer(token)
    )


async def test_onboard_returns_a_fresh_link_to_a_new_pending_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token)

    assert r.status_code == 200, r.text
    [account_id] = stripe.accounts
    body = r.json()
    assert body == {
        "url": body["url"],
        "expires_at": "2025-11-26T09:45:00Z",
        "account_id": account_id,
        "status": "pending",
    }
    assert body["url"].startswith(f"https://connect.stripe.test/setup/{account_id}/")


async def test_onboard_creates_the_account_with_the_organizations_details(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    await _onboard(client, owner.token)

    assert _created_params(stripe) == [EXPRESS_PARAMS]


async def test_onboard_prefills_the_callers_email_before_the_first_link(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    await _onboard(client, owner.token)

    [account_id] = stripe.accounts
    [update] = stripe.calls("POST", rf"/v1/accounts/{account_id}")
    assert form_to_nested(update.content) == {"email": "olive@example.com"}
    link = stripe.calls("POST", r"/v1/account_links")[0]
    # Express accounts accept the email only until the first Account Link is made.
    assert stripe.requests.index(update) < stripe.requests.index(link)
    assert stripe.accounts[account_id]["email"] == "olive@example.com"


async def test_onboard_account_creation_carries_a_deterministic_idempotency_key(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    await _onboard(client, owner.token)

    [create] = stripe.calls("POST", r"/v1/accounts")
    assert create.headers["Idempotency-Key"].startswith("connect-account:org_a:")
    assert "Stripe-Account" not in create.headers


async def test_onboard_links_the_account_in_d1(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    await _onboard(client, owner.token)

    [account_id] = stripe.accounts
    [link] = worker.calls("create-connect-account")
    assert json.loads(link.content) == {
        "organization_id": "org_a",
        "stripe_connect_account_id": account_id,
        "account_api": "v1",
    }
    assert worker.organizations["org_a"]["stripe_connect_account_id"] == account_id
    assert worker.organizations["org_a"]["stripe_connect_status"] == "pending"


async def test_onboard_requests_an_onboarding_link_with_the_default_urls(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    await _onboard(client, owner.token)

    [account_id] = stripe.accounts
    [link] = stripe.calls("POST", r"/v1/account_links")
    assert form_to_nested(link.content) == {
        "account": account_id,
        "refresh_url": f"{FRONTEND}/settings/payments?connect=refresh",
        "return_url": f"{FRONTEND}/settings/payments?connect=return",
        "type": "account_onboarding",
    }


async def test_onboard_passes_allowed_redirect_urls_to_stripe(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(
        client,
        owner.token,
        {"return_url": f"{FRONTEND}/done?x=1", "refresh_url": f"{FRONTEND}/again"},
    )

    assert r.status_code == 200, r.text
    [link] = stripe.calls("POST", r"/v1/account_links")
    params = form_to_nested(link.content)
    assert (params["return_url"], params["refresh_url"]) == (
        f"{FRONTEND}/done?x=1",
        f"{FRONTEND}/again",
    )


@pytest.mark.parametrize(
    "field_and_url",
    [
        ("return_url", "https://evil.example.net/settings"),
        ("refresh_url", "https://evil.example.net/settings"),
        ("return_url", "https://app.example.com.evil.net/x"),
        ("return_url", "http://app.example.com/x"),  # another scheme is another origin
        ("return_url", "/settings/payments"),
        ("return_url", "javascript:alert(1)"),
    ],
    ids=["return-foreign", "refresh-foreign", "suffix-trick", "http", "relative", "javascript"],
)
async def test_onboard_refuses_redirects_outside_the_allowed_origins(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    field_and_url: tuple[str, str],
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    field, url = field_and_url

    r = await _onboard(client, owner.token, {field: url})

    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_redirect_url"
    assert stripe.requests == []
    assert worker.organizations["org_a"]["stripe_connect_account_id"] is None


@pytest.mark.parametrize(
    "settings",
    [make_settings(allowed_origins="https://app.example.com,https://admin.example.com")],
)
async def test_onboard_accepts_any_origin_in_allowed_origins(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token, {"return_url": "https://admin.example.com/back"})

    assert r.status_code == 200, r.text
    [link] = stripe.calls("POST", r"/v1/account_links")
    assert form_to_nested(link.content)["return_url"] == "https://admin.example.com/back"


async def test_onboard_uses_the_requested_country(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token, {"country": "gb"})

    assert r.status_code == 200, r.text
    assert _created_params(stripe)[0]["country"] == "GB"


async def test_onboard_with_organization_from_x_org_id(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await client.post(ONBOARD, json={}, headers=bearer(owner.token, **{"X-Org-ID": "org_a"}))

    assert r.status_code == 200, r.text
    assert _created_params(stripe)[0]["metadata"] == {"organization_id": "org_a"}


async def test_onboard_twice_reuses_the_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    first = await _onboard(client, owner.token)
    second = await _onboard(client, owner.token)

    assert second.status_code == 200, second.text
    assert second.json()["account_id"] == first.json()["account_id"]
    assert second.json()["url"] != first.json()["url"]  # a fresh link each time
    assert len(stripe.calls("POST", r"/v1/accounts")) == 1
    assert len(stripe.calls("POST", r"/v1/account_links")) == 2
    assert len(worker.calls("create-connect-account")) == 1


async def test_onboard_of_an_active_account_reports_active_and_creates_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = onboarded(worker, stripe, "org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token)

    assert r.status_code == 200, r.text
    assert (r.json()["account_id"], r.json()["status"]) == (account_id, "active")
    assert stripe.calls("POST", r"/v1/accounts") == []
    assert worker.calls("create-connect-account") == []


async def test_onboard_after_a_lost_d1_write_replays_the_same_stripe_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    link = worker._link
    failures = iter([True])

    def flaky_link(body: dict[str, Any]) -> httpx.Response:
        if next(failures, False):
            return httpx.Response(400, json={"error": {"code": "invalid_request", "message": "x"}})
        return link(body)

    worker._link = flaky_link  # type: ignore[method-assign]

    failed = await _onboard(client, owner.token)
    retried = await _onboard(client, owner.token)

    assert failed.status_code == 503
    assert retried.status_code == 200, retried.text
    assert len(stripe.accounts) == 1
    first, second = stripe.calls("POST", r"/v1/accounts")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert (
        worker.organizations["org_a"]["stripe_connect_account_id"] == retried.json()["account_id"]
    )


@pytest.mark.parametrize("settings", [make_settings(connect_account_type="custom")])
async def test_custom_account_type_changes_only_the_creation_params(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a", name="Acme")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token)

    assert r.status_code == 200, r.text
    [params] = _created_params(stripe)
    assert "type" not in params
    assert params.pop("controller") == CUSTOM_CONTROLLER
    # The platform collects requirements, Stripe's terms among them.
    assert params.pop("tos_acceptance") == {"service_agreement": "full"}
    assert params == {k: v for k, v in EXPRESS_PARAMS.items() if k != "controller"}
    [link] = stripe.calls("POST", r"/v1/account_links")
    assert form_to_nested(link.content)["type"] == "account_onboarding"


@pytest.mark.parametrize(
    "settings", [make_settings(connect_capabilities="transfers,card_payments")]
)
async def test_onboard_requests_every_configured_capability(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    await _onboard(client, owner.token)

    assert _created_params(stripe)[0]["capabilities"] == {
        "transfers": {"requested": "true"},
        "card_payments": {"requested": "true"},
    }


@pytest.mark.parametrize("body", [{"unknown": 1}, {"country": "USA"}, {"return_url": 5}])
async def test_onboard_rejects_a_malformed_body(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, body: dict[str, Any]
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token, body)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert stripe.requests == []


def _hold_verification_until(upstreams: respx.MockRouter, parties: int) -> None:
    """Hold every `verify-user-context` answer until `parties` calls have asked, so concurrent
    onboardings all see the organization without an account before any of them links one."""
    route = next(r for r in upstreams.routes if "worker.test" in repr(r.pattern))
    inner = route.side_effect
    arrived: list[httpx.Request] = []
    all_here = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        # The answer is read at arrival; it is only delivered once everyone has read theirs.
        answer = inner(request)
        answer = await answer if inspect.isawaitable(answer) else answer
        if request.url.path.endswith("/verify-user-context"):
            arrived.append(request)
            if len(arrived) >= parties:
                all_here.set()
            await asyncio.wait_for(all_here.wait(), timeout=3)
        return answer

    route.side_effect = held


async def test_concurrent_onboarding_by_one_user_makes_one_account(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    _hold_verification_until(upstreams, 5)

    answers = await asyncio.gather(*(_onboard(client, owner.token) for _ in range(5)))

    assert [a.status_code for a in answers] == [200] * 5
    [account_id] = stripe.accounts
    assert {a.json()["account_id"] for a in answers} == {account_id}
    assert worker.organizations["org_a"]["stripe_connect_account_id"] == account_id
    # Every racer asked Stripe with the same key, and Stripe replayed the first account.
    keys = {r.headers["Idempotency-Key"] for r in stripe.calls("POST", r"/v1/accounts")}
    assert len(keys) == 1
    assert stripe.calls("DELETE", r"/v1/accounts/.+") == []


async def test_concurrent_onboarding_by_two_admins_makes_one_account(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    _hold_verification_until(upstreams, 2)

    answers = await asyncio.gather(_onboard(client, owner.token), _onboard(client, admin.token))

    assert [a.status_code for a in answers] == [200, 200]
    linked = worker.organizations["org_a"]["stripe_connect_account_id"]
    assert {a.json()["account_id"] for a in answers} == {linked}
    assert list(stripe.accounts) == [linked]
    keys = {r.headers["Idempotency-Key"] for r in stripe.calls("POST", r"/v1/accounts")}
    assert len(keys) == 1  # the parameters do not depend on who clicked
    assert stripe.calls("DELETE", r"/v1/accounts/.+") == []


async def test_concurrent_onboarding_for_two_countries_links_one_and_deletes_the_loser(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    upstreams: respx.MockRouter,
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    admin = worker.add_person("adam", org_a="admin")
    _hold_verification_until(upstreams, 2)

    answers = await asyncio.gather(
        _onboard(client, owner.token, {"country": "US"}),
        _onboard(client, admin.token, {"country": "FR"}),
    )

    assert [a.status_code for a in answers] == [200, 200]
    linked = worker.organizations["org_a"]["stripe_connect_account_id"]
    assert {a.json()["account_id"] for a in answers} == {linked}
    assert list(stripe.accounts) == [linked]
    created = stripe.calls("POST", r"/v1/accounts")
    deleted = [r.url.path.rsplit("/", 1)[1] for r in stripe.calls("DELETE", r"/v1/accounts/.+")]
    assert len(created) == 2
    assert len(deleted) == 1
    assert deleted[0] != linked


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(FRONTEND, True), ("https://evil.example.net", False)],
    ids=["frontend", "foreign"],
)
async def test_allowed_origins_are_also_the_cors_allow_list(
    client: httpx.AsyncClient, worker: FakeWorker, origin: str, allowed: bool
) -> None:
    r = await client.options(
        ONBOARD,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert (r.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    assert (r.status_code == 200) is allowed
    assert worker.requests == []


async def test_answers_to_the_browser_carry_cors_headers_and_stripe_s_do_not(
    client: httpx.AsyncClient,
) -> None:
    # Refused for want of a session or a signature: the answer a browser reads (an error too)
    # carries CORS headers; the webhook's, which only Stripe reads, goes around CORS.
    read = await client.get("/api/connect/status/org_a", headers={"Origin": FRONTEND})
    delivery = await client.post(
        "/api/connect/webhook", content=b"{}", headers={"Origin": FRONTEND}
    )

    assert read.status_code == 401
    assert read.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert read.headers["Vary"] == "Origin"
    assert delivery.status_code == 400
    assert "Access-Control-Allow-Origin" not in delivery.headers
    assert "Vary" not in delivery.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/connect/status/org_a"),
        ("POST", "/api/connect/payout"),
        ("PUT", "/api/connect/payout-schedule"),
    ],
)
async def test_the_frontend_may_call_every_method_the_routes_use(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.options(
        path,
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,x-org-id",
        },
    )

    assert r.status_code == 200, r.text
    assert method in r.headers["Access-Control-Allow-Methods"].split(", ")


async def test_the_email_is_prefilled_when_a_webhook_linked_the_account_first(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """An onboarding whose D1 write was lost made the account; the account's own event then
    linked it (from its metadata). The next click finds the link and still prefills the email."""
    account_id = "acct_1Relinked000000001"
    stripe.accounts[account_id] = stripe_account(account_id, organization_id="org_a")
    stripe.accounts[account_id]["email"] = None
    worker.add_org(
        "org_a",
        stripe_connect_account_id=account_id,
        stripe_connect_status="pending",
        onboarding_step="details_submission",
    )
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token)

    assert r.status_code == 200, r.text
    [update] = stripe.calls("POST", rf"/v1/accounts/{account_id}")
    assert form_to_nested(update.content) == {"email": "olive@example.com"}
    assert stripe.accounts[account_id]["email"] == "olive@example.com"


async def test_an_account_that_has_an_email_keeps_it(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    account_id = "acct_1Relinked000000001"
    stripe.accounts[account_id] = stripe_account(account_id, organization_id="org_a")
    worker.add_org(
        "org_a",
        stripe_connect_account_id=account_id,
        stripe_connect_status="pending",
        onboarding_step="details_submission",
    )
    admin = worker.add_person("adam", org_a="admin")

    r = await _onboard(client, admin.token)

    assert r.status_code == 200, r.text
    assert stripe.calls("POST", rf"/v1/accounts/{account_id}") == []
    assert stripe.accounts[account_id]["email"] == "owner@example.com"


async def test_a_linked_account_past_details_submission_is_not_read_again(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")  # active
    owner = worker.add_person("olive", org_a="owner")

    r = await _onboard(client, owner.token)

    assert r.status_code == 200, r.text
    assert [req.url.path for req in stripe.requests] == ["/v1/account_links"]
